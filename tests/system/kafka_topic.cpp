// A small Kafka tool for the system tests, on the broker at
// LIBFLOW_KAFKA_BOOTSTRAP (the kafka suite's fixture):
//   flow_kafka_topic create TOPIC PARTITIONS
//   flow_kafka_topic produce TOPIC N    values "record-0" .. "record-<N-1>"
//   flow_kafka_topic dump TOPIC         every value, one per line
#include "../kafka/fixture.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string cmd = argc > 2 ? argv[1] : "";
  try {
    flow::kafka::test::fixture kafka;
    if (cmd == "create" && argc == 4) {
      kafka.adm.create_topic(argv[2], std::atoi(argv[3]));
    } else if (cmd == "produce" && argc == 4) {
      std::vector<flow::kafka::producer_record> records;
      for (long i = 0, n = std::atol(argv[3]); i < n; ++i) {
        flow::kafka::producer_record r;
        r.key = std::to_string(i);
        r.value = "record-" + std::to_string(i);
        records.push_back(std::move(r));
      }
      kafka.produce(argv[2], records);
    } else if (cmd == "dump" && argc == 3) {
      for (auto& r : kafka.read_all(argv[2]))
        std::cout << r.value << '\n';
    } else {
      std::cerr << "usage: " << argv[0]
                << " create TOPIC PARTITIONS | produce TOPIC N | dump TOPIC\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << argv[0] << " " << cmd << ": " << e.what() << '\n';
    return 1;
  }
  return 0;
}

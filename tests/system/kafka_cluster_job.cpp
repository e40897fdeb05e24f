// The Kafka job of the system tests: topic FLOW_TEST_INPUT -> upper-case
// -> hash by value (so records cross nodes) -> topic FLOW_TEST_OUTPUT.
// The topics come from the environment so that every node builds the same
// topology; the kafka.* options come from the configuration (in a
// cluster: the coordinator's).
#include "flow/kafka.hpp"
#include "flow/run.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  auto input = std::getenv("FLOW_TEST_INPUT");
  auto output = std::getenv("FLOW_TEST_OUTPUT");
  if (!input || !output) return flow::exit_bad_config;
  flow::topology t{"kafka-cluster-test"};
  t.source(flow::kafka::source<std::string>(input))
      .map(
          [](std::string s) {
            std::transform(s.begin(), s.end(), s.begin(),
                           [](unsigned char c) { return std::toupper(c); });
            return s;
          },
          "upper")
      .key_by([](const std::string& s) { return s; })
      .partitioned("by-value")
      .sink(flow::kafka::sink<std::string>(output));
  return flow::run(t, argc, argv);
}

// uppercase: a Kafka -> Kafka job, the template of a libflow program of
// one's own (examples/standalone/CMakeLists.txt builds it against an
// installed libflow). It reads text lines from the topic `lines`, drops
// blank ones and writes each line upper-cased to `uppercase-lines`.
//
//   uppercase --kafka.bootstrap=127.0.0.1:9092 --kafka.stop-at-end=true
#include "flow/kafka.hpp"
#include "flow/run.hpp"

#include <algorithm>
#include <cctype>
#include <string>

int main(int argc, char** argv) {
  flow::topology t{"uppercase"};
  t.source(flow::kafka::source<std::string>("lines"))
      .filter(
          [](const std::string& line) {
            return line.find_first_not_of(" \t\r") != std::string::npos;
          },
          "non-blank")
      .map(
          [](std::string line) {
            std::transform(line.begin(), line.end(), line.begin(),
                           [](unsigned char c) { return std::toupper(c); });
            return line;
          },
          "to-upper")
      .sink(flow::kafka::sink<std::string>("uppercase-lines"));
  return flow::run(t, argc, argv);
}

// uppercase: a Kafka -> Kafka job, the template of a libflow program of
// one's own (examples/standalone/CMakeLists.txt builds it against an
// installed libflow). It reads text lines from a topic (uppercase.input),
// drops blank ones and writes each line upper-cased to another
// (uppercase.output).
//
//   uppercase --kafka.bootstrap=127.0.0.1:9092 --kafka.stop-at-end=true
#include "flow/kafka.hpp"
#include "flow/run.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace {

// The program's own options: listed by --help, checked, set in a config
// file or as --uppercase.input=... (README: "A job's own options").
const flow::option<std::string> input{"uppercase.input", "lines",
                                      "Topic the lines are read from."};
const flow::option<std::string> output{
    "uppercase.output", "uppercase-lines",
    "Topic the upper-cased lines are written to."};

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "Copies the non-blank lines of a topic, upper-cased, "
                        "to another topic."};
  if (program.done()) return program.exit_code(); // --help, or bad options
  flow::topology t{"uppercase"};
  t.source(flow::kafka::source<std::string>(program.get(input)))
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
      .sink(flow::kafka::sink<std::string>(program.get(output)));
  return program.run(t);
}

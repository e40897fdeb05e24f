// wordcount: lines -> words -> running count per word.
//
// Lines come from a topic (--wordcount.input) or, by default, from a
// generator (the demo: no Kafka needed). Counts go to a topic
// (--wordcount.output: key = word, value = its running count, so the
// latest record per word holds its total) or, by default, to stdout, where
// a word's count is printed each time it reaches a multiple of 10000.
// examples/README.md has the commands; for instance:
//   build/examples/wordcount --config-file=conf/wordcount.conf
//   build/examples/wordcount --kafka.bootstrap=127.0.0.1:9092
//     --kafka.stop-at-end=true --wordcount.input=lines
//     --wordcount.output=word-counts
#include "flow/files.hpp"
#include "flow/generator.hpp"
#include "flow/kafka.hpp"
#include "flow/run.hpp"

#include <array>
#include <string>

namespace {

const flow::option<std::string> input{
    "wordcount.input", "",
    "Topic the lines are read from; empty: generated lines "
    "(wordcount.lines of them)."};
const flow::option<std::string> output{
    "wordcount.output", "",
    "Topic the (word, running count) records are written to; empty: "
    "stdout, every 10000th count of a word."};
const flow::option<int64_t> lines{"wordcount.lines", 100000,
                                  "Lines generated when wordcount.input is "
                                  "empty.",
                                  flow::in_range(0, int64_t{1} << 40)};

using word_count = std::pair<std::string, int64_t>;

/// The demo's input: word j of `words` appears in line i iff
/// (i + j) % (j + 1) == 0, a skewed, checkable distribution.
flow::source_spec<std::string> generated_lines(uint64_t n) {
  static constexpr std::array<const char*, 12> words{
      "actor", "batch",  "credit", "flow",   "kafka",  "stream",
      "state", "window", "join",   "record", "source", "sink"};
  return flow::generator(
      n,
      [](uint64_t i) {
        std::string line;
        for (size_t j = 0; j < words.size(); ++j)
          if ((i + j) % (j + 1) == 0) {
            line += words[j];
            line += ' ';
          }
        return line;
      },
      "lines");
}

} // namespace

int main(int argc, char** argv) {
  flow::program program{
      argc, argv,
      "Counts the words of a topic's lines (or of generated ones) and writes "
      "a running count per word to a topic (or to stdout)."};
  if (program.done()) return program.exit_code();
  auto from = program.get(input);
  auto to = program.get(output);
  flow::topology t{"wordcount"};
  auto counts =
      t.source(from.empty()
                   ? generated_lines(static_cast<uint64_t>(program.get(lines)))
                   : flow::kafka::source<std::string>(from))
          .flat_map(
              [](std::string line, flow::emitter<std::string>& out) {
                size_t pos = 0;
                while (pos < line.size()) {
                  auto end = line.find(' ', pos);
                  if (end == std::string::npos) end = line.size();
                  if (end > pos) out.emit(line.substr(pos, end - pos));
                  pos = end + 1;
                }
              },
              "split")
          .key_by([](const std::string& w) { return w; })
          .aggregate(flow::count(), "count");
  if (to.empty())
    counts
        .filter([](const word_count& kv) { return kv.second % 10000 == 0; },
                "every-10000th")
        .sink(flow::print<word_count>("count\t"));
  else
    counts.sink(flow::kafka::sink<word_count>(to));
  return program.run(t);
}

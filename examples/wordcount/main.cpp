// wordcount: lines -> words -> running count per word -> stdout.
//
// Generated lines stand in for a Kafka topic until the Kafka connector is
// used (see examples/README.md). Try:
//   build/examples/wordcount --config-file=conf/wordcount.conf
#include "flow/collection.hpp"
#include "flow/files.hpp"
#include "flow/generator.hpp"
#include "flow/run.hpp"

#include <array>
#include <string>

namespace {

const flow::option<int64_t> lines{"wordcount.lines", 100000, "Lines generated.",
                                  flow::in_range(0, int64_t{1} << 40)};

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "Counts the words of generated lines (a running "
                        "count per word, printed every 10000)."};
  if (program.done()) return program.exit_code();
  static constexpr std::array<const char*, 12> words{
      "actor", "batch",  "credit", "flow",   "kafka",  "stream",
      "state", "window", "join",   "record", "source", "sink"};
  flow::topology t{"wordcount"};
  t.source(flow::generator(
               static_cast<uint64_t>(program.get(lines)),
               [](uint64_t i) {
                 // Word j appears in line i iff (i+j) % (j+1) == 0:
                 // a skewed, checkable distribution.
                 std::string line;
                 for (size_t j = 0; j < words.size(); ++j)
                   if ((i + j) % (j + 1) == 0) {
                     line += words[j];
                     line += ' ';
                   }
                 return line;
               },
               "lines"))
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
      .aggregate(flow::count(), "count")
      // Only the final count per word is interesting on stdout: keep the
      // updates that reach a round number, and the totals.
      .filter([](const std::pair<std::string, int64_t>& kv) {
        return kv.second % 10000 == 0;
      })
      .sink(flow::print<std::pair<std::string, int64_t>>("count\t"));
  return program.run(t);
}

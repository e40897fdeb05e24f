// The job of the fault-injection harness (tests/chaos/chaos.cpp): Kafka ->
// shuffle by key -> keyed stateful sequence check -> Kafka.
//
// Input records: key = a key's name, value = its sequence number (0, 1, 2,
// ... per key, in order within the key's partition); a value that is not a
// number goes to the dead-letter topic from the source, a negative number
// from the user function after it (flow.on-error = dead-letter; the
// exception's message is the number). The keyed stage keeps
// per key how many records it has seen and the last sequence number
// (checkpointed state) and emits for each record "seq count": with every
// input record processed exactly once and its state restored exactly,
// count = seq + 1 always. The output is keyed like the input, so a key's
// records stay in order in one output partition.
#include "flow/kafka.hpp"
#include "flow/run.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace {

const flow::option<std::string> input{
    "chaos.input", flow::no_default, "Topic of the sequence-numbered records.",
    flow::valid_if([](const std::string& v) { return !v.empty(); }, "a topic")};
const flow::option<std::string> output{
    "chaos.output", flow::no_default, "Topic the \"seq count\" records go to.",
    flow::valid_if([](const std::string& v) { return !v.empty(); }, "a topic")};

using keyed = std::pair<std::string, int64_t>;
/// (records seen, last sequence number)
using seen = std::pair<int64_t, int64_t>;

/// Per key: how many records, and the last sequence number.
struct sequence_check {
  using accumulator = seen;
  using result = seen;
  accumulator init() const { return {0, -1}; }
  void add(accumulator& acc, const keyed& x) const {
    ++acc.first;
    acc.second = x.second;
  }
  result get(const accumulator& acc) const { return acc; }
};

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "Fault-injection harness job: per-key sequence "
                        "check between two topics."};
  if (program.done()) return program.exit_code();
  flow::topology t{"chaos-sequence"};
  // A value that is not a number is a bad record: dead-lettered.
  auto parse = [](const flow::kafka::record_view& v) {
    std::string value(v.value);
    size_t used = 0;
    auto seq = std::stoll(value, &used);
    if (used != value.size())
      throw std::invalid_argument("not a sequence number: " + value);
    return keyed{std::string(v.key), seq};
  };
  // A negative number fails in a user function: dead-lettered by the
  // operator (with exactly-once, published with the checkpoints).
  auto check = [](keyed x) {
    if (x.second < 0) throw std::domain_error(std::to_string(x.second));
    return x;
  };
  t.source(flow::kafka::source<keyed>(program.get(input), parse))
      .map(check, "check")
      .key_by([](const keyed& x) { return x.first; })
      .aggregate(sequence_check{}, "sequence")
      .sink(flow::kafka::sink<std::pair<std::string, seen>>(
          program.get(output), [](const std::pair<std::string, seen>& x) {
            flow::kafka::producer_record r;
            r.key = x.first;
            r.value = std::to_string(x.second.second) + " " +
                      std::to_string(x.second.first);
            return r;
          }));
  return program.run(t);
}

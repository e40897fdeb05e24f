// A job whose operator throws on record 5000: flow::run must exit 1 and
// name the operator, the subtask and what was thrown.
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/run.hpp"

#include <stdexcept>

namespace {

const flow::option<bool> throw_int{
    "failing.throw-int", false,
    "Throw the int 42 instead of a std::runtime_error."};

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv, "Fails on record 5000."};
  if (program.done()) return program.exit_code();
  bool as_int = program.get(throw_int);
  flow::topology t{"failing"};
  t.source(flow::generator(1000000, [](uint64_t i) { return i; }))
      .map(
          [as_int](uint64_t i) {
            if (i == 5000) {
              if (as_int) throw 42;
              throw std::runtime_error("record 5000 is poison");
            }
            return i;
          },
          "explode")
      .sink(flow::collector<uint64_t>{}.sink());
  return program.run(t);
}

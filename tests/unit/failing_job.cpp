// A job whose operator throws on record 5000: flow::run must exit 1 and
// name the operator and subtask.
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/run.hpp"

#include <stdexcept>

int main(int argc, char** argv) {
  flow::topology t{"failing"};
  t.source(flow::generator(1000000, [](uint64_t i) { return i; }))
      .map(
          [](uint64_t i) {
            if (i == 5000) throw std::runtime_error("record 5000 is poison");
            return i;
          },
          "explode")
      .sink(flow::collector<uint64_t>{}.sink());
  return flow::run(t, argc, argv);
}

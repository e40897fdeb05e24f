#include "flow/task.hpp"

#include <stdexcept>

namespace flow {

task::~task() = default;

void task::process(size_t, batch_base&) {
  throw std::logic_error("task takes no input");
}

source_state task::poll(size_t) {
  throw std::logic_error("task is not a source");
}

} // namespace flow

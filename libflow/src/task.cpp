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

deferred_key_groups
task::snapshot_key_groups(std::vector<key_group_snapshot>&) const {
  return nullptr; // no keyed state
}

void task::restore_key_groups(const std::vector<key_group_snapshot>& groups) {
  if (!groups.empty())
    throw std::logic_error("task has no keyed state to restore");
}

} // namespace flow

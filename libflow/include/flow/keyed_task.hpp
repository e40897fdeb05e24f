#pragma once

#include "flow/emitting_task.hpp"
#include "flow/key_groups.hpp"

#include <string>

namespace flow {

/// Base of the operators on keyed streams: their state parts (keyed_store,
/// keyed_timers), added to key_groups_ in the constructor, hold
/// task_setup::max_parallelism key groups and are snapshot and restored
/// per key group.
template <class Out>
class keyed_task : public emitting_task<Out> {
public:
  explicit keyed_task(const task_setup& s)
      : emitting_task<Out>(s),
        key_groups_(s.max_parallelism, s.state,
                    s.operator_name + "#" + std::to_string(s.subtask_index)) {}

  void snapshot_key_groups(std::vector<key_group_snapshot>& out) const final {
    key_groups_.snapshot(out);
  }
  void restore_key_groups(const std::vector<key_group_snapshot>& in) final {
    key_groups_.restore(in);
  }

protected:
  template <class K>
  uint32_t key_group(const K& key) const {
    return key_group_for(key, key_groups_.key_groups());
  }

  key_group_states key_groups_;
};

} // namespace flow

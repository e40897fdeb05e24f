#pragma once

// Keyed state is split into key groups: key_group_of(std::hash<K>(key),
// max parallelism), the same function hash partitioning routes by, so a
// subtask holds exactly the key groups routed to it and a key group is the
// unit that snapshots, restores and rescaling move (see
// task::snapshot_key_groups).

#include "flow/partitioning.hpp"
#include "flow/task.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace flow {

/// The key group of `key` among `key_groups` (flow.max-parallelism).
template <class K>
uint32_t key_group_for(const K& key, uint32_t key_groups) {
  return key_group_of(std::hash<K>{}(key), key_groups);
}

/// One part of an operator's keyed state (a keyed_store, keyed_timers)
/// that writes and reads itself one key group at a time.
class key_group_state {
public:
  virtual ~key_group_state();
  /// Sets the number of key groups (of a part that holds nothing yet).
  virtual void set_key_groups(uint32_t n) = 0;
  virtual bool empty(uint32_t key_group) const = 0;
  /// Appends the entries of `key_group`. Throws std::logic_error if a type
  /// has no flow::serde.
  virtual void write_key_group(uint32_t key_group,
                               std::vector<char>& out) const = 0;
  /// Adds the entries write_key_group wrote (in an instance at any
  /// parallelism) to `key_group`, advancing `pos`; throws serde_error on
  /// malformed bytes.
  virtual void read_key_group(uint32_t key_group, const char*& pos,
                              const char* end) = 0;
};

/// All keyed state of one operator instance: its parts, written and read
/// together per key group, in the order they were added (which the same
/// program repeats in every instance).
class key_group_states {
public:
  explicit key_group_states(uint32_t key_groups) : key_groups_(key_groups) {}
  key_group_states(const key_group_states&) = delete;
  key_group_states& operator=(const key_group_states&) = delete;

  uint32_t key_groups() const noexcept { return key_groups_; }

  /// Adds a part; it must outlive this object.
  void add(key_group_state& part) { parts_.push_back(&part); }

  /// See task::snapshot_key_groups.
  void snapshot(std::vector<key_group_snapshot>& out) const;

  /// See task::restore_key_groups.
  void restore(const std::vector<key_group_snapshot>& groups);

private:
  uint32_t key_groups_;
  std::vector<key_group_state*> parts_;
};

} // namespace flow

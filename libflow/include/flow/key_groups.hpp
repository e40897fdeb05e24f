#pragma once

// Keyed state is split into key groups: key_group_of(std::hash<K>(key),
// max parallelism), the same function hash partitioning routes by, so a
// subtask holds exactly the key groups routed to it and a key group is the
// unit that snapshots, restores and rescaling move (see
// task::snapshot_key_groups).

#include "flow/partitioning.hpp"
#include "flow/state_backend.hpp"
#include "flow/task.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow {

/// The key group of `key` among `key_groups` (flow.max-parallelism).
template <class K>
uint32_t key_group_for(const K& key, uint32_t key_groups) {
  return key_group_of(std::hash<K>{}(key), key_groups);
}

/// A part of an operator's keyed state as it was at a snapshot, written
/// later, on any thread (key_group_state::freeze).
class frozen_key_groups {
public:
  virtual ~frozen_key_groups();
  virtual bool empty(uint32_t key_group) const = 0;
  /// What key_group_state::write_key_group wrote at the snapshot.
  virtual void write_key_group(uint32_t key_group,
                               std::vector<char>& out) const = 0;
};

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
  /// From now on keeps at most `cache_entries` entries in memory after
  /// each trim() and the others in `store` (state_backend). Parts that
  /// cannot spill throw std::logic_error.
  virtual void spill_to(std::unique_ptr<spill_store> store,
                        size_t cache_entries);
  /// Spilling parts: moves the entries in memory to the store if there are
  /// more than the cache holds. Pointers into the part are invalid after.
  virtual void trim() {}
  /// The part as it is now, written only later, so the part may change
  /// meanwhile: a spilling part's store is read through a spill_view, a
  /// keyed_store in memory lends its maps (writing a key group itself
  /// before it changes it). Null for parts that cannot:
  /// key_group_states::snapshot writes those at once. Pointers into the
  /// part are invalid after.
  [[nodiscard]] virtual std::unique_ptr<frozen_key_groups> freeze() const {
    return nullptr;
  }
};

/// All keyed state of one operator instance: its parts, written and read
/// together per key group, in the order they were added (which the same
/// program repeats in every instance).
class key_group_states {
public:
  /// `backend` (null: in memory) is where add_spilling's parts spill to;
  /// `owner` names their stores ("operator#subtask").
  explicit key_group_states(uint32_t key_groups,
                            state_backend* backend = nullptr,
                            std::string owner = {})
      : key_groups_(key_groups), backend_(backend), owner_(std::move(owner)) {}
  key_group_states(const key_group_states&) = delete;
  key_group_states& operator=(const key_group_states&) = delete;

  uint32_t key_groups() const noexcept { return key_groups_; }

  /// Adds a part that stays in memory; it must outlive this object.
  void add(key_group_state& part) { parts_.push_back(&part); }

  /// Adds a part that spills to the state backend, if there is one. Only
  /// parts of operators that touch one key per call may spill (reduce,
  /// aggregate, process functions): they call trim() between batches.
  void add_spilling(key_group_state& part);

  /// Trims the spilling parts (key_group_state::trim).
  void trim();

  /// See task::snapshot_key_groups: if any part freezes, the function
  /// returned writes them all (the parts that do not are written now);
  /// otherwise they are written now and null returned.
  [[nodiscard]] deferred_key_groups
  snapshot(std::vector<key_group_snapshot>& out) const;

  /// See task::restore_key_groups.
  void restore(const std::vector<key_group_snapshot>& groups);

private:
  uint32_t key_groups_;
  state_backend* backend_;
  std::string owner_;
  std::vector<key_group_state*> parts_;
  std::vector<key_group_state*> spilling_;
};

} // namespace flow

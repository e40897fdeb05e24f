#pragma once

#include "flow/emitting_task.hpp"
#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

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

  [[nodiscard]] deferred_key_groups
  snapshot_key_groups(std::vector<key_group_snapshot>& out) const final {
    return key_groups_.snapshot(out);
  }
  void restore_key_groups(const std::vector<key_group_snapshot>& in) final {
    key_groups_.restore(in);
  }

protected:
  template <class K>
  uint32_t key_group(const K& key) const {
    return key_group_for(key, key_groups_.key_groups());
  }

  /// Spilling: loads the entries of the keys of `xs` into `store`'s cache
  /// at once (keyed_store::load).
  template <class K, class V, class Rec, class KeyFn>
  void load_keys(keyed_store<K, V>& store, const std::vector<Rec>& xs,
                 const KeyFn& key) {
    if (store.spilled_any()) store.load(keys_of<K>(xs, key));
  }

  /// The same for several stores of one key (a keyed process function's
  /// state members): the keys are computed once.
  template <class K, class Rec, class KeyFn>
  void load_keys(const std::vector<keyed_state_part<K>*>& stores,
                 const std::vector<Rec>& xs, const KeyFn& key) {
    if (!any_spilled(stores)) return;
    auto keys = keys_of<K>(xs, key);
    for (auto s : stores)
      s->load(keys);
  }

  template <class K>
  static bool any_spilled(const std::vector<keyed_state_part<K>*>& stores) {
    return std::any_of(stores.begin(), stores.end(),
                       [](auto s) { return s->spilled_any(); });
  }

  key_group_states key_groups_;

private:
  /// The key group and key of each of `xs`. A key function that throws is
  /// left to the record loop after, which applies the on-error policy.
  template <class K, class Rec, class KeyFn>
  std::vector<std::pair<uint32_t, K>> keys_of(const std::vector<Rec>& xs,
                                              const KeyFn& key) const {
    std::vector<std::pair<uint32_t, K>> keys;
    keys.reserve(xs.size());
    for (auto& x : xs) {
      try {
        K k = key(x);
        auto kg = key_group(k);
        keys.emplace_back(kg, std::move(k));
      } catch (...) {
      }
    }
    return keys;
  }
};

} // namespace flow

#pragma once

#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"
#include "flow/serde.hpp"
#include "flow/time.hpp"

#include <functional>
#include <queue>
#include <typeinfo>
#include <unordered_set>
#include <utility>
#include <vector>

namespace flow {

/// Timers of a keyed operator, one per (key, time), kept in the key group
/// of their key (so they snapshot and move with the key's state) and
/// fired earliest first. Registering a timer again is a no-op; removing
/// one is O(1) (the heap entry is skipped when it comes up).
template <class K>
class keyed_timers final : public key_group_state {
public:
  explicit keyed_timers(uint32_t key_groups) : groups_(key_groups) {}
  keyed_timers(const keyed_timers&) = delete;
  keyed_timers& operator=(const keyed_timers&) = delete;

  /// Registers a timer for `key` at `time`; false if it exists already.
  bool add(uint32_t key_group, const K& key, int64_t time) {
    if (!groups_[key_group].emplace(key, time).second) return false;
    heap_.push(entry{time, seq_++, key_group, key});
    return true;
  }

  /// Removes the timer of `key` at `time`; false if there was none.
  bool remove(uint32_t key_group, const K& key, int64_t time) {
    return groups_[key_group].erase({key, time}) > 0;
  }

  /// Time of the earliest timer, max_timestamp if none (possibly the time
  /// of a removed one: a wake-up that fires nothing).
  int64_t next() const noexcept {
    return heap_.empty() ? max_timestamp : heap_.top().time;
  }

  /// Fires every timer due at `now` (time <= now), earliest first, calling
  /// f(time, key_group, key) after removing it; timers `f` adds are fired
  /// too if due.
  template <class F>
  void fire(int64_t now, F&& f) {
    while (!heap_.empty() && heap_.top().time <= now) {
      auto e = heap_.top();
      heap_.pop();
      fire_entry(e, f);
    }
  }

  /// fire(now, f), telling `load` first which keys' timers are due: it is
  /// called with the (key group, key) of each chunk of up to
  /// `load_chunk` due timers before they fire, so that their keyed state
  /// can be read at once (keyed_store::load). Timers fire in the same
  /// order as fire(now, f).
  template <class F, class Load>
  void fire(int64_t now, F&& f, Load&& load) {
    std::vector<entry> due;
    std::vector<std::pair<uint32_t, K>> keys;
    while (!heap_.empty() && heap_.top().time <= now) {
      due.clear();
      keys.clear();
      while (due.size() < load_chunk && !heap_.empty() &&
             heap_.top().time <= now) {
        due.push_back(heap_.top());
        heap_.pop();
        keys.emplace_back(due.back().key_group, due.back().key);
      }
      load(keys);
      for (auto& e : due) {
        // A timer `f` added at an earlier time than e fires before it, as
        // it would in fire(now, f); one at the same time, after it.
        while (!heap_.empty() && heap_.top().time < e.time) {
          auto added = heap_.top();
          heap_.pop();
          fire_entry(added, f);
        }
        fire_entry(e, f);
      }
    }
  }

  /// Due timers per call of fire's `load`.
  static constexpr size_t load_chunk = 1024;

  /// Timers registered over all key groups.
  size_t size() const noexcept {
    size_t n = 0;
    for (auto& g : groups_)
      n += g.size();
    return n;
  }

  void set_key_groups(uint32_t n) override { groups_.resize(n); }

  bool empty(uint32_t key_group) const override {
    return groups_[key_group].empty();
  }

  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override {
    if constexpr (serde<K>::available) {
      auto& g = groups_[key_group];
      detail::write_varint(g.size(), out);
      for (auto& [k, t] : g) {
        serde<K>::write(k, out);
        serde<int64_t>::write(t, out);
      }
    } else {
      detail::throw_no_serde(typeid(K), typeid(int64_t));
    }
  }

  void read_key_group(uint32_t key_group, const char*& pos,
                      const char* end) override {
    if constexpr (serde<K>::available) {
      auto n = detail::read_varint(pos, end);
      for (uint64_t i = 0; i < n; ++i) {
        auto k = serde<K>::read(pos, end);
        add(key_group, k, serde<int64_t>::read(pos, end));
      }
    } else {
      detail::throw_no_serde(typeid(K), typeid(int64_t));
    }
  }

private:
  struct key_time_hash {
    size_t operator()(const std::pair<K, int64_t>& x) const noexcept {
      return std::hash<K>{}(x.first) * 31 + std::hash<int64_t>{}(x.second);
    }
  };
  struct entry {
    int64_t time;
    uint64_t seq;
    uint32_t key_group;
    K key;
  };
  /// Calls f for `e` unless its timer was removed since it was added.
  template <class F>
  void fire_entry(const entry& e, F& f) {
    if (groups_[e.key_group].erase({e.key, e.time}) != 0)
      f(e.time, e.key_group, e.key);
  }

  struct later {
    bool operator()(const entry& a, const entry& b) const noexcept {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::priority_queue<entry, std::vector<entry>, later> heap_;
  uint64_t seq_ = 0;
  std::vector<std::unordered_set<std::pair<K, int64_t>, key_time_hash>> groups_;
};

} // namespace flow

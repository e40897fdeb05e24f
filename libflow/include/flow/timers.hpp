#pragma once

#include "flow/time.hpp"

#include <cstdint>
#include <queue>
#include <vector>

namespace flow {

/// Timers per key, earliest first. Registering the same (time, key) twice
/// fires it twice; owners validate a popped timer against their state
/// (lazy deletion), which keeps registration O(log n) without key order.
template <class K>
class timer_queue {
public:
  void add(int64_t time, const K& key) { heap_.push(entry{time, seq_++, key}); }

  bool empty() const noexcept { return heap_.empty(); }
  size_t size() const noexcept { return heap_.size(); }

  /// Time of the earliest timer, max_timestamp if none.
  int64_t next() const noexcept {
    return heap_.empty() ? max_timestamp : heap_.top().time;
  }

  /// Pops every timer due at `now` (time <= now), earliest first, calling
  /// `f(time, key)`; timers that `f` adds are popped too if due.
  template <class F>
  void fire(int64_t now, F&& f) {
    while (!heap_.empty() && heap_.top().time <= now) {
      auto e = heap_.top();
      heap_.pop();
      f(e.time, e.key);
    }
  }

private:
  struct entry {
    int64_t time;
    uint64_t seq;
    K key;
  };
  struct later {
    bool operator()(const entry& a, const entry& b) const noexcept {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::priority_queue<entry, std::vector<entry>, later> heap_;
  uint64_t seq_ = 0;
};

} // namespace flow

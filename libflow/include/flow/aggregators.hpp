#pragma once

#include <cstdint>
#include <utility>

namespace flow {

// Running aggregates for keyed_stream::aggregate. An aggregator has
// `accumulator` and `result` types, `accumulator init()`,
// `void add(accumulator&, const T&)` and `result get(const accumulator&)`.

/// Counts records per key.
struct count {
  using accumulator = int64_t;
  using result = int64_t;
  accumulator init() const { return 0; }
  template <class T>
  void add(accumulator& acc, const T&) const {
    ++acc;
  }
  result get(const accumulator& acc) const { return acc; }
};

/// Sums `field(record)` per key, as int64.
template <class F>
struct sum {
  explicit sum(F f) : field(std::move(f)) {}
  using accumulator = int64_t;
  using result = int64_t;
  accumulator init() const { return 0; }
  template <class T>
  void add(accumulator& acc, const T& x) const {
    acc += static_cast<int64_t>(field(x));
  }
  result get(const accumulator& acc) const { return acc; }
  F field;
};

} // namespace flow

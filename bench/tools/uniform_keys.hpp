#pragma once

// The uniform key scheme of W6, shared by the Kafka benchmarks' loader and
// verifier (bench_common.hpp's user_keys) and flow_local_bench keyed-count.

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace flow::bench {

/// K uniform keys: record `id` gets rank 1 + (id % K) * stride % K, stride
/// coprime with K, so ids 0..n-1 use each of the K ranks n/K times (rounded
/// down or up), exactly K distinct ones once n >= K.
class uniform_keys {
public:
  /// The most keys: (keys - 1) * stride then fits int64.
  static constexpr int64_t max_keys = 1000000000;

  /// 1 <= keys <= max_keys.
  explicit uniform_keys(int64_t keys) : keys_(keys) {
    // About K / golden ratio, so that consecutive ids get distant ranks.
    stride_ = std::max<int64_t>(1, int64_t(double(keys) * 0.6180339887));
    while (std::gcd(stride_, keys) != 1)
      ++stride_;
  }

  /// Rank (1-based) of the key of record `id`.
  int64_t rank(int64_t id) const { return 1 + (id % keys_) * stride_ % keys_; }

  int64_t keys() const { return keys_; }

private:
  int64_t keys_;
  int64_t stride_;
};

} // namespace flow::bench

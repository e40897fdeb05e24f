#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace flow {

/// Runtime counters of one subtask. Written only by the subtask's own
/// thread of control (relaxed stores, once per batch); read by anyone.
struct subtask_metrics {
  std::string operator_name;
  uint32_t subtask_index = 0;
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> records_out{0};
  std::atomic<uint64_t> batches_in{0};
  std::atomic<uint64_t> batches_out{0};
  /// Total nanoseconds during which an output channel had no credit.
  std::atomic<uint64_t> blocked_ns{0};
  std::atomic<bool> blocked{false};
  /// Input batches received and not yet processed.
  std::atomic<uint32_t> queued_batches{0};
  /// Highest number of queued input batches ever observed.
  std::atomic<uint32_t> max_queued_batches{0};
  /// Highest number of unacknowledged batches on any output channel.
  std::atomic<uint32_t> max_in_flight{0};
  /// Highest number of closed batches waiting for credit on any output.
  std::atomic<uint32_t> max_pending_batches{0};
  std::atomic<bool> finished{false};

  void add(std::atomic<uint64_t>& c, uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  template <class U>
  static void raise_to(std::atomic<U>& c, U v) noexcept {
    if (v > c.load(std::memory_order_relaxed))
      c.store(v, std::memory_order_relaxed);
  }
};

} // namespace flow

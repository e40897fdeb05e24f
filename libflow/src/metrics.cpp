#include "flow/metrics.hpp"

#include <chrono>

namespace flow {

subtask_sample sample_of(const subtask_metrics& m) {
  constexpr auto relaxed = std::memory_order_relaxed;
  subtask_sample s;
  s.records_in = m.records_in.load(relaxed);
  s.records_out = m.records_out.load(relaxed);
  s.batches_in = m.batches_in.load(relaxed);
  s.batches_out = m.batches_out.load(relaxed);
  s.blocked_ns = m.blocked_ns.load(relaxed);
  s.max_in_flight = m.max_in_flight.load(relaxed);
  s.max_queued_batches = m.max_queued_batches.load(relaxed);
  s.queued_batches = m.queued_batches.load(relaxed);
  s.blocked = m.blocked.load(relaxed);
  if (s.blocked) {
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto since = m.blocked_since_ns.load(relaxed);
    if (now > since) s.blocked_ns += static_cast<uint64_t>(now - since);
  }
  s.finished = m.finished.load(relaxed);
  s.watermark = m.watermark.load(relaxed);
  s.dead_lettered = m.connector.dead_lettered.load(relaxed) +
                    m.records_dead_lettered.load(relaxed);
  s.skipped = m.records_skipped.load(relaxed);
  s.producer_queue = m.connector.producer_queue.load(relaxed);
  s.lags = m.connector.partition_lags();
  return s;
}

} // namespace flow

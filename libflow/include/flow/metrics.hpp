#pragma once

#include "flow/time.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace flow {

/// Consumer lag of one partition a source reads: log-end offset minus the
/// next offset the source will read (records not yet read).
struct partition_lag {
  std::string topic;
  int32_t partition = 0;
  /// Records behind the partition's end; -1 while the end is unknown.
  int64_t lag = -1;
};

/// Gauges a connector publishes about the system it talks to (Kafka
/// consumer lag, producer queue). Written by the connector on its
/// subtask's thread of control; read by any thread (the HTTP server's).
class connector_metrics {
public:
  /// Replaces the consumer lag of every partition the source reads.
  void partition_lags(std::vector<partition_lag> lags) {
    std::lock_guard<std::mutex> guard{mutex_};
    lags_ = std::move(lags);
  }

  std::vector<partition_lag> partition_lags() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return lags_;
  }

  /// Records handed to the producer and not yet acknowledged by the
  /// broker; -1 for connectors that do not produce.
  std::atomic<int64_t> producer_queue{-1};
  /// Records that could not be read and went to a dead-letter topic.
  std::atomic<uint64_t> dead_lettered{0};

private:
  mutable std::mutex mutex_;
  std::vector<partition_lag> lags_;
};

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
  /// When the current blocked period began (steady clock, ns since its
  /// epoch); meaningful while `blocked`.
  std::atomic<int64_t> blocked_since_ns{0};
  /// Input batches received and not yet processed.
  std::atomic<uint32_t> queued_batches{0};
  /// Highest number of queued input batches ever observed.
  std::atomic<uint32_t> max_queued_batches{0};
  /// Highest number of unacknowledged batches on any output channel.
  std::atomic<uint32_t> max_in_flight{0};
  /// Highest number of closed batches waiting for credit on any output.
  std::atomic<uint32_t> max_pending_batches{0};
  /// The subtask's event time (ms since the epoch; min_timestamp before
  /// the first watermark).
  std::atomic<int64_t> watermark{min_timestamp};
  std::atomic<bool> finished{false};
  /// Records a user function threw on (or a sink could not write) that
  /// were dropped (on-error skip) or sent to the dead-letter destination
  /// (on-error dead-letter).
  std::atomic<uint64_t> records_skipped{0};
  std::atomic<uint64_t> records_dead_lettered{0};
  /// What the subtask's source or sink publishes (see connector_context).
  connector_metrics connector;

  void add(std::atomic<uint64_t>& c, uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  template <class U>
  static void raise_to(std::atomic<U>& c, U v) noexcept {
    if (v > c.load(std::memory_order_relaxed))
      c.store(v, std::memory_order_relaxed);
  }
};

/// The counters of one subtask at one moment, as values: what a subtask
/// reports to the job (also across nodes) and what the HTTP endpoints show.
struct subtask_sample {
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t batches_in = 0;
  uint64_t batches_out = 0;
  /// Time blocked on credit, including the current blocked period.
  uint64_t blocked_ns = 0;
  uint32_t max_in_flight = 0;
  uint32_t max_queued_batches = 0;
  uint32_t queued_batches = 0;
  bool blocked = false;
  bool finished = false;
  int64_t watermark = min_timestamp;
  /// Dead letters: undecodable input of a source, and records the
  /// subtask's user code or sink failed on (on-error dead-letter).
  uint64_t dead_lettered = 0;
  /// Records dropped under on-error skip.
  uint64_t skipped = 0;
  int64_t producer_queue = -1;
  std::vector<partition_lag> lags;
};

/// Reads `m` (any thread).
subtask_sample sample_of(const subtask_metrics& m);

} // namespace flow

#pragma once

#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace flow::kafka {

/// Reads the partitions of one topic that belong to one source subtask:
/// partition p goes to subtask p % parallelism. The partitions are
/// assigned explicitly (no group subscription), so the job is never
/// rebalanced under it and there is no group session to time out.
///
/// Backpressure: when the runtime stops polling the source (no credit),
/// nothing here runs; librdkafka's fetcher keeps the connection serviced on
/// its own threads and stops fetching a partition once its prefetch queue
/// holds queued.max.messages.kbytes (2 MiB by default here, overridable in
/// kafka.properties). Memory stays bounded and, since the consumer is not a
/// group member, max.poll.interval.ms does not apply.
///
/// Threading: not thread-safe; fetch() and the rest from one thread (the
/// source subtask). Only the log callback runs on librdkafka threads.
class subtask_consumer {
public:
  /// Connects, resolves each partition's start offset (kafka.start-offset;
  /// committed needs kafka.group-id and falls back to earliest where the
  /// group has no offset) and, with stop_at_end, the end offsets. Waits up
  /// to kafka.timeout-ms for the cluster; throws kafka_error
  /// (broker_unreachable, unknown_topic, ...) otherwise. On the embedded
  /// cluster the topic is created with `embedded_partitions` partitions
  /// unless it exists.
  subtask_consumer(const client_settings& s, std::string topic,
                   uint32_t subtask, uint32_t parallelism,
                   int32_t embedded_partitions = 1);
  ~subtask_consumer();

  subtask_consumer(const subtask_consumer&) = delete;
  subtask_consumer& operator=(const subtask_consumer&) = delete;

  /// Up to `max` records, without blocking longer than `timeout_ms`. The
  /// views stay valid until the next fetch() or destruction. Records at or
  /// after a partition's end offset are not returned with stop_at_end.
  const std::vector<record_view>& fetch(size_t max, int timeout_ms = 0);

  /// Calls `wake` (on a librdkafka thread, under its queue lock: it must
  /// be quick and call no librdkafka function) whenever records arrive in
  /// the empty prefetch queue. False if nothing is assigned here.
  bool set_wakeup(std::function<void()> wake);

  /// True with stop_at_end once every assigned partition reached its end
  /// offset, or if no partition is assigned to this subtask.
  bool finished() const noexcept;

  /// The next offset to read per assigned partition: what a commit stores.
  std::vector<std::pair<int32_t, int64_t>> positions() const;

  /// Consumer lag per assigned partition: the log-end offset librdkafka
  /// last saw for it (from fetch responses; no request is sent) minus the
  /// next offset to read; -1 while the end is unknown.
  std::vector<std::pair<int32_t, int64_t>> lags() const;

  /// The partitions of the topic assigned to this reader.
  std::vector<int32_t> assigned() const;

  /// True with stop_at_end once partition `p` reached its end offset (and
  /// for a partition not assigned here).
  bool partition_finished(int32_t p) const noexcept;

  /// True while partition `p` has nothing left to read: the records
  /// fetched so far reached its log-end offset (librdkafka's
  /// end-of-partition event) and no record came after. A partition that
  /// lags, or is not read (backpressure), is not caught up. Also true for a
  /// finished or unassigned partition.
  bool caught_up(int32_t p) const noexcept;

  /// How often the reader woke librdkafka's fetcher after the prefetch
  /// queue had filled up and run empty (see subtask_consumer.cpp).
  uint64_t fetcher_wakeups() const noexcept;

  /// Partitions of the topic.
  int32_t partition_count() const noexcept { return partition_count_; }

  const std::string& topic() const noexcept { return topic_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string topic_;
  int32_t partition_count_ = 0;
};

} // namespace flow::kafka

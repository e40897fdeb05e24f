#pragma once

#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace flow::kafka {

/// An idempotent producer (acks=all, murmur2 key partitioning as the Java
/// client) writing to one topic, with delivery reports tracked: a record
/// that librdkafka could not deliver within kafka.delivery-timeout-ms
/// (after its retries) makes the next produce()/poll()/flush() throw
/// kafka_error(delivery_failed), as does a fatal producer error.
///
/// Threading: not thread-safe; use it from one thread (the sink subtask).
/// Delivery reports and error callbacks are served by poll()/flush() on the
/// calling thread, never on librdkafka's threads, so the tracking needs no
/// locks. Only the log callback runs on librdkafka threads.
class partition_writer {
public:
  /// Connects to the cluster of `s`; waits up to kafka.timeout-ms for the
  /// topic's metadata and throws kafka_error (broker_unreachable,
  /// unknown_topic) if it does not come. On the embedded cluster the topic
  /// is created with `embedded_partitions` (or s.embedded_partitions).
  partition_writer(const client_settings& s, std::string topic,
                   int32_t embedded_partitions = 1);
  ~partition_writer();

  partition_writer(const partition_writer&) = delete;
  partition_writer& operator=(const partition_writer&) = delete;

  /// Queues `r` (copied into librdkafka). Blocks while librdkafka's queue
  /// is full, serving delivery reports: that is the sink's backpressure.
  void produce(const producer_record& r);

  /// As produce(), from views (no intermediate copies).
  void produce(std::string_view value, const std::string_view* key,
               const std::vector<header>& headers,
               std::optional<int32_t> partition = std::nullopt,
               std::optional<int64_t> timestamp = std::nullopt);

  /// Serves delivery reports without blocking; throws on a failed delivery.
  void poll();

  /// Waits until every queued record is acknowledged (at most
  /// delivery-timeout-ms plus a margin); throws on a failed delivery.
  void flush();

  /// Partitions of the topic.
  int32_t partitions() const noexcept { return partitions_; }

  const std::string& topic() const noexcept { return topic_; }

  /// Records acknowledged by the broker so far.
  uint64_t delivered() const noexcept;

  /// Records queued and not yet acknowledged or failed.
  uint64_t in_flight() const noexcept;

private:
  struct impl;
  void check();
  std::unique_ptr<impl> impl_;
  std::string topic_;
  int32_t partitions_ = 0;
};

} // namespace flow::kafka

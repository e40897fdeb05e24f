#pragma once

#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"

#include <cstddef>
#include <string>

namespace flow::kafka {

/// What a sink of one topic may send: its producer's settings (with a
/// message.max.bytes that fits the topic's max.message.bytes, unless
/// kafka.properties sets one) and the largest record it lets through.
struct record_limit {
  client_settings producer_settings;
  /// Key, value and headers of one record, in bytes: the topic's
  /// max.message.bytes (and the producer's message.max.bytes) minus the
  /// record batch's framing.
  size_t max_record_bytes = 0;
};

/// Asks the cluster for `topic`'s max.message.bytes (librdkafka's default
/// message.max.bytes on the embedded cluster). Blocks: run it on a
/// blocking_executor. Throws kafka_error.
record_limit sink_record_limit(client_settings s, const std::string& topic);

/// Key, value and header bytes of `r`.
size_t record_bytes(const producer_record& r) noexcept;

/// Throws std::length_error naming the sizes if `r` is larger than
/// `max_bytes` (a record the broker would reject for `topic`).
void check_record_size(const producer_record& r, size_t max_bytes,
                       const std::string& topic);

} // namespace flow::kafka

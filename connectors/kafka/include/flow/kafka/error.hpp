#pragma once

#include <stdexcept>
#include <string>

namespace flow::kafka {

/// What went wrong at the Kafka edge. librdkafka's error codes are mapped
/// into these where they leave the connector (see to_errc in error.cpp).
enum class errc {
  /// No error.
  none = 0,
  /// A configuration value or librdkafka property was rejected.
  bad_config,
  /// No broker answered within kafka.timeout-ms (wrong address, broker down).
  broker_unreachable,
  /// The topic or partition does not exist.
  unknown_topic,
  /// A request timed out; librdkafka would retry it.
  timed_out,
  /// A produced record was not acknowledged (after librdkafka's retries,
  /// within kafka.delivery-timeout-ms).
  delivery_failed,
  /// librdkafka reported a fatal error (e.g. the idempotent producer lost
  /// its sequence): the client instance cannot be used any more.
  fatal,
  /// A record could not be deserialized (and kafka.fail-on-bad-record is set).
  bad_record,
  /// Committing or fetching committed offsets failed.
  offset_commit_failed,
  /// The broker refused access (authentication, authorization).
  not_authorized,
  /// Any other librdkafka error; the message carries librdkafka's text.
  other,
};

/// A short name of `e` ("delivery_failed").
const char* to_string(errc e) noexcept;

/// Thrown by the connector; the runtime turns it into a job failure naming
/// the operator and subtask. `retriable()` tells whether librdkafka marked
/// the underlying error retriable (only informational: librdkafka already
/// retried before we throw).
class kafka_error : public std::runtime_error {
public:
  kafka_error(errc code, const std::string& what, bool retriable = false)
      : std::runtime_error("kafka " + std::string(to_string(code)) + ": " +
                           what),
        code_(code), retriable_(retriable), message_(what) {}

  errc code() const noexcept { return code_; }
  bool retriable() const noexcept { return retriable_; }
  /// what() without the "kafka <code>: " in front.
  const std::string& message() const noexcept { return message_; }

private:
  errc code_;
  bool retriable_;
  std::string message_;
};

} // namespace flow::kafka

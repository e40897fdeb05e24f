#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"
#include "flow/kafka/topic_producer.hpp"
#include "flow/record_errors.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow::kafka {

/// Header names on dead-letter records.
inline constexpr const char* dlq_topic_header = "flow.source.topic";
inline constexpr const char* dlq_partition_header = "flow.source.partition";
inline constexpr const char* dlq_offset_header = "flow.source.offset";
inline constexpr const char* dlq_error_header = "flow.error";
/// On a record whose value was cut to dlq_max_value_bytes: its size before.
inline constexpr const char* dlq_truncated_header = "flow.truncated-from";
/// On the dead letters of user functions and sinks (on-error dead-letter,
/// kafka.dead-letter-topic), besides the source headers where the record
/// is a kafka::record and flow.error ("type: message"): the operator, its
/// subtask index, the exception's type and its message, and what the value
/// is: "serialized" (the record's flow::serde bytes; a string as it is, a
/// kafka::record its value) or "description" (readable text).
inline constexpr const char* dlq_operator_header = "flow.operator";
inline constexpr const char* dlq_subtask_header = "flow.subtask";
inline constexpr const char* dlq_exception_type_header = "flow.exception.type";
inline constexpr const char* dlq_exception_message_header =
    "flow.exception.message";
inline constexpr const char* dlq_value_header = "flow.value";

/// The largest dead-letter value kept whole. The dead-letter topic is
/// created with a max.message.bytes (and its producer with a
/// message.max.bytes) that fits it with its key and headers, so a record
/// rejected for its size by the output is not rejected by its dead-letter
/// topic too; a larger value (the broker let in something bigger) is cut,
/// with dlq_truncated_header saying so.
inline constexpr size_t dlq_max_value_bytes = size_t{32} << 20;
/// max.message.bytes of dead-letter topics: the largest value, plus room
/// for its key, headers and batch overhead.
inline constexpr size_t dlq_max_message_bytes = dlq_max_value_bytes + (1 << 20);

/// The dead-letter topic of one source subtask: records its deserializer
/// rejected, with their key, value and headers, plus headers naming their
/// source topic, partition, offset and the error.
///
/// Never blocks its thread. The producer is opened on first use on the
/// subtask's blocking_executor (creating the topic on a real broker); until
/// it is open, and while librdkafka's queue is full, dead letters are held
/// here and accepting() is false: the source then reads no further.
///
/// Threading: as topic_producer (the source subtask's thread).
class dead_letter_queue {
public:
  dead_letter_queue(client_settings s, std::string topic,
                    blocking_executor* executor);
  ~dead_letter_queue();

  dead_letter_queue(const dead_letter_queue&) = delete;
  dead_letter_queue& operator=(const dead_letter_queue&) = delete;

  /// Sends `wake` (see topic_producer::set_wakeup) once the producer is
  /// open.
  void set_wakeup(std::function<void()> wake);

  /// Adds the dead letter of `v` (copied), read from `source_topic`.
  void add(const record_view& v, const std::string& source_topic,
           const std::string& error);

  /// Adds the dead letter of a record a user function or sink failed on
  /// (dead_letter's headers above).
  void add(dead_letter d);

  /// Serves the producer; true if it holds nothing back (the source may
  /// read on). Throws on a failed delivery or if the topic cannot be
  /// opened.
  bool accepting();

  /// Flush without blocking: true once every dead letter is acknowledged
  /// (see topic_producer::flushed).
  bool flushed();

  const std::string& topic() const noexcept { return topic_; }

private:
  /// False while the producer is being opened; takes it once it is.
  bool open();
  /// Cuts r's value to dlq_max_value_bytes (with dlq_truncated_header)
  /// and enqueues or holds it.
  void add(producer_record r);

  std::string topic_;
  background_result<std::unique_ptr<topic_producer>> opening_;
  std::unique_ptr<topic_producer> producer_;
  /// Dead letters added before the producer was open.
  std::vector<producer_record> early_;
  std::function<void()> wake_;
};

/// The Kafka connector's dead_letter_destination: kafka.dead-letter-topic
/// (a dead_letter_queue per subtask that has a dead letter). Registered
/// by the connector library.
class operator_dead_letters final : public dead_letter_destination {
public:
  std::string key() const override;
  bool configured(const settings_map& s) const override;
  std::unique_ptr<dead_letter_writer> open(const task_setup& s) const override;
};

} // namespace flow::kafka

namespace flow {

/// A kafka::record's dead letter carries its value and origin.
template <>
struct dead_letter_traits<kafka::record> {
  static constexpr bool has_payload = true;
  static std::optional<record_origin> origin(const kafka::record& r) {
    return record_origin{r.topic, r.partition, r.offset};
  }
  static std::string payload(const kafka::record& r) { return r.value; }
};

} // namespace flow

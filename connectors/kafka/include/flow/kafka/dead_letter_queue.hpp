#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"
#include "flow/kafka/topic_producer.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace flow::kafka {

/// Header names on dead-letter records.
inline constexpr const char* dlq_topic_header = "flow.source.topic";
inline constexpr const char* dlq_partition_header = "flow.source.partition";
inline constexpr const char* dlq_offset_header = "flow.source.offset";
inline constexpr const char* dlq_error_header = "flow.error";
/// kafka.delivery = exactly-once: the kafka.group-id of the job that
/// dead-lettered the record.
inline constexpr const char* dlq_group_header = "flow.source.group";
/// On a record whose value was cut to dlq_max_value_bytes: its size before.
inline constexpr const char* dlq_truncated_header = "flow.truncated-from";

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
/// With kafka.delivery = exactly-once each input record ends up in the
/// dead-letter topic at most once, across crashes: a restarted job reads
/// its input again from the checkpoint's offsets and meets the same bad
/// records. Before its first dead letter the queue reads the dead-letter
/// topic (read_committed, on the executor) for the highest source offset
/// per source partition that this job (dlq_group_header) dead-lettered,
/// and drops dead letters at or below it: one idempotent producer writes a
/// partition's dead letters in offset order, so what reached the topic is
/// a prefix of them. Reading the topic at open costs time in proportion to
/// its size.
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

  /// Serves the producer; true if it holds nothing back (the source may
  /// read on). Throws on a failed delivery or if the topic cannot be
  /// opened.
  bool accepting();

  /// Flush without blocking: true once every dead letter is acknowledged
  /// (see topic_producer::flushed).
  bool flushed();

  const std::string& topic() const noexcept { return topic_; }

  /// Exactly-once: dead letters dropped as written by an earlier run.
  uint64_t repeated() const noexcept { return repeated_; }

private:
  /// (source topic, source partition) -> highest source offset already in
  /// the dead-letter topic.
  using written_map = std::map<std::pair<std::string, int32_t>, int64_t>;
  struct opened {
    std::unique_ptr<topic_producer> producer;
    written_map written;
  };
  /// Exactly-once: true if the dead letter `r` (its headers) is in the
  /// topic already.
  bool written_before(const producer_record& r) const;
  /// False while the producer is being opened; takes it once it is.
  bool open();

  std::string topic_;
  /// kafka.group-id with kafka.delivery = exactly-once; empty otherwise.
  std::string group_;
  background_result<opened> opening_;
  std::unique_ptr<topic_producer> producer_;
  written_map written_;
  uint64_t repeated_ = 0;
  /// Dead letters added before the producer was open.
  std::vector<producer_record> early_;
  std::function<void()> wake_;
};

} // namespace flow::kafka

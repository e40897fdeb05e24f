#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"
#include "flow/kafka/topic_producer.hpp"
#include "flow/record_errors.hpp"

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

/// The source subtask whose dead letters a dead_letter_queue takes.
struct dead_letter_source {
  std::string topic;
  std::string operator_name;
  uint32_t subtask_index = 0;
};

/// The dead-letter topic of one subtask: records a source's deserializer
/// rejected, with their key, value and headers, plus headers naming their
/// source topic, partition, offset and the error; or records a user
/// function or sink failed on (add(dead_letter)).
///
/// Never blocks its thread. The producer is opened on first use on the
/// subtask's blocking_executor (creating the topic on a real broker); until
/// it is open, and while librdkafka's queue is full, dead letters are held
/// here and accepting() is false: the source then reads no further.
///
/// With kafka.delivery = exactly-once each input record ends up in the
/// dead-letter topic at most once, across crashes and zombies:
/// - The producer is transactional, its transactional.id the subtask's
///   (dead_letter_transactional_id). Opening it (init_transactions) aborts
///   what an earlier instance of the same subtask left open and fences that
///   instance: a frozen and resumed process (a zombie) can commit nothing
///   after it.
/// - Dead letters go into a transaction that flushed() commits (on the
///   executor): a checkpoint waits for it, as for the acknowledgement of an
///   idempotent producer.
/// - Each transaction also commits, as its marker, the next offset after
///   the highest source offset it holds per source partition: the
///   committed offsets of marker group dead_letter_transactional_id for
///   the source topic (send_offsets_to_transaction). Transactions commit
///   in order, so the dead letters of a source partition at or below its
///   marker are in the topic.
/// - After fencing, the queue reads the markers of every subtask index
///   that can own a partition of the source topic (its own waiting for a
///   pending one, which fencing ended; another's skipping one: after a
///   change of parallelism, the subtask that had the partition) and drops
///   a source's dead letters at or below the highest. (A zombie of a
///   subtask index that the new parallelism no longer has is not fenced:
///   what it commits later can repeat dead letters.)
/// The markers are offsets, not a read of the dead-letter topic: such a
/// read (read_committed) ends at the last stable offset, which any
/// transaction open on the topic holds back, also another subtask's; what
/// this subtask had committed after that transaction began was then not
/// seen (tests/kafka/dead_letter.cpp). Waiting for those transactions
/// instead would wait for the checkpoint-spanning transactions of
/// operator_dead_letters on the same topic, whose checkpoint waits for
/// this queue.
/// With exactly-once, the dead letters of user functions and sinks do not
/// come here: operator_dead_letters gives each subtask an
/// exactly_once_writer of its own, which publishes them with the
/// checkpoints.
///
/// Threading: as topic_producer (the subtask's thread); while a commit
/// runs on the executor the subtask's thread does not touch the producer.
class dead_letter_queue {
public:
  /// `source`: the source subtask whose dead letters this queue takes;
  /// needed with kafka.delivery = exactly-once (its transactional id and
  /// markers), ignored otherwise.
  dead_letter_queue(client_settings s, std::string topic,
                    blocking_executor* executor,
                    dead_letter_source source = {});
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
  /// (see topic_producer::flushed); exactly-once: committed (starts the
  /// commit of the open transaction, false until it returned; throws if it
  /// failed).
  bool flushed();

  const std::string& topic() const noexcept { return topic_; }

  /// Exactly-once: dead letters dropped as written by an earlier run.
  uint64_t repeated() const noexcept { return repeated_; }

private:
  /// (source topic, source partition) -> the highest source offset
  /// already in the dead-letter topic.
  using offset_map = std::map<std::pair<std::string, int32_t>, int64_t>;
  struct opened {
    std::shared_ptr<topic_producer> producer;
    offset_map written;
  };
  /// False while the producer is being opened; takes it once it is.
  bool open();
  /// Cuts r's value to dlq_max_value_bytes (with dlq_truncated_header)
  /// and sends or holds it.
  void add(producer_record r);
  /// Drops `r` if written before, else enqueues it (beginning a
  /// transaction if exactly-once and none is open). The producer is open
  /// and no commit runs.
  void send(producer_record&& r);
  /// Exactly-once: false while a commit runs; once it returned, takes its
  /// result (rethrowing its error) and sends what was held meanwhile.
  bool settle();

  std::string topic_;
  /// kafka.group-id with kafka.delivery = exactly-once; empty otherwise.
  std::string group_;
  blocking_executor* executor_;
  background_result<opened> opening_;
  /// Shared with a commit on the executor.
  std::shared_ptr<topic_producer> producer_;
  /// Exactly-once: the marker group (the transactional id).
  std::string marker_group_;
  offset_map written_;
  /// Exactly-once: the open transaction's marker (the offset after the
  /// highest source offset it holds, per source partition).
  topic_producer::marker_offsets marker_;
  uint64_t repeated_ = 0;
  /// Dead letters added before the producer was open, or while a commit
  /// runs.
  std::vector<producer_record> early_;
  /// Exactly-once: a transaction is begun and holds dead letters.
  bool in_transaction_ = false;
  background_result<void> committing_;
  uint64_t transactions_ = 0;
  std::function<void()> wake_;
};

/// "libflow.<group>.<operator>.<index>.dead-letters": the transactional.id
/// of one subtask's dead-letter producer with kafka.delivery =
/// exactly-once (distinct from its sink's, exactly_once_writer), and the
/// marker group of an operator's or sink's checkpointed dead letters.
std::string dead_letter_transactional_id(const std::string& group,
                                         const std::string& operator_name,
                                         uint32_t subtask_index);

/// The Kafka connector's dead_letter_destination: kafka.dead-letter-topic.
/// Each subtask that has a dead letter gets a dead_letter_queue; with
/// kafka.delivery = exactly-once instead an exactly_once_writer of its
/// own (transactional id dead_letter_transactional_id), checkpointed as
/// an exactly-once sink is: its dead letters are part of the checkpoint
/// after them and visible once that completed, so a restart neither
/// loses nor repeats them. Registered by the connector library.
class operator_dead_letters final : public dead_letter_destination {
public:
  std::string key() const override;
  bool configured(const settings_map& s) const override;
  bool checkpointed(const settings_map& s) const override;
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

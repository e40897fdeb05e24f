#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/connector.hpp"
#include "flow/kafka/epoch_log.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/topic_producer.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flow::kafka {

class admin;

/// The engine of an exactly-once Kafka sink subtask (kafka.delivery =
/// exactly-once), below its typed sink_function: an epoch_log of the
/// records not yet committed, and a transactional producer that publishes
/// each completed checkpoint's epochs in one transaction with their
/// marker (connectors/kafka/README.md, "Exactly-once", has the argument).
///
/// Records go into the open transaction as they come
/// (try_produce_in_place, on the subtask's thread, never waiting: what
/// librdkafka has no room for goes later), as long as every earlier epoch
/// is committed: the transaction holds a prefix of the open epoch. After
/// the barrier that closes it, production pauses until the checkpoint's
/// completion publishes the rest and commits, with the marker; the next
/// epoch then catches up. So a commit waits for little more than the last
/// records' acknowledgements, and the checkpointed state is about one
/// epoch. librdkafka sends the values from the epoch's chunks, without a
/// copy, in runs (topic_producer::try_produce_in_place).
///
/// Everything that waits for the cluster (init_transactions, reading the
/// marker, a commit) runs on the subtask's blocking_executor, never on the
/// subtask's thread; at most one transaction is open. The sink is busy()
/// while the producer opens and while finish() waits for a publication;
/// writes go on while one is in flight (into the next epochs).
///
/// Ids: transactional.id and marker group are both
/// "libflow.<kafka.group-id>.<sink operator>.<subtask index>"; the marker
/// is that group's committed offset of the topic's partition 0.
///
/// Threading: the sink subtask's thread only (the executor's work touches
/// only what it captured).
class exactly_once_writer {
public:
  /// Where a writer publishes, and under which ids.
  struct target {
    std::string topic;
    /// The transactional.id, also the marker's group.
    std::string transactional_id;
    /// Names the writer in logs and errors.
    std::string where;
    /// Partitions of the topic on the embedded cluster.
    int32_t embedded_partitions = 1;
    /// Producer properties on top of the client settings'.
    std::vector<std::pair<std::string, std::string>> properties;
    /// Runs on the executor before the producer opens (creates the topic,
    /// say); may be empty.
    std::function<void(const client_settings&)> prepare;
    /// Asks the topic for the largest record it takes (sink_record_limit),
    /// sizing the producer to it: max_record_bytes().
    bool record_limit = false;
  };

  /// A sink subtask's writer to `topic`: ids from ctx's operator and
  /// subtask (transactional_id), sized to the topic's largest record.
  exactly_once_writer(std::string topic, const connector_context& ctx);
  /// A writer to `t` (ctx's operator names nothing: `t` has the ids).
  exactly_once_writer(target t, const connector_context& ctx);
  ~exactly_once_writer();

  exactly_once_writer(const exactly_once_writer&) = delete;
  exactly_once_writer& operator=(const exactly_once_writer&) = delete;

  /// Adds a record to the open epoch (throws when the log is full).
  void append(const producer_record& r);
  /// After a batch of append()s: takes a publication that returned
  /// (throws if it failed) and passes the new records into the open
  /// transaction as far as it may (see above).
  void pass_on();
  /// sink_function::snapshot_state: closes epoch `id`.
  byte_chain snapshot(checkpoint_id id);
  /// sink_function::restore.
  void restore(checkpoint_id id, const std::string& state);
  /// sink_function::checkpoint_complete: publishes the epochs <= `id`.
  void complete(checkpoint_id id);
  /// End of input: busy while a publication is in flight. Completions
  /// still publish (the job's final checkpoint); what no complete
  /// checkpoint covers is left to the next run, which restores it (or
  /// replays its input) from the latest checkpoint.
  void finish();
  bool busy() const;
  /// True while a publication is in flight.
  bool publishing() const { return in_flight_.has_value(); }
  /// Goes on after the executor's work returned (the host wakes the
  /// subtask then).
  void resume();

  /// Once open (not busy()): the largest record (key, value and headers)
  /// the topic takes; SIZE_MAX if the target did not ask. A larger one
  /// would fail the transaction: the sink sends it to its on-error policy.
  size_t max_record_bytes() const noexcept { return max_record_bytes_; }

  /// "libflow.<group>.<operator>.<index>".
  static std::string transactional_id(const std::string& group,
                                      const std::string& operator_name,
                                      uint32_t subtask_index);

  /// The marker: the offset `marker_group` (the transactional id) last
  /// committed for `topic`'s partition 0, -1 if none. Read after
  /// init_transactions, which ended whatever an earlier instance of the
  /// transactional id left open, so the read waits only for a commit no
  /// fencing ends: another producer's (two jobs with one group id), or a
  /// transaction the broker left hanging. Then it throws
  /// kafka_error(offset_commit_failed) after kafka.timeout-ms, saying so
  /// and naming the last completed commit; other errors as
  /// admin::committed.
  static int64_t read_marker(admin& a, const std::string& marker_group,
                             const std::string& topic);

  /// Warns if `topic`, `__transaction_state` or `__consumer_offsets` has a
  /// partition with one replica: a restart of its broker can leave a
  /// transaction committed without its markers (Kafka 4.4.0;
  /// connectors/kafka/README.md, "Known problem, after a broker restart").
  /// Each topic is looked at once per process; topics it cannot see are
  /// left out.
  static void warn_on_single_replicas(admin& a, const std::string& topic);

private:
  struct opened {
    std::shared_ptr<topic_producer> producer;
    /// The marker group's committed offset; -1 if none.
    int64_t marker = -1;
    size_t max_record_bytes = SIZE_MAX;
  };
  /// Takes a publication that returned (rethrowing its error), then
  /// starts the next one if a completed checkpoint has epochs left.
  void advance();
  /// Passes the open epoch's records not yet produced into the open
  /// transaction (beginning one), while every earlier epoch is committed
  /// and librdkafka has room.
  void produce_open();

  std::string topic_;
  std::string id_;
  std::string where_;
  client_settings settings_;
  blocking_executor* executor_ = nullptr;
  connector_metrics* metrics_ = nullptr;
  epoch_log log_;
  bool open_ = false;
  bool finishing_ = false;
  background_result<opened> opening_;
  std::shared_ptr<topic_producer> producer_;
  background_result<topic_producer::transaction_timing> publishing_;
  std::optional<publication> in_flight_;
  /// A transaction is begun and holds the open epoch's records up to
  /// produced_ (epoch_log::take_open).
  bool transaction_open_ = false;
  epoch_position produced_;
  /// The checkpoint restored (0: a fresh start).
  checkpoint_id restored_{0};
  /// The latest checkpoint known complete.
  checkpoint_id completed_{0};
  uint64_t transactions_ = 0;
  size_t max_record_bytes_ = SIZE_MAX;
  /// Sums over the transactions, and the longest one's total (µs).
  topic_producer::transaction_timing timing_total_;
  int64_t publish_us_max_ = 0;
};

} // namespace flow::kafka

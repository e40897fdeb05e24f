#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/connector.hpp"
#include "flow/kafka/epoch_log.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/topic_producer.hpp"

#include <memory>
#include <optional>
#include <string>

namespace flow::kafka {

/// The engine of an exactly-once Kafka sink subtask (kafka.delivery =
/// exactly-once), below its typed sink_function: an epoch_log of the
/// records not yet committed, and a transactional producer that publishes
/// each completed checkpoint's epochs in one transaction with their
/// marker (connectors/kafka/README.md, "Exactly-once", has the argument).
///
/// Everything that waits for the cluster (init_transactions, reading the
/// marker, a transaction) runs on the subtask's blocking_executor, never
/// on the subtask's thread; at most one transaction is open, and only
/// while it is published. The sink is busy() while the producer opens and
/// while finish() waits for a publication; writes go on while one is in
/// flight (into the next epochs).
///
/// Ids: transactional.id and marker group are both
/// "libflow.<kafka.group-id>.<sink operator>.<subtask index>"; the marker
/// is that group's committed offset of the topic's partition 0.
///
/// Threading: the sink subtask's thread only (the executor's work touches
/// only what it captured).
class exactly_once_writer {
public:
  exactly_once_writer(std::string topic, const connector_context& ctx);
  ~exactly_once_writer();

  exactly_once_writer(const exactly_once_writer&) = delete;
  exactly_once_writer& operator=(const exactly_once_writer&) = delete;

  /// Adds a record to the open epoch (throws when the log is full, or when
  /// a finished publication failed).
  void append(producer_record&& r);
  /// sink_function::snapshot_state: closes epoch `id`.
  std::string snapshot(checkpoint_id id);
  /// sink_function::restore.
  void restore(checkpoint_id id, const std::string& state);
  /// sink_function::checkpoint_complete: publishes the epochs <= `id`.
  void complete(checkpoint_id id);
  /// End of input: waits for the publication in flight; the open epoch
  /// and the epochs of checkpoints not yet complete are left to the next
  /// run, which restores them (or replays their input) from the latest
  /// checkpoint.
  void finish();
  bool busy() const;
  /// Goes on after the executor's work returned (the host wakes the
  /// subtask then).
  void resume();

  /// "libflow.<group>.<operator>.<index>".
  static std::string transactional_id(const std::string& group,
                                      const std::string& operator_name,
                                      uint32_t subtask_index);

private:
  struct opened {
    std::shared_ptr<topic_producer> producer;
    /// The marker group's committed offset; -1 if none.
    int64_t marker = -1;
  };
  enum class stage { opening, open, finishing, finished };

  /// Takes a publication that returned (rethrowing its error), then
  /// starts the next one if a completed checkpoint has epochs left.
  void advance();

  std::string topic_;
  std::string id_;
  std::string where_;
  client_settings settings_;
  blocking_executor* executor_ = nullptr;
  connector_metrics* metrics_ = nullptr;
  epoch_log log_;
  stage stage_ = stage::opening;
  background_result<opened> opening_;
  std::shared_ptr<topic_producer> producer_;
  background_result<void> publishing_;
  std::optional<publication> in_flight_;
  /// The checkpoint restored (0: a fresh start).
  checkpoint_id restored_{0};
  /// The latest checkpoint known complete.
  checkpoint_id completed_{0};
  uint64_t transactions_ = 0;
};

} // namespace flow::kafka

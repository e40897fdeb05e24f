#pragma once

#include "flow/connector.hpp"
#include "flow/job_options.hpp"
#include "flow/kafka/admin.hpp"
#include "flow/kafka/dead_letter_queue.hpp"
#include "flow/kafka/error.hpp"
#include "flow/kafka/offset_committer.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/serde.hpp"
#include "flow/kafka/subtask_consumer.hpp"
#include "flow/log.hpp"
#include "flow/watermark.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace flow::kafka {

/// Process-wide counters of the Kafka connector (all jobs, all subtasks).
struct connector_counters {
  std::atomic<uint64_t> records_read{0};
  std::atomic<uint64_t> dead_lettered{0};
  /// Tombstones skipped by sources whose type cannot hold "no value".
  std::atomic<uint64_t> tombstones_skipped{0};
};

/// The process's counters.
connector_counters& counters();

/// Per-source choices that override the `kafka.*` settings of the node.
struct source_options {
  /// Operator name (default: the topic).
  std::string name;
  std::optional<uint32_t> parallelism;
  std::optional<std::string> group_id;
  std::optional<start_offset> start;
  std::optional<bool> stop_at_end;
  /// A table's changelog (the table side of join_table or versioned_join):
  /// read from the earliest offset whatever kafka.start-offset or `start`
  /// say, so the table is complete (as a Kafka Streams GlobalKTable
  /// bootstraps). table_source() sets it.
  bool changelog = false;
};

namespace detail {

/// Whether `D` also has the form `void f(const record_view&, T& out)`.
template <class D, class T>
constexpr bool deserializes_into = std::is_default_constructible_v<T>&&
    std::is_invocable_v<const D&, const record_view&, T&>;

/// The source function: one subtask_consumer per subtask, deserializing
/// into T; undeserializable records go to the dead-letter topic;
/// tombstones are skipped unless T can hold them (sees_tombstones<T>).
/// Never blocks the subtask's thread: the consumer is opened on the
/// subtask's blocking_executor (poll() is idle until it is open), and a
/// dead-letter queue that cannot take more makes poll() idle instead of
/// reading on.
template <class T, class D>
class source_fn final : public source_function<T> {
public:
  source_fn(std::string topic, D deserialize, source_options opts)
      : topic_(std::move(topic)), deserialize_(std::move(deserialize)),
        opts_(std::move(opts)) {}

  void open(const connector_context& ctx) override {
    settings_ = client_settings::from(ctx.settings);
    checkpointed_ = ctx.settings != nullptr &&
                    checkpoint_interval_option().get(*ctx.settings).count() > 0;
    if (opts_.group_id) settings_.group_id = *opts_.group_id;
    if (opts_.start) settings_.start = *opts_.start;
    if (opts_.stop_at_end) settings_.stop_at_end = *opts_.stop_at_end;
    if (opts_.changelog) settings_.start = start_offset{};
    if (settings_.start.what == start_offset::kind::committed &&
        settings_.group_id.empty())
      throw kafka_error{errc::bad_config,
                        "start offset 'committed' needs kafka.group-id"};
    label_ = ctx.operator_name + "[" + std::to_string(ctx.subtask_index) + "]";
    operator_name_ = ctx.operator_name;
    metrics_ = ctx.metrics;
    executor_ = ctx.executor;
    subtask_ = ctx.subtask_index;
    parallelism_ = ctx.parallelism;
  }

  /// The consumer's close waits for the cluster: not on this thread (the
  /// dead-letter queue releases its producer the same way).
  ~source_fn() override {
    opening_.release_on(executor_);
    release_on(executor_, std::move(consumer_));
  }

  source_state poll(emitter<T>& out, size_t max_records) override {
    if (!opening_.started() && !consumer_ && !stopped_) start_opening();
    if (!consumer_ && !open_consumer())
      return stopped_ ? finish() : source_state::idle;
    if (stopped_ || consumer_->finished()) return finish();
    if (dlq_ && !dlq_->accepting()) return source_state::idle;
    auto* time = out.time();
    auto* strategy = time ? time->strategy() : nullptr;
    if (strategy && !splits_) start_split_watermarks(out, *time, *strategy);
    auto now = splits_ ? time->now() : 0;
    auto& batch = consumer_->fetch(max_records);
    for (auto& v : batch) {
      if constexpr (!sees_tombstones<T>::value) {
        if (v.is_tombstone()) {
          skip_tombstone(v);
          continue;
        }
      }
      // What throws after the deserializer is not a bad record.
      bool deserialized = false;
      auto observe = [&](const T& x) {
        deserialized = true;
        if (splits_)
          splits_->observe(static_cast<uint32_t>(v.partition),
                           strategy->timestamp(x), now);
      };
      try {
        if constexpr (deserializes_into<D, T>) {
          // Built where the router sends it from: no move per record.
          out.emit_filled([&](T& x) {
            deserialize_(v, x);
            observe(x);
          });
        } else {
          T x = deserialize_(v);
          observe(x);
          out.emit(std::move(x));
        }
      } catch (const std::exception& e) {
        if (deserialized) throw;
        dead_letter(v, e.what());
      }
    }
    if (splits_) emit_split_watermark(out, now);
    counters().records_read.fetch_add(batch.size(), std::memory_order_relaxed);
    if (dlq_) dlq_->accepting();
    publish_lags();
    if (batch.empty())
      return consumer_->finished() ? finish() : source_state::idle;
    return source_state::more;
  }

  void request_stop() override { stopped_ = true; }

  /// One split per assigned partition ("3"): the next offset to read.
  /// Before the consumer is open: the positions restored, if any.
  std::vector<source_position> positions() const override {
    std::vector<source_position> out;
    if (consumer_) {
      for (auto& [p, o] : consumer_->positions())
        out.push_back({std::to_string(p), o});
    } else if (restored_) {
      for (auto& [p, o] : settings_.start.offsets)
        out.push_back({std::to_string(p), o});
    }
    return out;
  }

  /// Reads each partition from its checkpointed offset (the consumer
  /// group's offsets and kafka.start-offset do not apply); partitions not
  /// in the checkpoint start at their earliest offset.
  void restore(const std::vector<source_position>& positions) override {
    if (opening_.started() || consumer_)
      throw std::logic_error("kafka source: restore after the first poll");
    start_offset from;
    from.what = start_offset::kind::explicit_offsets;
    for (auto& x : positions)
      from.offsets[static_cast<int32_t>(std::stol(x.split))] = x.position;
    settings_.start = std::move(from);
    restored_ = true;
  }

  /// Commits the checkpointed offsets to kafka.group-id (if set), on the
  /// executor; a failed commit is logged (lag tools lag, nothing else).
  void
  checkpoint_complete(const std::vector<source_position>& positions) override {
    if (settings_.group_id.empty() || positions.empty()) return;
    std::map<int32_t, int64_t> offsets;
    for (auto& x : positions)
      offsets[static_cast<int32_t>(std::stol(x.split))] = x.position;
    if (committing_.ready()) committing_.take();
    if (committing_.started()) return; // the next completion commits
    committing_.start(executor_, [s = settings_, topic = topic_,
                                  offsets = std::move(offsets)]() noexcept {
      try {
        admin{s}.commit(s.group_id, topic, offsets);
      } catch (const std::exception& e) {
        logger("flow/kafka")
            ->warn("commit of checkpointed offsets of {} to group {} "
                   "failed: {}",
                   topic, s.group_id, e.what());
      }
    });
  }

  /// The dead letters of the records before the checkpoint's positions
  /// must be acknowledged before it completes (else a crash after it would
  /// lose them: the restart reads on after them).
  void prepare_checkpoint() override { draining_ = dlq_ != nullptr; }
  bool busy() const override { return draining_ && !dlq_->flushed(); }

  /// Wake-ups come from the consumer (records arrived), the dead-letter
  /// queue (room again, acknowledgements) and the executor (opened).
  bool set_wakeup(std::function<void()> wake) override {
    wake_ = std::move(wake);
    if (consumer_) consumer_->set_wakeup(wake_);
    if (dlq_) dlq_->set_wakeup(wake_);
    return true;
  }

private:
  void start_opening() {
    opening_.start(executor_, [s = settings_, topic = topic_,
                               subtask = subtask_, parallelism = parallelism_] {
      return std::make_unique<subtask_consumer>(
          s, topic, subtask, parallelism, static_cast<int32_t>(parallelism));
    });
  }

  /// False while the consumer is being opened; takes it once it is (and
  /// rethrows why it could not be opened).
  bool open_consumer() {
    if (!opening_.ready()) return false;
    consumer_ = opening_.take();
    if (wake_) consumer_->set_wakeup(wake_);
    return true;
  }

  /// Event time per partition, as Flink's Kafka source has it: records of
  /// one partition are out of order by at most the strategy's bound, but
  /// partitions read by one subtask drift apart (fetches are per
  /// partition), so the subtask's watermark is the minimum over its
  /// partitions (flow::split_watermarks), not a bound on what it has seen.
  /// A partition is idle once caught up (position == log-end offset) and
  /// without records for flow.idle-timeout; with every partition idle the
  /// subtask declares itself idle.
  void start_split_watermarks(emitter<T>& out, source_time<T>& time,
                              const watermark_strategy<T>& strategy) {
    splits_.emplace(strategy.max_out_of_orderness, time.idle_timeout());
    watermark_interval_ = time.watermark_interval();
    partitions_ = consumer_->assigned();
    for (auto p : partitions_)
      if (!consumer_->partition_finished(p))
        splits_->add(static_cast<uint32_t>(p), time.now());
    // Claims the watermarks: the task generates none from the records.
    out.emit_watermark(min_timestamp);
  }

  void emit_split_watermark(emitter<T>& out, int64_t now) {
    if (watermark_interval_ > 0 && now - last_emit_ < watermark_interval_)
      return;
    for (auto p : partitions_) {
      if (consumer_->partition_finished(p))
        splits_->remove(static_cast<uint32_t>(p));
      else if (consumer_->caught_up(p))
        splits_->caught_up(static_cast<uint32_t>(p));
    }
    auto wm = splits_->current(now);
    if (wm > watermark_sent_) {
      watermark_sent_ = wm;
      last_emit_ = now;
      out.emit_watermark(wm);
    }
    if (splits_->idle(now)) out.mark_idle();
  }

  /// Consumer lag for the HTTP endpoints, after every poll (local
  /// librdkafka look-ups, no request to the broker). While the source waits
  /// for credit it is not polled, and the lag shown is that of its last
  /// poll.
  void publish_lags() {
    if (!metrics_ || !consumer_) return;
    std::vector<partition_lag> lags;
    for (auto& [p, lag] : consumer_->lags())
      lags.push_back({topic_, p, lag});
    metrics_->partition_lags(std::move(lags));
  }

  /// Done once the dead letters are acknowledged (idle until then). A
  /// source stopped before its consumer opened has nothing to commit.
  source_state finish() {
    if (finished_) return source_state::done;
    if (dlq_ && !dlq_->flushed()) return source_state::idle;
    finished_ = true;
    if (!consumer_) return source_state::done;
    publish_lags();
    offset_committer::instance().source_finished(
        settings_, topic_, consumer_->positions(), checkpointed_);
    logger("flow/kafka")
        ->info("{}: {} finished ({} dead-lettered, {} of them by an "
               "earlier run; {} tombstones skipped, fetcher woken {}x)",
               label_, topic_, dead_lettered_, dlq_ ? dlq_->repeated() : 0,
               tombstones_skipped_, consumer_->fetcher_wakeups());
    return source_state::done;
  }

  void skip_tombstone(const record_view& v) {
    ++tombstones_skipped_;
    counters().tombstones_skipped.fetch_add(1, std::memory_order_relaxed);
    if (tombstones_skipped_ == 1)
      logger("flow/kafka")
          ->info("{}: {}[{}]@{} is a tombstone (null value): skipped, as "
                 "every one here; a source of std::optional<V>, "
                 "std::pair<K, std::optional<V>> or flow::kafka::record "
                 "sees them",
                 label_, topic_, v.partition, v.offset);
  }

  void dead_letter(const record_view& v, const std::string& error) {
    auto where = topic_ + "[" + std::to_string(v.partition) + "]@" +
                 std::to_string(v.offset);
    if (settings_.fail_on_bad_record)
      throw kafka_error{errc::bad_record, where + ": " + error};
    if (!dlq_) {
      dlq_ = std::make_unique<dead_letter_queue>(
          settings_, topic_ + settings_.dlq_suffix, executor_,
          dead_letter_source{topic_, operator_name_, subtask_});
      if (wake_) dlq_->set_wakeup(wake_);
    }
    dlq_->add(v, topic_, error);
    ++dead_lettered_;
    counters().dead_lettered.fetch_add(1, std::memory_order_relaxed);
    if (metrics_)
      metrics_->dead_lettered.store(dead_lettered_, std::memory_order_relaxed);
    if (dead_lettered_ == 1)
      logger("flow/kafka")
          ->warn("{}: record {} to {}: {}", label_, where, dlq_->topic(),
                 error);
  }

  std::string topic_;
  D deserialize_;
  source_options opts_;
  client_settings settings_;
  std::string label_;
  std::string operator_name_;
  blocking_executor* executor_ = nullptr;
  std::function<void()> wake_;
  uint32_t subtask_ = 0;
  uint32_t parallelism_ = 1;
  background_result<std::unique_ptr<subtask_consumer>> opening_;
  background_result<void> committing_;
  bool restored_ = false;
  /// The job checkpoints: a run resumes from its checkpoints, and the
  /// group's offsets are for lag tools (offset_committer).
  bool checkpointed_ = false;
  // The DLQ producer is destroyed after the consumer: members in reverse.
  std::unique_ptr<dead_letter_queue> dlq_;
  std::unique_ptr<subtask_consumer> consumer_;
  std::optional<split_watermarks> splits_;
  std::vector<int32_t> partitions_;
  int64_t watermark_interval_ = 0;
  int64_t watermark_sent_ = min_timestamp;
  int64_t last_emit_ = min_timestamp / 2;
  uint64_t dead_lettered_ = 0;
  uint64_t tombstones_skipped_ = 0;
  connector_metrics* metrics_ = nullptr;
  bool stopped_ = false;
  bool finished_ = false;
  /// A checkpoint waits for the dead letters written so far.
  bool draining_ = false;
};

} // namespace detail

/// A source reading `topic`, deserialized by `T deserialize(const
/// record_view&)` or `void deserialize(const record_view&, T& out)` (which
/// throw for a bad record: it goes to the dead-letter topic); with the
/// second form (the default deserializer of Protobuf messages has it) each
/// record is parsed where it is sent from. Partition p is read by subtask
/// p % parallelism.
template <class T, class D>
source_spec<T> source(std::string topic, D deserialize,
                      source_options opts = {}) {
  static_assert(std::is_invocable_r_v<T, const D&, const record_view&> ||
                    detail::deserializes_into<D, T>,
                "kafka::source<T>(topic, f): f must be "
                "`T f(const flow::kafka::record_view&)` or "
                "`void f(const flow::kafka::record_view&, T&)`");
  require_bootstrap();
  source_spec<T> spec;
  spec.name = opts.name.empty() ? topic : opts.name;
  spec.parallelism = opts.parallelism;
  spec.make = [topic, deserialize, opts](const connector_context&) {
    return std::make_unique<detail::source_fn<T, D>>(topic, deserialize, opts);
  };
  return spec;
}

/// A source of `topic` with the default deserializer of T: std::string,
/// bytes, arithmetic, Protobuf messages (value), std::pair<K, V> (key and
/// value), flow::changelog_entry<K, V> (key, value or none, timestamp) or
/// flow::kafka::record (everything).
template <class T>
source_spec<T> source(std::string topic, source_options opts = {}) {
  return source<T>(std::move(topic), default_deserializer<T>{},
                   std::move(opts));
}

/// The changelog of a table (source_options::changelog): always read from
/// the earliest offset, whatever kafka.start-offset says. T is typically
/// std::pair<K, std::optional<V>> or flow::kafka::record, so that
/// tombstones delete.
template <class T>
source_spec<T> table_source(std::string topic, source_options opts = {}) {
  opts.changelog = true;
  return source<T>(std::move(topic), std::move(opts));
}

} // namespace flow::kafka

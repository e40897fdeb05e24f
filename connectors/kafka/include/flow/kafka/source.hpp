#pragma once

#include "flow/connector.hpp"
#include "flow/kafka/error.hpp"
#include "flow/kafka/offset_committer.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/partition_reader.hpp"
#include "flow/kafka/partition_writer.hpp"
#include "flow/kafka/serde.hpp"
#include "flow/log.hpp"
#include "flow/watermark.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace flow::kafka {

/// Process-wide counters of the Kafka connector (all jobs, all subtasks).
struct connector_counters {
  std::atomic<uint64_t> records_read{0};
  std::atomic<uint64_t> dead_lettered{0};
};

/// The process's counters.
connector_counters& counters();

/// Header names on dead-letter records.
inline constexpr const char* dlq_topic_header = "flow.source.topic";
inline constexpr const char* dlq_partition_header = "flow.source.partition";
inline constexpr const char* dlq_offset_header = "flow.source.offset";
inline constexpr const char* dlq_error_header = "flow.error";

/// Per-source choices that override the `kafka.*` settings of the node.
struct source_options {
  /// Operator name (default: the topic).
  std::string name;
  std::optional<uint32_t> parallelism;
  std::optional<std::string> group_id;
  std::optional<start_offset> start;
  std::optional<bool> stop_at_end;
};

namespace detail {

/// Opens the dead-letter topic (creating it on a real broker) lazily.
std::unique_ptr<partition_writer>
open_dead_letter_writer(const client_settings& s, const std::string& topic);

/// The source function: one partition_reader per subtask, deserializing
/// into T; undeserializable records go to the dead-letter topic.
template <class T, class D>
class source_fn final : public source_function<T> {
public:
  source_fn(std::string topic, D deserialize, source_options opts)
      : topic_(std::move(topic)), deserialize_(std::move(deserialize)),
        opts_(std::move(opts)) {}

  void open(const connector_context& ctx) override {
    settings_ = client_settings::from(ctx.settings);
    if (opts_.group_id) settings_.group_id = *opts_.group_id;
    if (opts_.start) settings_.start = *opts_.start;
    if (opts_.stop_at_end) settings_.stop_at_end = *opts_.stop_at_end;
    if (settings_.start.what == start_offset::kind::committed &&
        settings_.group_id.empty())
      throw kafka_error{errc::bad_config,
                        "start offset 'committed' needs kafka.group-id"};
    label_ = ctx.operator_name + "[" + std::to_string(ctx.subtask_index) + "]";
    metrics_ = ctx.metrics;
    reader_ = std::make_unique<partition_reader>(
        settings_, topic_, ctx.subtask_index, ctx.parallelism,
        static_cast<int32_t>(ctx.parallelism));
  }

  source_state poll(emitter<T>& out, size_t max_records) override {
    if (stopped_ || reader_->finished()) return finish();
    auto* time = out.time();
    auto* strategy = time ? time->strategy() : nullptr;
    if (strategy && !splits_) start_split_watermarks(out, *time, *strategy);
    auto now = splits_ ? time->now() : 0;
    auto& batch = reader_->fetch(max_records);
    for (auto& v : batch) {
      std::optional<T> x;
      try {
        x.emplace(deserialize_(v));
      } catch (const std::exception& e) {
        dead_letter(v, e.what());
        continue;
      }
      if (splits_)
        splits_->observe(static_cast<uint32_t>(v.partition),
                         strategy->timestamp(*x), now);
      out.emit(std::move(*x));
    }
    if (splits_) emit_split_watermark(out, now);
    counters().records_read.fetch_add(batch.size(), std::memory_order_relaxed);
    if (dlq_) dlq_->poll();
    publish_lags();
    if (batch.empty())
      return reader_->finished() ? finish() : source_state::idle;
    return source_state::more;
  }

  void request_stop() override { stopped_ = true; }

  bool set_wakeup(std::function<void()> wake) override {
    return reader_->set_wakeup(std::move(wake));
  }

private:
  /// Event time per partition, as Flink's Kafka source has it: records of
  /// one partition are out of order by at most the strategy's bound, but
  /// partitions read by one subtask drift apart (fetches are per
  /// partition), so the subtask's watermark is the minimum over its
  /// partitions (flow::split_watermarks), not a bound on what it has seen.
  void start_split_watermarks(emitter<T>& out, source_time<T>& time,
                              const watermark_strategy<T>& strategy) {
    splits_.emplace(strategy.max_out_of_orderness, time.idle_timeout());
    watermark_interval_ = time.watermark_interval();
    partitions_ = reader_->assigned();
    for (auto p : partitions_)
      if (!reader_->partition_finished(p))
        splits_->add(static_cast<uint32_t>(p), time.now());
    // Claims the watermarks: the task generates none from the records.
    out.emit_watermark(min_timestamp);
  }

  void emit_split_watermark(emitter<T>& out, int64_t now) {
    if (watermark_interval_ > 0 && now - last_emit_ < watermark_interval_)
      return;
    for (auto p : partitions_)
      if (reader_->partition_finished(p))
        splits_->remove(static_cast<uint32_t>(p));
    auto wm = splits_->current(now);
    if (wm > watermark_sent_) {
      watermark_sent_ = wm;
      last_emit_ = now;
      out.emit_watermark(wm);
    }
  }

  /// Consumer lag for the HTTP endpoints, after every poll (local
  /// librdkafka look-ups, no request to the broker). While the source waits
  /// for credit it is not polled, and the lag shown is that of its last
  /// poll.
  void publish_lags() {
    if (!metrics_) return;
    std::vector<partition_lag> lags;
    for (auto& [p, lag] : reader_->lags())
      lags.push_back({topic_, p, lag});
    metrics_->partition_lags(std::move(lags));
  }

  source_state finish() {
    if (!finished_) {
      finished_ = true;
      publish_lags();
      if (dlq_) dlq_->flush();
      offset_committer::instance().source_finished(settings_, topic_,
                                                   reader_->positions());
      logger("flow/kafka")
          ->info("{}: {} finished ({} dead-lettered, fetcher woken {}x)",
                 label_, topic_, dead_lettered_, reader_->fetcher_wakeups());
    }
    return source_state::done;
  }

  void dead_letter(const record_view& v, const std::string& error) {
    auto where = topic_ + "[" + std::to_string(v.partition) + "]@" +
                 std::to_string(v.offset);
    if (settings_.fail_on_bad_record)
      throw kafka_error{errc::bad_record, where + ": " + error};
    if (!dlq_)
      dlq_ = open_dead_letter_writer(settings_, topic_ + settings_.dlq_suffix);
    std::vector<header> hs;
    hs.reserve(v.headers.size() + 4);
    for (auto& [k, val] : v.headers)
      hs.push_back(header{std::string(k), std::string(val)});
    hs.push_back(header{dlq_topic_header, topic_});
    hs.push_back(header{dlq_partition_header, std::to_string(v.partition)});
    hs.push_back(header{dlq_offset_header, std::to_string(v.offset)});
    hs.push_back(header{dlq_error_header, error});
    dlq_->produce(v.value, v.has_key() ? &v.key : nullptr, hs);
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
  // The DLQ writer is destroyed after the reader: members in reverse.
  std::unique_ptr<partition_writer> dlq_;
  std::unique_ptr<partition_reader> reader_;
  std::optional<split_watermarks> splits_;
  std::vector<int32_t> partitions_;
  int64_t watermark_interval_ = 0;
  int64_t watermark_sent_ = min_timestamp;
  int64_t last_emit_ = min_timestamp / 2;
  uint64_t dead_lettered_ = 0;
  connector_metrics* metrics_ = nullptr;
  bool stopped_ = false;
  bool finished_ = false;
};

} // namespace detail

/// A source reading `topic`, deserialized by `D deserialize(const
/// record_view&)` (which throws for a bad record: it goes to the
/// dead-letter topic). Partition p is read by subtask p % parallelism.
template <class T, class D>
source_spec<T> source(std::string topic, D deserialize,
                      source_options opts = {}) {
  static_assert(std::is_invocable_r_v<T, const D&, const record_view&>,
                "kafka::source<T>(topic, f): f must be "
                "`T f(const flow::kafka::record_view&)`");
  register_options();
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
/// value) or flow::kafka::record (everything).
template <class T>
source_spec<T> source(std::string topic, source_options opts = {}) {
  return source<T>(std::move(topic), default_deserializer<T>{},
                   std::move(opts));
}

} // namespace flow::kafka

#pragma once

#include "flow/connector.hpp"
#include "flow/kafka/exactly_once_writer.hpp"
#include "flow/kafka/offset_committer.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/record_limit.hpp"
#include "flow/kafka/serde.hpp"
#include "flow/kafka/topic_producer.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace flow::kafka {

/// Per-sink choices.
struct sink_options {
  /// Operator name (default: the topic).
  std::string name;
  std::optional<uint32_t> parallelism;
};

namespace detail {

/// Writes `serialize(x)` into `out`, through the form that reuses `out`'s
/// buffers if `serialize` has it (default_serializer). False if the
/// serializer throws or the record is larger than `max_bytes`: the record
/// then went to the sink's on-error policy (`errors`; null: the exception
/// propagates).
template <class T, class S>
bool serialize_checked(const S& serialize, T& x, producer_record& out,
                       size_t max_bytes, const std::string& topic,
                       record_error_handler* errors) {
  try {
    if constexpr (std::is_invocable_v<const S&, const T&, producer_record&>)
      serialize(static_cast<const T&>(x), out);
    else
      out = serialize(static_cast<const T&>(x));
    check_record_size(out, max_bytes, topic);
    return true;
  } catch (...) {
    if (!errors) throw;
    errors->on_failure(&x);
    return false;
  }
}

/// The largest key or value buffer a sink keeps for its next batch; a
/// larger one is freed once librdkafka has copied it, so that a batch of
/// large records does not stay allocated (up to flow.batch-size times the
/// topic's largest record) while the records that follow are small.
inline constexpr size_t reused_record_bytes = 4096;

/// Frees `r`'s key and value buffers if larger than reused_record_bytes.
inline void release_large_buffers(producer_record& r) {
  if (r.value.capacity() > reused_record_bytes) std::string().swap(r.value);
  if (r.key && r.key->capacity() > reused_record_bytes) r.key.reset();
}

/// The sink function: one idempotent producer per subtask, driven without
/// blocking the subtask's thread. It opens the producer on the subtask's
/// blocking_executor; records librdkafka has no room for are held by the
/// producer and the sink is busy (the subtask withholds credit) until
/// delivery reports make room; finish() is complete once every record is
/// acknowledged and the offset committer (which may commit, on the
/// executor) is told. Busy while opening, holding, flushing, committing.
template <class T, class S>
class sink_fn final : public sink_function<T> {
public:
  sink_fn(std::string topic, S serialize)
      : topic_(std::move(topic)), serialize_(std::move(serialize)) {}

  ~sink_fn() override {
    if (opened_ && !finished_) offset_committer::instance().sink_abandoned();
    // The producer's destruction joins librdkafka's threads: not here.
    opening_.release_on(executor_);
    release_on(executor_, std::move(producer_));
  }

  void open(const connector_context& ctx) override {
    executor_ = ctx.executor;
    opening_.start(executor_,
                   [s = client_settings::from(ctx.settings), topic = topic_,
                    partitions = static_cast<int32_t>(ctx.parallelism)] {
                     auto limit = sink_record_limit(s, topic);
                     return opened_producer{
                         std::make_unique<topic_producer>(
                             limit.producer_settings, topic, partitions),
                         limit.max_record_bytes};
                   });
    errors_ = ctx.errors;
    offset_committer::instance().sink_opened();
    opened_ = true;
    metrics_ = ctx.metrics;
    resume();
  }

  bool set_wakeup(std::function<void()> wake) override {
    wake_ = std::move(wake);
    if (producer_) producer_->set_wakeup(wake_);
    return true;
  }

  /// A record it cannot serialize, or larger than the topic takes, goes
  /// to the sink's on-error policy (connector_context::errors).
  void write(std::vector<T>& records) override {
    if (batch_.size() < records.size()) batch_.resize(records.size());
    size_t n = 0;
    for (auto& x : records)
      if (serialize_checked(serialize_, x, batch_[n], max_record_bytes_, topic_,
                            errors_))
        ++n;
    producer_->enqueue(batch_, n);
    for (size_t i = 0; i < n; ++i)
      release_large_buffers(batch_[i]);
    producer_->service();
    publish_queue();
  }

  void finish() override {
    stage_ = stage::flushing;
    resume();
  }

  bool busy() const override {
    return stage_ == stage::open ? producer_->holding() || draining_
                                 : stage_ != stage::finished;
  }
  /// Busy until every record written so far is acknowledged.
  void prepare_checkpoint() override {
    draining_ = true;
    resume();
  }

  void resume() override {
    switch (stage_) {
    case stage::opening:
      if (!opening_.ready()) return;
      {
        auto opened = opening_.take();
        producer_ = std::move(opened.producer);
        max_record_bytes_ = opened.max_record_bytes;
      }
      if (wake_) producer_->set_wakeup(wake_);
      stage_ = stage::open;
      return;
    case stage::open:
      producer_->service();
      if (draining_ && producer_->flushed()) draining_ = false;
      publish_queue();
      return;
    case stage::flushing:
      publish_queue();
      if (!producer_->flushed()) return;
      // Everything is acknowledged: the committer may commit the sources'
      // offsets now (a network round trip, hence on the executor).
      finished_ = true;
      stage_ = stage::committing;
      committed_.start(executor_,
                       [] { offset_committer::instance().sink_finished(); });
      [[fallthrough]];
    case stage::committing:
      if (!committed_.ready()) return;
      committed_.take();
      stage_ = stage::finished;
      return;
    case stage::finished:
      return;
    }
  }

private:
  /// Producer queue depth for the HTTP endpoints.
  void publish_queue() {
    if (metrics_)
      metrics_->producer_queue.store(
          static_cast<int64_t>(producer_->in_flight()),
          std::memory_order_relaxed);
  }

  enum class stage { opening, open, flushing, committing, finished };
  struct opened_producer {
    std::unique_ptr<topic_producer> producer;
    size_t max_record_bytes = 0;
  };

  std::string topic_;
  S serialize_;
  blocking_executor* executor_ = nullptr;
  std::function<void()> wake_;
  background_result<opened_producer> opening_;
  size_t max_record_bytes_ = 0;
  record_error_handler* errors_ = nullptr;
  background_result<void> committed_;
  connector_metrics* metrics_ = nullptr;
  std::unique_ptr<topic_producer> producer_;
  /// A batch's records are serialized into these, passed to librdkafka
  /// together (it copies them), and their buffers reused by the next batch
  /// (up to reused_record_bytes each).
  std::vector<producer_record> batch_;
  stage stage_ = stage::opening;
  bool opened_ = false;
  bool finished_ = false;
  /// A checkpoint waits for the acknowledgement of what was written.
  bool draining_ = false;
};

/// The sink function with kafka.delivery = exactly-once: records go to an
/// exactly_once_writer, which holds them until the checkpoint after them
/// completes and then publishes them in one transaction.
template <class T, class S>
class exactly_once_sink_fn final : public sink_function<T> {
public:
  exactly_once_sink_fn(std::string topic, S serialize)
      : topic_(std::move(topic)), serialize_(std::move(serialize)) {}

  void open(const connector_context& ctx) override {
    writer_ = std::make_unique<exactly_once_writer>(topic_, ctx);
    errors_ = ctx.errors;
  }
  /// The executor wakes the subtask when the writer's work returns.
  bool set_wakeup(std::function<void()>) override { return true; }
  void write(std::vector<T>& records) override {
    // The writer is open (the sink gets no input while it is busy): a
    // record too large for the topic goes to the on-error policy here, as
    // in sink_fn, instead of failing every transaction it would be in.
    for (auto& x : records)
      if (serialize_checked(serialize_, x, record_, writer_->max_record_bytes(),
                            topic_, errors_))
        writer_->append(record_);
    writer_->pass_on();
  }
  void finish() override { writer_->finish(); }
  bool busy() const override { return writer_->busy(); }
  void resume() override { writer_->resume(); }
  byte_chain snapshot_state(checkpoint_id id) override {
    return writer_->snapshot(id);
  }
  void restore(checkpoint_id id, const std::string& state) override {
    writer_->restore(id, state);
  }
  void checkpoint_complete(checkpoint_id id) override { writer_->complete(id); }

private:
  std::string topic_;
  S serialize_;
  std::unique_ptr<exactly_once_writer> writer_;
  record_error_handler* errors_ = nullptr;
  /// Reused for every record (the writer keeps a serialized copy).
  producer_record record_;
};

} // namespace detail

/// A sink writing to `topic`; `S serialize(const T&)` makes the
/// producer_record (key, value, headers, optional explicit partition).
/// Records with a key are partitioned by murmur2(key) like the Java client.
/// A record that fails delivery after librdkafka's retries fails the job.
/// kafka.delivery chooses at-least-once (sink_fn) or exactly-once
/// (exactly_once_sink_fn).
template <class T, class S>
sink_spec<T> sink(std::string topic, S serialize, sink_options opts = {}) {
  static_assert(std::is_invocable_r_v<producer_record, const S&, const T&>,
                "kafka::sink<T>(topic, f): f must be "
                "`flow::kafka::producer_record f(const T&)` (see keyed_by)");
  require_bootstrap();
  sink_spec<T> spec;
  spec.name = opts.name.empty() ? topic : opts.name;
  spec.parallelism = opts.parallelism;
  spec.make =
      [topic, serialize](
          const connector_context& ctx) -> std::unique_ptr<sink_function<T>> {
    if (client_settings::from(ctx.settings).delivery ==
        delivery_guarantee::exactly_once)
      return std::make_unique<detail::exactly_once_sink_fn<T, S>>(topic,
                                                                  serialize);
    return std::make_unique<detail::sink_fn<T, S>>(topic, serialize);
  };
  return spec;
}

/// A sink of `topic` with the default serializer of T.
template <class T>
sink_spec<T> sink(std::string topic, sink_options opts = {}) {
  return sink<T>(std::move(topic), default_serializer<T>{}, std::move(opts));
}

} // namespace flow::kafka

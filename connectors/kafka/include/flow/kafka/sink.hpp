#pragma once

#include "flow/connector.hpp"
#include "flow/kafka/offset_committer.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/partition_writer.hpp"
#include "flow/kafka/serde.hpp"

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

/// The sink function: one idempotent producer per subtask.
template <class T, class S>
class sink_fn final : public sink_function<T> {
public:
  sink_fn(std::string topic, S serialize)
      : topic_(std::move(topic)), serialize_(std::move(serialize)) {}

  ~sink_fn() override {
    if (opened_ && !finished_) offset_committer::instance().sink_abandoned();
  }

  void open(const connector_context& ctx) override {
    auto s = client_settings::from(ctx.settings);
    writer_ = std::make_unique<partition_writer>(
        s, topic_, static_cast<int32_t>(ctx.parallelism));
    offset_committer::instance().sink_opened();
    opened_ = true;
    metrics_ = ctx.metrics;
  }

  void write(std::vector<T>& records) override {
    for (auto& x : records)
      writer_->produce(serialize_(x));
    writer_->poll();
    publish_queue();
  }

  void finish() override {
    writer_->flush();
    publish_queue();
    finished_ = true;
    offset_committer::instance().sink_finished();
  }

private:
  /// Producer queue depth for the HTTP endpoints.
  void publish_queue() {
    if (metrics_)
      metrics_->producer_queue.store(static_cast<int64_t>(writer_->in_flight()),
                                     std::memory_order_relaxed);
  }

  std::string topic_;
  S serialize_;
  connector_metrics* metrics_ = nullptr;
  std::unique_ptr<partition_writer> writer_;
  bool opened_ = false;
  bool finished_ = false;
};

} // namespace detail

/// A sink writing to `topic`; `S serialize(const T&)` makes the
/// producer_record (key, value, headers, optional explicit partition).
/// Records with a key are partitioned by murmur2(key) like the Java client.
/// A record that fails delivery after librdkafka's retries fails the job.
template <class T, class S>
sink_spec<T> sink(std::string topic, S serialize, sink_options opts = {}) {
  static_assert(std::is_invocable_r_v<producer_record, const S&, const T&>,
                "kafka::sink<T>(topic, f): f must be "
                "`flow::kafka::producer_record f(const T&)` (see keyed_by)");
  register_options();
  sink_spec<T> spec;
  spec.name = opts.name.empty() ? topic : opts.name;
  spec.parallelism = opts.parallelism;
  spec.make = [topic, serialize](const connector_context&) {
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

#include "flow/kafka/partition_writer.hpp"

#include "flow/kafka/embedded_cluster.hpp"
#include "flow/log.hpp"
#include "rdkafka.hpp"

#include <array>
#include <chrono>

namespace flow::kafka {

struct partition_writer::impl {
  // Tracking state first: the handle (declared after) is destroyed first,
  // and a purge in the destructor may still deliver reports into it.
  uint64_t queued = 0;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  std::string first_failure;
  errc failure_code = errc::none;
  int64_t delivery_timeout_ms = 0;
  std::string bootstrap;
  detail::handle_ptr handle;
  detail::topic_ptr topic;

  /// Delivery report: runs inside rd_kafka_poll/flush on the caller's
  /// thread (see the class comment).
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m,
                          void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->delivered;
      return;
    }
    ++self->failed;
    if (self->failure_code == errc::none) {
      self->failure_code = errc::delivery_failed;
      self->first_failure = std::string("record to ") +
                            rd_kafka_topic_name(m->rkt) + "[" +
                            std::to_string(m->partition) +
                            "] not delivered: " + rd_kafka_err2str(m->err);
    }
  }

  /// Error callback: also served by rd_kafka_poll on the caller's thread.
  /// Transient errors (broker down, ...) are retried by librdkafka and only
  /// logged; fatal errors fail the writer.
  static void on_error(rd_kafka_t* rk, int err, const char* reason,
                       void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> buf{};
      auto orig = rd_kafka_fatal_error(rk, buf.data(), buf.size());
      if (self->failure_code == errc::none) {
        self->failure_code = errc::fatal;
        self->first_failure = std::string("fatal producer error: ") +
                              rd_kafka_err2str(orig) + ": " + buf.data();
      }
      return;
    }
    // The log callback has reported it already (as a warning).
    logger("flow/kafka")->debug("producer ({}): {}", self->bootstrap, reason);
  }
};

partition_writer::partition_writer(const client_settings& s, std::string topic,
                                   int32_t embedded_partitions)
    : impl_(std::make_unique<impl>()), topic_(std::move(topic)) {
  if (s.embedded())
    embedded_cluster::instance().ensure_topic(
        topic_, s.embedded_partitions > 0
                    ? static_cast<int32_t>(s.embedded_partitions)
                    : embedded_partitions);
  auto conf = detail::make_conf(s, detail::role::producer);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &impl::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &impl::on_error);
  impl_->delivery_timeout_ms = s.delivery_timeout_ms;
  impl_->bootstrap = detail::bootstrap_servers(s);
  impl_->handle = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  partitions_ = detail::partition_count(impl_->handle.get(), topic_,
                                        s.timeout_ms, impl_->bootstrap);
  impl_->topic.reset(
      rd_kafka_topic_new(impl_->handle.get(), topic_.c_str(), nullptr));
}

partition_writer::~partition_writer() {
  if (impl_ && impl_->handle && rd_kafka_outq_len(impl_->handle.get()) > 0) {
    // Not flushed (the job failed): drop what is queued rather than block
    // the destructor for up to delivery-timeout-ms. Nothing is lost
    // silently: the job has already failed.
    rd_kafka_purge(impl_->handle.get(),
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(impl_->handle.get(), 0);
    if (impl_->queued > impl_->delivered)
      logger("flow/kafka")
          ->warn("writer for {} destroyed with {} records not acknowledged",
                 topic_, impl_->queued - impl_->delivered);
  }
  impl_->topic.reset();
  impl_->handle.reset();
}

void partition_writer::check() {
  if (impl_->failure_code != errc::none) {
    auto msg = impl_->first_failure;
    if (impl_->failed > 1)
      msg += " (and " + std::to_string(impl_->failed - 1) + " more)";
    throw kafka_error{impl_->failure_code, msg};
  }
}

void partition_writer::produce(const producer_record& r) {
  std::string_view key;
  if (r.key) key = *r.key;
  auto value = r.tombstone ? std::string_view() : std::string_view(r.value);
  produce(value, r.key ? &key : nullptr, r.headers, r.partition, r.timestamp);
}

void partition_writer::produce(std::string_view value,
                               const std::string_view* key,
                               const std::vector<header>& headers,
                               std::optional<int32_t> partition,
                               std::optional<int64_t> timestamp) {
  auto* rk = impl_->handle.get();
  int32_t part = partition ? *partition : RD_KAFKA_PARTITION_UA;
  int64_t ts = timestamp ? *timestamp : 0; // 0: now
  for (;;) {
    detail::headers_ptr hdrs;
    if (!headers.empty()) {
      hdrs.reset(rd_kafka_headers_new(headers.size()));
      for (auto& h : headers)
        rd_kafka_header_add(hdrs.get(), h.key.data(),
                            static_cast<ssize_t>(h.key.size()), h.value.data(),
                            static_cast<ssize_t>(h.value.size()));
    }
    auto err = rd_kafka_producev(
        rk, RD_KAFKA_V_RKT(impl_->topic.get()), RD_KAFKA_V_PARTITION(part),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key ? key->data() : nullptr, key ? key->size() : 0),
        RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(hdrs.get()),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      hdrs.release(); // owned by the message now
      ++impl_->queued;
      return;
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      throw detail::make_error(err, "produce to " + topic_);
    // Queue full: serve delivery reports until there is room. Blocking the
    // sink subtask here withholds credit upstream (backpressure).
    rd_kafka_poll(rk, 10);
    check();
  }
}

void partition_writer::poll() {
  rd_kafka_poll(impl_->handle.get(), 0);
  check();
}

void partition_writer::flush() {
  auto* rk = impl_->handle.get();
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(impl_->delivery_timeout_ms) +
                  std::chrono::seconds(5);
  while (rd_kafka_outq_len(rk) > 0) {
    rd_kafka_flush(rk, 100);
    check();
    if (std::chrono::steady_clock::now() > deadline)
      throw kafka_error{errc::delivery_failed,
                        std::to_string(rd_kafka_outq_len(rk)) + " records to " +
                            topic_ +
                            " not acknowledged within delivery-timeout-ms"};
  }
  rd_kafka_poll(rk, 0);
  check();
}

uint64_t partition_writer::delivered() const noexcept {
  return impl_->delivered;
}

uint64_t partition_writer::in_flight() const noexcept {
  return impl_->queued - impl_->delivered - impl_->failed;
}

} // namespace flow::kafka

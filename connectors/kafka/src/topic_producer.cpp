#include "flow/kafka/topic_producer.hpp"

#include "flow/exceptions.hpp"
#include "flow/fault.hpp"
#include "flow/kafka/embedded_cluster.hpp"
#include "flow/log.hpp"
#include "rdkafka.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <optional>

namespace flow::kafka {

struct topic_producer::impl {
  // Tracking state first: the handle (declared after) is destroyed first,
  // and a purge in the destructor may still deliver reports into it.
  uint64_t queued = 0;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  std::string first_failure;
  errc failure_code = errc::none;
  int64_t delivery_timeout_ms = 0;
  /// Transactional producers: transaction.timeout.ms; 0 otherwise.
  int64_t transaction_timeout_ms = 0;
  std::string bootstrap;
  /// Records enqueue() held back, in order; those before next_held are
  /// passed on already.
  std::vector<producer_record> held;
  size_t next_held = 0;
  /// Set by flushed() on its first call.
  std::optional<std::chrono::steady_clock::time_point> flush_deadline;
  std::function<void()> wake;
  std::atomic<bool> armed{false};
  /// Buffers librdkafka sends values from (try_produce_in_place), without
  /// repeats in a row; released after the handle.
  std::vector<std::shared_ptr<const std::string>> lent;
  /// The messages of an rd_kafka_produce_batch call (enqueue(),
  /// try_produce_in_place()), reused.
  std::vector<rd_kafka_message_t> batch;
  detail::handle_ptr handle;
  detail::topic_ptr topic;
  /// The queue of delivery reports and errors, with the wake-up's event
  /// callback (set_wakeup); released before the handle.
  detail::queue_ptr reports;

  /// librdkafka calls this when its report queue turns non-empty.
  static void on_report_event(rd_kafka_t*, void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (self->armed.exchange(false, std::memory_order_acq_rel)) self->wake();
  }

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

  /// What made the producer `rk` fail fatally, with librdkafka's reason
  /// (calls on it return no more than "Local: Fatal error").
  static std::string fatal_error(rd_kafka_t* rk) {
    std::array<char, 512> buf{};
    auto orig = rd_kafka_fatal_error(rk, buf.data(), buf.size());
    return std::string("fatal producer error: ") + rd_kafka_err2str(orig) +
           ": " + buf.data();
  }

  /// Error callback: also served by rd_kafka_poll on the caller's thread.
  /// Transient errors (broker down, ...) are retried by librdkafka and only
  /// logged; fatal errors fail the writer.
  static void on_error(rd_kafka_t* rk, int err, const char* reason,
                       void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      if (self->failure_code == errc::none) {
        self->failure_code = errc::fatal;
        self->first_failure = fatal_error(rk);
      }
      return;
    }
    // The log callback has reported it already (as a warning).
    logger("flow/kafka")->debug("producer ({}): {}", self->bootstrap, reason);
  }
};

topic_producer::topic_producer(const client_settings& s, std::string topic,
                               int32_t embedded_partitions)
    : topic_producer(s, std::move(topic), embedded_partitions, nullptr) {}

topic_producer::topic_producer(const client_settings& s, std::string topic,
                               int32_t embedded_partitions,
                               const transactional& txn)
    : topic_producer(s, std::move(topic), embedded_partitions, &txn) {
  auto timeout = static_cast<int>(std::max(s.timeout_ms, txn.timeout_ms));
  detail::error_ptr err{
      rd_kafka_init_transactions(impl_->handle.get(), timeout)};
  if (err && rd_kafka_error_code(err.get()) ==
                 RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT)
    throw config_failure(
        "invalid config: kafka.transaction-timeout-ms = " +
        std::to_string(txn.timeout_ms) +
        " (expected at most the broker's transaction.max.timeout.ms: " +
        rd_kafka_error_string(err.get()) + ")");
  if (err)
    throw detail::make_error(err.get(), "init_transactions of " + txn.id);
}

topic_producer::topic_producer(const client_settings& s, std::string topic,
                               int32_t embedded_partitions,
                               const transactional* txn)
    : impl_(std::make_unique<impl>()), topic_(std::move(topic)) {
  if (s.embedded())
    embedded_cluster::instance().ensure_topic(
        topic_, s.embedded_partitions > 0
                    ? static_cast<int32_t>(s.embedded_partitions)
                    : embedded_partitions);
  auto conf = detail::make_conf(s, detail::role::producer);
  impl_->delivery_timeout_ms = s.delivery_timeout_ms;
  if (txn) {
    detail::set(conf.get(), "transactional.id", txn->id);
    detail::set(conf.get(), "transaction.timeout.ms",
                std::to_string(txn->timeout_ms));
    impl_->transaction_timeout_ms = txn->timeout_ms;
    // librdkafka requires a record's deadline within the transaction's.
    impl_->delivery_timeout_ms =
        std::min(s.delivery_timeout_ms, txn->timeout_ms);
    detail::set(conf.get(), "delivery.timeout.ms",
                std::to_string(impl_->delivery_timeout_ms));
  }
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &impl::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &impl::on_error);
  impl_->bootstrap = detail::bootstrap_servers(s);
  impl_->handle = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  partitions_ = detail::partition_count(impl_->handle.get(), topic_,
                                        s.timeout_ms, impl_->bootstrap);
  impl_->topic.reset(
      rd_kafka_topic_new(impl_->handle.get(), topic_.c_str(), nullptr));
}

topic_producer::~topic_producer() {
  // Under the queue's lock: no wake-up runs once this returns.
  if (impl_->reports)
    rd_kafka_queue_cb_event_enable(impl_->reports.get(), nullptr, nullptr);
  impl_->reports.reset();
  if (impl_->handle && rd_kafka_outq_len(impl_->handle.get()) > 0) {
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
  if (holding())
    logger("flow/kafka")
        ->warn("writer for {} destroyed holding {} records never sent", topic_,
               impl_->held.size() - impl_->next_held);
  impl_->topic.reset();
  impl_->handle.reset();
}

void topic_producer::check() {
  if (impl_->failure_code != errc::none) {
    auto msg = impl_->first_failure;
    if (impl_->failed > 1)
      msg += " (and " + std::to_string(impl_->failed - 1) + " more)";
    throw kafka_error{impl_->failure_code, msg};
  }
}

namespace {

/// The value to send: a null one (data() == nullptr) for a tombstone.
std::string_view value_of(const producer_record& r) {
  return r.tombstone ? std::string_view() : std::string_view(r.value);
}
std::string_view value_of(const record_run::entry& r) {
  return r.value;
}

std::optional<std::string_view> key_of(const producer_record& r) {
  if (!r.key) return std::nullopt;
  return std::string_view(*r.key);
}
std::optional<std::string_view> key_of(const record_run::entry& r) {
  return r.key;
}

} // namespace

void topic_producer::produce(const producer_record& r) {
  std::string_view key;
  if (r.key) key = *r.key;
  produce(value_of(r), r.key ? &key : nullptr, r.headers, r.partition,
          r.timestamp);
}

void topic_producer::produce(std::string_view value,
                             const std::string_view* key,
                             const std::vector<header>& headers,
                             std::optional<int32_t> partition,
                             std::optional<int64_t> timestamp) {
  while (!try_produce(value, key, headers, partition, timestamp)) {
    // Queue full: serve delivery reports until there is room.
    serve_reports(10);
    check();
  }
}

void topic_producer::produce_in_place(const record_run& run) {
  for (size_t first = 0;
       (first = try_produce_in_place(run, first)) < run.records.size();) {
    serve_reports(10);
    check();
  }
}

size_t topic_producer::try_produce_in_place(const record_run& run,
                                            size_t first) {
  // Lent before the call: one that throws (the job fails) may have passed
  // part of the run on. Lent for nothing is let go with the rest.
  auto& lent = impl_->lent;
  if (first < run.records.size() && (lent.empty() || lent.back() != run.buffer))
    lent.push_back(run.buffer);
  // No flag: librdkafka neither copies nor frees the values.
  return try_produce_each(run.records, first, run.records.size(), 0);
}

void topic_producer::serve_reports(int timeout_ms) {
  rd_kafka_poll(impl_->handle.get(), timeout_ms);
  // A failed record's request may still be on its way: keep its buffer.
  if (in_flight() == 0 && impl_->failed == 0) impl_->lent.clear();
}

bool topic_producer::try_produce(const producer_record& r) {
  std::string_view key;
  if (r.key) key = *r.key;
  return try_produce(value_of(r), r.key ? &key : nullptr, r.headers,
                     r.partition, r.timestamp);
}

bool topic_producer::try_produce(std::string_view value,
                                 const std::string_view* key,
                                 const std::vector<header>& headers,
                                 std::optional<int32_t> partition,
                                 std::optional<int64_t> timestamp) {
  return send(value, key, headers, partition, timestamp, RD_KAFKA_MSG_F_COPY);
}

namespace {

/// rd_kafka_producev of a message with headers or a timestamp (0: now).
rd_kafka_resp_err_t
produce_with_headers(rd_kafka_t* handle, rd_kafka_topic_t* topic,
                     std::string_view value, const std::string_view* key,
                     const std::vector<header>& headers, int32_t partition,
                     int64_t timestamp, int msgflags) {
  detail::headers_ptr hdrs;
  if (!headers.empty()) {
    hdrs.reset(rd_kafka_headers_new(headers.size()));
    for (auto& h : headers)
      rd_kafka_header_add(hdrs.get(), h.key.data(),
                          static_cast<ssize_t>(h.key.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
  }
  auto err = rd_kafka_producev(
      handle, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_MSGFLAGS(msgflags),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_KEY(key ? key->data() : nullptr, key ? key->size() : 0),
      RD_KAFKA_V_TIMESTAMP(timestamp), // 0: now
      RD_KAFKA_V_HEADERS(hdrs.get()), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    hdrs.release(); // owned by the message now
  return err;
}

} // namespace

bool topic_producer::send(std::string_view value, const std::string_view* key,
                          const std::vector<header>& headers,
                          std::optional<int32_t> partition,
                          std::optional<int64_t> timestamp, int msgflags) {
  int32_t part = partition ? *partition : RD_KAFKA_PARTITION_UA;
  rd_kafka_resp_err_t err;
  if (headers.empty() && !timestamp) {
    // The same message as producev's below, without parsing its variadic
    // arguments and taking and dropping a reference to the topic (two
    // atomic operations) per message: a third of producev's instructions.
    err = rd_kafka_produce(impl_->topic.get(), part, msgflags,
                           const_cast<char*>(value.data()), value.size(),
                           key ? key->data() : nullptr, key ? key->size() : 0,
                           nullptr) == 0
              ? RD_KAFKA_RESP_ERR_NO_ERROR
              : rd_kafka_last_error();
  } else {
    err = produce_with_headers(impl_->handle.get(), impl_->topic.get(), value,
                               key, headers, part, timestamp ? *timestamp : 0,
                               msgflags);
  }
  if (!accepted(err)) return false;
  ++impl_->queued;
  return true;
}

bool topic_producer::accepted(int err) {
  auto e = static_cast<rd_kafka_resp_err_t>(err);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
  if (e == RD_KAFKA_RESP_ERR__FATAL)
    throw kafka_error{errc::fatal, "produce to " + topic_ + ": " +
                                       impl::fatal_error(impl_->handle.get())};
  if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
    throw detail::make_error(e, "produce to " + topic_);
  return false;
}

size_t topic_producer::try_produce(const std::vector<producer_record>& records,
                                   size_t first, size_t n) {
  return try_produce_each(records, first, n, RD_KAFKA_MSG_F_COPY);
}

template <class Record>
size_t topic_producer::try_produce_each(const std::vector<Record>& records,
                                        size_t first, size_t n, int msgflags) {
  // An explicit partition the topic had no room for when it opened goes
  // alone too: rd_kafka_produce_batch (librdkafka 2.0.2) leaks a message
  // whose partition it cannot find, where rd_kafka_produce frees it (and
  // the topic may have grown since).
  auto plain = [this](const Record& r) {
    return r.headers.empty() && !r.timestamp &&
           (!r.partition || (*r.partition >= 0 && *r.partition < partitions_));
  };
  while (first < n) {
    auto& r = records[first];
    if (!plain(r)) {
      auto key = key_of(r);
      if (!send(value_of(r), key ? &*key : nullptr, r.headers, r.partition,
                r.timestamp, msgflags))
        return first;
      ++first;
      continue;
    }
    auto last = first + 1;
    while (last < n && plain(records[last]))
      ++last;
    auto stop = try_produce_batch(records, first, last, msgflags);
    if (stop != last) return stop;
    first = last;
  }
  return n;
}

template <class Record>
size_t topic_producer::try_produce_batch(const std::vector<Record>& records,
                                         size_t first, size_t last,
                                         int msgflags) {
  auto& messages = impl_->batch;
  messages.assign(last - first, rd_kafka_message_t{});
  for (size_t i = first; i < last; ++i) {
    auto& r = records[i];
    auto& m = messages[i - first];
    auto value = value_of(r);
    m.partition = r.partition ? *r.partition : RD_KAFKA_PARTITION_UA;
    m.payload = const_cast<char*>(value.data());
    m.len = value.size();
    if (auto key = key_of(r)) {
      m.key = const_cast<char*>(key->data());
      m.key_len = key->size();
    }
  }
  // RD_KAFKA_MSG_F_PARTITION: each message's own partition, the
  // partitioner for those without one.
  rd_kafka_produce_batch(impl_->topic.get(), RD_KAFKA_PARTITION_UA,
                         msgflags | RD_KAFKA_MSG_F_PARTITION, messages.data(),
                         static_cast<int>(messages.size()));
  auto count = messages.size();
  auto refused = count;
  for (size_t j = 0; j < count; ++j) {
    if (messages[j].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      ++impl_->queued;
    else if (refused == count)
      refused = j;
  }
  if (refused == count) return last;
  accepted(messages[refused].err); // throws unless the queue was full
  // Once its queue is full, librdkafka refuses every later message of the
  // call: the refused ones are a suffix, held and sent in order.
  for (auto j = refused + 1; j < count; ++j)
    if (messages[j].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      throw kafka_error{errc::fatal,
                        "produce to " + topic_ +
                            ": librdkafka took a record after refusing an "
                            "earlier one (order would break)"};
  return first + refused;
}

void topic_producer::enqueue(producer_record&& r) {
  if (!holding() && try_produce(r)) return;
  hold(std::move(r));
}

void topic_producer::enqueue(const producer_record& r) {
  if (!holding() && try_produce(r)) return;
  hold(producer_record(r));
}

void topic_producer::enqueue(std::vector<producer_record>& records, size_t n) {
  auto i = holding() ? 0 : try_produce(records, 0, n);
  for (; i < n; ++i)
    hold(std::move(records[i]));
}

void topic_producer::hold(producer_record&& r) {
  auto& im = *impl_;
  if (!holding()) {
    im.held.clear();
    im.next_held = 0;
  }
  im.held.push_back(std::move(r));
}

bool topic_producer::holding() const noexcept {
  return impl_->next_held < impl_->held.size();
}

void topic_producer::send_held() {
  auto& im = *impl_;
  while (holding() && try_produce(im.held[im.next_held]))
    ++im.next_held;
  if (!holding()) {
    // Keeps the capacity: no allocation the next time the queue is full.
    im.held.clear();
    im.next_held = 0;
  }
}

void topic_producer::arm_and_serve() {
  impl_->armed.store(true, std::memory_order_release);
  serve_reports(0);
  check();
  send_held();
}

void topic_producer::service() {
  serve_reports(0);
  check();
  send_held();
  if (holding()) arm_and_serve();
}

bool topic_producer::flushed() {
  auto& im = *impl_;
  auto now = std::chrono::steady_clock::now();
  if (!im.flush_deadline)
    im.flush_deadline = now +
                        std::chrono::milliseconds(im.delivery_timeout_ms) +
                        std::chrono::seconds(5);
  auto done = [&] { return !holding() && in_flight() == 0; };
  service();
  if (done()) {
    im.flush_deadline.reset(); // the next flush has a deadline of its own
    return true;
  }
  if (now > *im.flush_deadline)
    throw kafka_error{
        errc::delivery_failed,
        detail::with_connection_failure(
            im.handle.get(),
            std::to_string(in_flight() + (im.held.size() - im.next_held)) +
                " records to " + topic_ +
                " not acknowledged within delivery-timeout-ms",
            im.delivery_timeout_ms)};
  arm_and_serve();
  if (!done()) return false;
  im.flush_deadline.reset();
  return true;
}

void topic_producer::set_wakeup(std::function<void()> wake) {
  impl_->wake = std::move(wake);
  impl_->reports.reset(rd_kafka_queue_get_main(impl_->handle.get()));
  rd_kafka_queue_cb_event_enable(impl_->reports.get(), &impl::on_report_event,
                                 impl_.get());
}

void topic_producer::poll() {
  serve_reports(0);
  check();
}

void topic_producer::flush() {
  auto* rk = impl_->handle.get();
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(impl_->delivery_timeout_ms) +
                  std::chrono::seconds(5);
  while (rd_kafka_outq_len(rk) > 0) {
    rd_kafka_flush(rk, 100);
    check();
    if (std::chrono::steady_clock::now() > deadline)
      throw kafka_error{errc::delivery_failed,
                        detail::with_connection_failure(
                            rk,
                            std::to_string(rd_kafka_outq_len(rk)) +
                                " records to " + topic_ +
                                " not acknowledged within delivery-timeout-ms",
                            impl_->delivery_timeout_ms)};
  }
  serve_reports(0);
  check();
}

void topic_producer::begin_transaction() {
  if (detail::error_ptr err{rd_kafka_begin_transaction(impl_->handle.get())})
    throw detail::make_error(err.get(), "begin_transaction (transaction to " +
                                            topic_ + ")");
}

topic_producer::transaction_timing
topic_producer::publish_transaction(const std::function<void()>& write,
                                    const std::string& marker_group,
                                    int64_t marker, bool begun) {
  transaction_timing timing;
  auto t = std::chrono::steady_clock::now();
  auto lap = [&t] {
    auto now = std::chrono::steady_clock::now();
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(now - t).count();
    t = now;
    return us;
  };
  auto* rk = impl_->handle.get();
  auto timeout = static_cast<int>(impl_->transaction_timeout_ms);
  auto context = [&](const char* step) {
    return std::string(step) + " (transaction to " + topic_ + ", marker " +
           std::to_string(marker) + ")";
  };
  if (!begun) begin_transaction();
  write();
  flush();
  timing.flush_us = lap();
  fault_point(fault_during_commit);
  send_marker(marker_group, {{{topic_, 0}, marker}},
              context("send_offsets_to_transaction"));
  timing.marker_us = lap();
  if (detail::error_ptr err{rd_kafka_commit_transaction(rk, timeout)})
    throw detail::make_error(err.get(), context("commit_transaction"));
  timing.commit_us = lap();
  return timing;
}

void topic_producer::send_marker(const std::string& group,
                                 const marker_offsets& marker,
                                 const std::string& context) {
  detail::partition_list_ptr offsets{
      rd_kafka_topic_partition_list_new(static_cast<int>(marker.size()))};
  for (auto& [where, offset] : marker)
    rd_kafka_topic_partition_list_add(offsets.get(), where.first.c_str(),
                                      where.second)
        ->offset = offset;
  std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                  decltype(&rd_kafka_consumer_group_metadata_destroy)>
      metadata{rd_kafka_consumer_group_metadata_new(group.c_str()),
               &rd_kafka_consumer_group_metadata_destroy};
  if (detail::error_ptr err{rd_kafka_send_offsets_to_transaction(
          impl_->handle.get(), offsets.get(), metadata.get(),
          static_cast<int>(impl_->transaction_timeout_ms))})
    throw detail::make_error(err.get(), context);
}

void topic_producer::commit_transaction(const std::string& marker_group,
                                        const marker_offsets& marker) {
  auto context = [&](const char* step) {
    return std::string(step) + " (transaction to " + topic_ + ")";
  };
  flush();
  if (!marker_group.empty() && !marker.empty())
    send_marker(marker_group, marker, context("send_offsets_to_transaction"));
  if (detail::error_ptr err{rd_kafka_commit_transaction(
          impl_->handle.get(),
          static_cast<int>(impl_->transaction_timeout_ms))})
    throw detail::make_error(err.get(), context("commit_transaction"));
}

uint64_t topic_producer::delivered() const noexcept {
  return impl_->delivered;
}

uint64_t topic_producer::in_flight() const noexcept {
  return impl_->queued - impl_->delivered - impl_->failed;
}

} // namespace flow::kafka

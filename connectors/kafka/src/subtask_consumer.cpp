#include "flow/kafka/subtask_consumer.hpp"

#include "flow/exceptions.hpp"
#include "flow/kafka/embedded_cluster.hpp"
#include "flow/log.hpp"
#include "rdkafka.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

namespace flow::kafka {

namespace {

bool leader_moving(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
         err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
         err == RD_KAFKA_RESP_ERR__WAIT_COORD ||
         err == RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH;
}

/// header_views' parser: the headers of a consumed rd_kafka_message_t.
void parse_headers(const void* message,
                   std::vector<header_views::value_type>& out) {
  auto* m = static_cast<const rd_kafka_message_t*>(message);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* val = nullptr;
  size_t size = 0;
  for (size_t idx = 0; rd_kafka_header_get_all(hdrs, idx, &name, &val, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
       ++idx)
    out.emplace_back(name,
                     val ? std::string_view(static_cast<const char*>(val), size)
                         : std::string_view());
}

} // namespace

struct subtask_consumer::impl {
  struct partition_state {
    int64_t next = 0;
    /// End offset (exclusive) with stop_at_end, else -1.
    int64_t end = -1;
    bool done = false;
    /// Everything the partition held was read: its end-of-partition event
    /// came after the last record returned (until the next record).
    bool caught_up = false;
  };
  // Destruction order: messages and queue before the handle.
  detail::handle_ptr handle;
  detail::queue_ptr queue;
  std::vector<detail::message_ptr> held;
  std::vector<record_view> views;
  std::vector<rd_kafka_message_t*> raw;
  std::map<int32_t, partition_state> parts;
  size_t remaining = 0;
  bool bounded = false;
  std::string topic;

  // librdkafka 2.0 stops fetching once the prefetch queue holds
  // queued.min.messages or queued.max.messages.kbytes, and its broker
  // thread only looks again on an event or after up to a second: a source
  // that drains the full queue faster than that sits idle (W1 lost half
  // its throughput to it). A seek to an absolute offset wakes the broker
  // thread, so the reader seeks every partition to where it stands once the
  // queue, seen near a limit, has run empty. (librdkafka >= 2.1 has
  // fetch.queue.backoff.ms for this.)
  int64_t queue_limit_messages = 0;
  int64_t queue_limit_bytes = 0;
  /// Mean key + value bytes of the records read, for the byte limit.
  double mean_record_bytes = 100;
  bool fetcher_may_be_gated = false;
  uint64_t fetcher_wakeups = 0;
  /// set_wakeup(): called by librdkafka when the queue becomes non-empty.
  std::function<void()> wake;

  static void on_queue_event(rd_kafka_t*, void* opaque) {
    static_cast<impl*>(opaque)->wake();
  }

  /// Notes whether what is left in the queue is near a fetch limit.
  void check_queue_level() {
    auto left = static_cast<int64_t>(rd_kafka_queue_length(queue.get()));
    // Half the limit: the byte estimate is rough, and a needless seek
    // costs no more than one fetch round trip.
    if (2 * left >= queue_limit_messages ||
        2 * static_cast<double>(left) * mean_record_bytes >=
            static_cast<double>(queue_limit_bytes))
      fetcher_may_be_gated = true;
  }

  /// The queue is empty: if the fetcher may have stopped, seek each active
  /// partition to its next offset. Records of the old position that still
  /// arrive (fetched before the seek took effect) are below `next` and
  /// skipped, so nothing is lost or repeated.
  void wake_fetcher() {
    if (!fetcher_may_be_gated) return;
    fetcher_may_be_gated = false;
    detail::partition_list_ptr l{
        rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()))};
    for (auto& [p, st] : parts)
      if (!st.done)
        rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p)->offset =
            st.next;
    if (l->cnt == 0) return;
    detail::error_ptr err{rd_kafka_seek_partitions(handle.get(), l.get(), 0)};
    if (err)
      throw kafka_error{errc::fatal, "seek " + topic + ": " +
                                         rd_kafka_error_string(err.get())};
    ++fetcher_wakeups;
  }

  void mark_done(int32_t p, partition_state& st) {
    if (st.done) return;
    st.done = true;
    --remaining;
    // Stop fetching what we will not read.
    detail::partition_list_ptr l{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p);
    rd_kafka_pause_partitions(handle.get(), l.get());
  }
};

subtask_consumer::subtask_consumer(const client_settings& s, std::string topic,
                                   uint32_t subtask, uint32_t parallelism,
                                   int32_t embedded_partitions)
    : impl_(std::make_unique<impl>()), topic_(std::move(topic)) {
  auto log = logger("flow/kafka");
  impl_->topic = topic_;
  impl_->bounded = s.stop_at_end;
  if (s.embedded())
    embedded_cluster::instance().ensure_topic(
        topic_, s.embedded_partitions > 0
                    ? static_cast<int32_t>(s.embedded_partitions)
                    : embedded_partitions);
  auto conf = detail::make_conf(s, detail::role::consumer);
  impl_->queue_limit_messages =
      detail::get_int(conf.get(), "queued.min.messages");
  impl_->queue_limit_bytes =
      1024 * detail::get_int(conf.get(), "queued.max.messages.kbytes");
  // assign() needs a group id even though the reader never joins the
  // group; without a configured one, a placeholder that is never committed.
  detail::set(conf.get(), "group.id",
              s.group_id.empty() ? "libflow-no-commit" : s.group_id);
  auto bootstrap = detail::bootstrap_servers(s);
  auto& h = impl_->handle;
  h = detail::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  partition_count_ =
      detail::partition_count(h.get(), topic_, s.timeout_ms, bootstrap);

  if (s.start.what == start_offset::kind::explicit_offsets)
    for (auto& [p, o] : s.start.offsets)
      if (p < 0 || p >= partition_count_)
        throw config_failure(
            "invalid config: kafka.start-offset names partition " +
            std::to_string(p) + " (expected a partition of " + topic_ +
            ": 0.." + std::to_string(partition_count_ - 1) + ")");

  std::vector<int32_t> mine;
  for (int32_t p = 0; p < partition_count_; ++p)
    if (static_cast<uint32_t>(p) % parallelism == subtask) mine.push_back(p);
  if (mine.empty()) {
    log->info("{}: no partition for subtask {} of {} ({} partitions)", topic_,
              subtask, parallelism, partition_count_);
    return;
  }

  auto timeout = static_cast<int>(s.timeout_ms);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(s.timeout_ms);
  std::map<int32_t, std::pair<int64_t, int64_t>> marks;
  for (auto p : mine) {
    int64_t lo = 0;
    int64_t hi = 0;
    auto err = rd_kafka_query_watermark_offsets(h.get(), topic_.c_str(), p, &lo,
                                                &hi, timeout);
    // A partition without a leader yet (a topic just created, a broker
    // restarting) answers so for a moment: retry within kafka.timeout-ms.
    while (leader_moving(err) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      err = rd_kafka_query_watermark_offsets(h.get(), topic_.c_str(), p, &lo,
                                             &hi, timeout);
    }
    if (err)
      throw detail::make_error(h.get(), err,
                               "watermarks of " + topic_ + "[" +
                                   std::to_string(p) + "]",
                               s.timeout_ms);
    marks[p] = {lo, hi};
  }

  std::map<int32_t, int64_t> start;
  switch (s.start.what) {
  case start_offset::kind::earliest:
    for (auto p : mine)
      start[p] = marks[p].first;
    break;
  case start_offset::kind::latest:
    for (auto p : mine)
      start[p] = marks[p].second;
    break;
  case start_offset::kind::explicit_offsets:
    for (auto p : mine) {
      auto i = s.start.offsets.find(p);
      if (i != s.start.offsets.end() && i->second > marks[p].second)
        throw config_failure(
            "invalid config: kafka.start-offset names offset " +
            std::to_string(i->second) + " of " + topic_ + "[" +
            std::to_string(p) + "] (expected at most its end offset " +
            std::to_string(marks[p].second) + ")");
      // Below the log start (deleted by retention): from the start.
      start[p] = i == s.start.offsets.end()
                     ? marks[p].first
                     : std::max(i->second, marks[p].first);
    }
    break;
  case start_offset::kind::committed:
  case start_offset::kind::timestamp: {
    detail::partition_list_ptr l{
        rd_kafka_topic_partition_list_new(static_cast<int>(mine.size()))};
    for (auto p : mine)
      rd_kafka_topic_partition_list_add(l.get(), topic_.c_str(), p)->offset =
          s.start.timestamp_ms;
    bool committed = s.start.what == start_offset::kind::committed;
    auto err = committed
                   ? rd_kafka_committed(h.get(), l.get(), timeout)
                   : rd_kafka_offsets_for_times(h.get(), l.get(), timeout);
    if (err)
      throw detail::make_error(h.get(), err,
                               std::string(committed ? "committed offsets of "
                                                     : "offsets for time in ") +
                                   topic_,
                               s.timeout_ms);
    for (int i = 0; i < l->cnt; ++i) {
      auto& e = l->elems[i];
      if (e.err)
        throw detail::make_error(e.err, "start offset of " + topic_ + "[" +
                                            std::to_string(e.partition) + "]");
      auto [lo, hi] = marks[e.partition];
      if (e.offset < 0) // no commit: earliest; no such time: the end
        start[e.partition] = committed ? lo : hi;
      else
        start[e.partition] = std::clamp<int64_t>(e.offset, lo, hi);
    }
    break;
  }
  }

  detail::partition_list_ptr assignment{
      rd_kafka_topic_partition_list_new(static_cast<int>(mine.size()))};
  for (auto p : mine) {
    impl::partition_state st;
    st.next = start[p];
    if (s.stop_at_end) {
      st.end = marks[p].second;
      if (st.next >= st.end) {
        st.done = true;
      }
    }
    impl_->parts[p] = st;
    if (!st.done) {
      ++impl_->remaining;
      rd_kafka_topic_partition_list_add(assignment.get(), topic_.c_str(), p)
          ->offset = st.next;
    }
    log->debug("{}[{}]: start at {} (low {}, high {}){}", topic_, p, st.next,
               marks[p].first, marks[p].second,
               s.stop_at_end ? " until " + std::to_string(st.end) : "");
  }
  if (auto err = rd_kafka_assign(h.get(), assignment.get()))
    throw detail::make_error(err, "assign partitions of " + topic_);
  impl_->queue.reset(rd_kafka_queue_get_consumer(h.get()));
}

subtask_consumer::~subtask_consumer() {
  if (!impl_) return;
  // Under the queue's lock: no callback runs once this returns.
  if (impl_->queue && impl_->wake)
    rd_kafka_queue_cb_event_enable(impl_->queue.get(), nullptr, nullptr);
  impl_->held.clear();
  impl_->queue.reset();
  if (impl_->handle) {
    rd_kafka_assign(impl_->handle.get(), nullptr);
    rd_kafka_consumer_close(impl_->handle.get());
  }
}

const std::vector<record_view>& subtask_consumer::fetch(size_t max,
                                                        int timeout_ms) {
  auto& im = *impl_;
  im.held.clear();
  im.views.clear();
  if (!im.queue || max == 0 || finished()) return im.views;
  im.raw.resize(max);
  auto n = rd_kafka_consume_batch_queue(im.queue.get(), timeout_ms,
                                        im.raw.data(), max);
  if (n < 0)
    throw detail::make_error(rd_kafka_last_error(), "consume " + topic_);
  if (n == 0) {
    im.wake_fetcher();
    return im.views;
  }
  im.held.reserve(static_cast<size_t>(n));
  for (ssize_t i = 0; i < n; ++i)
    im.held.emplace_back(im.raw[static_cast<size_t>(i)]);
  size_t bytes = 0;
  // Messages come in runs of one partition: look each run's state up once.
  auto pit = im.parts.end();
  for (auto& m : im.held) {
    if (pit == im.parts.end() || pit->first != m->partition)
      pit = im.parts.find(m->partition);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (pit == im.parts.end()) continue;
      if (m->offset >= pit->second.next) pit->second.caught_up = true;
      if (im.bounded && m->offset >= pit->second.end)
        im.mark_done(pit->first, pit->second);
      continue;
    }
    if (m->err) {
      auto code = detail::to_errc(m->err);
      if (code == errc::unknown_topic || code == errc::not_authorized ||
          code == errc::fatal)
        // The message's text: a fatal error's reason, not "Local: Fatal
        // error".
        throw kafka_error{
            code,
            "consume " + topic_ + "[" + std::to_string(m->partition) +
                "]: " + rd_kafka_message_errstr(m.get()) +
                (code == errc::not_authorized
                     ? std::string(" (") + detail::not_authorized_hint + ")"
                     : std::string())};
      // Transient (broker down, ...): librdkafka retries by itself.
      logger("flow/kafka")
          ->warn("consume {}: {}", topic_, rd_kafka_message_errstr(m.get()));
      continue;
    }
    if (pit == im.parts.end() || pit->second.done) continue;
    auto& st = pit->second;
    if (m->offset < st.next) continue; // read before a wake_fetcher() seek
    if (im.bounded && m->offset >= st.end) {
      im.mark_done(pit->first, st);
      continue;
    }
    st.next = m->offset + 1;
    st.caught_up = false;
    auto& v = im.views.emplace_back();
    if (m->key)
      v.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
    // A null payload is a tombstone: data() stays null. An empty value
    // gets a non-null data().
    v.value =
        m->payload
            ? std::string_view(static_cast<const char*>(m->payload), m->len)
            : std::string_view();
    v.topic = topic_;
    v.partition = m->partition;
    v.offset = m->offset;
    rd_kafka_timestamp_type_t tstype;
    v.timestamp = rd_kafka_message_timestamp(m.get(), &tstype);
    v.headers = header_views(&parse_headers, m.get());
    bytes += v.key.size() + v.value.size();
    if (im.bounded && st.next >= st.end) im.mark_done(pit->first, st);
  }
  if (!im.views.empty())
    im.mean_record_bytes =
        0.9 * im.mean_record_bytes +
        0.1 * static_cast<double>(bytes) / static_cast<double>(im.views.size());
  im.check_queue_level();
  return im.views;
}

bool subtask_consumer::finished() const noexcept {
  return impl_->parts.empty() || (impl_->bounded && impl_->remaining == 0);
}

std::vector<std::pair<int32_t, int64_t>> subtask_consumer::positions() const {
  std::vector<std::pair<int32_t, int64_t>> out;
  for (auto& [p, st] : impl_->parts)
    out.emplace_back(p, st.next);
  return out;
}

std::vector<std::pair<int32_t, int64_t>> subtask_consumer::lags() const {
  std::vector<std::pair<int32_t, int64_t>> out;
  for (auto& [p, st] : impl_->parts) {
    int64_t low = -1, high = -1;
    auto err = rd_kafka_get_watermark_offsets(impl_->handle.get(),
                                              topic_.c_str(), p, &low, &high);
    auto known = err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0;
    out.emplace_back(p, known ? std::max<int64_t>(0, high - st.next) : -1);
  }
  return out;
}

std::vector<int32_t> subtask_consumer::assigned() const {
  std::vector<int32_t> out;
  for (auto& [p, st] : impl_->parts)
    out.push_back(p);
  return out;
}

bool subtask_consumer::set_wakeup(std::function<void()> wake) {
  if (!impl_->queue) return false;
  impl_->wake = std::move(wake);
  rd_kafka_queue_cb_event_enable(impl_->queue.get(), &impl::on_queue_event,
                                 impl_.get());
  return true;
}

uint64_t subtask_consumer::fetcher_wakeups() const noexcept {
  return impl_->fetcher_wakeups;
}

bool subtask_consumer::caught_up(int32_t p) const noexcept {
  auto i = impl_->parts.find(p);
  return i == impl_->parts.end() || i->second.done || i->second.caught_up;
}

bool subtask_consumer::partition_finished(int32_t p) const noexcept {
  auto i = impl_->parts.find(p);
  return i == impl_->parts.end() || i->second.done;
}

} // namespace flow::kafka

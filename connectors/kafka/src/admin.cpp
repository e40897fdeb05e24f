#include "flow/kafka/admin.hpp"

#include "flow/kafka/embedded_cluster.hpp"
#include "rdkafka.hpp"

#include <array>
#include <chrono>
#include <thread>

namespace flow::kafka {

struct admin::impl {
  client_settings settings;
  std::string bootstrap;
  detail::handle_ptr handle;

  /// A consumer handle of `group`, for committed-offset calls. librdkafka
  /// asks for stable offsets (require_stable) when it reads committed.
  detail::handle_ptr
  group_handle(const std::string& group,
               pending_commits pending = pending_commits::wait) {
    auto conf = detail::make_conf(settings, detail::role::consumer);
    detail::set(conf.get(), "group.id", group);
    if (pending == pending_commits::skip)
      detail::set(conf.get(), "isolation.level", "read_uncommitted");
    return detail::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  }

  /// Waits for the result event of an admin request on `q`.
  detail::event_ptr wait(rd_kafka_queue_t* q, const std::string& what) {
    auto ev = detail::wait_in_slices(
        settings.timeout_ms, detail::slicing::fixed,
        [q](int ms) { return detail::event_ptr{rd_kafka_queue_poll(q, ms)}; },
        [](const detail::event_ptr& e) { return !e; });
    if (!ev)
      throw detail::no_answer(handle.get(), what, bootstrap,
                              settings.timeout_ms);
    if (auto err = rd_kafka_event_error(ev.get()))
      throw kafka_error{detail::to_errc(err),
                        what + ": " + rd_kafka_event_error_string(ev.get())};
    return ev;
  }
};

admin::admin(const client_settings& s) : impl_(std::make_unique<impl>()) {
  impl_->settings = s;
  impl_->bootstrap = detail::bootstrap_servers(s);
  impl_->handle = detail::make_handle(
      RD_KAFKA_PRODUCER, detail::make_conf(s, detail::role::admin));
}

admin::~admin() = default;

void admin::create_topic(
    const std::string& topic, int32_t partitions, int32_t replication,
    const std::vector<std::pair<std::string, std::string>>& configs) {
  if (impl_->settings.embedded()) {
    embedded_cluster::instance().ensure_topic(topic, partitions);
    return;
  }
  std::array<char, 512> err{};
  auto* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, replication,
                                   err.data(), err.size());
  if (!nt)
    throw kafka_error{errc::bad_config,
                      "create topic " + topic + ": " + err.data()};
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)>
      owned{nt, &rd_kafka_NewTopic_destroy};
  for (auto& [name, value] : configs)
    if (auto e = rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str()))
      throw kafka_error{detail::to_errc(e), "create topic " + topic + ": " +
                                                name + "=" + value + ": " +
                                                rd_kafka_err2str(e)};
  detail::queue_ptr q{rd_kafka_queue_new(impl_->handle.get())};
  rd_kafka_CreateTopics(impl_->handle.get(), &nt, 1, nullptr, q.get());
  auto ev = impl_->wait(q.get(), "create topic " + topic);
  auto* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  auto* topics = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    auto e = rd_kafka_topic_result_error(topics[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      throw kafka_error{detail::to_errc(e),
                        "create topic " + topic + ": " +
                            rd_kafka_topic_result_error_string(topics[i])};
  }
  // The controller has created it; the broker's metadata may still lack it
  // for a moment (seen on a fresh broker: a producer opened right after
  // got unknown_topic). Return once clients can see it.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(impl_->settings.timeout_ms);
  for (;;) {
    try {
      detail::partition_count(impl_->handle.get(), topic,
                              impl_->settings.timeout_ms, impl_->bootstrap);
      return;
    } catch (const kafka_error& e) {
      if (e.code() != errc::unknown_topic ||
          std::chrono::steady_clock::now() > deadline)
        throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<std::string> admin::topic_config(const std::string& topic,
                                               const std::string& name) {
  if (impl_->settings.embedded()) return std::nullopt;
  auto* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  std::unique_ptr<rd_kafka_ConfigResource_t,
                  decltype(&rd_kafka_ConfigResource_destroy)>
      owned{res, &rd_kafka_ConfigResource_destroy};
  detail::queue_ptr q{rd_kafka_queue_new(impl_->handle.get())};
  rd_kafka_DescribeConfigs(impl_->handle.get(), &res, 1, nullptr, q.get());
  auto ev = impl_->wait(q.get(), "describe topic " + topic);
  auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
  size_t n = 0;
  auto** resources = rd_kafka_DescribeConfigs_result_resources(result, &n);
  for (size_t i = 0; i < n; ++i) {
    if (auto e = rd_kafka_ConfigResource_error(resources[i]))
      throw kafka_error{detail::to_errc(e),
                        "describe topic " + topic + ": " +
                            rd_kafka_ConfigResource_error_string(resources[i])};
    size_t m = 0;
    auto** entries = rd_kafka_ConfigResource_configs(resources[i], &m);
    for (size_t j = 0; j < m; ++j)
      if (name == rd_kafka_ConfigEntry_name(entries[j]))
        if (auto* v = rd_kafka_ConfigEntry_value(entries[j]))
          return std::string(v);
  }
  return std::nullopt;
}

void admin::delete_topic(const std::string& topic) {
  if (impl_->settings.embedded())
    throw kafka_error{errc::bad_config,
                      "delete topic: not supported on the embedded cluster"};
  auto* dt = rd_kafka_DeleteTopic_new(topic.c_str());
  std::unique_ptr<rd_kafka_DeleteTopic_t,
                  decltype(&rd_kafka_DeleteTopic_destroy)>
      owned{dt, &rd_kafka_DeleteTopic_destroy};
  detail::queue_ptr q{rd_kafka_queue_new(impl_->handle.get())};
  rd_kafka_DeleteTopics(impl_->handle.get(), &dt, 1, nullptr, q.get());
  auto ev = impl_->wait(q.get(), "delete topic " + topic);
  auto* res = rd_kafka_event_DeleteTopics_result(ev.get());
  size_t n = 0;
  auto* topics = rd_kafka_DeleteTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    auto e = rd_kafka_topic_result_error(topics[i]);
    if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      throw kafka_error{detail::to_errc(e),
                        "delete topic " + topic + ": " +
                            rd_kafka_topic_result_error_string(topics[i])};
  }
}

int32_t admin::partitions(const std::string& topic) {
  return detail::partition_count(impl_->handle.get(), topic,
                                 impl_->settings.timeout_ms, impl_->bootstrap);
}

int32_t admin::min_replicas(const std::string& topic) {
  return detail::min_replica_count(
      impl_->handle.get(), topic, impl_->settings.timeout_ms, impl_->bootstrap);
}

std::map<int32_t, int64_t> admin::committed(const std::string& group,
                                            const std::string& topic,
                                            pending_commits pending) {
  auto n = partitions(topic);
  auto h = impl_->group_handle(group, pending);
  detail::partition_list_ptr l{rd_kafka_topic_partition_list_new(n)};
  for (int32_t p = 0; p < n; ++p)
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p);
  if (auto err = rd_kafka_committed(
          h.get(), l.get(), static_cast<int>(impl_->settings.timeout_ms)))
    throw kafka_error{
        err == RD_KAFKA_RESP_ERR__TIMED_OUT ? errc::timed_out
                                            : errc::offset_commit_failed,
        detail::with_connection_failure(h.get(),
                                        "committed offsets of " + group + ": " +
                                            rd_kafka_err2str(err),
                                        impl_->settings.timeout_ms)};
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < l->cnt; ++i)
    if (l->elems[i].offset >= 0)
      out[l->elems[i].partition] = l->elems[i].offset;
  rd_kafka_consumer_close(h.get());
  return out;
}

std::map<std::string, std::map<int32_t, int64_t>>
admin::committed_skipping_pending(const std::vector<std::string>& groups,
                                  const std::string& topic) {
  std::map<std::string, std::map<int32_t, int64_t>> out;
  if (groups.empty()) return out;
  auto n = partitions(topic);
  detail::partition_list_ptr l{rd_kafka_topic_partition_list_new(n)};
  for (int32_t p = 0; p < n; ++p)
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p);
  auto* rk = impl_->handle.get();
  detail::queue_ptr q{rd_kafka_queue_new(rk)};
  // librdkafka takes one group per call: the calls run concurrently.
  for (auto& g : groups) {
    auto* request = rd_kafka_ListConsumerGroupOffsets_new(g.c_str(), l.get());
    rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, nullptr, q.get());
    rd_kafka_ListConsumerGroupOffsets_destroy(request);
  }
  for (size_t answered = 0; answered < groups.size(); ++answered) {
    auto ev = impl_->wait(q.get(), "committed offsets of " + topic);
    size_t count = 0;
    auto* results = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &count);
    for (size_t i = 0; i < count; ++i) {
      std::string group = rd_kafka_group_result_name(results[i]);
      if (auto* e = rd_kafka_group_result_error(results[i]))
        throw kafka_error{errc::offset_commit_failed,
                          "committed offsets of " + group + ": " +
                              rd_kafka_error_string(e)};
      auto& offsets = out[group];
      auto* parts = rd_kafka_group_result_partitions(results[i]);
      for (int j = 0; parts && j < parts->cnt; ++j) {
        auto& e = parts->elems[j];
        if (e.err)
          throw kafka_error{errc::offset_commit_failed,
                            "committed offsets of " + group + ": " +
                                rd_kafka_err2str(e.err)};
        if (e.offset >= 0) offsets[e.partition] = e.offset;
      }
    }
  }
  return out;
}

void admin::commit(const std::string& group, const std::string& topic,
                   const std::map<int32_t, int64_t>& offsets) {
  if (offsets.empty()) return;
  auto h = impl_->group_handle(group);
  detail::partition_list_ptr l{
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()))};
  for (auto& [p, o] : offsets)
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p)->offset = o;
  auto err = rd_kafka_commit(h.get(), l.get(), 0);
  rd_kafka_consumer_close(h.get());
  if (err)
    throw kafka_error{errc::offset_commit_failed, "commit offsets of " + group +
                                                      " for " + topic + ": " +
                                                      rd_kafka_err2str(err)};
}

} // namespace flow::kafka

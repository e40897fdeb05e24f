#include "flow/exceptions.hpp"
#include "flow/kafka/embedded_cluster.hpp"
#include "flow/log.hpp"
#include "rdkafka.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string_view>

namespace flow::kafka::detail {

namespace {

/// A request librdkafka repeats by itself ("... Coordinator load in
/// progress: retrying", normal on a fresh broker): if the retries run out,
/// the failure reaches the client as an error.
bool is_own_retry(std::string_view msg) {
  constexpr std::string_view suffix = ": retrying";
  return msg.size() >= suffix.size() &&
         msg.substr(msg.size() - suffix.size()) == suffix;
}

/// The last connection failure of each client, by the client's name
/// (unique in the process: librdkafka numbers them; a destroyed client's
/// address may be reused at once). See with_connection_failure.
struct connection_failures {
  struct failure {
    std::chrono::steady_clock::time_point at;
    std::string what;
  };
  std::mutex mtx;
  std::map<std::string, failure, std::less<>> last;

  /// Never destroyed: handle_deleter forgets clients that are destroyed
  /// while static objects are, at exit.
  static connection_failures& instance() {
    static auto* failures = new connection_failures;
    return *failures;
  }
};

/// "[thrd:...]: " is where librdkafka logged from: noise in an error.
std::string_view without_thread(std::string_view msg) {
  constexpr std::string_view prefix = "[thrd:";
  constexpr std::string_view end = "]: ";
  if (msg.substr(0, prefix.size()) != prefix) return msg;
  auto at = msg.find(end);
  return at == std::string_view::npos ? msg : msg.substr(at + end.size());
}

/// Runs on librdkafka's internal threads: logs (spdlog is thread-safe) and
/// records connection failures ("FAIL" at error level: a broker connection
/// went down or could not be made, with the reason). Nothing may throw
/// into librdkafka's C code.
void log_cb(const rd_kafka_t* rk, int level, const char* fac,
            const char* buf) noexcept {
  try {
    auto name = rd_kafka_name(rk);
    if (level <= 4 && std::string_view{fac} == "FAIL") {
      auto& failures = connection_failures::instance();
      std::lock_guard<std::mutex> guard{failures.mtx};
      failures.last[name] = {std::chrono::steady_clock::now(),
                             std::string(without_thread(buf))};
    }
    auto log = logger("flow/kafka");
    if (level <= 3)
      log->warn("[{}] {}: {}", name, fac, buf);
    else if (level <= 5 && !is_own_retry(buf))
      log->info("[{}] {}: {}", name, fac, buf);
    else
      log->debug("[{}] {}: {}", name, fac, buf);
  } catch (...) {
  }
}

} // namespace

void forget_connection_failure(const char* client_name) noexcept {
  auto& failures = connection_failures::instance();
  std::lock_guard<std::mutex> guard{failures.mtx};
  if (auto i = failures.last.find(std::string_view{client_name});
      i != failures.last.end())
    failures.last.erase(i);
}

std::string with_connection_failure(const rd_kafka_t* rk, std::string msg,
                                    int64_t within_ms) {
  std::string why;
  {
    auto& failures = connection_failures::instance();
    std::lock_guard<std::mutex> guard{failures.mtx};
    auto i = failures.last.find(std::string_view{rd_kafka_name(rk)});
    if (i != failures.last.end() &&
        i->second.at >= std::chrono::steady_clock::now() -
                            std::chrono::milliseconds(within_ms))
      why = i->second.what;
  }
  if (why.empty()) return msg;
  msg += "; the last connection failed: " + why;
  if (why.find("SASL") != std::string::npos ||
      why.find("SSL") != std::string::npos)
    msg += " (security settings: kafka.properties)";
  return msg;
}

kafka_error no_answer(const rd_kafka_t* rk, const std::string& what,
                      const std::string& bootstrap, int64_t timeout_ms) {
  return kafka_error{
      errc::broker_unreachable,
      with_connection_failure(rk,
                              what + ": no broker answered at " + bootstrap +
                                  " within " + std::to_string(timeout_ms) +
                                  " ms (kafka.bootstrap, kafka.timeout-ms)",
                              timeout_ms)};
}

kafka_error make_error(const rd_kafka_t* rk, rd_kafka_resp_err_t e,
                       const std::string& context, int64_t within_ms) {
  auto code = to_errc(e);
  auto msg = context + ": " + rd_kafka_err2str(e);
  if (code == errc::timed_out || code == errc::broker_unreachable)
    msg = with_connection_failure(rk, std::move(msg), within_ms);
  return kafka_error{code, msg};
}

void set(rd_kafka_conf_t* conf, const std::string& key,
         const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err.data(),
                        err.size()) != RD_KAFKA_CONF_OK)
    throw kafka_error{errc::bad_config, "librdkafka property " + key + "=" +
                                            value + ": " + err.data()};
}

int64_t get_int(const rd_kafka_conf_t* conf, const std::string& key) {
  std::array<char, 64> buf{};
  size_t size = buf.size();
  if (rd_kafka_conf_get(conf, key.c_str(), buf.data(), &size) ==
      RD_KAFKA_CONF_OK) {
    try {
      return std::stoll(buf.data());
    } catch (const std::exception&) {
    }
  }
  throw kafka_error{errc::bad_config,
                    "librdkafka property " + key + ": not an integer"};
}

std::string bootstrap_servers(const client_settings& s) {
  return s.embedded() ? embedded_cluster::instance().bootstrap() : s.bootstrap;
}

conf_ptr make_conf(const client_settings& s, role r) {
  conf_ptr conf{rd_kafka_conf_new()};
  set(conf.get(), "bootstrap.servers", bootstrap_servers(s));
  set(conf.get(), "client.id", "libflow");
  // Metadata and connection failures must surface within timeout-ms, a
  // connection's in half of it: a wait that fails can then say why
  // (with_connection_failure), also for a host that answers nothing.
  set(conf.get(), "socket.connection.setup.timeout.ms",
      std::to_string(std::max<int64_t>(1000, s.timeout_ms / 2)));
  switch (r) {
  case role::consumer:
    set(conf.get(), "enable.auto.commit", "false");
    set(conf.get(), "enable.auto.offset.store", "false");
    set(conf.get(), "enable.partition.eof", "true");
    // The prefetch queue is what bounds memory while the runtime does
    // not poll (no credit): the fetcher stops fetching once the queue is
    // over these limits. The reader wakes the fetcher when the queue runs
    // empty (subtask_consumer.cpp), so a small queue costs no throughput.
    // A queued record costs librdkafka about 250 bytes besides its
    // payload, and a fetch response stays allocated while any of its
    // records is queued: with 8 MiB the prefetch was 66 MB of W2's heap
    // peak (heaptrack). A response may bring fetch.message.max.bytes per
    // partition; with 1 MiB (the default) over 8 partitions it outgrew a
    // 2 MiB queue, and partitions were read unevenly enough to hold W3's
    // watermark back for seconds. 256 KiB keeps a whole response within
    // the queue (bench/RESULTS.md, "The consumer's prefetch").
    set(conf.get(), "queued.max.messages.kbytes", "2048");
    set(conf.get(), "fetch.message.max.bytes", "262144");
    set(conf.get(), "queued.min.messages", "1000000");
    set(conf.get(), "fetch.wait.max.ms", "10");
    set(conf.get(), "auto.offset.reset", "earliest");
    // Never records of aborted or open transactions (librdkafka's default,
    // stated: exactly-once output relies on it downstream); committed
    // offsets are read with require_stable accordingly.
    set(conf.get(), "isolation.level", "read_committed");
    break;
  case role::producer:
    // A mistyped output topic fails the job (unknown_topic) instead of
    // being created with the broker's defaults on the first run.
    set(conf.get(), "allow.auto.create.topics", "false");
    set(conf.get(), "enable.idempotence", "true");
    set(conf.get(), "acks", "all");
    set(conf.get(), "partitioner", "murmur2_random");
    set(conf.get(), "linger.ms", std::to_string(s.linger_ms));
    set(conf.get(), "batch.size", std::to_string(s.batch_size));
    set(conf.get(), "delivery.timeout.ms",
        std::to_string(s.delivery_timeout_ms));
    break;
  case role::admin:
    break;
  }
  for (auto& [k, v] : s.properties)
    set(conf.get(), k, v);
  rd_kafka_conf_set_log_cb(conf.get(), log_cb);
  return conf;
}

handle_ptr make_handle(rd_kafka_type_t type, conf_ptr conf) {
  std::array<char, 512> err{};
  // rd_kafka_new takes ownership of conf only on success.
  handle_ptr h{rd_kafka_new(type, conf.get(), err.data(), err.size())};
  // What librdkafka refuses only here (a CA file it cannot load, a SASL
  // mechanism it lacks) comes from kafka.properties: exit 2, no restart.
  // Not what the machine lacks (threads, descriptors).
  if (!h && rd_kafka_last_error() != RD_KAFKA_RESP_ERR__INVALID_ARG)
    throw kafka_error{errc::other,
                      std::string("cannot create a client: ") + err.data()};
  if (!h)
    throw config_failure(
        std::string("invalid config: kafka.properties: librdkafka cannot "
                    "create a client with them (") +
        err.data() + ")");
  conf.release();
  return h;
}

namespace {

/// The metadata of `topic` alone (see partition_count).
metadata_ptr topic_metadata(rd_kafka_t* rk, const std::string& topic,
                            int64_t timeout_ms, const std::string& bootstrap) {
  topic_ptr t{rd_kafka_topic_new(rk, topic.c_str(), nullptr)};
  metadata_ptr md;
  auto err = wait_in_slices(
      timeout_ms, slicing::doubling,
      [&](int ms) {
        const rd_kafka_metadata_t* raw = nullptr;
        auto e = rd_kafka_metadata(rk, 0, t.get(), &raw, ms);
        md.reset(raw);
        return e;
      },
      [](rd_kafka_resp_err_t e) {
        auto code = to_errc(e);
        return code == errc::timed_out || code == errc::broker_unreachable;
      });
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    auto code = to_errc(err);
    if (code == errc::timed_out || code == errc::broker_unreachable)
      throw no_answer(rk, "metadata of topic " + topic, bootstrap, timeout_ms);
    throw make_error(err, "metadata of topic " + topic);
  }
  if (md->topic_cnt == 1 && to_errc(md->topics[0].err) == errc::not_authorized)
    throw kafka_error{errc::not_authorized,
                      "topic " + topic + " at " + bootstrap +
                          ": the cluster refuses this client (" +
                          rd_kafka_err2str(md->topics[0].err) + "; " +
                          not_authorized_hint + ")"};
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topics[0].partition_cnt == 0)
    throw kafka_error{
        errc::unknown_topic,
        "topic " + topic + " does not exist at " + bootstrap +
            (md->topic_cnt == 1
                 ? std::string(" (") + rd_kafka_err2str(md->topics[0].err) + ")"
                 : std::string())};
  return md;
}

} // namespace

int32_t partition_count(rd_kafka_t* rk, const std::string& topic,
                        int64_t timeout_ms, const std::string& bootstrap) {
  return topic_metadata(rk, topic, timeout_ms, bootstrap)
      ->topics[0]
      .partition_cnt;
}

int32_t min_replica_count(rd_kafka_t* rk, const std::string& topic,
                          int64_t timeout_ms, const std::string& bootstrap) {
  auto md = topic_metadata(rk, topic, timeout_ms, bootstrap);
  const auto& t = md->topics[0];
  int32_t fewest = t.partitions[0].replica_cnt;
  for (int i = 1; i < t.partition_cnt; ++i)
    fewest = std::min(fewest, t.partitions[i].replica_cnt);
  return fewest;
}

} // namespace flow::kafka::detail

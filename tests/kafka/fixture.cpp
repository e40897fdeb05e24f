#include "fixture.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <unistd.h>

namespace flow::kafka::test {

std::string bootstrap() {
  if (auto v = std::getenv("LIBFLOW_KAFKA_BOOTSTRAP"); v && *v) return v;
  return "127.0.0.1:9092";
}

namespace {

client_settings broker_settings() {
  client_settings s;
  s.bootstrap = bootstrap();
  s.timeout_ms = 15000;
  s.linger_ms = 5;
  return s;
}

} // namespace

fixture::fixture() : settings(broker_settings()), adm(settings) {}

std::string fixture::unique(const std::string& what) {
  static std::atomic<int> counter{0};
  static const auto run = std::to_string(
      std::chrono::system_clock::now().time_since_epoch().count() % 100000000);
  return "libflow-test-" + what + "-" + std::to_string(::getpid()) + "-" + run +
         "-" + std::to_string(counter++);
}

std::string fixture::make_topic(const std::string& what, int32_t partitions) {
  auto t = unique(what);
  adm.create_topic(t, partitions);
  return t;
}

job_options fixture::options(uint32_t parallelism,
                             const settings_map& extra) const {
  job_options o;
  o.plan.default_parallelism = parallelism;
  o.status_interval = std::chrono::seconds(0);
  o.log_level = "warn";
  o.settings["kafka.bootstrap"] = settings.bootstrap;
  o.settings["kafka.timeout-ms"] = "15000";
  o.settings["kafka.stop-at-end"] = "true";
  for (auto& [k, v] : extra)
    o.settings[k] = v;
  return o;
}

void fixture::produce(const std::string& topic,
                      const std::vector<producer_record>& records,
                      size_t max_message_bytes) {
  auto s = settings;
  if (max_message_bytes > 0)
    s.properties.emplace_back("message.max.bytes",
                              std::to_string(max_message_bytes));
  topic_producer w{s, topic};
  for (auto& r : records)
    w.produce(r);
  w.flush();
}

std::vector<record> fixture::read_all(const std::string& topic) {
  auto s = settings;
  s.stop_at_end = true;
  s.start = start_offset{};
  subtask_consumer r{s, topic, 0, 1};
  std::vector<record> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!r.finished()) {
    for (auto& v : r.fetch(10000, 100))
      out.push_back(v.to_record());
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("read_all(" + topic + "): timed out");
  }
  return out;
}

} // namespace flow::kafka::test

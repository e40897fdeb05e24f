#include "fixture.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
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

/// A consumer (no group, nothing assigned) that reads end offsets with
/// the given isolation level.
raw_client end_offset_reader(const std::string& isolation) {
  return make_raw_client(RD_KAFKA_CONSUMER, {{"isolation.level", isolation}});
}

/// Partition `p`'s end offset as `h` sees it: the high watermark under
/// read_uncommitted, the last stable offset under read_committed.
int64_t end_offset(rd_kafka_t* h, const std::string& topic, int32_t p) {
  int64_t low = 0, high = 0;
  if (auto e = rd_kafka_query_watermark_offsets(h, topic.c_str(), p, &low,
                                                &high, 15000))
    throw std::runtime_error("end offset of " + topic + ": " +
                             rd_kafka_err2str(e));
  return high;
}

} // namespace

raw_client make_raw_client(
    rd_kafka_type_t type,
    const std::vector<std::pair<std::string, std::string>>& properties) {
  std::array<char, 512> err{};
  std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> conf{
      rd_kafka_conf_new(), &rd_kafka_conf_destroy};
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err.data(),
                          err.size()) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(err.data());
  };
  set("bootstrap.servers", bootstrap());
  for (auto& [k, v] : properties)
    set(k, v);
  // rd_kafka_new owns the configuration once it succeeds.
  raw_client h{rd_kafka_new(type, conf.get(), err.data(), err.size()),
               &rd_kafka_destroy};
  if (!h) throw std::runtime_error(err.data());
  conf.release();
  return h;
}

void fixture::await_transaction_markers(const std::string& topic) {
  auto written = end_offset_reader("read_uncommitted");
  auto stable = end_offset_reader("read_committed");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // Written first: everything written before the check is stable once the
  // last stable offset reaches it, also while more is being written.
  for (int32_t p = 0, n = adm.partitions(topic); p < n; ++p) {
    auto target = end_offset(written.get(), topic, p);
    while (end_offset(stable.get(), topic, p) < target) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "await_transaction_markers(" << topic << "): partition "
                  << p << " not stable up to " << target
                  << " after 30 s (a transaction left open?); reading what "
                     "is stable\n";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

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
  await_transaction_markers(topic);
  return read_stable(topic);
}

std::vector<record> fixture::read_stable(const std::string& topic) {
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
      throw std::runtime_error("read_stable(" + topic + "): timed out");
  }
  return out;
}

std::pair<std::string, int64_t> key_sequences::add(const record& r) {
  if (!r.key) throw std::runtime_error("key_sequences: a record without a key");
  auto colon = r.value.find(':');
  auto key = r.value.substr(0, colon);
  auto seq = std::stoll(r.value.substr(colon + 1));
  if (key != *r.key) ++bad;
  auto [it, added] = last.emplace(key, -1);
  if (seq != it->second + 1) ++bad;
  it->second = seq;
  auto [pit, padded] = partition_of.emplace(key, r.partition);
  if (pit->second != r.partition) ++bad;
  return {key, seq};
}

mixed_records::mixed_records(int keys)
    : keys(keys),
      base_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count() -
              3600000) {}

producer_record mixed_records::make(int i) const {
  producer_record r;
  auto k = i % keys;
  r.key = "k" + std::to_string(k);
  r.value = *r.key + ":" + std::to_string(i / keys);
  if (i % 97 == 0) r.headers.push_back({"i", std::to_string(i)});
  if (i % 101 == 0) r.timestamp = base_ms + i;
  if (k % 5 == 0) r.partition = (k / 5) % 4;
  return r;
}

void mixed_records::check(key_sequences& seqs, const record& r) const {
  auto [key, seq] = seqs.add(r);
  auto k = std::stoi(key.substr(1));
  auto i = seq * keys + k;
  if (k % 5 == 0 && r.partition != (k / 5) % 4) ++seqs.bad;
  auto h = r.header_value("i");
  if ((i % 97 == 0) != h.has_value() || (h && *h != std::to_string(i)))
    ++seqs.bad;
  if (i % 101 == 0 && r.timestamp != base_ms + i) ++seqs.bad;
}

uint64_t mixed_records::wrong(const std::vector<record>& got, int n) const {
  key_sequences seqs;
  for (auto& r : got)
    check(seqs, r);
  for (int k = 0; k < keys && k < n; ++k) {
    auto it = seqs.last.find("k" + std::to_string(k));
    auto last = (n - 1 - k) / keys; // the sequence of key k's last record
    if (it == seqs.last.end() || it->second != last) ++seqs.bad;
  }
  return seqs.bad;
}

} // namespace flow::kafka::test

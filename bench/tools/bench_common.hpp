// Shared pieces of the Kafka benchmark tools (bench/README.md): the
// deterministic input generator, the workload logic (W1, W2) used to compute
// expected outputs, the order-independent checksums, small librdkafka RAII
// helpers and a tiny command-line parser.
//
// The generator is random access: event(i) depends only on (seed, i), so the
// verifier can re-derive the input record behind any output record.
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench.pb.h"
#include "uniform_keys.hpp"

namespace flow::bench {

// --- hashing -----------------------------------------------------------------

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t hash_bytes(const void* data, size_t n) {
  // FNV-1a, finalized with splitmix64.
  auto p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return splitmix64(h ^ n);
}

inline uint64_t hash_str(std::string_view s) {
  return hash_bytes(s.data(), s.size());
}

// Combines field hashes in a fixed order.
inline uint64_t combine(uint64_t h, uint64_t v) {
  return splitmix64(h ^ (v + 0x632be59bd9b4e019ULL));
}

inline std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// --- generator ---------------------------------------------------------------

constexpr int kUsers = 100000; // distinct user_id values
constexpr int64_t kBaseTs =
    1700000000000;                   // ts_ms of preloaded records: base + id
constexpr size_t kRecordBytes = 100; // target serialized Event size

class zipf_table {
public:
  zipf_table(int n, double s) : cdf_(n) {
    double sum = 0;
    for (int k = 1; k <= n; ++k)
      sum += 1.0 / std::pow(k, s);
    double acc = 0;
    for (int k = 1; k <= n; ++k) {
      acc += 1.0 / std::pow(k, s) / sum;
      cdf_[k - 1] = acc;
    }
    cdf_.back() = 1.0;
  }
  // rank in 1..n for a uniform u in [0,1)
  int rank(double u) const {
    return int(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()) +
           1;
  }

private:
  std::vector<double> cdf_;
};

inline const zipf_table& users_zipf() {
  static const zipf_table t(kUsers, 1.0);
  return t;
}

inline uint64_t field_rand(uint64_t seed, int64_t id, uint64_t field) {
  return splitmix64(splitmix64(seed ^ (uint64_t(id) * 0x9e3779b97f4a7c15ULL)) +
                    field);
}

inline double unit(uint64_t r) {
  return double(r >> 11) * 0x1.0p-53;
}

/// The user_id ranks of the input. By default (W0-W5) Zipf(1.0) over kUsers,
/// drawn from the seed. With K uniform keys (W6, `--keys K`) uniform_keys'
/// ranks, independent of the seed.
class user_keys {
public:
  user_keys() = default;
  explicit user_keys(int64_t uniform) {
    if (uniform < 1 || uniform > uniform_keys::max_keys)
      throw std::runtime_error("--keys: expected 1.." +
                               std::to_string(uniform_keys::max_keys) +
                               ", got " + std::to_string(uniform));
    uniform_.emplace(uniform);
  }

  /// Rank (1-based) of the user_id of input record `id`.
  int64_t rank(uint64_t seed, int64_t id) const {
    if (!uniform_) return users_zipf().rank(unit(field_rand(seed, id, 1)));
    return uniform_->rank(id);
  }

  /// The largest rank rank() returns.
  int64_t max_rank() const { return uniform_ ? uniform_->keys() : kUsers; }

private:
  std::optional<uniform_keys> uniform_; // none: Zipf over kUsers
};

// Fills `e` with input record `id` (ts_ms = kBaseTs + id; callers may
// overwrite it and call pad() again).
inline void make_event(uint64_t seed, int64_t id, Event& e,
                       const user_keys& keys = user_keys()) {
  e.Clear();
  e.set_id(id);
  e.set_ts_ms(kBaseTs + id);
  e.set_user_id("u" + std::to_string(keys.rank(seed, id)));
  e.set_page("/p/" + std::to_string(field_rand(seed, id, 2) % 1000));
  e.set_event_type(int32_t(field_rand(seed, id, 3) % 3));
  e.set_value(int64_t(field_rand(seed, id, 4) % 1000000));
}

// Sets payload so that the serialized size is about kRecordBytes.
inline void pad(Event& e) {
  e.clear_payload();
  size_t s = e.ByteSizeLong();
  size_t n = s + 2 < kRecordBytes ? kRecordBytes - s - 2 : 0;
  std::string p(n, '\0');
  for (size_t i = 0; i < n; ++i)
    p[i] = char('a' + (i * 7 + size_t(e.id())) % 26);
  e.set_payload(std::move(p));
}

// --- workload logic (the reference every system must match)
// ---------------------

// W1: keep iff id % 2 == 0; value = value * 3 + 1; page = page + "!";
// Kafka key = user_id. Returns false if the record is dropped.
inline bool w1_transform(Event& e) {
  if (e.id() % 2 != 0) return false;
  e.set_value(e.value() * 3 + 1);
  e.mutable_page()->append("!");
  return true;
}

// Checksum terms of one output record.
inline uint64_t w0_term(const void* key, size_t klen, const void* val,
                        size_t vlen) {
  return combine(combine(0x57, hash_bytes(key, klen)), hash_bytes(val, vlen));
}
inline uint64_t w1_term(std::string_view kafka_key, const Event& e) {
  uint64_t h = combine(0x31, hash_str(kafka_key));
  h = combine(h, hash_str(e.user_id()));
  h = combine(h, uint64_t(e.id()));
  h = combine(h, uint64_t(e.value()));
  h = combine(h, hash_str(e.page()));
  return h;
}
inline uint64_t w2_term(std::string_view kafka_key, std::string_view key,
                        int64_t count) {
  uint64_t h = combine(0x32, hash_str(kafka_key));
  h = combine(h, hash_str(key));
  return combine(h, uint64_t(count));
}

// --- W3: the Yahoo Streaming Benchmark
// ------------------------------------------- Ad events in event time: 100
// events per ms (10^6 per 10 s window), each up to kYsbMaxDisorderMs behind its
// position; record i goes to partition i % partitions, so within a partition
// event time is ordered up to that disorder. Ad "ad-<a>" belongs to campaign
// "campaign-<a / 10>".
constexpr int64_t kYsbEventsPerMs = 100;
constexpr int64_t kYsbMaxDisorderMs = 500; // watermark bound of every system
constexpr int64_t kYsbWindowMs = 10000;
constexpr int kYsbAdsPerCampaign = 10;
constexpr int kYsbCampaigns = 100;

inline std::string uuid_like(uint64_t a, uint64_t b) {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012" PRIx64,
                uint32_t(a >> 32), uint32_t(a >> 16) & 0xffff,
                uint32_t(a) & 0xffff, uint32_t(b >> 48),
                uint64_t(b & 0xffffffffffffULL));
  return buf;
}

// Fills `e` with W3 input record `id`.
inline void make_ad_event(uint64_t seed, int64_t id, AdEvent& e) {
  static const char* const ad_types[] = {"banner", "modal", "sponsored-search",
                                         "mail", "mobile"};
  static const char* const event_types[] = {"view", "click", "purchase"};
  e.Clear();
  e.set_id(id);
  auto disorder = int64_t(field_rand(seed, id, 11) % kYsbMaxDisorderMs);
  e.set_event_time_ms(kBaseTs + id / kYsbEventsPerMs - disorder);
  auto user = field_rand(seed, id, 12) % kUsers;
  e.set_user_id(uuid_like(splitmix64(user), splitmix64(user + 1)));
  auto page = field_rand(seed, id, 13) % 1000;
  e.set_page_id(uuid_like(splitmix64(page ^ 0xabc), splitmix64(page)));
  e.set_ad_id("ad-" + std::to_string(field_rand(seed, id, 14) %
                                     (kYsbCampaigns * kYsbAdsPerCampaign)));
  e.set_ad_type(ad_types[field_rand(seed, id, 15) % 5]);
  e.set_event_type(event_types[field_rand(seed, id, 16) % 3]);
  auto ip = uint32_t(field_rand(seed, id, 17));
  e.set_ip_address(
      std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
      std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255));
}

// The campaign of ad number `ad` ("ad-<a>" -> "campaign-<a/10>"): the
// static table every system builds at start.
inline std::string ysb_campaign_of_ad(int ad) {
  return "campaign-" + std::to_string(ad / kYsbAdsPerCampaign);
}

// Checksum term of one W3 output record.
inline uint64_t w3_term(std::string_view kafka_key, std::string_view campaign,
                        int64_t window_start, int64_t count) {
  uint64_t h = combine(0x33, hash_str(kafka_key));
  h = combine(h, hash_str(campaign));
  h = combine(h, uint64_t(window_start));
  return combine(h, uint64_t(count));
}

// --- command line ------------------------------------------------------------

// Accepts --key=value, --key value and bare --flag (value "true").
class args {
public:
  args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0)
        throw std::runtime_error("unexpected argument: " + a);
      a = a.substr(2);
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        kv_[a.substr(0, eq)] = a.substr(eq + 1);
      } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        kv_[a] = argv[++i];
      } else {
        kv_[a] = "true";
      }
    }
  }
  bool has(const std::string& k) const { return kv_.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def = "") const {
    auto it = kv_.find(k);
    return it == kv_.end() ? def : it->second;
  }
  std::string need(const std::string& k) const {
    auto it = kv_.find(k);
    if (it == kv_.end()) throw std::runtime_error("missing --" + k);
    return it->second;
  }
  int64_t num(const std::string& k, int64_t def) const {
    auto it = kv_.find(k);
    if (it == kv_.end()) return def;
    try {
      size_t pos = 0;
      double d = std::stod(it->second, &pos); // accepts 1e6
      if (pos != it->second.size()) throw std::invalid_argument("");
      return int64_t(d);
    } catch (...) {
      throw std::runtime_error("--" + k + ": expected a number, got '" +
                               it->second + "'");
    }
  }
  bool flag(const std::string& k) const {
    auto v = str(k, "false");
    return v == "true" || v == "1" || v == "yes";
  }
  const std::map<std::string, std::string>& all() const { return kv_; }

private:
  std::map<std::string, std::string> kv_;
};

/// The input's user_id ranks of a command line: `--keys K` (W6) or Zipf.
inline user_keys user_keys_option(const args& a) {
  return a.has("keys") ? user_keys(a.num("keys", 0)) : user_keys();
}

// --- librdkafka RAII
// -----------------------------------------------------------

struct kafka_deleter {
  void operator()(rd_kafka_t* rk) const {
    if (rk) rd_kafka_destroy(rk);
  }
};
struct conf_deleter {
  void operator()(rd_kafka_conf_t* c) const {
    if (c) rd_kafka_conf_destroy(c);
  }
};
struct tpl_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    if (l) rd_kafka_topic_partition_list_destroy(l);
  }
};
struct message_deleter {
  void operator()(rd_kafka_message_t* m) const {
    if (m) rd_kafka_message_destroy(m);
  }
};
struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* m) const {
    if (m) rd_kafka_metadata_destroy(m);
  }
};
struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const {
    if (q) rd_kafka_queue_destroy(q);
  }
};
struct event_deleter {
  void operator()(rd_kafka_event_t* e) const {
    if (e) rd_kafka_event_destroy(e);
  }
};
using kafka_ptr = std::unique_ptr<rd_kafka_t, kafka_deleter>;
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using tpl_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, tpl_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;
using metadata_ptr =
    std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;

inline conf_ptr
make_conf(const std::vector<std::pair<std::string, std::string>>& kv) {
  conf_ptr c(rd_kafka_conf_new());
  char err[512];
  for (auto& [k, v] : kv)
    if (rd_kafka_conf_set(c.get(), k.c_str(), v.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK)
      throw std::runtime_error("kafka config " + k + "=" + v + ": " + err);
  return c;
}

// Applies --kafka.X=Y overrides (X is a librdkafka property) on top of `kv`.
inline void add_overrides(std::vector<std::pair<std::string, std::string>>& kv,
                          const args& a, const std::string& prefix) {
  for (auto& [k, v] : a.all())
    if (k.rfind(prefix, 0) == 0 && k != "kafka.bootstrap")
      kv.emplace_back(k.substr(prefix.size()), v);
}

inline kafka_ptr make_client(rd_kafka_type_t type, conf_ptr conf) {
  char err[512];
  kafka_ptr rk(rd_kafka_new(type, conf.get(), err, sizeof err));
  if (!rk) throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  conf.release(); // owned by rk now
  return rk;
}

inline int partition_count(rd_kafka_t* rk, const std::string& topic,
                           int timeout_ms = 10000) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    auto* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    auto e = rd_kafka_metadata(rk, 0, t, &md, 5000);
    rd_kafka_topic_destroy(t);
    metadata_ptr m(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && m->topic_cnt == 1 &&
        m->topics[0].err == 0 && m->topics[0].partition_cnt > 0)
      return m->topics[0].partition_cnt;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("no metadata for topic " + topic);
    rd_kafka_poll(rk, 100);
  }
}

// High watermarks of every partition of `topic`.
inline std::vector<int64_t>
high_watermarks(rd_kafka_t* rk, const std::string& topic, int parts) {
  std::vector<int64_t> hw(parts);
  for (int p = 0; p < parts; ++p) {
    int64_t lo = 0, hi = 0;
    auto e =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 10000);
    if (e)
      throw std::runtime_error("watermarks of " + topic + ": " +
                               rd_kafka_err2str(e));
    hw[p] = hi;
  }
  return hw;
}

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double mono_s() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace flow::bench

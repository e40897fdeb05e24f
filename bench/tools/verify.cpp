// flow_bench_verify: reads an output topic from the beginning and checks it.
//
//   flow_bench_verify --bootstrap B --topic OUT --workload W0|W1|W2|W3|W4|W5
//       [--records N]            input size: ids must be < N (W1, W4, W5)
//       [--seed S]               generator seed of the input (default 42)
//       [--keys K]               the input's uniform keys (as the loader's)
//       [--expect-count C]       stop once C records arrived and the topic end
//                                (re-queried then) is reached; ok needs count
//                                == C
//       [--expect-checksum X]    ok needs checksum == X (hex)
//       [--idle-ms 10000]        stop after this long without a record
//       [--max-ms 0]             overall deadline (0: none)
//       [--tail 1]               started before the records exist: no end
//                                offsets, stop after --idle-ms without a
//                                record once one arrived (or --max-ms)
//       [--latency-dump FILE]    W1-type outputs: "id latency_ms" per record,
//                                latency = this consumer's receipt (wall
//                                clock) - ts_ms: with read_committed and
//                                --tail, the time to visibility
//       [--append-dump FILE]     W0 and W1-type: "id append_ms" per record,
//                                its broker timestamp (bench/run joins an
//                                input's and an output's: the system's
//                                own latency, without the loader's leg)
//       [--latency-from-id W]    W0 and W1-type outputs: latency percentiles
//                                over ids >= W
//
//   flow_bench_verify --own-latency IN_DUMP --own-latency-out OUT_DUMP
//       [--latency-from-id W]
//       joins two --append-dump files by id: percentiles of output append -
//       input append over ids >= W (the system's own latency); no broker.
//
// Without --expect-count it reads up to the end offsets found at start.
//
// Per-record checks (W1, W4, W5): the record parses, its id is even and < N,
// and it equals the W1 transform of input record `id` (re-generated: the
// generator is random access), Kafka key = user_id; duplicates are counted.
// W2: the record parses as Count and key = Kafka key. W3: the record parses
// as CampaignWindowCount, key = campaign_id, count >= 1, window start on a
// 10 s boundary, each (campaign, window) once (else a duplicate). The
// checksum (sum of 64-bit hashes, order independent) covers W0 (raw bytes),
// W1 (key, user_id, id, value, page), W2 (key, Count.key, count) and W3
// (key, campaign_id, window_start_ms, count).
//
// Timestamps are the records' broker timestamps (bench/run creates output
// topics with message.timestamp.type=LogAppendTime). Latency = broker append
// time of the output record - ts_ms stamped by the producer before sending
// the input record (both epoch ms, same host clock).
//
// Prints one JSON object; exit 0 if ok, 3 if the output is wrong or
// incomplete, 1 on errors.
#include <set>
#include <unordered_set>

#include "bench_common.hpp"

#include <cerrno>
#include <cstring>
#include <unordered_map>

using namespace flow::bench;

namespace {

std::string pct(std::vector<int64_t>& v, double q) {
  if (v.empty()) return "null";
  size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return std::to_string(v[k]);
}

using file_ptr = std::unique_ptr<FILE, int (*)(FILE*)>;

/// fopen(path, mode); throws naming `option` if it fails.
file_ptr open_path(const std::string& path, const char* mode,
                   const std::string& option) {
  file_ptr f(std::fopen(path.c_str(), mode), std::fclose);
  if (!f)
    throw std::runtime_error(option + ": cannot open " + path + ": " +
                             std::strerror(errno));
  return f;
}

/// The file that option --`key` names, opened with `mode`; null if the
/// option is not given.
file_ptr open_file(const args& a, const std::string& key, const char* mode) {
  auto path = a.str(key);
  if (path.empty()) return file_ptr(nullptr, std::fclose);
  return open_path(path, mode, "--" + key);
}

std::string percentiles_json(std::vector<int64_t>& lat) {
  size_t n = lat.size();
  std::string p50 = pct(lat, 0.50), p99 = pct(lat, 0.99),
              p999 = pct(lat, 0.999);
  std::string mx =
      n ? std::to_string(*std::max_element(lat.begin(), lat.end())) : "null";
  return "{\"n\": " + std::to_string(n) + ", \"p50_ms\": " + p50 +
         ", \"p99_ms\": " + p99 + ", \"p999_ms\": " + p999 +
         ", \"max_ms\": " + mx + "}";
}

/// --own-latency IN OUT: per id (>= from), OUT's append time - IN's.
int own_latency(const std::string& in_path, const std::string& out_path,
                int64_t from) {
  std::unordered_map<int64_t, int64_t> appended;
  int64_t id = 0, ts = 0;
  auto in = open_path(in_path, "r", "--own-latency");
  while (std::fscanf(in.get(), "%" SCNd64 " %" SCNd64, &id, &ts) == 2)
    if (id >= from) appended[id] = ts;
  auto out = open_path(out_path, "r", "--own-latency-out");
  std::vector<int64_t> lat;
  while (std::fscanf(out.get(), "%" SCNd64 " %" SCNd64, &id, &ts) == 2)
    if (auto it = appended.find(id); it != appended.end())
      lat.push_back(ts - it->second);
  std::printf("{\"own_latency\": %s}\n", percentiles_json(lat).c_str());
  return 0;
}

int run(const args& a) {
  if (a.has("own-latency"))
    return own_latency(a.need("own-latency"), a.need("own-latency-out"),
                       a.num("latency-from-id", 0));
  std::string topic = a.need("topic");
  std::string w = a.need("workload");
  bool w1 = w == "W1" || w == "W4" || w == "W5";
  bool w2 = w == "W2";
  bool w3 = w == "W3";
  if (!w1 && !w2 && !w3 && w != "W0")
    throw std::runtime_error("--workload: expected W0, W1, W2, W3, W4 or W5");
  int64_t records = a.num("records", 0);
  uint64_t seed = uint64_t(a.num("seed", 42));
  auto keys = user_keys_option(a);
  int64_t expect_count = a.num("expect-count", -1);
  std::string expect_sum = a.str("expect-checksum");
  int64_t idle_ms = a.num("idle-ms", 10000);
  int64_t max_ms = a.num("max-ms", 0);
  int64_t lat_from = a.num("latency-from-id", -1);
  bool tail = a.num("tail", 0) != 0;
  auto append_dump = open_file(a, "append-dump", "w");
  auto dump = open_file(a, "latency-dump", "w");

  std::vector<std::pair<std::string, std::string>> kv = {
      {"bootstrap.servers", a.need("bootstrap")},
      {"group.id", "flow-bench-verify"},
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "false"},
      {"fetch.max.bytes", "52428800"},
      {"max.partition.fetch.bytes", "4194304"},
      {"queued.min.messages", "10000000"},
      {"queued.max.messages.kbytes", "1000000"},
  };
  add_overrides(kv, a, "consumer.");
  auto rk = make_client(RD_KAFKA_CONSUMER, make_conf(kv));
  int parts = partition_count(rk.get(), topic);
  // A tail starts as the topic is created: its leader may not be known yet
  // (and it needs no end offsets).
  std::vector<int64_t> target = tail ? std::vector<int64_t>(size_t(parts), 0)
                                     : high_watermarks(rk.get(), topic, parts);
  bool target_final = expect_count < 0 && !tail;
  tpl_ptr tl(rd_kafka_topic_partition_list_new(parts));
  for (int p = 0; p < parts; ++p)
    rd_kafka_topic_partition_list_add(tl.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  if (auto err = rd_kafka_assign(rk.get(), tl.get()))
    throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));

  std::vector<int64_t> next(parts, 0);
  std::vector<bool> seen_ids(size_t(std::max<int64_t>(records, 0)), false);
  std::unordered_set<int64_t> seen_extra;
  std::vector<int64_t> lat;
  int64_t count = 0, invalid = 0, dups = 0, first_ts = INT64_MAX,
          last_ts = INT64_MIN;
  int64_t not_append_time = 0;
  uint64_t sum = 0;
  std::string first_problem;
  auto problem = [&](const std::string& s) {
    ++invalid;
    if (first_problem.empty()) first_problem = s;
  };
  Event e, ref;
  Count c;
  CampaignWindowCount wc;
  std::set<std::pair<std::string, int64_t>> windows_seen;
  double t_start = mono_s(), t_last = t_start;
  std::string stop_reason;

  auto reached = [&] {
    for (int p = 0; p < parts; ++p)
      if (next[p] < target[p]) return false;
    return true;
  };

  for (;;) {
    if (target_final && reached()) {
      stop_reason = "end";
      break;
    }
    double now = mono_s();
    if ((!tail || count > 0) && (now - t_last) * 1000 > double(idle_ms)) {
      stop_reason = "idle";
      break;
    }
    if (max_ms > 0 && (now - t_start) * 1000 > double(max_ms)) {
      stop_reason = "deadline";
      break;
    }
    message_ptr m(rd_kafka_consumer_poll(rk.get(), 200));
    if (!m) continue;
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      throw std::runtime_error(std::string("consume: ") +
                               rd_kafka_message_errstr(m.get()));
    }
    t_last = mono_s();
    next[size_t(m->partition)] = m->offset + 1;
    ++count;
    rd_kafka_timestamp_type_t tst;
    int64_t ts = rd_kafka_message_timestamp(m.get(), &tst);
    if (tst != RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME) ++not_append_time;
    first_ts = std::min(first_ts, ts);
    last_ts = std::max(last_ts, ts);
    std::string_view key(static_cast<const char*>(m->key),
                         m->key ? m->key_len : 0);
    if (w == "W0") {
      sum += w0_term(m->key, m->key ? m->key_len : 0, m->payload, m->len);
      // W0 as W4's floor: the input passed through unchanged.
      bool parsed = (lat_from >= 0 || append_dump) &&
                    e.ParseFromArray(m->payload, int(m->len));
      if (parsed && lat_from >= 0 && e.id() >= lat_from)
        lat.push_back(ts - e.ts_ms());
      if (parsed && append_dump)
        std::fprintf(append_dump.get(), "%" PRId64 " %" PRId64 "\n", e.id(),
                     ts);
    } else if (w1) {
      if (!e.ParseFromArray(m->payload, int(m->len))) {
        problem("unparsable Event at offset " + std::to_string(m->offset));
        continue;
      }
      sum += w1_term(key, e);
      int64_t id = e.id();
      if (records > 0 && (id < 0 || id >= records)) {
        problem("id out of range: " + std::to_string(id));
        continue;
      }
      make_event(seed, id, ref, keys);
      bool keep = w1_transform(ref);
      if (!keep || e.user_id() != ref.user_id() || e.page() != ref.page() ||
          e.value() != ref.value() || e.event_type() != ref.event_type() ||
          key != ref.user_id()) {
        problem("record id " + std::to_string(id) +
                " differs from the W1 transform of its input");
        continue;
      }
      bool dup;
      if (records > 0) {
        dup = seen_ids[size_t(id)];
        seen_ids[size_t(id)] = true;
      } else {
        dup = !seen_extra.insert(id).second;
      }
      dups += dup;
      if (lat_from >= 0 && id >= lat_from) lat.push_back(ts - e.ts_ms());
      if (dump)
        std::fprintf(dump.get(), "%" PRId64 " %" PRId64 "\n", id,
                     now_ms() - e.ts_ms());
      if (append_dump)
        std::fprintf(append_dump.get(), "%" PRId64 " %" PRId64 "\n", id, ts);
    } else if (w3) {
      if (!wc.ParseFromArray(m->payload, int(m->len))) {
        problem("unparsable CampaignWindowCount at offset " +
                std::to_string(m->offset));
        continue;
      }
      if (wc.campaign_id() != key || wc.count() < 1 ||
          wc.window_start_ms() % kYsbWindowMs != 0)
        problem("bad window count for campaign " + wc.campaign_id());
      sum += w3_term(key, wc.campaign_id(), wc.window_start_ms(), wc.count());
      dups +=
          !windows_seen.emplace(wc.campaign_id(), wc.window_start_ms()).second;
    } else {
      if (!c.ParseFromArray(m->payload, int(m->len))) {
        problem("unparsable Count at offset " + std::to_string(m->offset));
        continue;
      }
      if (c.key() != key || c.count() < 1)
        problem("bad Count for key " + c.key());
      sum += w2_term(key, c.key(), c.count());
    }
    if (!target_final && expect_count >= 0 && count >= expect_count) {
      // Expected count reached: read on to the current end to catch extras.
      target = high_watermarks(rk.get(), topic, parts);
      target_final = true;
    }
  }
  double read_s = mono_s() - t_start;
  rd_kafka_consumer_close(rk.get());

  bool ok = invalid == 0 && dups == 0 && count > 0;
  if (expect_count >= 0 && count != expect_count) ok = false;
  if (!expect_sum.empty() && expect_sum != hex64(sum)) ok = false;
  std::string latency = "null";
  if (lat_from >= 0) latency = percentiles_json(lat);
  std::string esc;
  for (char ch : first_problem)
    esc += (ch == '"' || ch == '\\') ? ' ' : ch;
  std::printf("{\"topic\": \"%s\", \"workload\": \"%s\", \"ok\": %s, "
              "\"count\": %" PRId64
              ", \"checksum\": \"%s\", \"expect_count\": %" PRId64
              ", \"expect_checksum\": \"%s\", \"invalid\": %" PRId64
              ", \"duplicates\": %" PRId64 ", \"not_log_append_time\": %" PRId64
              ", \"first_ts_ms\": %" PRId64 ", \"last_ts_ms\": %" PRId64
              ", \"read_seconds\": %.3f, \"stop\": \"%s\", \"first_problem\": "
              "\"%s\", \"latency\": %s}\n",
              topic.c_str(), w.c_str(), ok ? "true" : "false", count,
              hex64(sum).c_str(), expect_count, expect_sum.c_str(), invalid,
              dups, not_append_time, count ? first_ts : 0, count ? last_ts : 0,
              read_s, stop_reason.c_str(), esc.c_str(), latency.c_str());
  return ok ? 0 : 3;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(args(argc, argv));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "flow_bench_verify: %s\n", ex.what());
    return 1;
  }
}

// flow_bench_load: topic creation, deterministic input preload, fixed-rate
// producer (W4) and the expected output of a workload.
//
// clang-format off
//   flow_bench_load --bootstrap B --create T1,T2 [--partitions 8] [--log-append-time]
//   flow_bench_load --bootstrap B --delete T1,T2
//   flow_bench_load --bootstrap B --warm-broker
//   flow_bench_load --bootstrap B --topic T --records N [--seed S]
//   flow_bench_load --bootstrap B --topic T --rate R --seconds D [--seed S]
//       [--warmup-topic OUT] [--warmup-rate 1000] [--warmup-extra-s 3] [--warmup-max-s 180]
//   flow_bench_load --expect --workload W0|W1|W2|W3 --records N [--seed S]
// clang-format on
//
// Preload and --expect take --keys K (W6): user_id is then one of exactly K
// uniform keys (user_keys in bench_common.hpp) instead of Zipf over 10^5;
// the same K must be given to both.
//
// Preload and rate mode write flow.bench.Event records; with --workload W3
// preload writes flow.bench.AdEvent records (the YSB input) instead.
//
// Every mode prints one JSON object on stdout; errors go to stderr, exit 1.
//
// Input record i goes to partition i % partitions, without a Kafka key.
// Rate mode makes its records first (without ts_ms) and appends ts_ms just
// before each produce call. With --warmup-topic it
// first produces at --warmup-rate until a record shows up on that (output)
// topic, i.e. the system under test is running, then --warmup-extra-s at the
// target rate, then the measured --seconds. Record ids stay consecutive from 0;
// the JSON reports warmup_records (ids below it are warm-up).
#include <thread>
#include <unordered_map>

#include "bench_common.hpp"

#include <google/protobuf/io/coded_stream.h>

using namespace flow::bench;

namespace {

struct delivery_stats {
  int64_t ok = 0;
  int64_t failed = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<delivery_stats*>(opaque);
  if (m->err) {
    if (st->failed++ == 0) st->first_error = rd_kafka_err2str(m->err);
  } else {
    st->ok++;
  }
}

kafka_ptr make_producer(const args& a, delivery_stats& st,
                        const std::string& linger) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"bootstrap.servers", a.need("bootstrap")},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", linger},
      {"batch.size", "1000000"},
      {"batch.num.messages", "100000"},
      {"queue.buffering.max.messages", "1000000"},
      {"queue.buffering.max.kbytes", "1048576"},
      {"compression.type", "none"},
  };
  add_overrides(kv, a, "producer.");
  auto conf = make_conf(kv);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), &st);
  return make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

void produce_one(rd_kafka_t* rk, const std::string& topic, int32_t part,
                 const std::string& v) {
  for (;;) {
    auto e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(part),
        RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(e));
    rd_kafka_poll(rk, 5);
  }
}

void finish(rd_kafka_t* rk, delivery_stats& st) {
  while (rd_kafka_outq_len(rk) > 0)
    rd_kafka_flush(rk, 1000);
  if (st.failed)
    throw std::runtime_error(std::to_string(st.failed) +
                             " records failed: " + st.first_error);
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> names;
  std::string cur;
  for (char c : list + ",") {
    if (c == ',') {
      if (!cur.empty()) names.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return names;
}

/// The result event of an admin request sent to `q`, after a request-level
/// error check (per-topic results are the caller's).
event_ptr admin_result(rd_kafka_queue_t* q, const char* what) {
  event_ptr ev(rd_kafka_queue_poll(q, 30000));
  if (!ev) throw std::runtime_error(std::string(what) + ": timeout");
  if (rd_kafka_event_error(ev.get()))
    throw std::runtime_error(std::string(what) + ": " +
                             rd_kafka_event_error_string(ev.get()));
  return ev;
}

int create_topics(const args& a) {
  auto conf = make_conf({{"bootstrap.servers", a.need("bootstrap")}});
  auto rk = make_client(RD_KAFKA_PRODUCER, std::move(conf));
  int parts = int(a.num("partitions", 8));
  std::vector<std::string> names = split_names(a.need("create"));
  std::vector<rd_kafka_NewTopic_t*> nts;
  char err[512];
  for (auto& n : names) {
    auto* nt = rd_kafka_NewTopic_new(n.c_str(), parts, 1, err, sizeof err);
    if (!nt) throw std::runtime_error(std::string("NewTopic: ") + err);
    if (a.flag("log-append-time"))
      rd_kafka_NewTopic_set_config(nt, "message.timestamp.type",
                                   "LogAppendTime");
    nts.push_back(nt);
  }
  queue_ptr q(rd_kafka_queue_new(rk.get()));
  rd_kafka_CreateTopics(rk.get(), nts.data(), nts.size(), nullptr, q.get());
  rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
  event_ptr ev = admin_result(q.get(), "CreateTopics");
  auto* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t cnt = 0;
  auto** tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
  for (size_t i = 0; i < cnt; ++i) {
    auto e = rd_kafka_topic_result_error(tr[i]);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      std::fprintf(stderr, "flow_bench_load: topic %s already exists\n",
                   rd_kafka_topic_result_name(tr[i]));
    } else if (e) {
      throw std::runtime_error(std::string("create ") +
                               rd_kafka_topic_result_name(tr[i]) + ": " +
                               rd_kafka_topic_result_error_string(tr[i]));
    }
  }
  // Wait until the metadata shows every topic with its partitions.
  for (auto& n : names)
    partition_count(rk.get(), n, 30000);
  std::printf("{\"created\": %zu, \"partitions\": %d}\n", names.size(), parts);
  return 0;
}

/// Deletes topics a run no longer reads, so that a full run's data (tens
/// of GB at W4's higher loads) does not fill the disk.
int delete_topics(const args& a) {
  auto conf = make_conf({{"bootstrap.servers", a.need("bootstrap")}});
  auto rk = make_client(RD_KAFKA_PRODUCER, std::move(conf));
  std::vector<std::string> names = split_names(a.need("delete"));
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (auto& n : names)
    dts.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  queue_ptr q(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteTopics(rk.get(), dts.data(), dts.size(), nullptr, q.get());
  rd_kafka_DeleteTopic_destroy_array(dts.data(), dts.size());
  event_ptr ev = admin_result(q.get(), "DeleteTopics");
  auto* res = rd_kafka_event_DeleteTopics_result(ev.get());
  size_t cnt = 0;
  auto** tr = rd_kafka_DeleteTopics_result_topics(res, &cnt);
  for (size_t i = 0; i < cnt; ++i)
    if (auto e = rd_kafka_topic_result_error(tr[i]))
      throw std::runtime_error(std::string("delete ") +
                               rd_kafka_topic_result_name(tr[i]) + ": " +
                               rd_kafka_err2str(e));
  std::printf("{\"deleted\": %zu}\n", names.size());
  return 0;
}

/// A fresh broker creates its internal topics on first use:
/// __transaction_state (50 partitions) when the first transactional producer
/// starts, __consumer_offsets when the first group looks up its coordinator.
/// The first such client waits for that (init_transactions 562 ms against
/// 17 ms for the next one, 2026-12-04); a broker in service has both topics.
/// Warming makes no row pay it for being first.
int warm_broker(const args& a) {
  const std::string id = "flow-bench-warm";
  double t0 = mono_s();
  auto rk = make_client(RD_KAFKA_PRODUCER,
                        make_conf({{"bootstrap.servers", a.need("bootstrap")},
                                   {"transactional.id", id}}));
  if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk.get(), 60000)) {
    std::string what = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    throw std::runtime_error("init_transactions: " + what);
  }
  double transactions_s = mono_s() - t0;
  auto c = make_client(RD_KAFKA_CONSUMER,
                       make_conf({{"bootstrap.servers", a.need("bootstrap")},
                                  {"group.id", id}}));
  tpl_ptr parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), id.c_str(), 0);
  // Offsets of a topic that does not exist: only the coordinator matters.
  if (auto e = rd_kafka_committed(c.get(), parts.get(), 60000))
    throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(e));
  rd_kafka_consumer_close(c.get());
  std::printf("{\"transactions_s\": %.3f, \"groups_s\": %.3f}\n",
              transactions_s, mono_s() - t0 - transactions_s);
  return 0;
}

int preload(const args& a) {
  std::string topic = a.need("topic");
  int64_t n = a.num("records", 1000000);
  uint64_t seed = uint64_t(a.num("seed", 42));
  delivery_stats st;
  bool ysb = a.str("workload") == "W3";
  auto keys = user_keys_option(a);
  auto rk = make_producer(a, st, "20");
  int parts = partition_count(rk.get(), topic);
  double t0 = mono_s();
  Event e;
  AdEvent ad;
  std::string buf;
  for (int64_t i = 0; i < n; ++i) {
    if (ysb) {
      make_ad_event(seed, i, ad);
      ad.SerializeToString(&buf);
    } else {
      make_event(seed, i, e, keys);
      pad(e);
      e.SerializeToString(&buf);
    }
    produce_one(rk.get(), topic, int32_t(i % parts), buf);
    if ((i & 1023) == 0) rd_kafka_poll(rk.get(), 0);
  }
  finish(rk.get(), st);
  double dt = mono_s() - t0;
  std::printf("{\"topic\": \"%s\", \"records\": %" PRId64
              ", \"partitions\": %d, \"seconds\": %.3f}\n",
              topic.c_str(), n, parts, dt);
  return 0;
}

int rate_mode(const args& a) {
  std::string topic = a.need("topic");
  double rate = double(a.num("rate", 10000));
  double seconds = double(a.num("seconds", 10));
  uint64_t seed = uint64_t(a.num("seed", 42));
  delivery_stats st;
  auto rk = make_producer(a, st, a.str("linger-ms", "1"));
  int parts = partition_count(rk.get(), topic);

  // Records are made before the timed part, without ts_ms: stamping one
  // (ts_ms appended as a last field, which Protobuf parsers take as its
  // value) must cost far less than making one, or the loader, on CPU 0
  // with the broker, cannot offer the high rates.
  double warm_rate = double(a.num("warmup-rate", 1000));
  double max_warm_s =
      a.has("warmup-topic") ? double(a.num("warmup-max-s", 180)) : 0.0;
  double extra_s =
      a.has("warmup-topic") ? double(a.num("warmup-extra-s", 3)) : 0.0;
  auto prebuilt =
      int64_t(warm_rate * max_warm_s + rate * (extra_s + seconds) * 1.05) +
      1000;
  std::string pool;
  pool.reserve(size_t(prebuilt) * (kRecordBytes + 4));
  std::vector<uint64_t> ends;
  ends.reserve(size_t(prebuilt));
  {
    Event e;
    std::string one;
    for (int64_t i = 0; i < prebuilt; ++i) {
      make_event(seed, i, e);
      e.set_ts_ms(now_ms()); // padding as for a stamped record
      pad(e);
      e.clear_ts_ms();
      e.SerializeToString(&one);
      pool += one;
      ends.push_back(pool.size());
    }
  }

  int64_t id = 0;
  Event e;
  std::string buf;
  auto send = [&] {
    if (id < prebuilt) {
      auto begin = id == 0 ? 0 : ends[size_t(id - 1)];
      buf.assign(pool, begin, ends[size_t(id)] - begin);
    } else {
      make_event(seed, id, e);
      e.set_ts_ms(now_ms());
      pad(e);
      e.clear_ts_ms();
      e.SerializeToString(&buf);
    }
    // Field 2 (ts_ms), wire type varint.
    uint8_t stamp[1 + 10]; // tag + the longest 64-bit varint
    stamp[0] = 0x10;
    auto* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(
        uint64_t(now_ms()), stamp + 1);
    buf.append(reinterpret_cast<const char*>(stamp), size_t(end - stamp));
    produce_one(rk.get(), topic, int32_t(id % parts), buf);
    ++id;
  };
  // Sends at `r` records/s for `dur` seconds or until stop() is true.
  auto paced = [&](double r, double dur, auto&& stop) {
    double t0 = mono_s();
    int64_t base = id;
    for (;;) {
      double el = mono_s() - t0;
      if (el >= dur || stop()) break;
      int64_t target = base + int64_t(r * el) + 1;
      while (id < target)
        send();
      rd_kafka_poll(rk.get(), 0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return mono_s() - t0;
  };

  int64_t warmup = 0;
  double warm_s = 0;
  if (a.has("warmup-topic")) {
    std::string out = a.str("warmup-topic");
    auto cconf = make_conf({{"bootstrap.servers", a.need("bootstrap")},
                            {"group.id", "flow-bench-load-probe"},
                            {"enable.auto.commit", "false"}});
    auto consumer = make_client(RD_KAFKA_CONSUMER, std::move(cconf));
    int oparts = partition_count(consumer.get(), out);
    tpl_ptr tl(rd_kafka_topic_partition_list_new(oparts));
    for (int p = 0; p < oparts; ++p)
      rd_kafka_topic_partition_list_add(tl.get(), out.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    if (auto err = rd_kafka_assign(consumer.get(), tl.get()))
      throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));
    bool seen = false;
    auto probe = [&] {
      message_ptr m(rd_kafka_consumer_poll(consumer.get(), 0));
      if (m && !m->err) seen = true;
      return seen;
    };
    warm_s = paced(warm_rate, max_warm_s, probe);
    if (!seen)
      throw std::runtime_error("warm-up: no output on " + out +
                               " (system not running?)");
    rd_kafka_consumer_close(consumer.get());
    warm_s += paced(rate, extra_s, [] { return false; });
    warmup = id;
  }
  int64_t m0 = id;
  double dt = paced(rate, seconds, [] { return false; });
  finish(rk.get(), st);
  std::printf("{\"topic\": \"%s\", \"records\": %" PRId64
              ", \"warmup_records\": %" PRId64
              ", \"warmup_seconds\": %.3f, \"seconds\": %.3f, "
              "\"offered_per_s\": %.1f, \"achieved_per_s\": %.1f}\n",
              topic.c_str(), id, warmup, warm_s, dt, rate,
              double(id - m0) / dt);
  return 0;
}

/// W3: views per (campaign, 10 s window) over the whole input, as every
/// system must emit them once the bounded input ends.
int expect_ysb(int64_t n, uint64_t seed) {
  std::map<std::pair<std::string, int64_t>, int64_t> windows;
  AdEvent e;
  for (int64_t i = 0; i < n; ++i) {
    make_ad_event(seed, i, e);
    if (e.event_type() != "view") continue;
    int ad = std::atoi(e.ad_id().c_str() + 3);
    int64_t ts = e.event_time_ms();
    ++windows[{ysb_campaign_of_ad(ad), ts - ts % kYsbWindowMs}];
  }
  uint64_t sum = 0;
  for (auto& [w, c] : windows)
    sum += w3_term(w.first, w.first, w.second, c);
  std::printf("{\"workload\": \"W3\", \"input\": %" PRId64
              ", \"count\": %zu, \"checksum\": \"%s\", "
              "\"distinct_keys\": 0}\n",
              n, windows.size(), hex64(sum).c_str());
  return 0;
}

int expect(const args& a) {
  std::string w = a.need("workload");
  int64_t n = a.num("records", 1000000);
  uint64_t seed = uint64_t(a.num("seed", 42));
  if (w == "W3") return expect_ysb(n, seed);
  auto keys = user_keys_option(a);
  Event e;
  std::string buf;
  uint64_t sum = 0;
  int64_t count = 0;
  std::vector<int64_t> counts(size_t(keys.max_rank()) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    make_event(seed, i, e, keys);
    if (w == "W0") {
      pad(e);
      e.SerializeToString(&buf);
      sum += w0_term(nullptr, 0, buf.data(), buf.size());
      ++count;
    } else if (w == "W1" || w == "W4" || w == "W5") {
      if (!w1_transform(e)) continue;
      sum += w1_term(e.user_id(), e);
      ++count;
    } else if (w == "W2") {
      int rank = std::atoi(e.user_id().c_str() + 1);
      int64_t c = ++counts[size_t(rank)];
      sum += w2_term(e.user_id(), e.user_id(), c);
      ++count;
    } else {
      throw std::runtime_error(
          "--workload: expected W0, W1, W2, W3, W4 or W5, got " + w);
    }
  }
  int64_t distinct = 0;
  for (auto c : counts)
    distinct += c > 0;
  std::printf("{\"workload\": \"%s\", \"input\": %" PRId64
              ", \"count\": %" PRId64
              ", \"checksum\": \"%s\", \"distinct_keys\": %" PRId64 "}\n",
              w.c_str(), n, count, hex64(sum).c_str(),
              w == "W2" ? distinct : int64_t(0));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    args a(argc, argv);
    if (a.has("expect")) return expect(a);
    if (a.has("create")) return create_topics(a);
    if (a.has("delete")) return delete_topics(a);
    if (a.flag("warm-broker")) return warm_broker(a);
    if (a.has("rate")) return rate_mode(a);
    if (a.has("topic")) return preload(a);
    std::fprintf(stderr, "usage: see the header of bench/tools/load.cpp\n");
    return 2;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "flow_bench_load: %s\n", ex.what());
    return 1;
  }
}

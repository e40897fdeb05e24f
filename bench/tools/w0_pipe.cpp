// flow_bench_w0: the W0 ceiling. A plain librdkafka program that consumes
// every partition of the input topic in batches and produces each record
// unchanged (same key, same value, same partition number) to the output topic.
// Same command line as the libflow benchmark jobs:
//
//   flow_bench_w0 --kafka.bootstrap=HOST:PORT --bench.input=TOPIC
//   --bench.output=TOPIC
//                 [--bench.unbounded=true] [--bench.work=w1|w2]
//                 [--consumer.X=Y] [--producer.X=Y]
//
// --bench.work=w1 (the "w0-w1" row): the same loop doing W1's work by hand,
// the ceiling of a hand-written librdkafka program for W1: parse each
// Event into one reused message, keep even ids, w1_transform, serialize
// into one reused buffer, produce keyed by user_id (partitioner
// murmur2_random, as libflow's sink).
// --bench.work=w2 (the "w0-w2" row): W2's work by hand: parse each Event
// into one reused message, count it in one std::unordered_map keyed by
// user_id (reserved for 2^17 keys), serialize Count{user_id, count} into
// one reused buffer, produce keyed by user_id.
//
// Bounded (default): ends once it has consumed up to the end offsets the
// input had at start and every produced record is acknowledged; exit 0.
// Unbounded: runs until SIGTERM/SIGINT. A failed delivery exits 1.
// Producer: idempotent, acks=all (like libflow's sink), linger.ms=5,
// batch.size=1 MB, no compression. Consumer prefetch queued.min.messages=10^6
// (librdkafka's default 10^5 halves the rate: the fetcher idles).
#include <csignal>
#include <unordered_map>

#include "bench_common.hpp"

using namespace flow::bench;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

int64_t g_failed = 0;
std::string g_error;
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err && g_failed++ == 0) g_error = rd_kafka_err2str(m->err);
}

int run(const args& a) {
  std::string bootstrap = a.need("kafka.bootstrap"), in = a.need("bench.input"),
              out = a.need("bench.output");
  bool unbounded = a.flag("bench.unbounded");
  std::string work = a.str("bench.work", "");
  if (!work.empty() && work != "w1" && work != "w2")
    throw std::runtime_error("--bench.work: \"" + work +
                             "\" is neither w1 nor w2");
  bool w1 = work == "w1", w2 = work == "w2";
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  std::vector<std::pair<std::string, std::string>> ckv = {
      {"bootstrap.servers", bootstrap},
      {"group.id", "flow-bench-w0"},
      {"enable.auto.commit", "false"},
      {"fetch.max.bytes", "52428800"},
      {"max.partition.fetch.bytes", "4194304"},
      {"queued.min.messages", "1000000"},
      {"queued.max.messages.kbytes", "262144"},
      {"fetch.wait.max.ms", "10"},
  };
  add_overrides(ckv, a, "consumer.");
  std::vector<std::pair<std::string, std::string>> pkv = {
      {"bootstrap.servers", bootstrap},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"batch.size", "1000000"},
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "500000"},
      {"queue.buffering.max.kbytes", "262144"},
      {"compression.type", "none"},
      {"partitioner", "murmur2_random"},
  };
  add_overrides(pkv, a, "producer.");
  auto pconf = make_conf(pkv);
  rd_kafka_conf_set_dr_msg_cb(pconf.get(), on_delivery);
  auto producer = make_client(RD_KAFKA_PRODUCER, std::move(pconf));
  auto consumer = make_client(RD_KAFKA_CONSUMER, make_conf(ckv));

  int parts = partition_count(consumer.get(), in);
  std::vector<int64_t> end = high_watermarks(consumer.get(), in, parts);
  std::vector<int64_t> next(parts, 0);
  int remaining = 0;
  for (int p = 0; p < parts; ++p)
    remaining += end[p] > 0;
  tpl_ptr tl(rd_kafka_topic_partition_list_new(parts));
  for (int p = 0; p < parts; ++p)
    rd_kafka_topic_partition_list_add(tl.get(), in.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  if (auto err = rd_kafka_assign(consumer.get(), tl.get()))
    throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));
  queue_ptr q(rd_kafka_queue_get_consumer(consumer.get()));
  rd_kafka_topic_t* otopic =
      rd_kafka_topic_new(producer.get(), out.c_str(), nullptr);
  std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> otopic_guard(
      otopic, rd_kafka_topic_destroy);

  double t0 = mono_s();
  int64_t n = 0;
  Event event;       // --bench.work=w1|w2: parsed into, reused
  std::string value; // --bench.work=w1|w2: serialized into, reused
  Count count;       // --bench.work=w2: the output, reused
  std::unordered_map<std::string, int64_t> counts; // --bench.work=w2
  if (w2) counts.reserve(size_t{1} << 17);
  std::vector<rd_kafka_message_t*> batch(4096);
  while (!g_stop && (unbounded || remaining > 0)) {
    // What is queued, without waiting; if nothing is, wait for the first
    // record only: consume_batch_queue waits until its batch is full or
    // its timeout passes, which at 10k records/s held records up to the
    // whole timeout and set W4's latency floor, not librdkafka's.
    ssize_t got =
        rd_kafka_consume_batch_queue(q.get(), 0, batch.data(), batch.size());
    if (got == 0) {
      if (rd_kafka_message_t* first = rd_kafka_consume_queue(q.get(), 100)) {
        batch[0] = first;
        ssize_t rest = rd_kafka_consume_batch_queue(
            q.get(), 0, batch.data() + 1, batch.size() - 1);
        got = 1 + std::max<ssize_t>(rest, 0); // an error shows next round
      }
    }
    if (got < 0)
      throw std::runtime_error(std::string("consume: ") +
                               rd_kafka_err2str(rd_kafka_last_error()));
    // A throw below leaves the batch's later messages to this guard:
    // librdkafka needs them destroyed before the consumer is.
    ssize_t taken = 0;
    struct untaken_messages {
      std::vector<rd_kafka_message_t*>& batch;
      const ssize_t& taken;
      ssize_t got;
      ~untaken_messages() {
        for (ssize_t i = taken; i < got; ++i)
          rd_kafka_message_destroy(batch[size_t(i)]);
      }
    } untaken{batch, taken, got};
    for (ssize_t i = 0; i < got; ++i) {
      message_ptr m(batch[size_t(i)]);
      taken = i + 1;
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        throw std::runtime_error(std::string("consume: ") +
                                 rd_kafka_message_errstr(m.get()));
      }
      const void* payload = m->payload;
      size_t len = m->len;
      const void* key = m->key;
      size_t key_len = m->key_len;
      int32_t partition = m->partition;
      bool keep = true;
      if (w1 || w2) {
        if (!event.ParseFromArray(m->payload, static_cast<int>(m->len)))
          throw std::runtime_error("malformed Event at offset " +
                                   std::to_string(m->offset));
        keep = w2 || w1_transform(event);
        if (keep) {
          value.clear();
          if (w2) {
            count.set_key(event.user_id());
            count.set_count(++counts[event.user_id()]);
            count.AppendToString(&value);
          } else {
            event.AppendToString(&value);
          }
          payload = value.data();
          len = value.size();
          key = event.user_id().data();
          key_len = event.user_id().size();
          partition = RD_KAFKA_PARTITION_UA;
        }
      }
      while (keep) {
        int r = rd_kafka_produce(otopic, partition, RD_KAFKA_MSG_F_COPY,
                                 const_cast<void*>(payload), len, key, key_len,
                                 nullptr);
        if (r == 0) break;
        auto e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
          throw std::runtime_error(std::string("produce: ") +
                                   rd_kafka_err2str(e));
        rd_kafka_poll(producer.get(), 1);
      }
      ++n;
      auto p = size_t(m->partition);
      if (!unbounded && next[p] < end[p] && m->offset + 1 >= end[p])
        --remaining;
      next[p] = m->offset + 1;
    }
    rd_kafka_poll(producer.get(), 0);
    if (g_failed) break;
  }
  while (!g_failed && rd_kafka_outq_len(producer.get()) > 0)
    rd_kafka_flush(producer.get(), 1000);
  rd_kafka_consumer_close(consumer.get());
  if (g_failed)
    throw std::runtime_error(std::to_string(g_failed) +
                             " deliveries failed: " + g_error);
  double dt = mono_s() - t0;
  std::printf("{\"records\": %" PRId64
              ", \"seconds\": %.3f, \"records_per_s\": %.0f}\n",
              n, dt, double(n) / dt);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(args(argc, argv));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "flow_bench_w0: %s\n", ex.what());
    return 1;
  }
}

// Local runtime benchmark (no Kafka): source -> map -> filter -> map -> sink
// with 100-byte records, and the slow-sink memory case.
//
//   flow_local_bench chain <records> <parallelism> [batch-size]
//   flow_local_bench slow-sink <records> <sink-ns-per-record>
//   flow_local_bench keyed-count <records> <keys> <memory|rocksdb> [bytes]
//   flow_local_bench keyed-process <records> <keys> <memory|rocksdb> [bytes]
//   flow_local_bench keyed-snapshot <keys> <memory|rocksdb> [bytes]
//
// keyed-count is W6's keyed state without Kafka: string keys "u<rank>",
// record i of key rank uniform_keys::rank(i) (as the Kafka benchmarks'
// loader with --keys), key_by -> running count -> sink;
// bytes: flow.state-memory (the rocksdb backend's budget). keyed-process
// counts in a keyed process function's value_state instead of aggregate.
// keyed-snapshot fills one subtask's keyed count state (no actor system)
// with <keys> keys, as batches of 1024 records and a trim after each would,
// then takes a checkpoint's snapshot of it: sync_ms is what the subtask's
// thread spends on it, total_ms includes the part written later off that
// thread (spilled state read through a view of its store, maps in memory
// frozen); batch_ms and next_batch_ms are a batch of 4096 increments of
// keys spread over all key groups before the snapshot and right after it,
// before it is written (the store writes the key groups it touches);
// concurrent_batch_ms the same batch after a second snapshot, written on
// another thread meanwhile, as a checkpoint's executor does; hot_batch_ms
// the same after a third, over keys in 4 of the 128 key groups; close_ms what
// the subtask's thread spends when the state is destroyed (a store
// closes). verified: the snapshots hold every key once with the counts of
// the batches before them.
//
// Prints one JSON object: records, seconds, records_per_s, ns_per_record,
// cpu_s_per_million, peak_rss_mb, verified (count and checksum of the
// sink's records against values computed here independently).
#include "flow/aggregators.hpp"
#include "flow/generator.hpp"
#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"
#include "flow/log.hpp"
#include "flow/rocksdb_state.hpp"
#include "flow/runtime/job.hpp"
#include "flow/state.hpp"
#include "uniform_keys.hpp"

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace {

/// A 100-byte record: sequence number, a timestamp and an opaque payload.
struct __attribute__((packed)) record100 {
  uint64_t seq;
  uint64_t ts;
  std::array<char, 84> payload;
};
static_assert(sizeof(record100) == 100);

record100 make_record(uint64_t i) {
  record100 r;
  r.seq = i;
  r.ts = i * 3;
  std::memset(r.payload.data(), static_cast<int>('a' + i % 26),
              r.payload.size());
  return r;
}

double peak_rss_mb() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double current_rss_mb() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/// Counts and checksums what reaches it; optionally slow.
struct checking_sink final : flow::sink_function<record100> {
  struct totals {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> checksum{0};
  };
  checking_sink(totals* t, uint64_t ns_per_record)
      : t_(t), ns_(ns_per_record) {}
  void write(std::vector<record100>& xs) override {
    uint64_t sum = 0;
    for (auto& r : xs)
      sum += r.seq ^ r.ts ^ static_cast<uint64_t>(r.payload[0]);
    t_->count.fetch_add(xs.size(), std::memory_order_relaxed);
    t_->checksum.fetch_add(sum, std::memory_order_relaxed);
    if (ns_ > 0) {
      // Busy-wait: a sink that costs ns_ per record of CPU time.
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::nanoseconds(ns_ * xs.size());
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }
  totals* t_;
  uint64_t ns_;
};

// The chain's logic, shared with the independent check.
record100 stamp(record100 r) {
  r.ts += 1;
  return r;
}
bool keep(const record100& r) {
  return r.seq % 4 != 0; // 75% pass
}
record100 touch(record100 r) {
  r.payload[0] = static_cast<char>('A' + r.seq % 26);
  return r;
}

int run_chain(uint64_t n, uint32_t par, size_t batch, uint64_t sink_ns,
              const char* mode) {
  checking_sink::totals totals;
  flow::topology t{"local-chain"};
  t.source(flow::generator(n, make_record, "source"))
      .map(stamp, "stamp")
      .filter(keep, "keep")
      .map(touch, "touch")
      .sink({"sink",
             [&](const flow::connector_context&) {
               return std::make_unique<checking_sink>(&totals, sink_ns);
             },
             std::nullopt});
  flow::job_options opts;
  opts.plan.default_parallelism = par;
  opts.channels.batch_size = batch;
  opts.status_interval = std::chrono::nanoseconds::zero();

  std::atomic<bool> sampling{true};
  double rss_start = 0, rss_max_after_warmup = 0, rss_end = 0;
  std::thread sampler{[&] {
    auto t0 = std::chrono::steady_clock::now();
    while (sampling) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto rss = current_rss_mb();
      auto el = std::chrono::steady_clock::now() - t0;
      if (el > std::chrono::seconds(1)) {
        if (rss_start == 0) rss_start = rss;
        rss_max_after_warmup = std::max(rss_max_after_warmup, rss);
      }
      rss_end = rss;
    }
  }};
  auto cpu0 = cpu_seconds();
  auto r = flow::runtime::execute(t, opts);
  auto cpu = cpu_seconds() - cpu0;
  sampling = false;
  sampler.join();

  uint64_t expect_count = 0, expect_sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    auto rec = touch(stamp(make_record(i)));
    if (!keep(rec)) continue;
    ++expect_count;
    expect_sum += rec.seq ^ rec.ts ^ static_cast<uint64_t>(rec.payload[0]);
  }
  bool verified =
      r.ok && totals.count == expect_count && totals.checksum == expect_sum;
  std::printf(
      "{\"mode\": \"%s\", \"records\": %llu, \"parallelism\": %u, "
      "\"batch_size\": %zu, \"seconds\": %.4f, \"records_per_s\": %.0f, "
      "\"ns_per_record\": %.2f, \"cpu_s_per_million\": %.4f, "
      "\"peak_rss_mb\": %.1f, \"rss_after_warmup_mb\": %.1f, "
      "\"rss_max_after_warmup_mb\": %.1f, \"rss_end_mb\": %.1f, "
      "\"max_in_flight\": %u, \"verified\": %s, \"error\": \"%s\"}\n",
      mode, static_cast<unsigned long long>(n), par, batch, r.seconds,
      n / r.seconds, r.seconds * 1e9 / n, cpu * 1e6 / n, peak_rss_mb(),
      rss_start, rss_max_after_warmup, rss_end, r.max_in_flight,
      verified ? "true" : "false", r.error.c_str());
  return verified ? 0 : 1;
}

/// Checks a running count: the number of (key, count) outputs and the sum
/// of their counts.
struct count_sink final : flow::sink_function<std::pair<std::string, int64_t>> {
  count_sink(checking_sink::totals* t) : t_(t) {}
  void write(std::vector<std::pair<std::string, int64_t>>& xs) override {
    uint64_t sum = 0;
    for (auto& x : xs)
      sum += static_cast<uint64_t>(x.second);
    t_->count.fetch_add(xs.size(), std::memory_order_relaxed);
    t_->checksum.fetch_add(sum, std::memory_order_relaxed);
  }
  checking_sink::totals* t_;
};

/// keyed-process: the running count in a keyed process function.
struct process_count final
    : flow::keyed_process_function<std::string, std::string,
                                   std::pair<std::string, int64_t>> {
  flow::value_state<std::string, int64_t> count{*this};
  void process_element(const std::string& key, context& ctx) override {
    auto n = count.value_or(0) + 1;
    count.update(n);
    ctx.emit({key, n});
  }
};

int run_keyed_count(const std::string& mode, uint64_t n, uint64_t keys,
                    const std::string& backend,
                    std::optional<size_t> state_memory) {
  flow::bench::uniform_keys uniform{static_cast<int64_t>(keys)};
  auto rank = [uniform](uint64_t i) {
    return static_cast<uint64_t>(uniform.rank(static_cast<int64_t>(i)));
  };
  checking_sink::totals totals;
  flow::topology t{"local-" + mode};
  auto keyed =
      t
          .source(flow::generator(
              n, [rank](uint64_t i) { return "u" + std::to_string(rank(i)); },
              "source"))
          .key_by([](const std::string& k) { return k; });
  auto counts =
      mode == "keyed-process"
          ? keyed.process([] { return std::make_unique<process_count>(); },
                          "count")
          : keyed.aggregate(flow::count(), "count");
  counts.sink({"sink",
               [&](const flow::connector_context&) {
                 return std::make_unique<count_sink>(&totals);
               },
               std::nullopt});
  flow::job_options opts;
  opts.plan.default_parallelism = 1;
  opts.status_interval = std::chrono::nanoseconds::zero();
  opts.state.backend = backend;
  if (state_memory) opts.state.memory = *state_memory;
  auto cpu0 = cpu_seconds();
  auto r = flow::runtime::execute(t, opts);
  auto cpu = cpu_seconds() - cpu0;
  auto rss_mb = peak_rss_mb(); // before the check below allocates
  // Each key's outputs count 1..c: their sum is c (c + 1) / 2.
  std::vector<uint32_t> seen(keys + 1, 0);
  for (uint64_t i = 0; i < n; ++i)
    ++seen[rank(i)];
  uint64_t expect_sum = 0;
  for (auto c : seen)
    expect_sum += uint64_t{c} * (c + 1) / 2;
  bool verified = r.ok && totals.count == n && totals.checksum == expect_sum;
  std::printf("{\"mode\": \"%s\", \"records\": %llu, \"keys\": %llu, "
              "\"backend\": \"%s\", \"state_memory\": %zu, \"seconds\": %.4f, "
              "\"records_per_s\": %.0f, "
              "\"cpu_s_per_million\": %.4f, \"peak_rss_mb\": %.1f, "
              "\"verified\": %s, \"error\": \"%s\"}\n",
              mode.c_str(), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(keys), backend.c_str(),
              opts.state.memory, r.seconds, n / r.seconds, cpu * 1e6 / n,
              rss_mb, verified ? "true" : "false", r.error.c_str());
  return verified ? 0 : 1;
}

int run_keyed_snapshot(uint64_t keys, const std::string& backend,
                       std::optional<size_t> state_memory) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  };
  flow::state_options so;
  so.backend = backend;
  if (state_memory) so.memory = *state_memory;
  auto spill = flow::make_state_backend(so);
  constexpr uint32_t groups = flow::default_max_parallelism;
  auto counts =
      std::make_unique<flow::keyed_store<std::string, int64_t>>(groups);
  flow::key_group_states states{groups, spill.get(), "count#0"};
  states.add_spilling(*counts);
  auto t0 = clock::now();
  for (uint64_t i = 0; i < keys; ++i) {
    auto k = "u" + std::to_string(i);
    ++counts->get_or_create(flow::key_group_for(k, groups), k);
    if (i % 1024 == 1023) states.trim();
  }
  states.trim();
  auto fill_ms = ms_since(t0);
  // A batch as the subtask would take next: its keys in every key group,
  // or (hot) in 4 of the 128.
  std::vector<std::string> hot_keys;
  for (uint64_t i = 0; i < keys && hot_keys.size() < 4096; ++i) {
    auto k = "u" + std::to_string(i);
    if (flow::key_group_for(k, groups) < 4) hot_keys.push_back(k);
  }
  auto batch = [&](bool hot = false) {
    auto t = clock::now();
    for (uint64_t i = 0; i < 4096; ++i) {
      auto k = hot ? hot_keys[i % hot_keys.size()]
                   : "u" + std::to_string(i * 7919 % keys);
      ++counts->get_or_create(flow::key_group_for(k, groups), k);
    }
    states.trim();
    return ms_since(t);
  };
  auto batch_ms = batch();
  t0 = clock::now();
  std::vector<flow::key_group_snapshot> out;
  auto later = states.snapshot(out);
  auto sync_ms = ms_since(t0);
  auto next_batch_ms = batch();
  t0 = clock::now();
  if (later) later(out);
  auto total_ms = sync_ms + ms_since(t0);
  later = nullptr;
  // Again, written on a thread of its own while the batch runs, as the
  // checkpoint's executor does.
  std::vector<flow::key_group_snapshot> again;
  later = states.snapshot(again);
  std::thread writer{[&] {
    if (later) later(again);
  }};
  auto concurrent_batch_ms = batch();
  writer.join();
  later = nullptr;
  // And a hot batch, the writer running meanwhile.
  std::vector<flow::key_group_snapshot> third;
  later = states.snapshot(third);
  std::thread hot_writer{[&] {
    if (later) later(third);
  }};
  auto hot_batch_ms = batch(true);
  hot_writer.join();
  later = nullptr;
  // What the subtask's thread spends when the state goes (the job ends or
  // restarts): rocksdb closes its store.
  t0 = clock::now();
  counts.reset();
  auto close_ms = ms_since(t0);
  auto rss_mb = peak_rss_mb(); // before the check decodes the snapshots
  size_t bytes = 0;
  for (auto& g : out)
    bytes += g.bytes.size();
  // Every key once, the counts of the batches before each snapshot and
  // none of those after it.
  auto holds = [&](const std::vector<flow::key_group_snapshot>& snapshot,
                   int64_t batches) {
    uint64_t entries = 0;
    int64_t sum = 0;
    using counts_map = flow::state_map<std::string, int64_t>;
    for (auto& g : snapshot) {
      const char* pos = g.bytes.data();
      for (auto& [k, n] :
           flow::serde<counts_map>::read(pos, pos + g.bytes.size())) {
        ++entries;
        sum += n;
      }
    }
    return entries == keys &&
           sum == static_cast<int64_t>(keys) + batches * 4096;
  };
  bool verified = holds(out, 1) && holds(again, 2) && holds(third, 3);
  std::printf("{\"mode\": \"keyed-snapshot\", \"keys\": %llu, "
              "\"backend\": \"%s\", \"state_memory\": %zu, "
              "\"fill_ms\": %.1f, \"sync_ms\": %.1f, \"total_ms\": %.1f, "
              "\"batch_ms\": %.2f, \"next_batch_ms\": %.2f, "
              "\"concurrent_batch_ms\": %.2f, \"hot_batch_ms\": %.2f, "
              "\"close_ms\": %.1f, "
              "\"snapshot_bytes\": %zu, \"peak_rss_mb\": %.1f, "
              "\"verified\": %s}\n",
              static_cast<unsigned long long>(keys), backend.c_str(), so.memory,
              fill_ms, sync_ms, total_ms, batch_ms, next_batch_ms,
              concurrent_batch_ms, hot_batch_ms, close_ms, bytes, rss_mb,
              verified ? "true" : "false");
  return verified ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s chain <records> <parallelism> [batch-size]\n"
                 "       %s slow-sink <records> <sink-ns-per-record>\n"
                 "       %s keyed-count|keyed-process <records> <keys> "
                 "<memory|rocksdb> [state-memory-bytes]\n"
                 "       %s keyed-snapshot <keys> <memory|rocksdb> "
                 "[state-memory-bytes]\n",
                 argv[0], argv[0], argv[0], argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  uint64_t n = std::stoull(argv[2]);
  flow::set_log_level("warn");
  if (mode == "chain")
    return run_chain(n, argc > 3 ? std::stoul(argv[3]) : 1,
                     argc > 4 ? std::stoul(argv[4]) : 1024, 0, "chain");
  if (mode == "slow-sink")
    return run_chain(n, 1, 1024, argc > 3 ? std::stoull(argv[3]) : 1000,
                     "slow-sink");
  if ((mode == "keyed-count" || mode == "keyed-process") && argc > 4)
    return run_keyed_count(
        mode, n, std::stoull(argv[3]), argv[4],
        argc > 5 ? std::optional<size_t>(std::stoull(argv[5])) : std::nullopt);
  if (mode == "keyed-snapshot" && argc > 3)
    return run_keyed_snapshot(
        n, argv[3],
        argc > 4 ? std::optional<size_t>(std::stoull(argv[4])) : std::nullopt);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}

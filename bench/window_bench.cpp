// Sliding-window cost against size/slide (issue 6): a generator of keyed
// events with event time -> sliding count window -> checking sink, at
// parallelism 1, for size/slide = 1, 10, 100 with the same slide.
//
//   flow_window_bench [records] [keys] [ratios...]
//
// Prints one JSON line per ratio: records, windows, seconds, records_per_s,
// ns_per_record, verified (sum of window counts = records * ratio, every
// record counted once per window containing it).
#include "flow/generator.hpp"
#include "flow/log.hpp"
#include "flow/runtime/job.hpp"
#include "flow/windows.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct event {
  uint32_t key;
  int64_t ts;
};

using result = flow::window_result<uint32_t, int64_t>;

struct totals {
  std::atomic<uint64_t> windows{0};
  std::atomic<uint64_t> counted{0};
};

flow::sink_spec<result> counting_sink(std::shared_ptr<totals> t) {
  struct fn final : flow::sink_function<result> {
    explicit fn(std::shared_ptr<totals> t) : t_(std::move(t)) {}
    void write(std::vector<result>& xs) override {
      uint64_t n = 0;
      for (auto& r : xs)
        n += static_cast<uint64_t>(r.value);
      t_->windows += xs.size();
      t_->counted += n;
    }
    std::shared_ptr<totals> t_;
  };
  flow::sink_spec<result> spec;
  spec.name = "check";
  spec.make = [t](const flow::connector_context&) {
    return std::make_unique<fn>(t);
  };
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  uint64_t records = argc > 1 ? std::stoull(argv[1]) : 10'000'000;
  uint32_t keys = argc > 2 ? static_cast<uint32_t>(std::stoul(argv[2])) : 1000;
  std::vector<int64_t> ratios;
  for (int i = 3; i < argc; ++i)
    ratios.push_back(std::stoll(argv[i]));
  if (ratios.empty()) ratios = {1, 10, 100};
  flow::set_log_level("warn");
  // 1000 records per ms of event time; slide 100 ms: 100 records per key
  // and pane with 1000 keys.
  constexpr int64_t per_ms = 1000;
  constexpr int64_t slide = 100;
  for (auto ratio : ratios) {
    auto t = std::make_shared<totals>();
    flow::topology topo{"window-bench"};
    topo
        .source(flow::generator(
            records,
            [keys](uint64_t i) {
              return event{static_cast<uint32_t>((i * 2654435761u) % keys),
                           static_cast<int64_t>(i) / per_ms};
            }))
        .assign_timestamps([](const event& e) { return e.ts; }, 0)
        .key_by([](const event& e) { return e.key; })
        .window(flow::sliding(slide * ratio, slide))
        .aggregate(flow::count())
        .sink(counting_sink(t));
    flow::job_options o;
    o.status_interval = std::chrono::nanoseconds::zero();
    auto start = std::chrono::steady_clock::now();
    auto r = flow::runtime::execute(topo, o);
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    bool ok =
        r.ok && t->counted.load() == records * static_cast<uint64_t>(ratio);
    std::printf(
        "{\"ratio\": %lld, \"size_ms\": %lld, \"slide_ms\": %lld, "
        "\"records\": %llu, \"keys\": %u, \"windows\": %llu, "
        "\"seconds\": %.3f, \"records_per_s\": %.0f, "
        "\"ns_per_record\": %.1f, \"verified\": %s}\n",
        static_cast<long long>(ratio), static_cast<long long>(slide * ratio),
        static_cast<long long>(slide), static_cast<unsigned long long>(records),
        keys, static_cast<unsigned long long>(t->windows.load()), secs,
        static_cast<double>(records) / secs, secs * 1e9 / records,
        ok ? "true" : "false");
    std::fflush(stdout);
    if (!ok) return 1;
  }
  return 0;
}

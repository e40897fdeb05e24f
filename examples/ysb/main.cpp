// The Yahoo Streaming Benchmark on libflow: ad events with event time ->
// keep views -> join ad -> campaign against a table (stream-table join) ->
// 10 s tumbling event-time windows -> count per campaign. A generator
// makes the events (deterministic in the event index, up to 500 ms out of
// order); the end checks every window count against counts computed here
// directly from the generator, and exits 1 on any difference.
//
//   ysb --ysb.events=2000000 --ysb.campaigns=100 --flow.parallelism=2
#include "flow/collection.hpp"
#include "flow/join.hpp"
#include "flow/run.hpp"
#include "flow/windows.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace {

constexpr uint32_t ads_per_campaign = 10;
constexpr int64_t window_ms = 10'000;
constexpr int64_t max_disorder_ms = 500;
/// Event time advances 1 ms per 100 events: 1 million events per 10 s
/// window.
constexpr int64_t events_per_ms = 100;
constexpr int64_t epoch_ms = 1'700'000'000'000;

enum event_type : uint8_t { view = 0, click = 1, purchase = 2 };

struct ad_event {
  uint64_t user_id;
  uint64_t page_id;
  uint32_t ad_id;
  uint8_t ad_type;
  uint8_t event_type;
  int64_t event_time;
};

struct ad_campaign {
  uint32_t ad_id;
  uint32_t campaign_id;
};

struct campaign_view {
  uint32_t campaign_id;
  int64_t event_time;
};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

ad_event make_event(uint64_t i, uint32_t ads) {
  auto h = mix(i);
  return ad_event{h % 100000,
                  (h >> 17) % 1000,
                  static_cast<uint32_t>((h >> 7) % ads),
                  static_cast<uint8_t>((h >> 29) % 5),
                  static_cast<uint8_t>((h >> 37) % 3),
                  epoch_ms + static_cast<int64_t>(i) / events_per_ms +
                      static_cast<int64_t>((h >> 41) % max_disorder_ms)};
}

const flow::option<int64_t> events_option{
    "ysb.events", 2'000'000,
    "Ad events generated (1 ms of event time per 100).",
    flow::in_range(1, int64_t{1} << 40)};
const flow::option<int64_t> campaigns_option{"ysb.campaigns", 100,
                                             "Campaigns, 10 ads each.",
                                             flow::in_range(1, 100'000'000)};

/// What the run used, for the check at the end.
struct run_info {
  std::atomic<uint64_t> events{0};
  std::atomic<uint32_t> campaigns{0};
};

/// The ad event generator: event indexes split in ranges over subtasks.
flow::source_spec<ad_event> ad_events(std::shared_ptr<run_info> info) {
  struct fn final : flow::source_function<ad_event> {
    explicit fn(std::shared_ptr<run_info> i) : info_(std::move(i)) {}
    void open(const flow::connector_context& ctx) override {
      auto n = static_cast<uint64_t>(events_option.get(ctx.settings));
      auto c = static_cast<uint32_t>(campaigns_option.get(ctx.settings));
      info_->events = n;
      info_->campaigns = c;
      ads_ = c * ads_per_campaign;
      next_ = n * ctx.subtask_index / ctx.parallelism;
      end_ = n * (ctx.subtask_index + 1) / ctx.parallelism;
    }
    flow::source_state poll(flow::emitter<ad_event>& out, size_t max) override {
      for (size_t k = 0; k < max && next_ < end_; ++k)
        out.emit(make_event(next_++, ads_));
      return next_ < end_ ? flow::source_state::more : flow::source_state::done;
    }
    std::shared_ptr<run_info> info_;
    uint64_t next_ = 0;
    uint64_t end_ = 0;
    uint32_t ads_ = 1;
  };
  flow::source_spec<ad_event> spec;
  spec.name = "ad-events";
  spec.make = [info](const flow::connector_context&) {
    return std::make_unique<fn>(info);
  };
  return spec;
}

/// The ad -> campaign table (a changelog with one record per ad).
flow::source_spec<ad_campaign> campaign_table() {
  struct fn final : flow::source_function<ad_campaign> {
    void open(const flow::connector_context& ctx) override {
      auto c = static_cast<uint32_t>(campaigns_option.get(ctx.settings));
      // One subtask loads the whole table; the others have nothing.
      end_ = ctx.subtask_index == 0 ? c * ads_per_campaign : 0;
    }
    flow::source_state poll(flow::emitter<ad_campaign>& out,
                            size_t max) override {
      for (size_t k = 0; k < max && next_ < end_; ++k, ++next_)
        out.emit(ad_campaign{next_, next_ / ads_per_campaign});
      return next_ < end_ ? flow::source_state::more : flow::source_state::done;
    }
    uint32_t next_ = 0;
    uint32_t end_ = 0;
  };
  flow::source_spec<ad_campaign> spec;
  spec.name = "ad-campaigns";
  spec.make = [](const flow::connector_context&) {
    return std::make_unique<fn>();
  };
  spec.parallelism = 1;
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "The Yahoo Streaming Benchmark on generated ad events; "
                        "checks every window count."};
  if (program.done()) return program.exit_code();
  using result = flow::window_result<uint32_t, int64_t>;
  auto info = std::make_shared<run_info>();
  flow::collector<result> counts;

  flow::topology t{"ysb"};
  auto views =
      t.source(ad_events(info))
          .assign_timestamps([](const ad_event& e) { return e.event_time; },
                             max_disorder_ms)
          .filter([](const ad_event& e) { return e.event_type == view; },
                  "views")
          .key_by([](const ad_event& e) { return e.ad_id; });
  auto table = t.source(campaign_table()).key_by([](const ad_campaign& a) {
    return a.ad_id;
  });
  flow::join_table(
      views, table,
      [](const ad_event& e, const ad_campaign& a) {
        return campaign_view{a.campaign_id, e.event_time};
      },
      flow::time_domain::event, "campaign-join")
      .with_timestamps([](const campaign_view& v) { return v.event_time; })
      .key_by([](const campaign_view& v) { return v.campaign_id; })
      .window(flow::tumbling(window_ms))
      .aggregate(flow::count(), "count-10s")
      .sink(counts.sink("windows"));

  auto rc = program.run(t);
  if (rc != flow::exit_ok || info->events == 0) return rc;

  // The check: the same counts computed straight from the generator.
  std::map<std::pair<uint32_t, int64_t>, int64_t> expected;
  auto ads = info->campaigns * ads_per_campaign;
  uint64_t n_views = 0;
  for (uint64_t i = 0; i < info->events; ++i) {
    auto e = make_event(i, ads);
    if (e.event_type != view) continue;
    ++n_views;
    auto start = e.event_time - e.event_time % window_ms;
    ++expected[{e.ad_id / ads_per_campaign, start}];
  }
  auto got = counts.records();
  std::map<std::pair<uint32_t, int64_t>, int64_t> actual;
  size_t duplicates = 0;
  for (auto& r : got)
    if (!actual.emplace(std::make_pair(r.key, r.w.start), r.value).second)
      ++duplicates;
  bool ok = duplicates == 0 && actual == expected;
  std::fprintf(stderr,
               "ysb: %llu events, %llu views, %zu campaign windows, check %s\n",
               static_cast<unsigned long long>(info->events.load()),
               static_cast<unsigned long long>(n_views), got.size(),
               ok ? "passed" : "FAILED");
  return ok ? flow::exit_ok : flow::exit_job_failed;
}

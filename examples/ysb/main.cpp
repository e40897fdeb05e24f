// The Yahoo Streaming Benchmark on libflow: ad events with event time ->
// keep views -> join ad -> campaign against a table (stream-table join) ->
// 10 s tumbling event-time windows -> count per campaign.
//
// By default a generator makes the events in-process (deterministic in the
// event index, up to 500 ms out of order) and the end checks every window
// count against counts computed here from the generator (exit 1 on any
// difference):
//   ysb --ysb.events=2000000 --ysb.campaigns=100 --flow.parallelism=2
// Over Kafka topics (formats in examples/README.md), so that the counts can
// be checked from outside; --ysb.feed=true first writes the generated
// events and ad table into the (new or empty) input topics, and then the
// same check runs:
//   ysb --kafka.bootstrap=127.0.0.1:9092 --kafka.stop-at-end=true
//       --ysb.input=ad-events --ysb.ads=ad-campaigns
//       --ysb.output=campaign-counts --ysb.feed=true
#include "flow/collection.hpp"
#include "flow/join.hpp"
#include "flow/kafka.hpp"
#include "flow/run.hpp"
#include "flow/windows.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

const flow::option<std::string> input_option{
    "ysb.input", "",
    "Topic of the ad events (text: user_id,page_id,ad_id,ad_type,"
    "event_type,event_time_ms); empty: generated in-process."};
const flow::option<std::string> ads_option{
    "ysb.ads", "",
    "Topic of the ad -> campaign table (key: ad id, value: campaign id, "
    "decimal text; read from the earliest offset); empty: generated "
    "(ad a belongs to campaign a / 10)."};
const flow::option<std::string> output_option{
    "ysb.output", "",
    "Topic the window counts are written to (key: campaign id, value: "
    "campaign_id,window_start_ms,count); empty: none."};
const flow::option<bool> feed_option{
    "ysb.feed", false,
    "First write ysb.events generated events to ysb.input and the ad table "
    "to ysb.ads (creating them), then run the job and check its counts."};

constexpr std::array<std::string_view, 5> ad_types{
    "banner", "modal", "sponsored-search", "mail", "mobile"};
constexpr std::array<std::string_view, 3> event_types{"view", "click",
                                                      "purchase"};

/// An ad event as a line of text, the format of ysb.input.
std::string to_text(const ad_event& e) {
  std::string s = std::to_string(e.user_id) + ',' + std::to_string(e.page_id) +
                  ',' + std::to_string(e.ad_id) + ',';
  s += ad_types[e.ad_type];
  s += ',';
  s += event_types[e.event_type];
  s += ',' + std::to_string(e.event_time);
  return s;
}

template <class Int>
Int parse_number(std::string_view field, const char* what) {
  Int v{};
  auto [end, ec] =
      std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc{} || end != field.data() + field.size())
    throw flow::kafka::deserialize_error(std::string("bad ") + what + ": \"" +
                                         std::string(field.substr(0, 32)) +
                                         "\"");
  return v;
}

template <size_t N>
uint8_t parse_name(std::string_view field,
                   const std::array<std::string_view, N>& names,
                   const char* what) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == field) return static_cast<uint8_t>(i);
  throw flow::kafka::deserialize_error(std::string("unknown ") + what + ": \"" +
                                       std::string(field.substr(0, 32)) + "\"");
}

/// Reads a line of ysb.input; a malformed one throws deserialize_error
/// (the source sends it to the dead-letter topic).
ad_event parse_event(const flow::kafka::record_view& r) {
  if (!r.value.data()) throw flow::kafka::deserialize_error("null value");
  std::array<std::string_view, 6> f;
  std::string_view rest = r.value;
  for (size_t i = 0; i < f.size(); ++i) {
    auto comma = rest.find(',');
    if ((comma == std::string_view::npos) != (i + 1 == f.size()))
      throw flow::kafka::deserialize_error(
          "expected 6 comma-separated fields: \"" +
          std::string(r.value.substr(0, 64)) + "\"");
    f[i] = rest.substr(0, comma);
    if (comma != std::string_view::npos) rest.remove_prefix(comma + 1);
  }
  return ad_event{parse_number<uint64_t>(f[0], "user_id"),
                  parse_number<uint64_t>(f[1], "page_id"),
                  parse_number<uint32_t>(f[2], "ad_id"),
                  parse_name(f[3], ad_types, "ad_type"),
                  parse_name(f[4], event_types, "event_type"),
                  parse_number<int64_t>(f[5], "event_time")};
}

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

using window_count = flow::window_result<uint32_t, int64_t>;

/// The job: events -> views -> campaign join -> 10 s windows -> counts,
/// reported to `counts` and, if `output` is set, written to that topic.
flow::topology ysb_job(const std::string& input, const std::string& ads,
                       const std::string& output,
                       std::shared_ptr<run_info> info,
                       flow::collector<window_count>& counts) {
  flow::topology t{"ysb"};
  auto events = t.source(
      input.empty() ? ad_events(std::move(info))
                    : flow::kafka::source<ad_event>(input, parse_event));
  auto views =
      events
          .assign_timestamps([](const ad_event& e) { return e.event_time; },
                             max_disorder_ms)
          .filter([](const ad_event& e) { return e.event_type == view; },
                  "views")
          .key_by([](const ad_event& e) { return e.ad_id; });
  using ad_row = std::pair<uint32_t, uint32_t>;
  auto table_source =
      ads.empty()
          ? t.source(campaign_table())
          : t.source(flow::kafka::table_source<ad_row>(ads))
                // The table holds from the start of event time on: its
                // records never hold back the join's watermark.
                .assign_timestamps([](const ad_row&) { return int64_t{0}; }, 0)
                .map(
                    [](const ad_row& kv) {
                      return ad_campaign{kv.first, kv.second};
                    },
                    "ad-campaigns");
  auto table =
      table_source.key_by([](const ad_campaign& a) { return a.ad_id; });
  auto windows =
      flow::join_table(
          views, table,
          [](const ad_event& e, const ad_campaign& a) {
            return campaign_view{a.campaign_id, e.event_time};
          },
          flow::time_domain::event, "campaign-join")
          .with_timestamps([](const campaign_view& v) { return v.event_time; })
          .key_by([](const campaign_view& v) { return v.campaign_id; })
          .window(flow::tumbling(window_ms))
          .aggregate(flow::count(), "count-10s");
  windows.sink(counts.sink("windows"));
  if (!output.empty())
    windows.sink(
        flow::kafka::sink<window_count>(output, [](const window_count& r) {
          flow::kafka::producer_record p;
          p.key = std::to_string(r.key);
          p.value = std::to_string(r.key) + ',' + std::to_string(r.w.start) +
                    ',' + std::to_string(r.value);
          return p;
        }));
  return t;
}

/// Writes the generated events and the ad table into the input topics.
flow::topology feed_job(const std::string& input, const std::string& ads,
                        std::shared_ptr<run_info> info) {
  flow::topology t{"ysb-feed"};
  t.source(ad_events(std::move(info)))
      .sink(flow::kafka::sink<ad_event>(input, [](const ad_event& e) {
        flow::kafka::producer_record p;
        p.key = std::to_string(e.ad_id);
        p.value = to_text(e);
        return p;
      }));
  t.source(campaign_table())
      .sink(flow::kafka::sink<ad_campaign>(ads, [](const ad_campaign& a) {
        flow::kafka::producer_record p;
        p.key = std::to_string(a.ad_id);
        p.value = std::to_string(a.campaign_id);
        return p;
      }));
  return t;
}

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "The Yahoo Streaming Benchmark on generated ad events; "
                        "checks every window count."};
  if (program.done()) return program.exit_code();
  auto input = program.get(input_option);
  auto ads = program.get(ads_option);
  auto output = program.get(output_option);
  bool fed = program.get(feed_option);
  if (fed && (input.empty() || ads.empty())) {
    std::fprintf(stderr, "ysb.feed needs ysb.input and ysb.ads (topics to "
                         "write the generated events and ad table to)\n");
    return flow::exit_bad_config;
  }
  auto info = std::make_shared<run_info>();
  flow::collector<window_count> counts;
  auto t = ysb_job(input, ads, output, info, counts);
  std::optional<flow::topology> feed;
  if (fed) feed = feed_job(input, ads, info);
  if (!program.check_required()) return program.exit_code();

  if (feed) {
    try {
      auto ks = flow::kafka::client_settings::from(&program.options().settings);
      flow::kafka::admin adm{ks};
      auto parts = ks.embedded_partitions > 0
                       ? static_cast<int32_t>(ks.embedded_partitions)
                       : 4;
      for (auto& topic : {input, ads, output})
        if (!topic.empty()) adm.create_topic(topic, parts);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ysb: cannot create the topics: %s\n", e.what());
      return flow::exit_job_failed;
    }
    if (auto rc = program.run_here(*feed); rc != flow::exit_ok) return rc;
  }
  auto rc = program.run(t);
  if (rc != flow::exit_ok) return rc;
  if (!input.empty() && !fed) {
    std::fprintf(stderr,
                 "ysb: %zu campaign windows; no check (the events of %s were "
                 "not generated by this run)\n",
                 counts.records().size(), input.c_str());
    return flow::exit_ok;
  }
  if (info->events == 0) return rc;

  // The check: the same counts computed straight from the generator.
  std::map<std::pair<uint32_t, int64_t>, int64_t> expected;
  auto n_ads = info->campaigns * ads_per_campaign;
  uint64_t n_views = 0;
  for (uint64_t i = 0; i < info->events; ++i) {
    auto e = make_event(i, n_ads);
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
  if (!ok && fed)
    std::fprintf(stderr,
                 "ysb: the check counts only this run's events: were "
                 "%s and %s empty before the feed?\n",
                 input.c_str(), ads.c_str());
  std::fprintf(stderr,
               "ysb: %llu events, %llu views, %zu campaign windows, check %s\n",
               static_cast<unsigned long long>(info->events.load()),
               static_cast<unsigned long long>(n_views), got.size(),
               ok ? "passed" : "FAILED");
  return ok ? flow::exit_ok : flow::exit_job_failed;
}

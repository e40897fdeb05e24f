// libflow's jobs for the Kafka benchmarks (bench/README.md), one binary per
// workload, selected by the name it is built as:
//   flow_bench_w1: parse Event -> filter(id % 2 == 0) -> map(value*3+1,
//                  page + "!") -> Kafka, key user_id
//   flow_bench_w2: parse Event -> key_by(user_id) -> running count ->
//                  Count{key, count} -> Kafka, key user_id
//   flow_bench_w3: the Yahoo Streaming Benchmark: parse AdEvent (event time
//                  per Kafka partition, 500 ms out of order) -> keep views
//                  -> join ad -> campaign (static table) -> key_by
//                  campaign -> 10 s tumbling event-time windows -> count
//                  -> CampaignWindowCount -> Kafka, key campaign_id
// Options: --kafka.* (bootstrap, ...), --flow.* and --bench.* (--help).
#include "bench_common.hpp"

#include "flow/kafka.hpp"
#include "flow/run.hpp"
#include "flow/serde_protobuf.hpp"
#include "flow/windows.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <unordered_map>

namespace {

using flow::bench::AdEvent;
using flow::bench::CampaignWindowCount;
using flow::bench::Count;
using flow::bench::Event;

const flow::option<std::string> input_option{"bench.input", "bench-in",
                                             "Input topic."};
const flow::option<std::string> output_option{"bench.output", "bench-out",
                                              "Output topic."};
const flow::option<bool> unbounded_option{
    "bench.unbounded", false,
    "Read until SIGTERM (W4, W5); otherwise stop at the end offsets seen at "
    "start."};
const flow::option<int64_t> sink_rate_option{
    "bench.sink-rate", 0,
    "At most this many records/s reach the sink (W5), through a throttle "
    "before it; 0: no limit.",
    flow::at_least(0)};
const flow::option<bool> split_nodes_option{
    "bench.split-nodes", false,
    "The sink in a slot group of its own, so that on a cluster it runs on "
    "another node than the source (bench/libflow-2nodes)."};

struct bench_args {
  std::string workload;
  std::string input;
  std::string output;
  bool unbounded = false;
  double sink_rate = 0;
  bool split_nodes = false;
};

/// Passes records on at most `rate` per second per subtask, sleeping when
/// ahead: the time it sleeps is time it returns no credit upstream. It
/// sleeps on its scheduler worker on purpose, as a slow sink would hold
/// it (W5; the JVM systems' pacer sleeps on their task thread alike): a
/// job's own operators must not do this (bench/README.md, W5).
template <class T>
struct throttle {
  double rate;
  std::chrono::steady_clock::time_point start{};
  uint64_t passed = 0;
  T operator()(T x) {
    if (passed++ == 0) start = std::chrono::steady_clock::now();
    auto due = start + std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::duration<double>(passed / rate));
    std::this_thread::sleep_until(due);
    return x;
  }
};

/// W3 from the Kafka source on.
void ysb(flow::topology& t, const bench_args& args,
         const flow::kafka::source_options& in,
         const flow::kafka::sink_options& out) {
  namespace fb = flow::bench;
  // The static ad -> campaign table, shared read-only by the join subtasks.
  auto table = std::make_shared<std::unordered_map<std::string, std::string>>();
  for (int ad = 0; ad < fb::kYsbCampaigns * fb::kYsbAdsPerCampaign; ++ad)
    table->emplace("ad-" + std::to_string(ad), fb::ysb_campaign_of_ad(ad));
  using campaign_view = std::pair<std::string, int64_t>; // campaign, time
  t.source(flow::kafka::source<AdEvent>(args.input, in))
      .assign_timestamps([](const AdEvent& e) { return e.event_time_ms(); },
                         fb::kYsbMaxDisorderMs)
      .filter([](const AdEvent& e) { return e.event_type() == "view"; },
              "views")
      .flat_map(
          [table](AdEvent e, flow::emitter<campaign_view>& emit) {
            auto i = table->find(e.ad_id());
            if (i != table->end()) emit({i->second, e.event_time_ms()});
          },
          "campaign-join")
      .with_timestamps([](const campaign_view& v) { return v.second; })
      .key_by([](const campaign_view& v) { return v.first; })
      .window(flow::tumbling(fb::kYsbWindowMs))
      .aggregate(flow::count(), "count-10s")
      .map(
          [](flow::window_result<std::string, int64_t> r) {
            CampaignWindowCount c;
            c.set_campaign_id(std::move(r.key));
            c.set_window_start_ms(r.w.start);
            c.set_count(r.value);
            return c;
          },
          "to-window-count")
      .sink(flow::kafka::sink<CampaignWindowCount>(
          args.output,
          flow::kafka::keyed_by<CampaignWindowCount>(
              [](const CampaignWindowCount& c) { return c.campaign_id(); }),
          out));
}

} // namespace

int main(int argc, char** argv) {
  flow::program program{argc, argv,
                        "libflow's job of a Kafka benchmark workload "
                        "(bench/README.md), chosen by the binary's name."};
  if (program.done()) return program.exit_code();
  bench_args args;
  std::string self = argv[0];
  args.workload = self.substr(self.find_last_of('/') + 1);
  args.input = program.get(input_option);
  args.output = program.get(output_option);
  args.unbounded = program.get(unbounded_option);
  args.sink_rate = static_cast<double>(program.get(sink_rate_option));
  args.split_nodes = program.get(split_nodes_option);
  flow::kafka::source_options in;
  in.name = "source";
  in.stop_at_end = !args.unbounded;
  flow::kafka::sink_options out;
  out.name = "sink";
  auto sink_group = args.split_nodes ? std::string("sinks") : std::string();
  flow::topology t{args.workload};
  if (args.workload == "flow_bench_w3") {
    ysb(t, args, in, out);
    return program.run(t);
  }
  auto events = t.source(flow::kafka::source<Event>(args.input, in));
  if (args.workload == "flow_bench_w2") {
    auto counts = events.key_by([](const Event& e) { return e.user_id(); })
                      .aggregate(flow::count(), "count")
                      .map(
                          [](std::pair<std::string, int64_t> kv) {
                            Count c;
                            c.set_key(std::move(kv.first));
                            c.set_count(kv.second);
                            return c;
                          },
                          "to-count");
    if (args.sink_rate > 0)
      counts = counts.map(throttle<Count>{args.sink_rate}, "throttle");
    auto spec = flow::kafka::sink<Count>(
        args.output, flow::kafka::keyed_by<Count>(&Count::key), out);
    spec.slot_group = sink_group;
    counts.sink(spec);
  } else {
    auto kept =
        events
            .filter([](const Event& e) { return e.id() % 2 == 0; }, "keep-even")
            .map([](Event& e) { flow::bench::w1_transform(e); }, "transform");
    if (args.sink_rate > 0)
      kept = kept.map(throttle<Event>{args.sink_rate}, "throttle");
    auto spec = flow::kafka::sink<Event>(
        args.output, flow::kafka::keyed_by<Event>(&Event::user_id), out);
    spec.slot_group = sink_group;
    kept.sink(spec);
  }
  return program.run(t);
}

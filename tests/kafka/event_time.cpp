// Event time from Kafka: the source keeps a watermark per partition, so a
// partition whose records are far ahead in event time does not make the
// records of a lagging partition, read by the same subtask, late; a
// partition that pauses is idle once caught up, and its records after the
// pause are not late.
#include "fixture.hpp"

#include "flow/collection.hpp"
#include "flow/windows.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

constexpr int64_t base_ts = 1700000000000; // ms
constexpr int64_t window_ms = 1000;

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_event_time, fixture)

BOOST_AUTO_TEST_CASE(lagging_partition_is_not_late) {
  // Partition 0 is 1000 s ahead of partition 1; both in order. Read by one
  // subtask, a single watermark over both would pass partition 1's
  // windows as soon as partition 0's first batch is seen.
  constexpr int per_partition = 20000;
  auto in = make_topic("event-time", 2);
  std::vector<producer_record> rs;
  std::map<std::pair<int32_t, int64_t>, int64_t> expected; // (part, window)
  for (int32_t p = 0; p < 2; ++p)
    for (int i = 0; i < per_partition; ++i) {
      producer_record r;
      r.partition = p;
      r.value = std::to_string(i);
      r.timestamp = base_ts + (p == 0 ? 1'000'000 : 0) + 2 * int64_t(i);
      ++expected[{p, *r.timestamp - *r.timestamp % window_ms}];
      rs.push_back(std::move(r));
    }
  produce(in, rs);

  using result = flow::window_result<int32_t, int64_t>;
  flow::collector<result> windows;
  flow::topology t{"event-time"};
  source_options one;
  one.parallelism = 1;
  t.source(source<record>(in, one))
      .assign_timestamps([](const record& r) { return r.timestamp; }, 0)
      .key_by([](const record& r) { return r.partition; })
      .window(flow::tumbling(window_ms))
      .aggregate(flow::count(), "count")
      .sink(windows.sink());
  auto opts = options(1);
  opts.channels.watermark_interval = std::chrono::nanoseconds::zero();
  opts.channels.batch_size = 64;
  auto res = flow::runtime::execute(t, opts);
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);

  std::map<std::pair<int32_t, int64_t>, int64_t> got;
  for (auto& w : windows.records())
    got[{w.key, w.w.start}] += w.value;
  BOOST_TEST(got.size() == expected.size());
  BOOST_TEST((got == expected));
  // Each window fired once: no record came late and re-fired it.
  BOOST_TEST(windows.records().size() == expected.size());
}

BOOST_AUTO_TEST_CASE(a_paused_partition_is_idle_and_its_records_not_late) {
  // Live input, timestamps = production time: both partitions for 1 s,
  // then partition 1 pauses while partition 0 goes on, then both again for
  // 1 s. Each partition has its own source subtask; flow.idle-timeout is
  // 1 ms. The paused partition is caught up, so idle: windows go on firing
  // during the pause (it lasts until more than 5 windows that began inside
  // it have fired, at most 60 s); once it produces again it is active, none
  // of its records is late, and every window count is exact.
  constexpr int64_t window = 100;
  // Partition 1's reader may resume this far behind partition 0's without
  // its records being late: room for a loaded machine.
  constexpr int64_t out_of_orderness = 2000;
  auto in = make_topic("paused", 2);
  using result = flow::window_result<int32_t, int64_t>;
  flow::collector<result> windows;
  flow::collector<record> late;
  std::atomic<int64_t> records_read{0};
  flow::topology t{"paused"};
  source_options opts;
  opts.parallelism = 2;
  // The timestamps go on the source's stream (a watermark per partition);
  // the count of records read comes after them.
  auto w = t.source(source<record>(in, opts))
               .assign_timestamps([](const record& r) { return r.timestamp; },
                                  out_of_orderness)
               .filter(
                   [&records_read](const record&) {
                     ++records_read;
                     return true;
                   },
                   "count-read")
               .key_by([](const record& r) { return r.partition; })
               .window(flow::tumbling(window))
               .parallelism(1)
               .with_late_output()
               .aggregate(flow::count(), "count");
  w.results.sink(windows.sink("windows"));
  w.late.sink(late.sink("late"));
  auto o = options(2, {{"kafka.stop-at-end", "false"}});
  o.channels.idle_timeout = std::chrono::milliseconds(1);
  o.channels.watermark_interval = std::chrono::nanoseconds::zero();
  std::atomic<bool> stop{false};
  flow::runtime::job_result res;
  std::thread job{[&] { res = flow::runtime::execute(t, o, &stop); }};

  std::map<std::pair<int32_t, int64_t>, int64_t> expected;
  int64_t produced = 0;
  topic_producer writer{settings, in};
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // One record now on partition 0, and on partition 1 unless it pauses.
  auto tick = [&](bool paused) {
    auto ts = now_ms();
    for (int32_t p = 0; p < 2; ++p) {
      if (p == 1 && paused) continue;
      producer_record r;
      r.partition = p;
      r.value = "x";
      r.timestamp = ts;
      writer.produce(r);
      ++expected[{p, ts - ts % window}];
      ++produced;
    }
    writer.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  auto for_one_second = [&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < until)
      tick(false);
  };
  for_one_second();
  // Partition 1's last record is older than this: the windows from
  // pause_start + window on have none of its records.
  const int64_t pause_start = now_ms();
  auto began_in_pause = [&](const std::vector<result>& fired) {
    size_t n = 0;
    for (auto& r : fired)
      n += r.w.start >= pause_start + window;
    return n;
  };
  // The windows fired while partition 1 was still paused.
  std::vector<result> fired_by_pause_end;
  auto pause_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    fired_by_pause_end = windows.records();
    if (began_in_pause(fired_by_pause_end) > 5 ||
        std::chrono::steady_clock::now() >= pause_deadline)
      break;
    tick(true);
  }
  for_one_second();

  // Stop once the job has read everything: on stop the sources end at
  // once, without reading what is left (the rest of the windows fire at
  // end of input).
  auto read_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (records_read < produced &&
         std::chrono::steady_clock::now() < read_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  BOOST_TEST(records_read.load() == produced,
             "the job did not read every record within 60 s");
  stop = true;
  job.join();
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);

  std::map<std::pair<int32_t, int64_t>, int64_t> got;
  for (auto& r : windows.records())
    got[{r.key, r.w.start}] += r.value;
  BOOST_TEST(late.size() == 0u);
  BOOST_TEST((got == expected));
  BOOST_TEST(windows.records().size() == expected.size());
  // Windows that began well inside the pause fired before it ended:
  // partition 1 did not hold the watermark back while it was idle.
  auto in_pause = began_in_pause(fired_by_pause_end);
  BOOST_TEST(in_pause > 5u,
             "only " << in_pause
                     << " windows that began in the pause fired within 60 s "
                        "of it: the idle partition held the watermark back");
}

BOOST_AUTO_TEST_SUITE_END()

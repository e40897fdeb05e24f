// Event time from Kafka: the source keeps a watermark per partition, so a
// partition whose records are far ahead in event time does not make the
// records of a lagging partition, read by the same subtask, late.
#include "fixture.hpp"

#include "flow/collection.hpp"
#include "flow/windows.hpp"

#include <boost/test/unit_test.hpp>

#include <map>

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

BOOST_AUTO_TEST_SUITE_END()

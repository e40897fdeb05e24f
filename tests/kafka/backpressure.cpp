// A sink 100x slower than the source: every record arrives, the source
// waits on credit (bounded in-flight batches), and the reader is neither
// timed out nor rebalanced (it is not a group member; a poll-interval
// violation would fail the job).
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <mutex>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_backpressure, fixture)

BOOST_AUTO_TEST_CASE(slow_sink_all_arrive_memory_bounded) {
  constexpr int n = 20000;
  auto in = make_topic("slow-in", 2);
  std::vector<producer_record> rs(n);
  for (int i = 0; i < n; ++i)
    rs[static_cast<size_t>(i)].value = std::to_string(i);
  produce(in, rs);

  struct shared {
    std::mutex mtx;
    std::vector<int64_t> got;
  };
  auto st = std::make_shared<shared>();
  flow::sink_spec<int64_t> slow;
  slow.name = "slow-sink";
  slow.make = [st](const flow::connector_context&) {
    struct fn final : flow::sink_function<int64_t> {
      std::shared_ptr<shared> st;
      explicit fn(std::shared_ptr<shared> s) : st(std::move(s)) {}
      void write(std::vector<int64_t>& xs) override {
        // ~400 us per record: 2.5k records/s against a source doing ~500k/s.
        std::this_thread::sleep_for(std::chrono::microseconds(400) * xs.size());
        std::lock_guard<std::mutex> g{st->mtx};
        st->got.insert(st->got.end(), xs.begin(), xs.end());
      }
    };
    return std::make_unique<fn>(st);
  };
  flow::topology t{"slow"};
  t.source(source<int64_t>(in)).sink(slow);
  auto opts =
      options(2, {{"kafka.properties",
                   "session.timeout.ms=1000,max.poll.interval.ms=1000"}});
  opts.channels.batch_size = 64;
  opts.channels.credit_window = 4;
  opts.channels.credit_return = 1;
  auto res = flow::runtime::execute(t, opts);
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST_MESSAGE("slow job: " << res.seconds << " s");
  BOOST_TEST(res.seconds > 2.0); // the sink really was slow
  auto* src = res.find(in);
  BOOST_REQUIRE(src != nullptr);
  BOOST_TEST(src->blocked_seconds > 1.0); // the source waited for credit
  BOOST_TEST(res.max_in_flight <= opts.channels.credit_window);
  for (auto& m : res.subtasks)
    BOOST_TEST(m->max_queued_batches.load() <= 2 * opts.channels.credit_window);
  std::sort(st->got.begin(), st->got.end());
  BOOST_REQUIRE_EQUAL(st->got.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE_EQUAL(st->got[static_cast<size_t>(i)], i);
}

BOOST_AUTO_TEST_SUITE_END()

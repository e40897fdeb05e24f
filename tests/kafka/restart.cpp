// Broker restarted mid-stream: the job rides it out (librdkafka reconnects,
// the idempotent producer retries) and nothing is lost.
//
// Needs a command that restarts the suite's broker keeping its data, in
// LIBFLOW_KAFKA_RESTART_CMD (scripts/kafka's stop deletes the data, so it
// cannot be used as is). Without it the test passes with a message saying
// it was skipped.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_restart, fixture)

BOOST_AUTO_TEST_CASE(broker_restart_mid_stream_loses_nothing) {
  auto cmd = std::getenv("LIBFLOW_KAFKA_RESTART_CMD");
  if (cmd == nullptr || *cmd == '\0') {
    BOOST_TEST_MESSAGE("skipped: LIBFLOW_KAFKA_RESTART_CMD is not set");
    return;
  }
  constexpr int n = 200000;
  auto in = make_topic("restart-in", 4);
  auto out = make_topic("restart-out", 4);
  {
    topic_producer w{settings, in};
    for (int i = 0; i < n; ++i) {
      auto v = std::to_string(i);
      std::string_view k{v};
      w.produce(v, &k, {});
    }
    w.flush();
  }
  flow::topology t{"restart"};
  t.source(source<int64_t>(in))
      .map([](int64_t x) {
        // ~30 us per record: the job takes several seconds.
        auto until =
            std::chrono::steady_clock::now() + std::chrono::microseconds(30);
        while (std::chrono::steady_clock::now() < until) {
        }
        return x;
      })
      .sink(sink<int64_t>(out));
  flow::runtime::job_result res;
  std::thread job{[&] { res = flow::runtime::execute(t, options(2)); }};
  std::this_thread::sleep_for(std::chrono::seconds(1));
  BOOST_TEST_MESSAGE("restarting the broker: " << cmd);
  auto rc = std::system(cmd);
  job.join();
  BOOST_REQUIRE_EQUAL(rc, 0);
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST_MESSAGE("job: " << res.seconds << " s");
  std::vector<int64_t> got;
  for (auto& r : read_all(out))
    got.push_back(std::stoll(r.value));
  std::sort(got.begin(), got.end());
  auto dups =
      got.size() -
      static_cast<size_t>(std::unique(got.begin(), got.end()) - got.begin());
  got.erase(std::unique(got.begin(), got.end()), got.end());
  BOOST_TEST_MESSAGE("duplicates after restart: " << dups);
  BOOST_REQUIRE_EQUAL(got.size(), static_cast<size_t>(n)); // nothing lost
  BOOST_TEST(got.front() == 0);
  BOOST_TEST(got.back() == n - 1);
  BOOST_TEST(dups == 0u); // idempotent producer: retries do not duplicate
}

BOOST_AUTO_TEST_SUITE_END()

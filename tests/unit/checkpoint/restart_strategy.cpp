#include "flow/checkpoint/restart_strategy.hpp"

#include <boost/test/unit_test.hpp>

#include <vector>

using namespace flow;
using namespace flow::checkpoint;
using namespace std::chrono_literals;

namespace {

options with_checkpoints() {
  options o;
  o.dir = "/unused";
  o.interval = 1000ms;
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_restart_strategy)

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_the_cap_then_gives_up) {
  auto o = with_checkpoints();
  o.restart_attempts = 5;
  o.restart_backoff = 1000ms;
  o.restart_backoff_max = 5000ms;
  restart_strategy r{o};
  std::vector<std::chrono::milliseconds> delays;
  std::vector<uint32_t> attempts;
  while (auto d = r.on_run_end(run_outcome::failed)) {
    delays.push_back(d->delay);
    attempts.push_back(d->attempt);
    BOOST_CHECK_EQUAL(d->max_attempts, 5u);
  }
  BOOST_CHECK((delays == std::vector<std::chrono::milliseconds>{
                             1000ms, 2000ms, 4000ms, 5000ms, 5000ms}));
  BOOST_CHECK((attempts == std::vector<uint32_t>{1, 2, 3, 4, 5}));
  BOOST_CHECK(!r.on_run_end(run_outcome::failed));
  BOOST_CHECK_EQUAL(r.restarts(), 5u);
}

BOOST_AUTO_TEST_CASE(a_completed_checkpoint_starts_over_and_is_restored) {
  auto o = with_checkpoints();
  o.restart_attempts = 2;
  o.restart_backoff = 100ms;
  restart_strategy r{o};
  // No checkpoint yet: the restart starts as the job first started.
  auto first = r.on_run_end(run_outcome::failed);
  BOOST_REQUIRE(first);
  BOOST_CHECK(first->delay == 100ms);
  BOOST_CHECK(!first->from);
  BOOST_CHECK(r.on_run_end(run_outcome::failed)->delay == 200ms);
  r.on_checkpoint_completed({checkpoint_id{7}, false, 1234});
  auto after = r.on_run_end(run_outcome::failed);
  BOOST_REQUIRE(after);
  BOOST_CHECK_EQUAL(after->attempt, 1u);
  BOOST_CHECK(after->delay == 100ms);
  BOOST_REQUIRE(after->from);
  BOOST_CHECK_EQUAL(after->from->id.value(), 7u);
  BOOST_CHECK_EQUAL(after->from->complete_time_ms, 1234);
  r.on_checkpoint_completed({checkpoint_id{9}, true, 2000});
  r.on_checkpoint_completed({checkpoint_id{10}, false, 3000});
  auto latest = r.on_run_end(run_outcome::failed);
  BOOST_REQUIRE(latest);
  BOOST_CHECK_EQUAL(latest->from->id.value(), 10u);
  BOOST_CHECK(r.on_run_end(run_outcome::failed)->delay == 200ms);
  BOOST_CHECK(!r.on_run_end(run_outcome::failed));
  BOOST_CHECK_EQUAL(r.restarts(), 5u);
}

BOOST_AUTO_TEST_CASE(only_a_failure_restarts) {
  auto o = with_checkpoints();
  o.restart_attempts = 3;
  restart_strategy r{o};
  BOOST_CHECK(!r.on_run_end(run_outcome::finished));
  BOOST_CHECK(!r.on_run_end(run_outcome::bad_config));
  BOOST_CHECK(!r.on_run_end(run_outcome::stopped));
  BOOST_CHECK_EQUAL(r.restarts(), 0u);
  BOOST_CHECK(r.on_run_end(run_outcome::failed));
}

BOOST_AUTO_TEST_CASE(attempts_default_to_on_with_checkpoints_off_without) {
  options off;
  BOOST_CHECK_EQUAL(restart_strategy{off}.max_attempts(), 0u);
  restart_strategy never{off};
  BOOST_CHECK(!never.on_run_end(run_outcome::failed));
  BOOST_CHECK_EQUAL(restart_strategy{with_checkpoints()}.max_attempts(),
                    options::default_restart_attempts);
  // Set explicitly, the value holds either way.
  off.restart_attempts = 2;
  BOOST_CHECK_EQUAL(restart_strategy{off}.max_attempts(), 2u);
  auto on = with_checkpoints();
  on.restart_attempts = 0;
  restart_strategy none{on};
  BOOST_CHECK(!none.on_run_end(run_outcome::failed));
}

BOOST_AUTO_TEST_SUITE_END()

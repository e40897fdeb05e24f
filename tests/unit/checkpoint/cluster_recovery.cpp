#include "flow/checkpoint/cluster_recovery.hpp"
#include "flow/collection.hpp"
#include "flow/runtime/cluster.hpp"
#include "flow/topology.hpp"

#include <boost/test/unit_test.hpp>

using namespace flow;
using namespace flow::checkpoint;
using namespace std::chrono_literals;

namespace {

options with_checkpoints(uint32_t attempts) {
  options o;
  o.dir = "/unused";
  o.interval = 500ms;
  o.restart_attempts = attempts;
  o.restart_backoff = 1000ms;
  o.restart_backoff_max = 4000ms;
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_cluster_recovery)

BOOST_AUTO_TEST_CASE(waits_for_the_lost_slots_then_redeploys_the_latest) {
  cluster_recovery r{with_checkpoints(3), 60000ms, 4};
  r.on_checkpoint_completed({checkpoint_id{5}, false, 100});
  // A worker with 2 of the 4 slots was lost at t = 10 s.
  auto s = r.on_run_end(run_outcome::failed, 10000, 2);
  BOOST_REQUIRE(s.action == recovery_action::wait);
  BOOST_CHECK(s.wait == 60000ms);
  // Still missing slots later: wait for the rest of the timeout.
  s = r.poll(30000, 2);
  BOOST_REQUIRE(s.action == recovery_action::wait);
  BOOST_CHECK(s.wait == 40000ms);
  // The worker is back.
  s = r.poll(31000, 4);
  BOOST_REQUIRE(s.action == recovery_action::redeploy);
  BOOST_REQUIRE(s.restart.from);
  BOOST_CHECK_EQUAL(s.restart.from->id.value(), 5u);
  BOOST_CHECK_EQUAL(s.restart.attempt, 1u);
  BOOST_CHECK_EQUAL(r.restarts(), 1u);
  // Nothing is pending after the redeploy.
  BOOST_CHECK(r.poll(31001, 4).action == recovery_action::give_up);
}

BOOST_AUTO_TEST_CASE(slots_back_early_still_wait_for_the_backoff) {
  cluster_recovery r{with_checkpoints(3), 60000ms, 4};
  auto s = r.on_run_end(run_outcome::failed, 0, 4);
  BOOST_REQUIRE(s.action == recovery_action::wait);
  BOOST_CHECK(s.wait == 1000ms);
  BOOST_CHECK(r.poll(999, 4).action == recovery_action::wait);
  s = r.poll(1000, 4);
  BOOST_REQUIRE(s.action == recovery_action::redeploy);
  // No checkpoint completed: the restart starts as the job first did.
  BOOST_CHECK(!s.restart.from);
}

BOOST_AUTO_TEST_CASE(gives_up_when_the_slots_do_not_come_back_in_time) {
  cluster_recovery r{with_checkpoints(3), 5000ms, 4};
  BOOST_CHECK(r.on_run_end(run_outcome::failed, 0, 2).action ==
              recovery_action::wait);
  BOOST_CHECK(r.poll(4999, 3).action == recovery_action::wait);
  auto s = r.poll(5000, 3);
  BOOST_REQUIRE(s.action == recovery_action::give_up);
  BOOST_CHECK_NE(s.reason.find("3 of 4 slots"), std::string::npos);
  BOOST_CHECK_NE(s.reason.find("cluster.recovery-timeout"), std::string::npos);
  // Too late: a worker registering now changes nothing.
  BOOST_CHECK(r.poll(5001, 4).action == recovery_action::give_up);
}

BOOST_AUTO_TEST_CASE(a_backoff_longer_than_the_timeout_extends_the_wait) {
  auto o = with_checkpoints(3);
  o.restart_backoff = 4000ms;
  cluster_recovery r{o, 1000ms, 2};
  BOOST_CHECK(r.on_run_end(run_outcome::failed, 0, 1).action ==
              recovery_action::wait);
  BOOST_CHECK(r.poll(2000, 1).action == recovery_action::wait);
  BOOST_CHECK(r.poll(3000, 2).action == recovery_action::wait);
  BOOST_CHECK(r.poll(4000, 2).action == recovery_action::redeploy);
}

BOOST_AUTO_TEST_CASE(without_restarts_a_lost_worker_ends_the_job) {
  cluster_recovery r{with_checkpoints(0), 60000ms, 4};
  auto s = r.on_run_end(run_outcome::failed, 0, 4);
  BOOST_REQUIRE(s.action == recovery_action::give_up);
  BOOST_CHECK_NE(s.reason.find("flow.restart-attempts = 0"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(attempts_run_out_unless_a_checkpoint_completes) {
  cluster_recovery r{with_checkpoints(2), 60000ms, 2};
  int64_t now = 0;
  auto recover = [&] {
    auto s = r.on_run_end(run_outcome::failed, now, 2);
    while (s.action == recovery_action::wait) {
      now += s.wait.count();
      s = r.poll(now, 2);
    }
    return s;
  };
  BOOST_CHECK(recover().action == recovery_action::redeploy);
  BOOST_CHECK(recover().action == recovery_action::redeploy);
  auto s = recover();
  BOOST_REQUIRE(s.action == recovery_action::give_up);
  BOOST_CHECK_NE(s.reason.find("no restart left (2 attempts"),
                 std::string::npos);
  // Progress starts the count over.
  r.on_checkpoint_completed({checkpoint_id{9}, false, now});
  s = recover();
  BOOST_REQUIRE(s.action == recovery_action::redeploy);
  BOOST_CHECK_EQUAL(s.restart.from->id.value(), 9u);
}

BOOST_AUTO_TEST_CASE(finished_stopped_or_misconfigured_runs_never_recover) {
  for (auto outcome :
       {run_outcome::finished, run_outcome::stopped, run_outcome::bad_config}) {
    cluster_recovery r{with_checkpoints(3), 60000ms, 1};
    BOOST_CHECK(r.on_run_end(outcome, 0, 1).action == recovery_action::give_up);
  }
}

BOOST_AUTO_TEST_CASE(the_slots_needed_are_those_placement_uses) {
  topology t{"placed"};
  collector<int> out;
  auto spec = out.sink();
  spec.slot_group = "sinks";
  t.source(from_collection(std::vector<int>{1}))
      .parallelism(3)
      .rebalance()
      .sink(spec);
  plan_options popts;
  popts.default_parallelism = 2;
  auto plan = physical_plan::build(t, popts);
  // Slots 0-2 for the sources, 3-4 for the sinks' own group.
  BOOST_CHECK_EQUAL(slots_needed(plan), 5u);
  BOOST_CHECK_NO_THROW(runtime::place(plan, {{"a", 3}, {"b", 2}}));
  BOOST_CHECK_THROW(runtime::place(plan, {{"a", 2}, {"b", 2}}),
                    flow::config_failure);
}

BOOST_AUTO_TEST_SUITE_END()

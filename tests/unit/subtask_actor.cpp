// The subtask actor carries out what its driver decides: CAF's
// deterministic test_coordinator runs one message at a time and fires
// timers only when told, so each poll, timer and report can be watched.
#include "scripted_task.hpp"

#include "flow/runtime/messages.hpp"
#include "flow/runtime/subtask_actor.hpp"

#include <boost/test/unit_test.hpp>

#include <caf/scheduler/test_coordinator.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace flow;
using namespace flow::runtime;
using namespace std::chrono_literals;
using test::poll_step;

namespace {

using log_lines = std::vector<std::string>;

/// Stands in for the job and the downstream subtask: logs what arrives.
caf::behavior recorder(caf::event_based_actor* self,
                       std::shared_ptr<log_lines> log) {
  self->set_down_handler([log](caf::down_msg& dm) {
    log->push_back(dm.reason ? "down with error" : "down");
  });
  return {
      [=](const caf::actor& watched) { self->monitor(watched); },
      [=](batch_atom, uint32_t, batch_ptr& b) {
        log->push_back("batch " + std::to_string(b->size()));
      },
      [=](eos_atom, uint32_t) { log->push_back("eos"); },
      [=](credit_atom, uint32_t, uint32_t n) {
        log->push_back("credit " + std::to_string(n));
      },
      [=](done_atom, uint32_t id, subtask_totals& t) {
        log->push_back("done " + std::to_string(id) + " out " +
                       std::to_string(t.records_out));
      },
      [=](failed_atom, uint32_t id, std::string& msg) {
        log->push_back("failed " + std::to_string(id) + ": " + msg);
      },
  };
}

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return cfg;
}

/// A subtask whose input (if any), one output and job are a recorder.
struct adapter_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<log_lines> log = std::make_shared<log_lines>();
  test::task_script script;
  caf::actor peer = sys.spawn(recorder, log);
  caf::actor subtask;

  ~adapter_fixture() {
    caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
    if (subtask) caf::anon_send_exit(subtask, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Spawns and wires the subtask (the wiring is not handled yet): a
  /// source, or an operator with one input.
  void spawn_scripted(bool source = true) {
    subtask_spec spec;
    spec.plan.operator_name = "scripted";
    spec.plan.outputs = {channel_id{0}};
    if (!source) {
      spec.plan.inputs = {channel_id{1}};
      spec.plan.input_edges = {0};
    }
    spec.make_task = test::scripted(script);
    spec.options.status_interval = 0s;
    spec.options.http_port = 0; // no periodic reports
    spec.options.flush_interval = 5ms;
    spec.options.source_poll_records = 1;
    spec.metrics = std::make_shared<subtask_metrics>();
    spec.job = peer;
    subtask = spawn_subtask(sys, std::move(spec));
    caf::anon_send(peer, subtask);
    sched.run();
    wiring w;
    w.downstream = {peer};
    w.downstream_slots = {0};
    if (!source) {
      w.upstream = {peer};
      w.upstream_slots = {0};
    }
    caf::anon_send(subtask, wire_atom::value, std::move(w));
  }

  /// Whether `a` has a message waiting, and it starts with `atom`.
  bool next_is(const caf::actor& a, caf::atom_value atom) {
    if (!sched.prioritize(a)) return false;
    auto* m = sched.next_job<caf::scheduled_actor>().mailbox().peek();
    return m != nullptr && m->content().match_element<caf::atom_value>(0) &&
           m->content().get_as<caf::atom_value>(0) == atom;
  }

  /// Handles the next message of `a`.
  void run_next(const caf::actor& a) {
    BOOST_REQUIRE(sched.prioritize(a));
    sched.run_once();
  }

  /// Lets the recorder handle everything sent to it so far.
  const log_lines& recorded() {
    while (sched.prioritize(peer))
      sched.run_once();
    return *log;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(subtask_actor_adapter, adapter_fixture)

BOOST_AUTO_TEST_CASE(a_source_subtask_polls_flushes_on_its_timer_and_reports) {
  script.polls = {poll_step{source_state::more, 3},
                  poll_step{source_state::more}, poll_step{source_state::idle},
                  poll_step{source_state::done}};
  spawn_scripted();
  // Wiring: the first poll buffers 3 records and asks for another poll at
  // once; the flush timer is armed.
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.polled, 1u);
  BOOST_CHECK(next_is(subtask, poll_atom::value));
  BOOST_CHECK(sched.has_pending_timeout());
  // The timer fires behind the poll; the poll asks for one more.
  BOOST_CHECK_EQUAL(sched.trigger_timeouts(), 1u);
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.polled, 2u);
  BOOST_CHECK(next_is(subtask, flush_atom::value));
  BOOST_CHECK(recorded().empty());
  // The timer sends the partial batch.
  run_next(subtask);
  BOOST_CHECK((recorded() == log_lines{"batch 3"}));
  // Idle: the retry comes 1 ms later, not before.
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.polled, 3u);
  BOOST_CHECK(!sched.prioritize(subtask));
  BOOST_CHECK_EQUAL(sched.advance_time(999us), 0u);
  BOOST_CHECK_EQUAL(sched.advance_time(1us), 1u);
  BOOST_CHECK(next_is(subtask, poll_atom::value));
  // Input ends: end-of-stream downstream, done to the job, the actor ends.
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.polled, 4u);
  BOOST_CHECK(
      (recorded() == log_lines{"batch 3", "eos", "done 0 out 3", "down"}));
  BOOST_CHECK(!script.task_alive);
}

BOOST_AUTO_TEST_CASE(a_wake_up_polls_an_idle_source_before_its_retry) {
  script.wakes = true;
  script.polls = {poll_step{source_state::idle},
                  poll_step{source_state::done, 2}};
  spawn_scripted();
  run_next(subtask);
  BOOST_REQUIRE(script.wake);
  BOOST_CHECK(sched.has_pending_timeout()); // the fallback retry
  script.wake();
  BOOST_CHECK(next_is(subtask, wake_atom::value));
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.polled, 2u);
  BOOST_CHECK(
      (recorded() == log_lines{"batch 2", "eos", "done 0 out 2", "down"}));
  // The stale retry finds the actor gone.
  sched.trigger_timeouts();
  BOOST_CHECK(!sched.prioritize(subtask));
}

BOOST_AUTO_TEST_CASE(a_failing_source_reports_the_error_and_ends) {
  script.polls = {poll_step{source_state::more, 0, false, "no such topic"}};
  spawn_scripted();
  run_next(subtask);
  BOOST_CHECK((recorded() ==
               log_lines{"failed 0: operator 'scripted' subtask 0/1 failed: "
                         "std::runtime_error: no such topic",
                         "down with error"}));
  BOOST_CHECK(!script.task_alive);
}

BOOST_AUTO_TEST_CASE(an_operator_flushes_when_its_mailbox_runs_empty) {
  spawn_scripted(false);
  run_next(subtask);
  BOOST_CHECK(!sched.has_pending_timeout());
  auto records = [](size_t n) -> batch_ptr {
    return std::make_shared<typed_batch<int>>(std::vector<int>(n, 1));
  };
  caf::anon_send(subtask, batch_atom::value, uint32_t{0}, records(2));
  caf::anon_send(subtask, batch_atom::value, uint32_t{0}, records(2));
  // More input waits in the mailbox: the partial batch waits too, the
  // flush timer is armed.
  run_next(subtask);
  BOOST_CHECK_EQUAL(script.processed, 1u);
  BOOST_CHECK((recorded() == log_lines{"credit 1"}));
  BOOST_CHECK(sched.has_pending_timeout());
  // The mailbox ran empty: out at once, both inputs in one batch.
  run_next(subtask);
  BOOST_CHECK((recorded() == log_lines{"credit 1", "credit 1", "batch 4"}));
  caf::anon_send(subtask, eos_atom::value, uint32_t{0});
  run_next(subtask);
  BOOST_CHECK((recorded() == log_lines{"credit 1", "credit 1", "batch 4", "eos",
                                       "done 0 out 4", "down"}));
}

BOOST_AUTO_TEST_SUITE_END()

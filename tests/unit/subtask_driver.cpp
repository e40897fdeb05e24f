// The decisions of subtask_driver, event by event, on a manual clock: when
// a subtask polls, flushes, arms its timer and reports the end.
#include "scripted_task.hpp"

#include "flow/subtask_driver.hpp"

#include <boost/test/unit_test.hpp>

#include <optional>

using namespace flow;
using namespace std::chrono_literals;
using test::poll_step;

namespace {

struct counting_transport final : transport {
  size_t batches = 0;
  size_t ends = 0;
  size_t credits = 0;
  void send_batch(size_t, batch_ptr) override { ++batches; }
  void send_end_of_stream(size_t) override { ++ends; }
  void send_watermark(size_t, int64_t) override {}
  void send_idle(size_t, bool) override {}
  void send_credit(size_t, uint32_t n) override { credits += n; }
};

/// One subtask ("explode", 1 of 3) with a scripted task, an operator with
/// one input or a source, and `outputs` output channels.
struct driver_fixture {
  test::task_script script;
  counting_transport tr;
  subtask_metrics metrics;
  manual_clock clk{1000};
  job_options opts;
  subtask_plan plan;
  task_factory make = test::scripted(script);
  bool mailbox_empty = false;
  std::optional<subtask_driver> driver;

  driver_fixture() {
    plan.operator_name = "explode";
    plan.index = 1;
    plan.parallelism = 3;
    opts.flush_interval = 5ms;
    // One call of the task's poll() per poll of the subtask.
    opts.source_poll_records = 1;
    opts.channels.batch_size = 1;
  }

  subtask_driver& make_driver(bool source, size_t outputs = 0) {
    plan.input_edges.assign(source ? 0 : 1, 0);
    plan.outputs.assign(outputs, channel_id{0});
    driver.emplace(plan, make, opts, tr, metrics, clk,
                   [this] { return mailbox_empty; });
    return *driver;
  }

  static batch_ptr records(size_t n) {
    return std::make_shared<typed_batch<int>>(std::vector<int>(n, 7));
  }
};

bool nothing_to_do(const driver_action& a) {
  return a.poll == poll_request::none && !a.timer &&
         a.report == subtask_report::none;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(subtask_driver_policy, driver_fixture)

BOOST_AUTO_TEST_CASE(a_busy_source_polls_at_once_an_idle_one_after_a_delay) {
  script.polls = {poll_step{source_state::more}, poll_step{source_state::idle}};
  auto& d = make_driver(true);
  auto a = d.start({});
  BOOST_CHECK_EQUAL(script.polled, 1u);
  BOOST_CHECK(a.poll == poll_request::now);
  BOOST_CHECK(!a.timer);
  a = d.on_poll(a.poll_generation);
  BOOST_CHECK_EQUAL(script.polled, 2u);
  BOOST_CHECK(a.poll == poll_request::later);
  BOOST_CHECK(a.poll_delay == subtask_driver::idle_retry);
  // The retry polls (the script is out of answers: idle again).
  a = d.on_poll(a.poll_generation);
  BOOST_CHECK_EQUAL(script.polled, 3u);
  BOOST_CHECK(a.poll == poll_request::later);
  BOOST_CHECK(a.poll_delay == 1ms);
}

BOOST_AUTO_TEST_CASE(a_source_that_wakes_the_subtask_is_retried_less_often) {
  script.wakes = true;
  auto& d = make_driver(true);
  auto a = d.start([] {});
  BOOST_CHECK(script.wake);
  BOOST_CHECK(a.poll == poll_request::later);
  BOOST_CHECK(a.poll_delay == subtask_driver::idle_retry_with_wakeups);
  BOOST_CHECK(subtask_driver::idle_retry_with_wakeups >
              subtask_driver::idle_retry);
}

BOOST_AUTO_TEST_CASE(a_wake_up_polls_an_idle_source_and_stales_its_retry) {
  script.wakes = true;
  script.polls = {poll_step{source_state::idle}, poll_step{source_state::more}};
  auto& d = make_driver(true);
  auto retry = d.start([] {});
  BOOST_REQUIRE(retry.poll == poll_request::later);
  auto a = d.on_wakeup();
  BOOST_CHECK_EQUAL(script.polled, 2u);
  BOOST_REQUIRE(a.poll == poll_request::now);
  BOOST_CHECK_NE(a.poll_generation, retry.poll_generation);
  // The retry arrives after all: stale, the source is not polled for it.
  BOOST_CHECK(nothing_to_do(d.on_poll(retry.poll_generation)));
  BOOST_CHECK_EQUAL(script.polled, 2u);
  // A busy source ignores wake-ups: its poll is already on the way.
  BOOST_CHECK(nothing_to_do(d.on_wakeup()));
  BOOST_CHECK_EQUAL(script.polled, 2u);
  auto next = d.on_poll(a.poll_generation);
  BOOST_CHECK_EQUAL(script.polled, 3u);
  BOOST_CHECK(next.poll == poll_request::later);
  BOOST_CHECK_EQUAL(next.poll_generation, a.poll_generation);
}

BOOST_AUTO_TEST_CASE(an_idle_source_sends_what_it_read_at_once) {
  script.polls = {poll_step{source_state::idle, 3}};
  auto& d = make_driver(true, 1);
  auto a = d.start({});
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_CHECK(script.partial.empty());
  BOOST_CHECK(!a.timer);
}

BOOST_AUTO_TEST_CASE(a_source_without_credit_waits_for_it_then_polls) {
  opts.channels.credit_window = 1;
  for (int i = 0; i < 3; ++i)
    script.polls.push_back(poll_step{source_state::more, 1, true});
  auto& d = make_driver(true, 1);
  auto a = d.start({});
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_REQUIRE(a.poll == poll_request::now);
  // The second batch finds no credit: the source stops asking to be polled.
  a = d.on_poll(a.poll_generation);
  BOOST_CHECK_EQUAL(script.polled, 2u);
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_CHECK(a.poll == poll_request::none);
  BOOST_CHECK(d.core()->blocked());
  // Credit sends it and polls again.
  a = d.on_credit(0, 1);
  BOOST_CHECK_EQUAL(tr.batches, 2u);
  BOOST_CHECK_EQUAL(script.polled, 3u);
}

BOOST_AUTO_TEST_CASE(partial_batches_leave_at_once_when_the_mailbox_is_empty) {
  auto& d = make_driver(false, 1);
  BOOST_CHECK(nothing_to_do(d.start({})));
  mailbox_empty = true;
  auto a = d.on_batch(0, records(2));
  BOOST_CHECK_EQUAL(script.processed, 1u);
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_CHECK(!a.timer); // nothing left to flush
  mailbox_empty = false;
  a = d.on_batch(0, records(2));
  BOOST_CHECK_EQUAL(script.processed, 2u);
  BOOST_CHECK_EQUAL(tr.batches, 1u); // more input waits: the batch fills up
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(*a.timer == opts.flush_interval);
}

BOOST_AUTO_TEST_CASE(one_flush_timer_is_armed_at_a_time) {
  auto& d = make_driver(false, 1);
  d.start({});
  auto a = d.on_batch(0, records(1));
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(!d.on_batch(0, records(1)).timer);
  BOOST_CHECK(!d.on_watermark(0, 10).timer);
  // The timer flushes; nothing is buffered and no clock wake-up is due.
  a = d.on_timer();
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_CHECK(!a.timer);
  // New partial output arms it again.
  a = d.on_batch(0, records(1));
  BOOST_CHECK(a.timer);
}

BOOST_AUTO_TEST_CASE(the_timer_serves_the_flush_interval_and_clock_wakeups) {
  auto& d = make_driver(false, 1);
  // A processing-time timer due before the flush interval: it decides.
  script.next_timer = clk.now() + 2;
  auto a = d.start({});
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(*a.timer == 2ms);
  clk.advance(2);
  a = d.on_timer();
  BOOST_CHECK_EQUAL(script.timers_fired, 1u);
  BOOST_CHECK(!a.timer);
  // Due after the flush interval: the flush interval decides, and the
  // wake-up is served to within one interval.
  script.next_timer = clk.now() + 50;
  a = d.on_watermark(0, 10);
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(*a.timer == opts.flush_interval);
  clk.advance(5);
  a = d.on_timer();
  BOOST_CHECK_EQUAL(script.timers_fired, 1u);
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(*a.timer == opts.flush_interval);
  // Overdue: the next millisecond.
  clk.advance(100);
  a = d.on_timer();
  BOOST_CHECK_EQUAL(script.timers_fired, 2u);
  script.next_timer = clk.now() - 10;
  a = d.on_watermark(0, 20);
  BOOST_REQUIRE(a.timer);
  BOOST_CHECK(*a.timer == 1ms);
}

BOOST_AUTO_TEST_CASE(completion_is_reported_once_and_ends_all_actions) {
  auto& d = make_driver(false, 1);
  d.start({});
  mailbox_empty = false;
  d.on_batch(0, records(3));
  auto a = d.on_end_of_stream(0);
  BOOST_CHECK(a.report == subtask_report::finished);
  BOOST_CHECK(a.poll == poll_request::none);
  BOOST_CHECK(!a.timer);
  BOOST_CHECK_EQUAL(tr.batches, 1u); // the partial batch went out first
  BOOST_CHECK_EQUAL(tr.ends, 1u);
  BOOST_CHECK(d.state() == driver_state::finished);
  BOOST_CHECK(!script.task_alive);
  BOOST_CHECK(nothing_to_do(d.on_timer()));
  BOOST_CHECK(nothing_to_do(d.on_credit(0, 1)));
  BOOST_CHECK(nothing_to_do(d.on_end_of_stream(0)));
  BOOST_CHECK(nothing_to_do(d.on_stop()));
  BOOST_CHECK(nothing_to_do(d.start({})));
}

BOOST_AUTO_TEST_CASE(a_source_reports_completion_when_its_input_ends) {
  script.polls = {poll_step{source_state::more, 2},
                  poll_step{source_state::done, 1}};
  auto& d = make_driver(true, 1);
  auto a = d.start({});
  BOOST_CHECK(a.report == subtask_report::none);
  a = d.on_poll(a.poll_generation);
  BOOST_CHECK(a.report == subtask_report::finished);
  BOOST_CHECK_EQUAL(tr.batches, 1u);
  BOOST_CHECK_EQUAL(tr.ends, 1u);
  BOOST_CHECK(nothing_to_do(d.on_poll(a.poll_generation)));
  BOOST_CHECK(nothing_to_do(d.on_wakeup()));
}

BOOST_AUTO_TEST_CASE(with_checkpoints_an_ended_subtask_waits_for_its_release) {
  // The job's final checkpoint (job_checkpoints): the source's output ends
  // (end-of-stream sent), it says so once, snapshots when told, and
  // finishes when released.
  opts.checkpoints.interval = 1s;
  script.polls = {poll_step{source_state::more, 2},
                  poll_step{source_state::done, 1}};
  auto& d = make_driver(true, 1);
  auto a = d.start({});
  a = d.on_poll(a.poll_generation);
  BOOST_CHECK_EQUAL(tr.ends, 1u);
  BOOST_CHECK(a.ended);
  BOOST_CHECK(a.report == subtask_report::none);
  BOOST_CHECK(d.state() == driver_state::running);
  a = d.on_end_checkpoint(checkpoint_id{4});
  BOOST_CHECK(!a.ended); // said once
  BOOST_REQUIRE_EQUAL(a.snapshots.size(), 1u);
  BOOST_CHECK_EQUAL(a.snapshots[0].id.value(), 4u);
  BOOST_CHECK(d.on_end_checkpoint(checkpoint_id{4}).snapshots.empty());
  a = d.on_release();
  BOOST_CHECK(a.report == subtask_report::finished);
  BOOST_CHECK(d.state() == driver_state::finished);
}

BOOST_AUTO_TEST_CASE(stop_ends_a_source_at_its_next_poll) {
  script.polls = {poll_step{source_state::more}};
  auto& d = make_driver(true, 1);
  auto poll = d.start({});
  // The pending poll is not duplicated by the stop.
  auto a = d.on_stop();
  BOOST_CHECK_EQUAL(script.stops, 1u);
  BOOST_CHECK(nothing_to_do(a));
  a = d.on_poll(poll.poll_generation);
  BOOST_CHECK(a.report == subtask_report::finished);
  BOOST_CHECK_EQUAL(tr.ends, 1u);
}

BOOST_AUTO_TEST_CASE(a_throwing_user_function_fails_the_subtask_by_name) {
  script.process_error = "bad record 777";
  auto& d = make_driver(false, 1);
  d.start({});
  auto a = d.on_batch(0, records(1));
  BOOST_CHECK(a.report == subtask_report::failed);
  BOOST_CHECK_EQUAL(a.error, "operator 'explode' subtask 1/3 failed: "
                             "std::runtime_error: bad record 777");
  BOOST_CHECK(a.poll == poll_request::none);
  BOOST_CHECK(!a.timer);
  BOOST_CHECK(d.state() == driver_state::failed);
  BOOST_CHECK(!script.task_alive);
  BOOST_CHECK(nothing_to_do(d.on_batch(0, records(1))));
  BOOST_CHECK(nothing_to_do(d.on_timer()));
  BOOST_CHECK(nothing_to_do(d.on_end_of_stream(0)));
}

BOOST_AUTO_TEST_CASE(a_throwing_source_fails_the_subtask_by_name) {
  script.polls = {poll_step{source_state::more},
                  poll_step{source_state::more, 0, false, "no such topic"}};
  auto& d = make_driver(true, 1);
  auto a = d.on_poll(d.start({}).poll_generation);
  BOOST_CHECK(a.report == subtask_report::failed);
  BOOST_CHECK_EQUAL(a.error, "operator 'explode' subtask 1/3 failed: "
                             "std::runtime_error: no such topic");
  BOOST_CHECK(nothing_to_do(d.on_poll(0)));
}

BOOST_AUTO_TEST_CASE(a_task_that_cannot_open_fails_the_subtask_by_name) {
  make = [](const task_setup&) -> std::unique_ptr<task> {
    throw std::runtime_error("cannot connect");
  };
  auto& d = make_driver(true, 1);
  auto a = d.start({});
  BOOST_CHECK(a.report == subtask_report::failed);
  BOOST_CHECK_EQUAL(a.error, "operator 'explode' subtask 1/3 failed to open: "
                             "std::runtime_error: cannot connect");
  BOOST_CHECK(d.state() == driver_state::failed);
  BOOST_CHECK(nothing_to_do(d.on_poll(0)));
}

BOOST_AUTO_TEST_CASE(events_before_the_start_do_nothing) {
  auto& d = make_driver(false, 1);
  BOOST_CHECK(d.state() == driver_state::created);
  BOOST_CHECK(nothing_to_do(d.on_timer()));
  BOOST_CHECK(nothing_to_do(d.on_wakeup()));
  BOOST_CHECK(d.core() == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

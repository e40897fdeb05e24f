// A sink that must wait (a full producer queue, a flush, a connection being
// opened) says so instead of blocking its thread: the subtask withholds
// credit and is finished only when the sink is. Plain subtask_core, no
// actor system; blocking work through background_result.
#include "flow/blocking_executor.hpp"
#include "flow/connector.hpp"
#include "flow/subtask_core.hpp"
#include "flow/subtask_driver.hpp"

#include <boost/test/unit_test.hpp>

#include <deque>
#include <functional>
#include <stdexcept>
#include <vector>

using namespace flow;

namespace {

/// Records what the subtask sends.
struct recording_transport final : transport {
  void send_batch(size_t, batch_ptr) override {}
  void send_end_of_stream(size_t) override {}
  void send_watermark(size_t, int64_t) override {}
  void send_idle(size_t, bool) override {}
  void send_credit(size_t, uint32_t n) override { credit += n; }
  uint32_t credit = 0;
};

/// A sink that is busy after each write and after finish() until the test
/// opens its gate, as a Kafka sink is until delivery reports make room.
struct gated_sink final : sink_function<int> {
  void write(std::vector<int>& xs) override {
    written.insert(written.end(), xs.begin(), xs.end());
    waiting = true;
  }
  void finish() override {
    finish_calls++;
    waiting = true;
  }
  /// A checkpoint waits, as for acknowledgements of what was written.
  void prepare_checkpoint() override {
    ++prepared;
    waiting = true;
  }
  bool busy() const override { return waiting; }
  void resume() override {
    ++resumes;
    if (gate_open) waiting = false;
  }
  bool set_wakeup(std::function<void()> w) override {
    wake = std::move(w);
    return true;
  }
  /// Lets the sink go on once, as one delivery report would.
  void open_gate() {
    gate_open = true;
    wake();
  }

  std::vector<int> written;
  std::function<void()> wake;
  bool waiting = false;
  bool gate_open = false;
  int resumes = 0;
  int finish_calls = 0;
  int prepared = 0;
};

batch_ptr batch_of(std::vector<int> xs) {
  return std::make_shared<typed_batch<int>>(std::move(xs));
}

struct sink_subtask {
  explicit sink_subtask(uint32_t credit_window) {
    channel_options opts;
    opts.credit_window = credit_window;
    opts.credit_return = 1;
    task_factory make = [this](const task_setup& s) {
      auto fn = std::make_unique<gated_sink>();
      sink = fn.get();
      return std::make_unique<sink_task<int>>(s, std::move(fn));
    };
    core = std::make_unique<subtask_core>(
        make, task_setup{}, std::vector<size_t>{0}, 0, opts, tr, metrics);
    woken = 0;
    wakes = core->set_wakeup([this] { ++woken; });
  }
  recording_transport tr;
  subtask_metrics metrics;
  gated_sink* sink = nullptr;
  std::unique_ptr<subtask_core> core;
  bool wakes = false;
  int woken = 0;
};

/// Runs blocking work only when the test says so, as a detached thread
/// would some time later.
struct manual_executor final : blocking_executor {
  void run(std::function<void()> work) override {
    queued.push_back(std::move(work));
  }
  void run_next() {
    auto w = std::move(queued.front());
    queued.pop_front();
    w();
  }
  std::deque<std::function<void()>> queued;
};

} // namespace

BOOST_AUTO_TEST_SUITE(busy_sink)

BOOST_AUTO_TEST_CASE(
    a_checkpoint_waits_until_the_sink_made_its_writes_durable) {
  sink_subtask s{4};
  s.core->on_batch(0, batch_of({1}));
  s.core->on_barrier(0, checkpoint_id{1});
  s.core->on_batch(0, batch_of({2}));
  s.core->drain(); // writes {1}, then waits
  s.sink->gate_open = true;
  s.core->drain(); // the barrier: the sink is asked to make {1} durable
  BOOST_TEST(s.sink->prepared == 1);
  BOOST_TEST(s.core->take_snapshots().empty());
  BOOST_TEST(s.sink->written == std::vector<int>({1}));
  s.sink->gate_open = false;
  s.core->drain(); // still flushing: no acknowledgement yet
  BOOST_TEST(s.core->take_snapshots().empty());
  s.sink->gate_open = true;
  s.core->drain(); // flushed: the snapshot goes out, then input goes on
  auto snaps = s.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
  BOOST_TEST(snaps[0].id.value() == 1u);
  BOOST_TEST(s.sink->written == std::vector<int>({1, 2}));
}

BOOST_AUTO_TEST_CASE(busy_sink_takes_no_input_and_withholds_credit) {
  sink_subtask s{4};
  BOOST_TEST(s.wakes);
  s.core->on_batch(0, batch_of({1, 2}));
  s.core->on_batch(0, batch_of({3}));
  s.core->on_batch(0, batch_of({4}));
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->written == std::vector<int>({1, 2}));
  BOOST_TEST(s.tr.credit == 1u); // for the batch taken, not the two queued
  BOOST_TEST(s.core->queued() == 2u);

  // Still waiting: drain() resumes the sink and takes nothing more.
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->resumes == 1);
  BOOST_TEST(s.sink->written.size() == 2u);
  BOOST_TEST(s.tr.credit == 1u);

  // Room again: one batch goes in per resume, as the gated sink waits
  // after every write.
  s.sink->open_gate();
  BOOST_TEST(s.woken == 1);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->written == std::vector<int>({1, 2, 3}));
  BOOST_TEST(s.tr.credit == 2u);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->written == std::vector<int>({1, 2, 3, 4}));
  BOOST_TEST(s.tr.credit == 3u);
  BOOST_TEST(s.core->queued() == 0u);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::waiting));
}

BOOST_AUTO_TEST_CASE(subtask_finishes_only_when_the_sink_has_finished) {
  sink_subtask s{2};
  s.core->on_end_of_stream(0);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->finish_calls == 1);
  BOOST_TEST(!s.core->finished());
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(!s.core->finished());
  s.sink->open_gate();
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::finished));
  BOOST_TEST(s.core->finished());
  BOOST_TEST(s.sink->finish_calls == 1);
}

BOOST_AUTO_TEST_CASE(end_of_stream_waits_behind_a_busy_sink) {
  sink_subtask s{2};
  s.core->on_batch(0, batch_of({7}));
  s.core->on_end_of_stream(0);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy));
  BOOST_TEST(s.sink->finish_calls == 0); // its records are not through yet
  s.sink->open_gate();
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::busy)); // finishing now
  BOOST_TEST(s.sink->finish_calls == 1);
  BOOST_TEST(static_cast<int>(s.core->drain()) ==
             static_cast<int>(step_result::finished));
}

BOOST_AUTO_TEST_CASE(driver_resumes_a_busy_sink_on_wake_up_or_retry) {
  gated_sink* sink = nullptr;
  task_factory make = [&sink](const task_setup& s) {
    auto fn = std::make_unique<gated_sink>();
    sink = fn.get();
    return std::make_unique<sink_task<int>>(s, std::move(fn));
  };
  subtask_plan plan;
  plan.operator_name = "to-kafka";
  plan.input_edges = {0};
  job_options opts;
  recording_transport tr;
  subtask_metrics metrics;
  manual_clock clk{0};
  subtask_driver d{plan, make, opts, tr, metrics, clk, [] { return true; }};
  int woken = 0;
  auto a = d.start([&woken] { ++woken; });
  BOOST_REQUIRE(sink != nullptr);
  BOOST_CHECK(a.poll == poll_request::none);

  // Busy after the first batch: retried as a fallback only (it wakes).
  a = d.on_batch(0, batch_of({1}));
  BOOST_REQUIRE(a.poll == poll_request::later);
  BOOST_CHECK(a.poll_delay == subtask_driver::idle_retry_with_wakeups);
  auto retry = a.poll_generation;
  a = d.on_batch(0, batch_of({2}));
  BOOST_CHECK(sink->written == std::vector<int>({1}));
  BOOST_CHECK(a.poll == poll_request::none); // the retry is on its way

  // The wake-up resumes it at once; the retry is stale then.
  sink->open_gate();
  BOOST_CHECK_EQUAL(woken, 1);
  a = d.on_wakeup();
  BOOST_CHECK(sink->written == std::vector<int>({1, 2}));
  BOOST_REQUIRE(a.poll == poll_request::later); // busy after the write
  BOOST_CHECK_NE(a.poll_generation, retry);
  auto pending = a.poll_generation;
  BOOST_CHECK(d.on_poll(retry).poll == poll_request::none);
  BOOST_CHECK_EQUAL(sink->resumes, 2);

  // End of input: finished only once the sink's finish has completed.
  sink->gate_open = false;
  a = d.on_end_of_stream(0);
  BOOST_CHECK(a.report == subtask_report::none);
  a = d.on_poll(pending); // the retry: still waiting
  BOOST_CHECK(a.report == subtask_report::none);
  BOOST_CHECK(a.poll == poll_request::later);
  sink->open_gate();
  a = d.on_wakeup();
  BOOST_CHECK(a.report == subtask_report::none); // finish() was just called
  BOOST_CHECK_EQUAL(sink->finish_calls, 1);
  a = d.on_wakeup();
  BOOST_CHECK(a.report == subtask_report::finished);
}

BOOST_AUTO_TEST_CASE(background_result_is_pending_until_the_work_ran) {
  manual_executor ex;
  background_result<int> r;
  r.start(&ex, [] { return 42; });
  BOOST_TEST(r.started());
  BOOST_TEST(!r.ready());
  BOOST_TEST(ex.queued.size() == 1u);
  ex.run_next();
  BOOST_TEST(r.ready());
  BOOST_TEST(r.take() == 42);
  BOOST_TEST(!r.started());
}

BOOST_AUTO_TEST_CASE(background_result_rethrows_what_the_work_threw) {
  manual_executor ex;
  background_result<void> r;
  r.start(&ex, []() -> void { throw std::runtime_error("broker down"); });
  ex.run_next();
  BOOST_REQUIRE(r.ready());
  BOOST_CHECK_EXCEPTION(r.take(), std::runtime_error,
                        [](const std::runtime_error& e) {
                          return e.what() == std::string("broker down");
                        });
}

BOOST_AUTO_TEST_CASE(background_result_without_executor_runs_inline) {
  background_result<std::unique_ptr<int>> r;
  r.start(nullptr, [] { return std::make_unique<int>(7); });
  BOOST_REQUIRE(r.ready());
  BOOST_TEST(*r.take() == 7);
}

BOOST_AUTO_TEST_CASE(work_knows_when_its_owner_has_let_go) {
  manual_executor ex;
  std::vector<bool> seen;
  auto work = [&seen] {
    seen.push_back(blocking_work_abandoned());
    return 1;
  };
  background_result<int> kept, released, replaced;
  kept.start(&ex, work);
  {
    background_result<int> gone;
    gone.start(&ex, work);
  }
  released.start(&ex, work);
  released.release_on(nullptr);
  replaced.start(&ex, work);
  replaced = background_result<int>{};
  while (!ex.queued.empty())
    ex.run_next();
  BOOST_TEST(seen == std::vector<bool>({false, true, true, true}));
  BOOST_TEST(kept.take() == 1);
  BOOST_TEST(!blocking_work_abandoned()); // outside any work
}

BOOST_AUTO_TEST_CASE(work_outliving_its_owner_is_harmless) {
  manual_executor ex;
  {
    background_result<std::vector<int>> r;
    r.start(&ex, [] { return std::vector<int>(1000, 1); });
  }
  ex.run_next(); // the owner is gone; the work's state is still its own
  BOOST_TEST(ex.queued.empty());
}

BOOST_AUTO_TEST_SUITE_END()

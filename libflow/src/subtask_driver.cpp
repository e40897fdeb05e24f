#include "flow/subtask_driver.hpp"

#include "flow/exceptions.hpp"

#include <algorithm>

namespace flow {

subtask_driver::subtask_driver(const subtask_plan& plan,
                               const task_factory& make,
                               const job_options& opts, transport& tr,
                               subtask_metrics& metrics, const flow::clock& clk,
                               std::function<bool()> mailbox_empty)
    : plan_(plan), make_(make), opts_(opts), transport_(tr), metrics_(metrics),
      clock_(clk), mailbox_empty_(std::move(mailbox_empty)) {}

subtask_driver::~subtask_driver() = default;

driver_action subtask_driver::start(std::function<void()> wake,
                                    blocking_executor* executor,
                                    const subtask_restore* restore,
                                    state_backend* state) {
  if (state_ != driver_state::created) return {};
  try {
    task_setup setup;
    setup.operator_name = plan_.operator_name;
    setup.subtask_index = plan_.index;
    setup.parallelism = plan_.parallelism;
    setup.outputs = plan_.out_edges;
    setup.settings = &opts_.settings;
    setup.max_parallelism = opts_.plan.max_parallelism;
    setup.executor = executor;
    setup.state = state;
    setup.on_error = plan_.on_error.value_or(opts_.on_error);
    core_ = std::make_unique<subtask_core>(
        make_, std::move(setup), plan_.input_edges, plan_.outputs.size(),
        opts_.channels, transport_, metrics_, &clock_);
    // A job with checkpoints ends with a final one (job_checkpoints).
    if (opts_.checkpoints.enabled()) core_->hold_at_end();
  } catch (...) {
    return fail("failed to open", describe_current_exception());
  }
  try {
    if (restore) core_->restore(*restore);
  } catch (...) {
    return fail("failed to restore", describe_current_exception());
  }
  try {
    wakes_ = core_->set_wakeup(std::move(wake));
  } catch (const config_failure&) {
    return fail("failed to open", describe_current_exception(), true);
  } catch (...) {
    return fail("failed to open", describe_current_exception());
  }
  state_ = driver_state::running;
  return run([](subtask_core&) {});
}

driver_action subtask_driver::on_batch(size_t in_slot, batch_ptr b) {
  return run([&](subtask_core& c) { c.on_batch(in_slot, std::move(b)); });
}

driver_action subtask_driver::on_end_of_stream(size_t in_slot) {
  return run([&](subtask_core& c) { c.on_end_of_stream(in_slot); });
}

driver_action subtask_driver::on_watermark(size_t in_slot, int64_t wm) {
  return run([&](subtask_core& c) { c.on_watermark(in_slot, wm); });
}

driver_action subtask_driver::on_idle(size_t in_slot, bool idle) {
  return run([&](subtask_core& c) { c.on_idle(in_slot, idle); });
}

driver_action subtask_driver::on_credit(size_t out_slot, uint32_t n) {
  return run([&](subtask_core& c) { c.on_credit(out_slot, n); });
}

driver_action subtask_driver::on_barrier(size_t in_slot, checkpoint_id id) {
  return run([&](subtask_core& c) { c.on_barrier(in_slot, id); });
}

driver_action subtask_driver::on_trigger(checkpoint_id id) {
  return run([&](subtask_core& c) { c.inject_barrier(id); });
}

driver_action subtask_driver::on_abort_checkpoint(checkpoint_id id) {
  return run([&](subtask_core& c) { c.abort_checkpoint(id); });
}

driver_action subtask_driver::on_checkpoint_complete(
    checkpoint_id id, const std::vector<source_position>& positions) {
  return run([&](subtask_core& c) { c.checkpoint_complete(id, positions); });
}

driver_action subtask_driver::on_poll(uint64_t generation) {
  if (state_ != driver_state::running || generation != poll_generation_)
    return {}; // a wake-up came first
  poll_pending_ = false;
  idle_ = false;
  return run([](subtask_core&) {});
}

driver_action subtask_driver::on_wakeup() {
  if (state_ != driver_state::running || !idle_)
    return {};        // busy: it polls again anyway
  ++poll_generation_; // the pending idle retry is stale now
  poll_pending_ = false;
  idle_ = false;
  return run([](subtask_core&) {});
}

driver_action subtask_driver::on_timer() {
  timer_armed_ = false;
  return run([](subtask_core& c) {
    c.flush();
    c.advance_time();
  });
}

driver_action subtask_driver::on_stop() {
  return run([](subtask_core& c) { c.request_stop(); });
}

driver_action subtask_driver::on_end_checkpoint(checkpoint_id id) {
  return run([&](subtask_core& c) { c.snapshot_at_end(id); });
}

driver_action subtask_driver::on_release() {
  return run([](subtask_core& c) { c.release(); });
}

template <class Event>
driver_action subtask_driver::run(Event&& event) {
  driver_action a;
  if (state_ != driver_state::running) return a;
  try {
    event(*core_);
    decide(a);
  } catch (const config_failure&) {
    return fail("failed", describe_current_exception(), true);
  } catch (...) {
    return fail("failed", describe_current_exception());
  }
  return a;
}

void subtask_driver::decide(driver_action& a) {
  auto& c = *core_;
  if (c.is_source()) {
    if (!poll_pending_) {
      switch (c.poll_source(opts_.source_poll_records)) {
      case step_result::more:
        poll_pending_ = true;
        a.poll = poll_request::now;
        a.poll_generation = poll_generation_;
        break;
      case step_result::idle:
        // Nothing to read now: what was read goes out.
        if (c.has_buffered()) c.flush();
        wait_for_wakeup(a);
        break;
      default:
        break;
      }
    }
  } else {
    // A busy sink (full producer queue, final flush) takes no input until
    // its wake-up or the retry resumes it.
    if (c.drain() == step_result::busy && !poll_pending_) wait_for_wakeup(a);
    // Natural batching: with nothing else in the mailbox, partial batches
    // leave now instead of at the flush timer, so at low load a record
    // crosses each hop at once; under load the mailbox is rarely empty
    // and batches fill up.
    if (c.has_buffered() && mailbox_empty_()) c.flush();
  }
  a.snapshots = c.take_snapshots();
  if (c.ended() && !ended_reported_) {
    ended_reported_ = true;
    a.ended = true;
  }
  if (c.finished()) {
    auto snapshots = std::move(a.snapshots);
    auto ended = a.ended;
    a = driver_action{};
    a.snapshots = std::move(snapshots);
    a.ended = ended;
    a.report = subtask_report::finished;
    state_ = driver_state::finished;
    core_.reset(); // the task's resources go now
    return;
  }
  if (!timer_armed_) arm_timer(a);
}

void subtask_driver::wait_for_wakeup(driver_action& a) {
  poll_pending_ = true;
  idle_ = true;
  a.poll = poll_request::later;
  a.poll_delay = wakes_ ? idle_retry_with_wakeups : idle_retry;
  a.poll_generation = poll_generation_;
}

void subtask_driver::arm_timer(driver_action& a) {
  // One timer serves the flush interval and the core's clock wake-ups
  // (processing-time timers), the latter to within one flush
  // interval.
  auto& c = *core_;
  std::optional<std::chrono::nanoseconds> delay;
  if (c.has_buffered()) delay = opts_.flush_interval;
  auto wake = c.next_wakeup();
  if (wake != max_timestamp) {
    std::chrono::nanoseconds in =
        std::chrono::milliseconds(std::max<int64_t>(1, wake - clock_.now()));
    in = std::min(in, opts_.flush_interval);
    delay = delay ? std::min(*delay, in) : in;
  }
  if (delay) {
    timer_armed_ = true;
    a.timer = delay;
  }
}

driver_action subtask_driver::fail(const char* what,
                                   const std::string& exception,
                                   bool bad_config) {
  driver_action a;
  a.report = subtask_report::failed;
  a.bad_config = bad_config;
  a.error = "operator '" + plan_.operator_name + "' subtask " +
            std::to_string(plan_.index) + "/" +
            std::to_string(plan_.parallelism) + " " + what + ": " + exception;
  state_ = driver_state::failed;
  core_.reset();
  return a;
}

} // namespace flow

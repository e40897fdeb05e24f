#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/job_options.hpp"
#include "flow/metrics.hpp"
#include "flow/plan.hpp"
#include "flow/subtask_core.hpp"
#include "flow/time.hpp"
#include "flow/transport.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace flow {

/// Whether and when the host delivers subtask_driver::on_poll.
enum class poll_request : uint8_t {
  none,
  /// Right away (behind what is already in the mailbox).
  now,
  /// After driver_action::poll_delay.
  later,
};

/// What the host reports to the job.
enum class subtask_report : uint8_t {
  none,
  /// Every output has sent end-of-stream: report the totals, stop.
  finished,
  /// driver_action::error says why: report it, stop.
  failed,
};

/// What the host of a subtask_driver must do after an event. The fields
/// are independent: the host carries out every one that is set. New kinds
/// of work (barriers, snapshots) become new fields.
struct driver_action {
  poll_request poll = poll_request::none;
  /// poll_request::later: how long to wait before delivering the poll.
  std::chrono::nanoseconds poll_delay{0};
  /// To pass back with on_poll: polls of an older generation are stale.
  uint64_t poll_generation = 0;
  /// Deliver on_timer() after this long. The driver asks for one timer at
  /// a time: the next request comes after on_timer().
  std::optional<std::chrono::nanoseconds> timer;
  /// Checkpoints this subtask took part in, oldest first: write each
  /// snapshot off the subtask's thread and acknowledge it to the job.
  std::vector<subtask_snapshot> snapshots;
  subtask_report report = subtask_report::none;
  /// subtask_report::failed: "operator 'name' subtask i/p failed: what".
  std::string error;
  /// subtask_report::failed by a config_failure: the job exits 2.
  bool bad_config = false;
  /// The subtask's output ended and it waits for on_release() (a job with
  /// checkpoints, subtask_core::hold_at_end): tell the job. Set once.
  bool ended = false;
};

/// Where a subtask_driver is in its life.
enum class driver_state : uint8_t { created, running, finished, failed };

/// Decides, for one subtask, when to poll its source, flush its output,
/// fire its timers and report completion or failure. It owns the
/// subtask_core and knows no actor system: the host (an actor, or the
/// test simulator) turns messages into the events below and carries out
/// the driver_action each returns. After finished or failed every event
/// returns an empty action.
///
/// Threading: not thread-safe; the host calls it from one thread of
/// control at a time (the actor's). Only the wake callback given to
/// start() may run on another thread.
class subtask_driver {
public:
  /// An idle source is polled again (a busy sink resumed) after this
  /// long...
  static constexpr std::chrono::milliseconds idle_retry{1};
  /// ... or after this long if it wakes the subtask when input arrives
  /// (the retry is a fallback; sources still see processing time advance
  /// for their idle timeouts and watermark intervals).
  static constexpr std::chrono::milliseconds idle_retry_with_wakeups{10};

  /// `mailbox_empty` tells whether more input waits for the subtask right
  /// now (natural batching). `plan`, `make`, `opts`, `tr`, `metrics` and
  /// `clk` must outlive the driver.
  subtask_driver(const subtask_plan& plan, const task_factory& make,
                 const job_options& opts, transport& tr,
                 subtask_metrics& metrics, const flow::clock& clk,
                 std::function<bool()> mailbox_empty);
  ~subtask_driver();

  subtask_driver(const subtask_driver&) = delete;
  subtask_driver& operator=(const subtask_driver&) = delete;

  // -- events ---------------------------------------------------------------

  /// The subtask is wired: builds the task (a throw fails the subtask,
  /// "failed to open") with `executor` for its connectors' blocking work
  /// (null: they run it inline; it must outlive the driver), hands the
  /// task `wake` (called from any thread when a source's input may have
  /// arrived or a busy sink may go on; the host then delivers
  /// on_wakeup()), and starts. With `restore`, the task takes that state
  /// first (a throw fails the subtask, "failed to restore"). Spilling
  /// keyed state goes to `state` (null: memory; it must outlive the
  /// driver). Call once, first.
  driver_action start(std::function<void()> wake,
                      blocking_executor* executor = nullptr,
                      const subtask_restore* restore = nullptr,
                      state_backend* state = nullptr);

  driver_action on_batch(size_t in_slot, batch_ptr b);
  driver_action on_end_of_stream(size_t in_slot);
  driver_action on_watermark(size_t in_slot, int64_t wm);
  driver_action on_idle(size_t in_slot, bool idle);
  driver_action on_credit(size_t out_slot, uint32_t n);
  /// In-band checkpoint barrier of input channel `in_slot`.
  driver_action on_barrier(size_t in_slot, checkpoint_id id);
  /// Sources: the job triggered checkpoint `id`: snapshot and inject its
  /// barrier now (an ended source does nothing).
  driver_action on_trigger(checkpoint_id id);
  /// The job aborted checkpoint `id`.
  driver_action on_abort_checkpoint(checkpoint_id id);
  /// Checkpoint `id` is complete; a source stood at `positions` in it.
  driver_action
  on_checkpoint_complete(checkpoint_id id,
                         const std::vector<source_position>& positions);
  /// A poll the driver asked for; stale generations do nothing.
  driver_action on_poll(uint64_t generation);
  /// The task's wake callback ran: an idle source polls at once, a busy
  /// sink resumes (the pending retry becomes stale); otherwise nothing.
  driver_action on_wakeup();
  /// The timer the driver asked for fired: flushes partial batches and
  /// lets processing time advance (timers).
  driver_action on_timer();
  /// Graceful shutdown: the source ends as if its input had.
  driver_action on_stop();
  /// Checkpoint `id` at a subtask whose output ended (the job's final
  /// checkpoint, or one triggered while it waits for its release): it
  /// snapshots now unless it took part in `id` already.
  driver_action on_end_checkpoint(checkpoint_id id);
  /// The job ends: a subtask waiting at its end finishes.
  driver_action on_release();

  // -- state ----------------------------------------------------------------

  driver_state state() const noexcept { return state_; }
  /// Null before start() and after finished or failed.
  const subtask_core* core() const noexcept { return core_.get(); }
  subtask_metrics& metrics() noexcept { return metrics_; }

private:
  /// Applies `event` to the core, then runs it as far as it goes and
  /// decides what comes next.
  template <class Event>
  driver_action run(Event&& event);
  void decide(driver_action& a);
  /// Asks for the retry poll of an idle source or a busy sink; a wake-up
  /// makes it stale.
  void wait_for_wakeup(driver_action& a);
  void arm_timer(driver_action& a);
  /// `exception`: describe_current_exception() of what was thrown.
  driver_action fail(const char* what, const std::string& exception,
                     bool bad_config = false);

  const subtask_plan& plan_;
  const task_factory& make_;
  const job_options& opts_;
  transport& transport_;
  subtask_metrics& metrics_;
  const flow::clock& clock_;
  std::function<bool()> mailbox_empty_;
  std::unique_ptr<subtask_core> core_;
  driver_state state_ = driver_state::created;
  /// A poll is pending (asked for and not yet delivered).
  bool poll_pending_ = false;
  bool timer_armed_ = false;
  /// driver_action::ended was set.
  bool ended_reported_ = false;
  /// Generation of the pending poll.
  uint64_t poll_generation_ = 0;
  /// An idle source or a busy sink waits for its retry poll, or for a
  /// wake-up.
  bool idle_ = false;
  /// The task sends wake-ups: retries are a fallback only.
  bool wakes_ = false;
};

} // namespace flow

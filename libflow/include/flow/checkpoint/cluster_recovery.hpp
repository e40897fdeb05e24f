#pragma once

#include "flow/checkpoint/restart_strategy.hpp"
#include "flow/plan.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace flow::checkpoint {

/// What a cluster's coordinator does next after a run of its job failed.
enum class recovery_action {
  /// Keep the job down and wait (for workers to register, or for the
  /// restart backoff); ask again after recovery_step::wait at the latest,
  /// or as soon as the registered slots change.
  wait,
  /// Deploy the plan again on the registered nodes, restoring
  /// recovery_step::from.
  redeploy,
  /// The job ends with its failure (recovery_step::reason says why no
  /// recovery is possible).
  give_up,
};

struct recovery_step {
  recovery_action action = recovery_action::give_up;
  /// wait: ask again at the latest this long from now.
  std::chrono::milliseconds wait{0};
  /// redeploy: the restart being made (attempt, and the checkpoint to
  /// restore; none: start as the job first started).
  restart_decision restart;
  /// give_up: why.
  std::string reason;
};

/// When a cluster job whose run failed (a worker was lost, or a subtask
/// failed) is deployed again, and when it gives up: the restart_strategy
/// decides whether a restart is allowed, from which checkpoint and after
/// which backoff (flow.restart-*); the job is redeployed once the backoff
/// has passed and the registered nodes have at least `slots_needed` slots
/// (the lost worker restarted and registered again, or a spare), and gives
/// up if they have not within `recovery_timeout` (cluster.recovery-timeout)
/// of the failure, or the backoff if that is longer. Pure policy: the
/// coordinator feeds it times and slot counts and waits on its own thread.
class cluster_recovery {
public:
  cluster_recovery(const options& opts,
                   std::chrono::milliseconds recovery_timeout,
                   uint32_t slots_needed);

  /// A run ended with `outcome` at `now_ms` (any clock in ms, the same in
  /// every call), with `slots` registered: the first step.
  recovery_step on_run_end(run_outcome outcome, int64_t now_ms, uint32_t slots);

  /// The next step of a recovery on_run_end started: call it when the step
  /// said wait, after that wait or when the registered slots changed.
  recovery_step poll(int64_t now_ms, uint32_t slots);

  /// Checkpoint `p` completed (see restart_strategy).
  void on_checkpoint_completed(const restart_point& p) noexcept {
    strategy_.on_checkpoint_completed(p);
  }

  /// Restarts so far, over the job's lifetime.
  uint64_t restarts() const noexcept { return strategy_.restarts(); }
  /// flow.restart-attempts in effect.
  uint32_t max_attempts() const noexcept { return strategy_.max_attempts(); }
  /// The slots a deployment needs.
  uint32_t slots_needed() const noexcept { return slots_needed_; }

private:
  restart_strategy strategy_;
  std::chrono::milliseconds timeout_;
  uint32_t slots_needed_;
  /// The restart decided by on_run_end, until it is deployed or given up.
  std::optional<restart_decision> pending_;
  int64_t not_before_ms_ = 0;
  int64_t deadline_ms_ = 0;
};

/// The slots a placement of `plan` needs: one more than the highest
/// slot_base + index of its subtasks (see runtime::place).
uint32_t slots_needed(const physical_plan& plan);

} // namespace flow::checkpoint

#include "flow/checkpoint/cluster_recovery.hpp"

#include <algorithm>

namespace flow::checkpoint {

cluster_recovery::cluster_recovery(const options& opts,
                                   std::chrono::milliseconds recovery_timeout,
                                   uint32_t slots_needed)
    : strategy_(opts), timeout_(recovery_timeout), slots_needed_(slots_needed) {
}

recovery_step cluster_recovery::on_run_end(run_outcome outcome, int64_t now_ms,
                                           uint32_t slots) {
  pending_.reset();
  auto decision = strategy_.on_run_end(outcome);
  if (!decision) {
    recovery_step give_up;
    if (outcome == run_outcome::failed)
      give_up.reason = strategy_.max_attempts() == 0
                           ? "no restart allowed (flow.restart-attempts = 0, "
                             "or no flow.checkpoint-interval)"
                           : "no restart left (" +
                                 std::to_string(strategy_.max_attempts()) +
                                 " attempts since the last complete "
                                 "checkpoint)";
    else
      give_up.reason = "the job is not restarted after this outcome";
    return give_up;
  }
  pending_ = *decision;
  not_before_ms_ = now_ms + decision->delay.count();
  deadline_ms_ = std::max(not_before_ms_, now_ms + timeout_.count());
  return poll(now_ms, slots);
}

recovery_step cluster_recovery::poll(int64_t now_ms, uint32_t slots) {
  recovery_step step;
  if (!pending_) {
    step.reason = "no recovery in progress";
    return step;
  }
  if (slots >= slots_needed_ && now_ms >= not_before_ms_) {
    step.action = recovery_action::redeploy;
    step.restart = *pending_;
    pending_.reset();
    return step;
  }
  if (slots < slots_needed_ && now_ms >= deadline_ms_) {
    step.reason = "only " + std::to_string(slots) + " of " +
                  std::to_string(slots_needed_) + " slots registered within " +
                  std::to_string(timeout_.count()) +
                  " ms (cluster.recovery-timeout)";
    pending_.reset();
    return step;
  }
  step.action = recovery_action::wait;
  auto until = slots >= slots_needed_ ? not_before_ms_ : deadline_ms_;
  step.wait = std::chrono::milliseconds(std::max<int64_t>(0, until - now_ms));
  return step;
}

uint32_t slots_needed(const physical_plan& plan) {
  uint32_t n = 0;
  for (auto& s : plan.subtasks)
    n = std::max(n, s.slot_base + s.index + 1);
  return n;
}

} // namespace flow::checkpoint

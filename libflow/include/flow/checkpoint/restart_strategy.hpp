#pragma once

#include "flow/checkpoint/options.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace flow::checkpoint {

/// When a failed job restarts from its latest checkpoint, and when it gives
/// up: at most `flow.restart-attempts` restarts without a checkpoint
/// completing in between, the k-th of them after
/// min(flow.restart-backoff x 2^(k-1), flow.restart-backoff-max). A job
/// that completes a checkpoint after a restart makes progress again: the
/// count and the backoff start over. Pure policy; the host sleeps (on a
/// timer, never a blocking wait) and restarts.
class restart_strategy {
public:
  explicit restart_strategy(const options& opts);

  /// A failure: how long to wait before restarting, or nullopt when the
  /// attempts are used up and the job fails.
  std::optional<std::chrono::milliseconds> on_failure();

  /// A checkpoint completed: the attempts and the backoff start over.
  void on_checkpoint_completed() noexcept { consecutive_ = 0; }

  /// Restarts so far, over the job's lifetime.
  uint64_t restarts() const noexcept { return restarts_; }

private:
  uint32_t attempts_;
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  uint32_t consecutive_ = 0;
  uint64_t restarts_ = 0;
};

} // namespace flow::checkpoint

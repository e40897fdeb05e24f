#pragma once

#include "flow/checkpoint/options.hpp"
#include "flow/ids.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace flow::checkpoint {

/// How a run of a job ended, as far as restarting is concerned.
enum class run_outcome {
  /// Every sink saw end-of-stream: nothing to restart.
  finished,
  /// A subtask failed (a user function threw, a connector gave up): the
  /// job may restart.
  failed,
  /// A configuration found wrong at run time (flow::config_failure): a
  /// restart would fail the same way; the job exits 2 at once.
  bad_config,
  /// The job was failing or draining after a stop request (SIGTERM): it
  /// ends, it does not restart.
  stopped,
};

/// A checkpoint a restart can resume from.
struct restart_point {
  checkpoint_id id;
  bool savepoint = false;
  /// When its metadata was committed (ms since the epoch).
  int64_t complete_time_ms = 0;
};

/// The decision to restart a failed job.
struct restart_decision {
  /// 1 for the first restart since the last completed checkpoint.
  uint32_t attempt = 0;
  /// flow.restart-attempts in effect.
  uint32_t max_attempts = 0;
  /// Wait this long before the restart.
  std::chrono::milliseconds delay{0};
  /// Restore this checkpoint; nullopt: start as the job first started
  /// (flow.restore), since no checkpoint completed since then.
  std::optional<restart_point> from;
};

/// When a failed job restarts from its latest checkpoint, from which one,
/// and when it gives up: at most `flow.restart-attempts` restarts without a
/// checkpoint completing in between, the k-th of them after
/// min(flow.restart-backoff x 2^(k-1), flow.restart-backoff-max). A job
/// that completes a checkpoint after a restart makes progress again: the
/// count and the backoff start over. Pure policy: the host waits (on a
/// timer, never a blocking wait on a scheduler thread) and restarts.
class restart_strategy {
public:
  explicit restart_strategy(const options& opts);

  /// A run ended with `outcome`: the restart to make, or nullopt when the
  /// job ends (it finished, stopped, failed on its configuration, or used
  /// up its attempts).
  std::optional<restart_decision> on_run_end(run_outcome outcome);

  /// Checkpoint `p` completed: the attempts and the backoff start over, and
  /// the next restart resumes from it.
  void on_checkpoint_completed(const restart_point& p) noexcept {
    consecutive_ = 0;
    latest_ = p;
  }

  /// Restarts so far, over the job's lifetime.
  uint64_t restarts() const noexcept { return restarts_; }

  /// flow.restart-attempts in effect.
  uint32_t max_attempts() const noexcept { return attempts_; }

private:
  uint32_t attempts_;
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  uint32_t consecutive_ = 0;
  uint64_t restarts_ = 0;
  std::optional<restart_point> latest_;
};

} // namespace flow::checkpoint

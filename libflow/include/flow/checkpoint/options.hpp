#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace flow::checkpoint {

/// Checkpoint and recovery settings of a job. The member initializers are
/// the defaults of the `flow.checkpoint*` and `flow.restore` options, which
/// libflow/src/job_options.cpp declares (with their bounds) in the option
/// schema; job_options::from() fills this in from checked settings. The
/// restart_* members (flow.restart-*) feed checkpoint::restart_strategy.
struct options {
  /// Restarts allowed by default when the job takes checkpoints (without
  /// checkpoints a restart would start over from the sources' own
  /// positions, so by default it does not happen).
  static constexpr uint32_t default_restart_attempts = 3;

  /// flow.checkpoint-dir: where checkpoints go (a directory, created if
  /// missing); empty: none. Required when interval > 0.
  std::string dir;
  /// flow.checkpoint-interval: period between checkpoints; zero: none.
  std::chrono::milliseconds interval{0};
  /// flow.checkpoint-timeout: a checkpoint not acknowledged by every
  /// subtask this long after its trigger is aborted.
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  /// flow.checkpoints-retained: complete checkpoints kept (savepoints are
  /// never deleted).
  uint32_t retained = 3;
  /// flow.restore: "latest" (the latest complete checkpoint in dir, if
  /// any), "none" (start fresh), or the path of a checkpoint directory.
  std::string restore = "latest";
  /// flow.restart-attempts: restarts allowed without a checkpoint
  /// completing in between; zero: a failure ends the job. Unset:
  /// default_restart_attempts if checkpoints are enabled, else zero (see
  /// restart_attempts_allowed()).
  std::optional<uint32_t> restart_attempts;
  /// flow.restart-backoff: delay before the first restart; it doubles with
  /// each further attempt...
  std::chrono::milliseconds restart_backoff = std::chrono::seconds(1);
  /// flow.restart-backoff-max: ...up to this.
  std::chrono::milliseconds restart_backoff_max = std::chrono::minutes(1);

  /// flow.savepoint-on-stop: a stop request (SIGTERM, SIGINT) stops the
  /// sources at a savepoint barrier; the job drains, writes the savepoint
  /// and ends normally.
  bool savepoint_on_stop = false;

  /// True if the job takes periodic checkpoints.
  bool enabled() const noexcept { return interval.count() > 0; }

  /// flow.restart-attempts, or its default for this interval.
  uint32_t restart_attempts_allowed() const noexcept {
    if (restart_attempts) return *restart_attempts;
    return enabled() ? default_restart_attempts : 0;
  }
};

} // namespace flow::checkpoint

#pragma once

#include "flow/job_options.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace flow::checkpoint {

/// Checkpoint and recovery options with their defaults and limits (the
/// keys are `flow.<name>`; validate() checks them). Declared here until the
/// job's option schema holds them.
struct options {
  /// flow.checkpoint-dir: where checkpoints go; empty: no checkpoints.
  std::string dir;
  /// flow.checkpoint-interval: period between checkpoints; zero: only
  /// savepoints on request.
  std::chrono::milliseconds interval = std::chrono::seconds(10);
  /// flow.checkpoint-timeout: a checkpoint not acknowledged by every
  /// subtask this long after its trigger is aborted.
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  /// flow.checkpoints-retained: complete checkpoints kept (savepoints are
  /// never deleted).
  uint32_t retained = 3;
  /// flow.restart-attempts: restarts allowed without a checkpoint
  /// completing in between; zero: a failure ends the job.
  uint32_t restart_attempts = 3;
  /// flow.restart-backoff: delay before the first restart; it doubles with
  /// each further attempt...
  std::chrono::milliseconds restart_backoff = std::chrono::seconds(1);
  /// flow.restart-backoff-max: ...up to this.
  std::chrono::milliseconds restart_backoff_max = std::chrono::minutes(1);
};

/// The first option whose value cannot be used.
std::optional<config_error> validate(const options& o);

} // namespace flow::checkpoint

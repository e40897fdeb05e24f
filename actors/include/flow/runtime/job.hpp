#pragma once

#include "flow/checkpoint/coordinator.hpp"
#include "flow/checkpoint/store.hpp"
#include "flow/job_options.hpp"
#include "flow/metrics.hpp"
#include "flow/observe/job_view.hpp"
#include "flow/plan.hpp"
#include "flow/topology.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow::runtime {

class job_checkpoints;

/// Totals of one logical operator after a run.
struct operator_summary {
  std::string name;
  uint32_t parallelism = 0;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  double blocked_seconds = 0;
  /// Highest unacknowledged batches on any output channel of the operator.
  uint32_t max_in_flight = 0;
  /// Highest queued input batches of any of its subtasks.
  uint32_t max_queued_batches = 0;
  /// Records its user code or sink failed on: dropped (on-error skip) and
  /// sent to the dead-letter destination (dead-letter; sources: records
  /// that could not be read).
  uint64_t skipped = 0;
  uint64_t dead_lettered = 0;
};

/// Outcome of a job run.
struct job_result {
  bool ok = false;
  /// Why the job failed: operator, subtask and message.
  std::string error;
  /// It failed on a configuration found wrong at run time
  /// (flow::config_failure): report() returns exit_bad_config.
  bool bad_config = false;
  double seconds = 0;
  std::vector<operator_summary> operators;
  /// Per-subtask counters of the subtasks of this process, in plan order
  /// (null for subtasks on other nodes).
  std::vector<std::shared_ptr<subtask_metrics>> subtasks;
  /// Highest credit window seen in use, to check against the options.
  uint32_t max_in_flight = 0;
  /// Checkpoints taken over all runs (none if they were off).
  checkpoint::coordinator_stats checkpoints;
  /// Times the job restarted after a failure (flow.restart-attempts).
  uint64_t restarts = 0;

  const operator_summary* find(const std::string& name) const;
};

/// Runs `t` on this process's actor system until every sink has seen
/// end-of-stream, a subtask fails, or `*stop` turns true (then sources stop,
/// the job drains and ends normally). With flow.checkpoint-interval, takes
/// checkpoints; it starts from the checkpoint flow.restore names. A failed
/// run (not a configuration error, not after a stop request) kills every
/// subtask and restarts the whole job from its latest complete checkpoint
/// (or as it first started, if none completed) under
/// checkpoint::restart_strategy (flow.restart-*); the result is that of the
/// last run, with the checkpoints and restarts of all. Throws
/// std::invalid_argument if the topology cannot be planned, config_failure
/// if an operator's parallelism exceeds flow.max-parallelism,
/// checkpoint::incompatible_checkpoint if the checkpoint to restore does
/// not fit it. `view`, if given, is kept up to date for the HTTP endpoints
/// (plan, counters, status).
job_result execute(const topology& t, const job_options& opts,
                   const std::atomic<bool>* stop = nullptr,
                   observe::job_view* view = nullptr);

/// Logs the per-operator summary and the outcome of a run of job `name`;
/// returns the process exit code (flow/run.hpp).
int report(const std::string& name, const job_result& r);

} // namespace flow::runtime

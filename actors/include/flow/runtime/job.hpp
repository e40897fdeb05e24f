#pragma once

#include "flow/job_options.hpp"
#include "flow/metrics.hpp"
#include "flow/observe/job_view.hpp"
#include "flow/plan.hpp"
#include "flow/topology.hpp"

#include <caf/fwd.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow::runtime {

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
};

/// Outcome of a job run.
struct job_result {
  bool ok = false;
  /// Why the job failed: operator, subtask and message.
  std::string error;
  double seconds = 0;
  std::vector<operator_summary> operators;
  /// Per-subtask counters of the subtasks of this process, in plan order
  /// (null for subtasks on other nodes).
  std::vector<std::shared_ptr<subtask_metrics>> subtasks;
  /// Highest credit window seen in use, to check against the options.
  uint32_t max_in_flight = 0;

  const operator_summary* find(const std::string& name) const;
};

/// Runs `t` on this process's actor system until every sink has seen
/// end-of-stream, a subtask fails, or `*stop` turns true (then sources stop,
/// the job drains and ends normally). Throws std::invalid_argument if the
/// topology cannot be planned. `view`, if given, is kept up to date for
/// the HTTP endpoints (plan, counters, status).
job_result execute(const topology& t, const job_options& opts,
                   const std::atomic<bool>* stop = nullptr,
                   observe::job_view* view = nullptr);

/// As above, on an actor system the caller owns (several jobs may run on
/// it at once; its scheduler settings are the caller's).
job_result execute(caf::actor_system& sys, const topology& t,
                   const job_options& opts,
                   const std::atomic<bool>* stop = nullptr,
                   observe::job_view* view = nullptr);

/// Applies flow.threads and flow.scheduler to an actor system config.
void configure_scheduler(caf::actor_system_config& cfg,
                         const job_options& opts);

/// Logs the per-operator summary and the outcome of a run of job `name`;
/// returns the process exit code (flow/run.hpp).
int report(const std::string& name, const job_result& r);

/// Spawns the subtasks `ids` of `plan` on `sys`, reporting to `job`.
/// Returns their handles in the order of `ids`; `metrics` receives their
/// counters (indexed by subtask id).
std::vector<caf::actor>
spawn_subtasks(caf::actor_system& sys, const topology& t,
               const physical_plan& plan, const std::vector<uint32_t>& ids,
               const job_options& opts, const caf::actor& job,
               std::vector<std::shared_ptr<subtask_metrics>>& metrics);

/// Sends every subtask its peers; `actors` is indexed by subtask id.
void wire_subtasks(caf::scoped_actor& self, const physical_plan& plan,
                   const std::vector<caf::actor>& actors);

/// Waits for the subtasks in `actors` (indexed by subtask id) to finish.
/// `on_down` is asked about down messages of other monitored actors (e.g.
/// remote nodes) and returns an error text to fail the job, or "".
/// Subtask and node reports go to `view` if given; its status follows the
/// job's.
job_result supervise(
    caf::scoped_actor& self, const physical_plan& plan,
    const std::vector<caf::actor>& actors,
    std::vector<std::shared_ptr<subtask_metrics>> metrics,
    const job_options& opts, const std::atomic<bool>* stop,
    const std::function<std::string(const caf::down_msg&)>& on_down = nullptr,
    observe::job_view* view = nullptr);

/// Wall-clock time in ms since the epoch (report times for job_view).
int64_t wall_clock_ms();

} // namespace flow::runtime

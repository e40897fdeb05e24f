#pragma once

// Hosting a job's subtasks on an actor system someone else owns: the
// cluster runtime and tests that run several jobs in one process. Programs
// use flow/runtime/job.hpp (or flow/run.hpp), which never shows CAF.

#include "flow/checkpoint/restart_strategy.hpp"
#include "flow/checkpoint/store.hpp"
#include "flow/runtime/job.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace flow::runtime {

class job_checkpoints;

/// Runs `t` as flow/runtime/job.hpp's execute() does, on an actor system the
/// caller owns (several jobs may run on it at once; its scheduler settings are
/// the caller's).
job_result execute(caf::actor_system& sys, const topology& t,
                   const job_options& opts,
                   const std::atomic<bool>* stop = nullptr,
                   observe::job_view* view = nullptr);

/// Applies flow.threads and flow.scheduler to an actor system config. With
/// flow.threads 0, a scheduler.max-threads the node's CAF settings give
/// stands; otherwise scheduler_threads() decides.
void configure_scheduler(caf::actor_system_config& cfg,
                         const job_options& opts);

/// Spawns the subtasks `ids` of `plan` on `sys`, reporting to `job`.
/// Returns their handles in the order of `ids`; `metrics` receives their
/// counters (indexed by subtask id). `checkpoints`: where they write their
/// checkpoint parts (null: none); `restore`: their state to start from,
/// indexed by subtask id (null: fresh; taken from).
std::vector<caf::actor>
spawn_subtasks(caf::actor_system& sys, const topology& t,
               const physical_plan& plan, const std::vector<uint32_t>& ids,
               const job_options& opts, const caf::actor& job,
               std::vector<std::shared_ptr<subtask_metrics>>& metrics,
               std::shared_ptr<const checkpoint::store> checkpoints = nullptr,
               std::vector<subtask_restore>* restore = nullptr);

/// Sends every subtask its peers; `actors` is indexed by subtask id.
void wire_subtasks(caf::scoped_actor& self, const physical_plan& plan,
                   const std::vector<caf::actor>& actors);

/// Waits for the subtasks in `actors` (indexed by subtask id) to finish.
/// With `checkpoints`, takes the job's checkpoints meanwhile.
/// `on_down` is asked about down messages of other monitored actors (e.g.
/// remote nodes) and returns an error text to fail the job, or "".
/// Subtask and node reports go to `view` if given; its status follows the
/// job's. `on_records_flowing` is called once, with the seconds since the
/// call, when records have first reached a subtask downstream of a source,
/// as its counters show it: those of this process at once, those of
/// another node with its next report (so at most one report interval,
/// flow.status-interval or 1 s, late; never without reports).
job_result supervise(
    caf::scoped_actor& self, const physical_plan& plan,
    const std::vector<caf::actor>& actors,
    std::vector<std::shared_ptr<subtask_metrics>> metrics,
    const job_options& opts, const std::atomic<bool>* stop,
    const std::function<std::string(const caf::down_msg&)>& on_down = nullptr,
    observe::job_view* view = nullptr, job_checkpoints* checkpoints = nullptr,
    const std::function<void(double)>& on_records_flowing = nullptr);

/// Wall-clock time in ms since the epoch (report times for job_view).
int64_t wall_clock_ms();

/// Waits until the killed subtasks `actors` are gone (so that a restart
/// never runs beside them: Kafka consumers of the same group, part
/// writers), at most `limit`. Null handles are skipped. Down messages of
/// other monitored actors (a worker's agent) go to `on_other_down`.
void await_termination(
    caf::scoped_actor& self, const std::vector<caf::actor>& actors,
    std::chrono::milliseconds limit,
    const std::function<void(const caf::down_msg&)>& on_other_down = nullptr);

/// Why a run ended, for the restart strategy (a stop request makes a
/// failure a stop).
checkpoint::run_outcome outcome_of(const job_result& r,
                                   const std::atomic<bool>* stop);

/// The checkpoints of a job over its runs (a restart is a new run).
class run_history {
public:
  /// Adds the checkpoints of `run` and sets run.checkpoints to those of
  /// every run so far. Returns the checkpoint `run` completed last, if any
  /// (for the restart strategy).
  std::optional<checkpoint::restart_point> add(job_result& run);

  /// The highest checkpoint id triggered so far: the next run's ids follow
  /// it.
  checkpoint_id last_triggered() const noexcept { return last_triggered_; }

private:
  checkpoint_id last_triggered_;
  checkpoint::coordinator_stats totals_;
};

/// "checkpoint 7 (taken 1.2 s ago)", or "the start (...)" without one: for
/// the log line of a restart.
std::string
describe_restart_from(const std::optional<checkpoint::restart_point>& p);

} // namespace flow::runtime

#pragma once

#include "flow/metrics.hpp"
#include "flow/observe/snapshot.hpp"
#include "flow/plan.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace flow::observe {

/// Records/s in and out of every operator (in job_snapshot::operators
/// order) at one sample.
struct rate_point {
  int64_t time_ms = 0;
  std::vector<double> records_in_per_s;
  std::vector<double> records_out_per_s;
};

/// What a process knows about its job, for the HTTP endpoints: the plan,
/// the counters its own subtasks publish (subtask_metrics), the reports of
/// subtasks and nodes elsewhere (on the coordinator: the whole cluster),
/// status, checkpoints and restarts.
///
/// Threading: every member may be called from any thread. The runtime
/// feeds it; a sampler calls sample() periodically; HTTP threads read
/// latest() and rates(), which are immutable snapshots and never touch a
/// subtask.
class job_view {
public:
  /// Rate history kept: this many samples (at 1 s: five minutes).
  static constexpr size_t history_capacity = 300;
  /// Checkpoints kept for /api/v1/checkpoints (the counts cover all).
  static constexpr size_t checkpoint_capacity = 100;

  job_view(std::string job, std::string node, std::string role);

  /// Names this process (once known, e.g. after a worker bound its port).
  void set_node(std::string name);
  std::string node() const;

  /// The job's physical plan and the node of every subtask (plan order).
  void set_plan(const physical_plan& plan, std::vector<std::string> node_of);

  /// Counters of the subtasks running in this process (indexed by subtask
  /// id; null entries run elsewhere). Kept alive until replaced.
  void set_local(std::vector<std::shared_ptr<subtask_metrics>> metrics);

  /// The latest counters of subtask `id`, reported from wherever it runs,
  /// received at `now_ms`. Ignored for subtasks of this process.
  void on_report(uint32_t id, subtask_sample s, int64_t now_ms);

  /// A process sample of node `name` (another process of the cluster),
  /// received at `now_ms`.
  void on_node(const std::string& name, process_sample p, int64_t now_ms);

  void set_status(job_status s);

  /// The checkpoint coordinator records each checkpoint here once it
  /// completed or failed.
  void record_checkpoint(checkpoint_record c);

  /// The job was restarted (restart strategy).
  void count_restart();

  /// Builds a snapshot at `now_ms` from the published counters; `self` is
  /// this process's sample. Rates cover the time since the previous call.
  std::shared_ptr<const job_snapshot> sample(int64_t now_ms,
                                             process_sample self);

  /// The last snapshot (an empty one before the first sample()).
  std::shared_ptr<const job_snapshot> latest() const;

  /// Rates of the last samples since the plan was set, oldest first; each
  /// point has one value per operator of the plan.
  std::vector<rate_point> rates() const;

private:
  /// Counters of a subtask and when they were taken.
  struct observation {
    subtask_sample counters;
    int64_t time_ms = 0;
  };
  /// The two latest observations of a subtask: rates come from them.
  struct subtask_track {
    std::optional<observation> current;
    std::optional<observation> previous;
    void observe(subtask_sample s, int64_t now_ms);
  };

  struct node_report {
    process_sample process;
    int64_t received_ms = 0;
  };

  mutable std::mutex mutex_;
  std::string job_;
  std::string node_;
  std::string role_;
  job_status status_ = job_status::deploying;
  std::vector<operator_view> operators_;
  std::vector<edge_view> edges_;
  std::vector<subtask_view> subtasks_;
  std::vector<std::shared_ptr<subtask_metrics>> local_;
  std::vector<subtask_track> tracks_;
  std::vector<std::pair<std::string, node_report>> nodes_;
  std::deque<checkpoint_record> checkpoints_;
  uint64_t checkpoints_completed_ = 0;
  uint64_t checkpoints_failed_ = 0;
  uint64_t restarts_ = 0;
  int64_t previous_ms_ = 0;
  std::deque<rate_point> history_;
  std::shared_ptr<const job_snapshot> latest_;
};

} // namespace flow::observe

#pragma once

#include "flow/metrics.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace flow::observe {

/// Lifecycle of a job as the endpoints show it.
enum class job_status {
  /// Planned; subtasks are being deployed.
  deploying,
  /// Every subtask is deployed and wired.
  running,
  finished,
  failed,
};

std::string to_string(job_status s);

/// Resident memory and CPU time of one process.
struct process_sample {
  uint64_t rss_bytes = 0;
  double cpu_seconds = 0;
};

/// Reads /proc/self (Linux).
process_sample sample_process();

/// One process of the job.
struct node_sample {
  std::string name;
  /// standalone, coordinator or worker.
  std::string role;
  process_sample process;
  /// Subtasks placed on this node.
  uint32_t subtasks = 0;
  /// Milliseconds since the node last reported (0 for this process).
  int64_t last_report_age_ms = 0;
};

/// One subtask with where it runs and its rates over the last sampling
/// interval.
struct subtask_view {
  std::string operator_name;
  uint32_t index = 0;
  std::string node;
  /// False while no counters have arrived from the subtask's node.
  bool known = false;
  subtask_sample counters;
  double records_in_per_s = 0;
  double records_out_per_s = 0;
  /// Share of the last interval during which an output had no credit, in
  /// [0, 1].
  double backpressure = 0;
};

/// One logical operator.
struct operator_view {
  std::string name;
  /// source, operation or sink.
  std::string kind;
  uint32_t parallelism = 0;
  /// Indices into job_snapshot::subtasks.
  std::vector<size_t> subtasks;
};

/// One logical edge.
struct edge_view {
  std::string from;
  std::string to;
  /// forward, hash, rebalance or broadcast.
  std::string partitioning;
};

/// One finished (or failed) checkpoint, as the checkpoint coordinator
/// records it in checkpoint_history.
struct checkpoint_record {
  uint64_t id = 0;
  /// Wall-clock time the checkpoint was triggered, ms since the epoch.
  int64_t triggered_ms = 0;
  /// Trigger to completion (or failure).
  int64_t duration_ms = 0;
  /// Bytes written for it (state and metadata).
  uint64_t size_bytes = 0;
  /// Longest barrier alignment of any subtask.
  int64_t alignment_ms = 0;
  bool completed = false;
  /// Why it failed (empty if it completed).
  std::string failure;
};

/// Everything the endpoints show at one moment: built by job_view::sample
/// from published counters, never from a subtask's live state.
struct job_snapshot {
  std::string job;
  /// The process serving the snapshot.
  std::string node;
  std::string role;
  job_status status = job_status::deploying;
  /// Wall-clock time of the sample, ms since the epoch.
  int64_t time_ms = 0;
  /// Length of the interval the rates and backpressure cover.
  int64_t interval_ms = 0;
  std::vector<operator_view> operators;
  std::vector<edge_view> edges;
  std::vector<subtask_view> subtasks;
  std::vector<node_sample> nodes;
  std::vector<checkpoint_record> checkpoints;
  uint64_t checkpoints_completed = 0;
  uint64_t checkpoints_failed = 0;
  uint64_t restarts = 0;

  /// Running, and every subtask deployed.
  bool ready() const noexcept { return status == job_status::running; }
};

} // namespace flow::observe

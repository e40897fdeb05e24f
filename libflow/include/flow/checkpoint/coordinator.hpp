#pragma once

#include "flow/checkpoint/options.hpp"
#include "flow/ids.hpp"
#include "flow/time.hpp"

#include "flow/checkpoint/metadata.pb.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flow::checkpoint {

/// A checkpoint to start: the host tells the sources to inject barrier `id`.
struct trigger {
  checkpoint_id id;
  bool savepoint = false;
  /// The job's final checkpoint: every subtask had ended (on_ended).
  bool final = false;
  /// Processing time (ms) of the trigger.
  int64_t time_ms = 0;
};

/// What one completed checkpoint cost.
struct checkpoint_stats {
  checkpoint_id id;
  bool savepoint = false;
  /// Processing time (ms) of the trigger.
  int64_t trigger_time_ms = 0;
  /// From trigger to commit of the metadata.
  int64_t duration_ms = 0;
  /// Sum of the parts' sizes.
  uint64_t size_bytes = 0;
  /// Longest alignment of any subtask.
  int64_t alignment_ms = 0;
};

/// Counters for the status line and metrics.
struct coordinator_stats {
  std::optional<checkpoint_stats> last_completed;
  uint64_t completed = 0;
  uint64_t failed = 0;
  /// The last aborted checkpoint and why.
  std::optional<checkpoint_id> last_failed;
  std::string last_failure;
  /// The highest id triggered (0: none): a restarted job's checkpoints
  /// take ids after it, never reusing a directory an aborted one wrote.
  checkpoint_id last_triggered;
};

/// The job's side of checkpointing, free of any actor system and of I/O:
/// decides when checkpoint n starts, collects every subtask's
/// acknowledgement (its part, written), hands the metadata to write when
/// all are in, and completes or aborts. At most one checkpoint is in
/// flight; an aborted one (a declined part, a timeout, a metadata write
/// failure) does not stop the next one.
///
/// The host calls poll() when next_wakeup() is due and after every event,
/// and writes the metadata returned by on_ack() on an I/O thread, then
/// reports on_committed() or on_commit_failed(). Not thread-safe: one
/// caller (the job's actor or a test).
class coordinator {
public:
  /// Called once a checkpoint is complete (metadata written): Kafka
  /// offset commits and exactly-once sinks hook in here.
  using completion_listener = std::function<void(const pb::Metadata&)>;
  /// Called when a checkpoint is aborted, with the cause; the host tells
  /// the subtasks to drop it and discards what was written.
  using abort_listener =
      std::function<void(const trigger&, const std::string& cause)>;

  /// `subtasks`: every subtask that must acknowledge. Triggers every
  /// `opts.interval` (the first one interval after construction), aborts
  /// after `opts.timeout`. Checkpoint ids start after `last` (the restored
  /// checkpoint's id, or 0). `clk` outlives this.
  coordinator(std::string job_name, std::vector<subtask_id> subtasks,
              const options& opts, const clock& clk, checkpoint_id last = {});

  void on_complete(completion_listener f) {
    completion_listeners_.push_back(std::move(f));
  }
  void on_abort(abort_listener f) { abort_listeners_.push_back(std::move(f)); }

  /// Aborts a checkpoint that timed out; returns the checkpoint to trigger
  /// now, if one is due and none is in flight.
  std::optional<trigger> poll();

  /// Processing time (ms) at which poll() may have something to do;
  /// max_timestamp if nothing waits for the clock.
  int64_t next_wakeup() const;

  /// The next trigger is a savepoint, as soon as nothing is in flight.
  void request_savepoint() { savepoint_requested_ = true; }

  // -- the end of a job (FLIP-147's final checkpoint) ----------------------

  /// Subtask `s`'s output has ended; it waits until the job ends, and
  /// snapshots the checkpoints triggered meanwhile without a barrier. Once
  /// every subtask has ended, the next checkpoint, at once (after the one
  /// in flight), is the final one: it covers everything the job did.
  void on_ended(subtask_id s);
  /// Attempts at the final checkpoint before the job fails (failure()).
  static constexpr uint32_t final_attempts = 3;
  /// The final checkpoint is complete: the subtasks may finish.
  bool final_complete() const noexcept { return final_complete_; }
  /// The job ends without a final checkpoint (a stop savepoint completed,
  /// after whose barrier the sources emitted nothing): no more triggers.
  void stop() noexcept { stopped_ = true; }
  /// Why the job must fail: its final checkpoint was aborted
  /// final_attempts times. Empty otherwise.
  const std::string& failure() const noexcept { return failure_; }

  /// Subtask `s` has written its part of checkpoint `id`. When this was the
  /// last acknowledgement, returns the metadata to commit (the parts in
  /// subtask order). Acknowledgements of aborted checkpoints are ignored.
  /// Throws std::logic_error for a subtask that is not in the job or that
  /// acknowledges twice.
  std::optional<pb::Metadata> on_ack(checkpoint_id id, subtask_id s,
                                     pb::Part part);

  /// Subtask `s` could not snapshot or write its part: aborts `id`.
  void on_decline(checkpoint_id id, subtask_id s, const std::string& cause);

  /// The metadata of `id` is written: the checkpoint is complete.
  void on_committed(checkpoint_id id);

  /// The metadata of `id` could not be written: aborts it.
  void on_commit_failed(checkpoint_id id, const std::string& cause);

  /// The checkpoint in flight (triggered, not yet complete or aborted).
  std::optional<trigger> in_flight() const;

  const coordinator_stats& stats() const noexcept { return stats_; }

private:
  struct pending {
    trigger trig;
    std::map<subtask_id, pb::Part> acks;
    /// All acknowledged; `metadata` is being written.
    bool committing = false;
    pb::Metadata metadata;
  };

  void abort(const std::string& cause);

  std::string job_name_;
  std::vector<subtask_id> subtasks_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds timeout_;
  const clock& clock_;
  checkpoint_id last_id_;
  int64_t next_due_;
  bool savepoint_requested_ = false;
  std::vector<subtask_id> ended_;
  uint32_t final_tries_ = 0;
  bool final_complete_ = false;
  bool stopped_ = false;
  std::string failure_;
  std::optional<pending> pending_;
  coordinator_stats stats_;
  std::vector<completion_listener> completion_listeners_;
  std::vector<abort_listener> abort_listeners_;
};

} // namespace flow::checkpoint

#pragma once

#include "flow/checkpoint/coordinator.hpp"
#include "flow/checkpoint/parts.hpp"
#include "flow/checkpoint/store.hpp"
#include "flow/observe/job_view.hpp"
#include "flow/plan.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flow::runtime {

/// The state a job starts from: the checkpoint restored and every
/// subtask's part of it, indexed by subtask id.
struct restored_job {
  checkpoint::completed_checkpoint from;
  std::vector<subtask_restore> subtasks;
};

/// The store of flow.checkpoint-dir (null if none), checked once as the job
/// starts (checkpoint::store::prepare; for writing only if the job will
/// write checkpoints or a savepoint). Throws config_failure naming
/// flow.checkpoint-dir if the directory cannot be used. Reads files: call
/// it before the job runs, never on a scheduler thread.
std::shared_ptr<checkpoint::store>
open_checkpoint_store(const checkpoint::options& opts);

/// The checkpoint a job with `plan` starts from, as flow.restore and
/// flow.checkpoint-dir say (`store` null: no directory): nullopt for a
/// fresh start. Logs which checkpoint and its age. Throws
/// checkpoint::incompatible_checkpoint if it does not fit `plan` or
/// cannot be read (the program then exits 2). Reads files: call it before
/// the job runs, never on a scheduler thread.
std::optional<restored_job> load_restore(const checkpoint::options& opts,
                                         const checkpoint::store* store,
                                         const physical_plan& plan);

/// Hosts a job's checkpoint::coordinator in the loop that supervises the
/// job (runtime::supervise), on that loop's own thread (never a scheduler
/// thread: the metadata is written there). It tells the source subtasks to
/// inject barriers, collects the subtasks' acknowledgements, commits the
/// metadata to the store, and tells the sources when a checkpoint is
/// complete (so that they commit their positions) or the subtasks when one
/// is aborted. Decisions are the coordinator's.
///
/// The end of a job (FLIP-147's final checkpoint): with periodic
/// checkpoints, a subtask whose output has ended (subtask_core::hold_at_end)
/// reports it (on_ended) and waits. Checkpoints go on meanwhile: the
/// running sources inject barriers, and each ended subtask snapshots when
/// told (cp_end_atom), as it can no longer get a barrier in band. Once
/// every subtask has ended, one more checkpoint, the final one, covers
/// all the job did (what its sinks hold back until a checkpoint completes
/// included); when it is complete every subtask is released and finishes.
/// A final checkpoint that is aborted is retried at once, up to
/// checkpoint::coordinator::final_attempts times, after which the run
/// fails (failure()).
///
/// Without periodic checkpoints (only flow.savepoint-on-stop) subtasks do
/// not wait at their end: checkpoints stop when the first one finishes (it
/// cannot acknowledge), except the savepoint of stop_with_savepoint(),
/// which every subtask snapshots before it finishes (its barrier precedes
/// end-of-stream on every channel).
class job_checkpoints {
public:
  /// `restored`: the id of the checkpoint the job started from (0: none);
  /// new ids follow it. `view`, if given, gets every completed and aborted
  /// checkpoint (for /api/v1/checkpoints, /metrics and the web UI).
  job_checkpoints(caf::scoped_actor& self, const std::string& job_name,
                  const physical_plan& plan,
                  std::shared_ptr<checkpoint::store> store,
                  const checkpoint::options& opts, checkpoint_id restored,
                  observe::job_view* view = nullptr);
  ~job_checkpoints();

  /// The subtasks' actors, indexed by subtask id.
  void set_actors(std::vector<caf::actor> actors);

  /// Triggers a checkpoint that is due; aborts one that timed out.
  void poll();

  /// How long the supervising loop may wait before poll() has work.
  std::chrono::milliseconds next_wakeup() const;

  void on_ack(uint32_t subtask, uint64_t id, const std::string& part);
  void on_decline(uint32_t subtask, uint64_t id, const std::string& cause);
  /// Subtask `subtask` finished.
  void on_finished(uint32_t subtask);
  /// Subtask `subtask`'s output ended; it waits for release_atom.
  void on_ended(uint32_t subtask);

  /// Why the run must fail (its final checkpoint could not be taken);
  /// empty if it need not.
  const std::string& failure() const noexcept { return coordinator_.failure(); }

  /// A stop request with flow.savepoint-on-stop: the next trigger is a
  /// savepoint whose barrier the sources inject and then stop. False (and
  /// nothing done) if no checkpoint can be taken any more (a subtask has
  /// finished): the caller stops the sources itself. If the savepoint
  /// fails, the sources are told to stop anyway, and the run fails
  /// (stop_savepoint_failure()): what was asked for does not exist.
  bool stop_with_savepoint();

  /// Why the savepoint of stop_with_savepoint() failed; empty if it did
  /// not.
  const std::string& stop_savepoint_failure() const noexcept {
    return stop_savepoint_failure_;
  }

  /// The savepoint of stop_with_savepoint() is neither complete nor
  /// aborted yet: the job must wait for it, even with every subtask
  /// finished.
  bool savepoint_pending() const noexcept { return stop_pending_; }

  const checkpoint::coordinator_stats& stats() const;

private:
  void completed(const checkpoint::pb::Metadata& md);
  void aborted(const checkpoint::trigger& t, const std::string& cause);
  /// Tells the running sources to stop (stop_atom).
  void stop_sources();
  /// Tells every subtask still there that the job ends (release_atom).
  void release_all();

  caf::scoped_actor& self_;
  const physical_plan& plan_;
  std::shared_ptr<checkpoint::store> store_;
  observe::job_view* view_;
  checkpoint::coordinator coordinator_;
  std::vector<caf::actor> actors_;
  std::vector<bool> finished_;
  bool stopped_ = false;
  bool stop_pending_ = false;
  std::string stop_savepoint_failure_;
  std::optional<checkpoint_id> stop_savepoint_;
  /// Subtasks whose output ended (on_ended).
  std::vector<bool> ended_;
  /// The final checkpoint is complete and the subtasks were released.
  bool released_ = false;
};

} // namespace flow::runtime

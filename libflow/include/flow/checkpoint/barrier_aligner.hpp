#pragma once

#include "flow/ids.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace flow::checkpoint {

/// Aligned checkpoint barriers at one subtask with several input channels
/// (Chandy-Lamport, aligned, as in Flink). Barrier n arriving on input c
/// blocks c: the subtask keeps c's later events queued and processes its
/// other inputs. When every open input has delivered barrier n the subtask
/// is aligned: it snapshots its state (which then holds exactly the
/// records before barrier n on every input), forwards barrier n on every
/// output, and unblocks all inputs. An input that has ended counts as
/// aligned. A newer barrier m > n arriving while n aligns aborts n (some
/// upstream subtask dropped it) and starts aligning m; barriers of
/// checkpoints already taken or aborted are stale and dropped.
///
/// Bound: a blocked input's batches stay queued unprocessed, so their
/// credit is not returned and its sender stops after the credit window.
/// An aligning subtask therefore buffers at most
///     (blocked inputs) x (flow.credit-window) batches
/// (plus in-band control events), as it does without checkpoints: alignment
/// never grows memory beyond what the credit windows allow.
///
/// Pure bookkeeping; the host (subtask_core) blocks and unblocks queues,
/// snapshots and forwards. Times are processing-time milliseconds.
class barrier_aligner {
public:
  explicit barrier_aligner(size_t inputs);

  enum class verdict {
    /// A stale barrier: drop it, nothing changes.
    stale,
    /// The input is blocked until alignment.
    blocked,
    /// Barrier on every open input: snapshot, forward the barrier, go on
    /// with every input unblocked.
    aligned,
  };

  struct outcome {
    verdict what = verdict::stale;
    /// An older checkpoint that this newer barrier aborted.
    std::optional<checkpoint_id> aborted;
    /// With `aligned`: milliseconds from the first barrier to alignment.
    int64_t alignment_ms = 0;
  };

  /// Barrier `id` arrived on input `slot`. Throws std::logic_error for a
  /// barrier on a blocked or ended input (its events stay queued, so the
  /// host cannot see one).
  outcome on_barrier(size_t slot, checkpoint_id id, int64_t now_ms);

  /// Input `slot` ended (its end-of-stream processed): it counts as aligned
  /// from now on, which may complete an alignment (`aligned`); otherwise
  /// the verdict is `stale` (nothing to do).
  outcome on_end_of_input(size_t slot, int64_t now_ms);

  /// The job aborted `id`: if it is aligning, every input is unblocked.
  /// Returns whether it was.
  bool cancel(checkpoint_id id);

  bool blocked(size_t slot) const { return blocked_[slot]; }
  /// The checkpoint being aligned, if any.
  std::optional<checkpoint_id> aligning() const;
  /// The newest checkpoint this subtask has seen a barrier of.
  checkpoint_id latest() const noexcept { return latest_; }

private:
  outcome complete(int64_t now_ms);
  void unblock_all();

  std::vector<bool> blocked_;
  std::vector<bool> ended_;
  size_t open_;
  size_t arrived_ = 0;
  bool aligning_ = false;
  checkpoint_id latest_;
  int64_t started_ms_ = 0;
};

} // namespace flow::checkpoint

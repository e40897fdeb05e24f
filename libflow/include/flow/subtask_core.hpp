#pragma once

#include "flow/checkpoint/barrier_aligner.hpp"
#include "flow/credit.hpp"
#include "flow/defaults.hpp"
#include "flow/metrics.hpp"
#include "flow/outbox.hpp"
#include "flow/task.hpp"
#include "flow/transport.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

namespace flow {

/// Channel settings shared by all channels of a job.
struct channel_options {
  /// Records per batch: a batch is closed when it holds this many.
  size_t batch_size = default_batch_size;
  /// Credit window per channel, in batches.
  uint32_t credit_window = 8;
  /// Credit is returned in groups of this many batches while input is
  /// queued (all at once when the input queue runs empty).
  uint32_t credit_return = 2;
  /// Buffer debloating: each input channel's window shrinks to what the
  /// subtask processes in this time (credit_debloater), bounding the input
  /// queued in front of a checkpoint barrier; zero keeps the full window.
  std::chrono::nanoseconds debloat_target = std::chrono::milliseconds(200);
  /// A source (or source split: a Kafka partition) that has nothing to
  /// read and has had no records for this long declares itself idle, in
  /// band (transport::send_idle), until it has records again. Silence
  /// inside the graph never counts: a slow or backpressured channel holds
  /// the watermark back. Zero: sources never declare themselves idle.
  std::chrono::nanoseconds idle_timeout{0};
  /// Sources emit a generated watermark at most this often (zero: after
  /// every poll in which it advanced).
  std::chrono::nanoseconds watermark_interval =
      std::chrono::milliseconds(default_watermark_interval_ms);
};

/// The state of one subtask at a checkpoint: taken when barrier `id` had
/// arrived on every open input (a source: when told to inject it), before
/// the barrier went on to the outputs.
struct subtask_snapshot {
  checkpoint_id id;
  /// Milliseconds from the first barrier to alignment (0 for sources).
  int64_t alignment_ms = 0;
  /// The task's keyed state (task::snapshot_key_groups); see
  /// key_groups_later.
  std::vector<key_group_snapshot> key_groups;
  /// Sources: where they stand (task::snapshot_positions).
  std::vector<source_position> positions;
  /// Sinks: their own state (task::snapshot_operator_state); empty if none.
  byte_chain operator_state;
  /// Dead letters held for this checkpoint (task::snapshot_dead_letters);
  /// empty if none.
  std::string dead_letters;
  /// Where the subtask stood in event time.
  event_time_snapshot event_time;
  /// The keyed state, if the task deferred writing it (it could freeze
  /// it: task::snapshot_key_groups): write_key_groups() fills key_groups
  /// with it, off the subtask's thread.
  deferred_key_groups key_groups_later;

  /// Writes what key_groups_later holds into key_groups (once; nothing if
  /// the state was written at the snapshot). Reads the state's stores and
  /// the maps it froze.
  void write_key_groups() {
    if (!key_groups_later) return;
    auto later = std::move(key_groups_later);
    key_groups_later = nullptr;
    later(key_groups);
  }
};

/// What the host should do after a call into subtask_core.
enum class step_result {
  /// Call again (sources: poll again right away).
  more,
  /// Waiting for input, credit or a timer; nothing to do now.
  waiting,
  /// A source has nothing now; poll again after a short delay.
  idle,
  /// Everything was processed and end-of-stream sent on every output.
  finished,
  /// The task waits for work of its own (a sink's full producer queue, its
  /// final flush, a connection being opened) and takes no input meanwhile:
  /// call drain() again after its wake-up (set_wakeup), or after a short
  /// delay if it has none.
  busy,
};

/// The protocol logic of one subtask, free of any actor system: input queue
/// with per-channel credit receivers, the task, and the outbox. The host
/// (an actor, or a test's scheduler) feeds it events and delivers what it
/// sends through the transport.
class subtask_core {
public:
  /// Builds the task with `make` once the outbox exists (its router writes
  /// to it). `input_edges[slot]` is the logical input edge of input channel
  /// `slot`; `setup.out` is set here, and `setup.outputs` gives the number
  /// of output channels. `clk` is the processing-time clock (null: the
  /// system clock); it must outlive the core.
  subtask_core(const task_factory& make, task_setup setup,
               std::vector<size_t> input_edges, size_t output_channels,
               const channel_options& opts, transport& tr,
               subtask_metrics& metrics, const flow::clock* clk = nullptr);

  // -- events from the channels -------------------------------------------

  void on_batch(size_t in_slot, batch_ptr b);
  void on_end_of_stream(size_t in_slot);
  /// In-band watermark of input channel `in_slot`; takes effect after the
  /// batches received before it on that channel.
  void on_watermark(size_t in_slot, int64_t wm);
  /// In-band status of input channel `in_slot` (transport::send_idle);
  /// takes effect after the batches received before it on that channel. An
  /// idle input stops holding the watermark back; the subtask is idle, and
  /// says so downstream, while every open input is idle.
  void on_idle(size_t in_slot, bool idle);
  void on_credit(size_t out_slot, uint32_t n);
  /// In-band checkpoint barrier `id` of input channel `in_slot`, after the
  /// batches received before it on that channel. Aligned as
  /// checkpoint::barrier_aligner says: the events of a blocked input stay
  /// queued, unprocessed, so its credit is not returned.
  void on_barrier(size_t in_slot, checkpoint_id id);

  // -- checkpoints ----------------------------------------------------------

  /// Sources: snapshot now and send barrier `id` on every output after the
  /// records emitted so far. False if the source has ended (it takes part
  /// in no more checkpoints).
  bool inject_barrier(checkpoint_id id);

  /// The job aborted checkpoint `id`: stop aligning it.
  void abort_checkpoint(checkpoint_id id);

  /// Before any other event: the task takes the keyed state, source
  /// positions and sink state of a restored checkpoint; then the subtask
  /// takes its event time: its inputs' watermarks and statuses, its output
  /// watermark and status (nothing is sent again), and its own watermark,
  /// which the task gets with on_watermark (firing the timers due at it,
  /// as the uninterrupted run would have at its next watermark).
  void restore(const subtask_restore& r);

  /// Checkpoint `id` is complete; a source stood at `positions` in it
  /// (task::checkpoint_complete). Ignored once the subtask's output ended,
  /// unless it is held at its end (hold_at_end).
  void checkpoint_complete(checkpoint_id id,
                           const std::vector<source_position>& positions);

  // -- the end of a job with checkpoints (FLIP-147's final checkpoint) ------

  /// Once its output has ended (end-of-stream sent on every output, after
  /// everything the task emitted at the end of its input), the subtask is
  /// ended() but not finished() until release(): it still snapshots
  /// (snapshot_at_end) and hears of completed checkpoints, so that the
  /// job's final checkpoint covers everything, the output its sinks hold
  /// back included. Call before the first event.
  void hold_at_end() noexcept { hold_at_end_ = true; }
  /// Held at its end (hold_at_end), waiting for release().
  bool ended() const noexcept {
    return hold_at_end_ && done_ && outbox_.finished();
  }
  /// Checkpoint `id` at an ended() subtask: its state is final and nothing
  /// more goes out (its output channels are closed), so it snapshots now,
  /// without a barrier. False (and nothing done) if it has not ended, or
  /// took its snapshot of `id` already (a barrier before its end).
  bool snapshot_at_end(checkpoint_id id);
  /// The job ends: an ended subtask finishes (once its task is not busy).
  void release() noexcept { released_ = true; }

  /// Snapshots taken since the last call, oldest first; the host writes
  /// them (off this thread) and acknowledges them to the job.
  std::vector<subtask_snapshot> take_snapshots() {
    return std::exchange(snapshots_, {});
  }

  // -- driving ------------------------------------------------------------

  /// Operators and sinks: resumes a busy task, then processes queued input
  /// until it runs out, an output blocks or the task is busy.
  step_result drain();

  /// Sources: emits up to `budget` records unless an output is blocked.
  step_result poll_source(size_t budget);

  /// Flush timer: closes partially filled batches.
  void flush();

  /// Asks a source to stop (graceful shutdown).
  void request_stop();

  /// `wake` is called (from any thread) when a source's input may have
  /// arrived after poll_source() returned idle, or when a busy task may go
  /// on (drain() returned busy). False: the task cannot tell; poll or drain
  /// it again after a short delay.
  bool set_wakeup(std::function<void()> wake);

  /// Processing time moved on: fires due processing-time timers (unless an
  /// output is blocked; drain() and poll_source() go on afterwards as usual).
  void advance_time();

  /// Processing time (ms) at which the host should call advance_time();
  /// max_timestamp if nothing waits for the clock.
  int64_t next_wakeup() const;

  /// The subtask's current event time (min over its inputs).
  int64_t watermark() const noexcept { return watermark_; }

  bool is_source() const noexcept { return inputs_.empty(); }
  /// True while every open input is idle (false once all ended).
  bool inputs_idle() const noexcept;
  bool finished() const {
    return outbox_.finished() && done_ && !task_->busy() &&
           (!hold_at_end_ || released_);
  }
  bool blocked() const noexcept { return outbox_.blocked(); }
  bool has_buffered() const { return task_->has_buffered(); }
  size_t queued() const noexcept { return queue_.size(); }

  const outbox& output() const noexcept { return outbox_; }
  subtask_metrics& metrics() noexcept { return metrics_; }

private:
  struct input_event {
    enum kind_t : uint8_t { batch, end_of_stream, watermark, status, barrier };
    size_t slot;
    kind_t kind;
    batch_ptr data;
    int64_t wm = 0;
    bool idle = false;
    checkpoint_id barrier_id{};
  };

  /// Event time of one input channel.
  struct input_time {
    int64_t wm = min_timestamp;
    bool idle = false;
    /// Sequence number of the last event of this channel still queued.
    int64_t last_seq = 0;
    bool has_queued = false;
  };

  void finish_output();
  /// Snapshots the task, forwards barrier `id`, and puts the events held
  /// back during alignment in front of the queue.
  void checkpoint(checkpoint_id id, int64_t alignment_ms);
  /// The task's state at checkpoint `id`, into unflushed_.
  void snapshot(checkpoint_id id, int64_t alignment_ms);
  void release_held();
  /// Moves unflushed_ to snapshots_ once the task is not busy.
  void release_flushed();
  /// No input, watermark or timer can go to the task now.
  bool stalled() const { return outbox_.blocked() || task_->busy(); }
  void push_event(input_event ev);
  /// The last event still queued for channel `slot`, or null.
  input_event* last_queued(size_t slot);
  /// Recomputes the input watermark and tells the task if it advanced.
  void update_watermark();
  /// Operators: tells the task when "every open input is idle" differs
  /// from the status its output last declared.
  void update_idle();

  outbox outbox_;
  std::unique_ptr<task> task_;
  std::vector<size_t> input_edges_;
  std::vector<credit_receiver> inputs_;
  /// One per input channel; empty when debloating is off.
  std::vector<credit_debloater> debloaters_;
  std::vector<bool> ended_;
  size_t open_inputs_;
  std::deque<input_event> queue_;
  transport& transport_;
  subtask_metrics& metrics_;
  size_t batch_size_ = 1;
  size_t queued_batches_ = 0;
  bool done_ = false;
  bool hold_at_end_ = false;
  bool released_ = false;
  /// The last checkpoint snapshotted (0: none).
  checkpoint_id snapshotted_{};
  const flow::clock* clock_;
  std::vector<input_time> times_;
  /// Sequence number of queue_.front(). Signed: held events going back to
  /// the front (release_held) may take it below where it started.
  int64_t head_seq_ = 0;
  int64_t watermark_ = min_timestamp;
  bool wm_dirty_ = false;
  checkpoint::barrier_aligner aligner_;
  /// Events of blocked inputs, taken off the queue's front in order, per
  /// input; empty unless aligning.
  std::vector<std::deque<input_event>> held_;
  std::vector<subtask_snapshot> snapshots_;
  /// Snapshots of a sink that is making its writes durable
  /// (task::prepare_checkpoint): released once it is no longer busy.
  std::vector<subtask_snapshot> unflushed_;
};

} // namespace flow

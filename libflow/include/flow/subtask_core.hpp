#pragma once

#include "flow/credit.hpp"
#include "flow/metrics.hpp"
#include "flow/outbox.hpp"
#include "flow/task.hpp"
#include "flow/transport.hpp"

#include <deque>
#include <memory>
#include <vector>

namespace flow {

/// Channel settings shared by all channels of a job.
struct channel_options {
  /// Records per batch: a batch is closed when it holds this many.
  size_t batch_size = 1024;
  /// Credit window per channel, in batches.
  uint32_t credit_window = 8;
  /// Credit is returned in groups of this many batches while input is
  /// queued (all at once when the input queue runs empty).
  uint32_t credit_return = 2;
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
  /// of output channels.
  subtask_core(const task_factory& make, task_setup setup,
               std::vector<size_t> input_edges, size_t output_channels,
               const channel_options& opts, transport& tr,
               subtask_metrics& metrics);

  // -- events from the channels -------------------------------------------

  void on_batch(size_t in_slot, batch_ptr b);
  void on_end_of_stream(size_t in_slot);
  void on_credit(size_t out_slot, uint32_t n);

  // -- driving ------------------------------------------------------------

  /// Operators and sinks: processes queued input until it runs out or an
  /// output blocks.
  step_result drain();

  /// Sources: emits up to `budget` records unless an output is blocked.
  step_result poll_source(size_t budget);

  /// Flush timer: closes partially filled batches.
  void flush();

  /// Asks a source to stop (graceful shutdown).
  void request_stop();

  bool is_source() const noexcept { return inputs_.empty(); }
  bool finished() const noexcept { return outbox_.finished() && done_; }
  bool blocked() const noexcept { return outbox_.blocked(); }
  bool has_buffered() const { return task_->has_buffered(); }
  size_t queued() const noexcept { return queue_.size(); }

  const outbox& output() const noexcept { return outbox_; }
  subtask_metrics& metrics() noexcept { return metrics_; }

private:
  struct input_event {
    size_t slot;
    batch_ptr batch; // null: end-of-stream
  };

  void finish_output();

  outbox outbox_;
  std::unique_ptr<task> task_;
  std::vector<size_t> input_edges_;
  std::vector<credit_receiver> inputs_;
  std::vector<bool> ended_;
  size_t open_inputs_;
  std::deque<input_event> queue_;
  transport& transport_;
  subtask_metrics& metrics_;
  size_t batch_size_ = 1;
  bool done_ = false;
};

} // namespace flow

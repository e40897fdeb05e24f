#pragma once

#include "flow/batch.hpp"
#include "flow/ids.hpp"

#include <cstdint>

namespace flow {

/// What a subtask needs from its surroundings: delivering its messages.
/// The actor runtime implements it with CAF messages; protocol tests with
/// plain queues. Slots are the subtask's own indexes of its output and
/// input channels.
class transport {
public:
  virtual ~transport();
  virtual void send_batch(size_t out_slot, batch_ptr b) = 0;
  virtual void send_end_of_stream(size_t out_slot) = 0;
  /// In-band watermark (event-time progress, see flow/time.hpp); in order
  /// with the batches of the channel, needs no credit.
  virtual void send_watermark(size_t out_slot, int64_t wm) = 0;
  /// In-band watermark status (as Flink's WatermarkStatus): `idle` says
  /// the sending subtask has nothing to read (its sources are caught up)
  /// and its watermark stops holding the receiver back until it sends
  /// `idle = false`, which always comes before its next batch. In order
  /// with the batches of the channel, needs no credit.
  virtual void send_idle(size_t out_slot, bool idle) = 0;
  virtual void send_credit(size_t in_slot, uint32_t n) = 0;
  /// Checkpoint barrier `id` (flow/checkpoint/barrier_aligner.hpp); in
  /// order with the batches of the channel, needs no credit. The default
  /// throws std::logic_error: a transport that never carries checkpoints
  /// (a protocol test's) need not implement it.
  virtual void send_barrier(size_t out_slot, checkpoint_id id);
};

} // namespace flow

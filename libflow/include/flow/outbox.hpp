#pragma once

#include "flow/batch.hpp"
#include "flow/credit.hpp"
#include "flow/metrics.hpp"
#include "flow/transport.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

namespace flow {

/// The output channels of one subtask. Closed batches are sent while the
/// channel has credit and queued (pending) otherwise; a subtask with any
/// pending batch is blocked and must not take more input. Control events
/// (watermarks, idle status, checkpoint barriers, end-of-stream) go out in
/// order with the batches of their channel and need no credit; consecutive
/// pending watermarks (and statuses) coalesce, so a blocked channel holds at
/// most two per pending batch, plus its barriers. The subtask's status is one
/// for all channels: a batch pushed while it is idle declares it active
/// first.
class outbox {
public:
  outbox(size_t channels, uint32_t window, transport& tr,
         subtask_metrics& metrics);

  size_t size() const noexcept { return channels_.size(); }

  /// Hands a closed batch to output channel `slot`.
  void push(size_t slot, batch_ptr b);

  /// Sends watermark `wm` on every channel after its pending batches, where
  /// it is higher than the last one sent or queued there. Callers close
  /// partially filled batches first (router::emit_watermark).
  void push_watermark(int64_t wm);

  /// Sends checkpoint barrier `id` on every channel after its pending
  /// batches. Callers close partially filled batches first.
  void push_barrier(checkpoint_id id);

  /// Sends status `idle` (see transport::send_idle) on every channel after
  /// its pending batches, if it changes the subtask's status.
  void push_idle(bool idle);

  /// A restored subtask, before anything is pushed: the watermark and
  /// status it had sent at the checkpoint (its receivers restore them as
  /// their input's), so that it sends neither again.
  void restore_status(int64_t wm, bool idle) {
    watermark_ = wm;
    idle_ = idle;
  }

  /// The status sent or queued last: true while the subtask is idle.
  bool idle() const noexcept { return idle_; }

  /// Requests end-of-stream on every channel, after their pending batches.
  void close();

  /// Credit returned by the receiver of channel `slot`.
  void on_credit(size_t slot, uint32_t n);

  /// True while some channel holds a batch that waits for credit.
  bool blocked() const noexcept { return blocked_channels_ > 0; }

  bool has_pending(size_t slot) const noexcept {
    return !channels_[slot].pending.empty();
  }

  /// Highest watermark sent or queued on every channel (min_timestamp if
  /// none).
  int64_t watermark() const noexcept { return watermark_; }

  /// True once end-of-stream went out on every channel.
  bool finished() const noexcept { return closed_ && unsent_eos_ == 0; }

  const credit_sender& credit(size_t slot) const {
    return channels_[slot].credit;
  }

private:
  struct channel {
    explicit channel(uint32_t window) : credit(window) {}
    credit_sender credit;
    /// Batches waiting for credit, and the control events queued behind
    /// them (a null batch: the control event `kind`).
    struct entry {
      enum class kind : uint8_t { batch, watermark, status, barrier };
      batch_ptr batch;
      kind what = kind::batch;
      int64_t wm = 0;
      bool idle = false;
      checkpoint_id barrier{};
    };
    std::deque<entry> pending;
    bool eos_sent = false;
  };

  void try_send(size_t slot);
  void update_blocked(size_t slot, bool was_blocked);

  std::vector<channel> channels_;
  transport& transport_;
  subtask_metrics& metrics_;
  size_t blocked_channels_ = 0;
  size_t unsent_eos_ = 0;
  bool closed_ = false;
  bool idle_ = false;
  int64_t watermark_;
  std::chrono::steady_clock::time_point blocked_since_;
};

} // namespace flow

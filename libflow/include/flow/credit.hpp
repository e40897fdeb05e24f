#pragma once

#include <cstdint>

namespace flow {

/// Sender side of one channel's credit window (one credit = one batch).
/// The sender may have at most `window` batches sent and not yet
/// acknowledged by a credit return.
class credit_sender {
public:
  explicit credit_sender(uint32_t window);

  bool can_send() const noexcept { return available_ > 0; }

  /// Consumes one credit. Throws std::logic_error without credit: that
  /// would be a protocol violation by the caller.
  void on_send();

  /// Adds `n` returned credits. Throws std::logic_error if the receiver
  /// returns more than was sent.
  void on_credit(uint32_t n);

  uint32_t window() const noexcept { return window_; }
  uint32_t available() const noexcept { return available_; }
  uint32_t in_flight() const noexcept { return window_ - available_; }
  /// Highest number of unacknowledged batches ever observed.
  uint32_t max_in_flight() const noexcept { return max_in_flight_; }

private:
  uint32_t window_;
  uint32_t available_;
  uint32_t max_in_flight_ = 0;
};

/// Receiver side of one channel's credit window. Returns credit after a
/// batch is processed, batching returns up to `return_threshold` while more
/// input is queued.
///
/// The window can shrink below the one the sender started with (see
/// credit_debloater): credit of processed batches is then parked, never
/// returned, until the window grows again. The sender never sees more than
/// `window` credits, so shrinking needs no message of its own.
class credit_receiver {
public:
  credit_receiver(uint32_t window, uint32_t return_threshold);

  /// Accounts an arriving batch. Throws std::logic_error if the sender
  /// exceeded the window.
  void on_receive();

  /// Accounts a processed batch. Returns the credit to send upstream now
  /// (0: hold it back). `input_idle` says no more input is queued, in which
  /// case everything held is returned.
  uint32_t on_processed(bool input_idle);

  /// Returns all credit held back (0 if none).
  uint32_t release();

  /// Sets the window in effect to `batches`, clamped to [1, the window the
  /// channel was created with]. Shrinking parks the credit of the next
  /// processed batches; growing unparks credit, returned with the next
  /// on_processed() or release().
  void set_effective_window(uint32_t batches);

  uint32_t queued() const noexcept { return queued_; }
  uint32_t held() const noexcept { return held_; }
  /// Credits the sender may have out (in flight or queued here).
  uint32_t effective_window() const noexcept { return window_ - parked_; }

private:
  uint32_t window_;
  uint32_t threshold_;
  uint32_t target_;     // window in effect, once parking caught up
  uint32_t queued_ = 0; // received, not yet processed
  uint32_t held_ = 0;   // processed, credit not yet returned
  uint32_t parked_ = 0; // processed, credit withheld to shrink the window
};

/// Buffer debloating (as Flink's): sizes a channel's credit window to what
/// its receiver processes in `target_ms`, so that a slow receiver keeps
/// about that much input queued in front of a checkpoint barrier instead
/// of the full window. The rate is the batches processed per
/// `period_ms`, smoothed over periods; until the first period has passed
/// the window is the full one. Fast channels (rate * target above the
/// window) keep the full window. Pure: the caller passes the time.
class credit_debloater {
public:
  /// `max_window`: the channel's configured window, in batches.
  credit_debloater(uint32_t max_window, int64_t target_ms,
                   int64_t period_ms = 100);

  /// Accounts one processed batch at `now_ms`; returns the window to use.
  uint32_t on_processed(int64_t now_ms);

  uint32_t window() const noexcept { return window_; }
  /// Smoothed batches per second (0 before the first period).
  double batches_per_s() const noexcept { return rate_; }

private:
  uint32_t max_window_;
  int64_t target_ms_;
  int64_t period_ms_;
  int64_t period_start_ = -1;
  uint32_t in_period_ = 0;
  double rate_ = 0;
  uint32_t window_;
};

} // namespace flow

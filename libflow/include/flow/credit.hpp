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

  uint32_t queued() const noexcept { return queued_; }
  uint32_t held() const noexcept { return held_; }

private:
  uint32_t window_;
  uint32_t threshold_;
  uint32_t queued_ = 0; // received, not yet processed
  uint32_t held_ = 0;   // processed, credit not yet returned
};

} // namespace flow

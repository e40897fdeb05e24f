#include "flow/credit.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace flow {

credit_sender::credit_sender(uint32_t window)
    : window_(window), available_(window) {
  if (window == 0)
    throw std::invalid_argument("credit window must be at least 1");
}

void credit_sender::on_send() {
  if (available_ == 0)
    throw std::logic_error("credit protocol: send without credit");
  --available_;
  max_in_flight_ = std::max(max_in_flight_, in_flight());
}

void credit_sender::on_credit(uint32_t n) {
  if (n > in_flight())
    throw std::logic_error("credit protocol: " + std::to_string(n) +
                           " credits returned, only " +
                           std::to_string(in_flight()) + " in flight");
  available_ += n;
}

credit_receiver::credit_receiver(uint32_t window, uint32_t return_threshold)
    : window_(window), threshold_(std::max<uint32_t>(1, return_threshold)),
      target_(window) {}

void credit_receiver::on_receive() {
  if (queued_ + held_ + parked_ >= window_)
    throw std::logic_error("credit protocol: sender exceeded its window of " +
                           std::to_string(window_ - parked_) + " batches");
  ++queued_;
}

uint32_t credit_receiver::on_processed(bool input_idle) {
  if (queued_ == 0)
    throw std::logic_error("credit protocol: processed a batch never received");
  --queued_;
  if (window_ - parked_ > target_)
    ++parked_;
  else
    ++held_;
  // A shrunken window may be smaller than the return threshold.
  if (input_idle || held_ >= std::min(threshold_, effective_window()))
    return release();
  return 0;
}

uint32_t credit_receiver::release() {
  auto n = held_;
  held_ = 0;
  return n;
}

void credit_receiver::set_effective_window(uint32_t batches) {
  target_ = std::clamp<uint32_t>(batches, 1, window_);
  if (window_ - parked_ < target_) {
    auto back = std::min(parked_, target_ - (window_ - parked_));
    parked_ -= back;
    held_ += back;
  }
}

credit_debloater::credit_debloater(uint32_t max_window, int64_t target_ms,
                                   int64_t period_ms)
    : max_window_(std::max<uint32_t>(1, max_window)), target_ms_(target_ms),
      period_ms_(std::max<int64_t>(1, period_ms)), window_(max_window_) {}

uint32_t credit_debloater::on_processed(int64_t now_ms) {
  if (period_start_ < 0) period_start_ = now_ms;
  ++in_period_;
  auto elapsed = now_ms - period_start_;
  if (elapsed < period_ms_) return window_;
  // A period that spans idle input lowers the rate; each busy period
  // after it restores half of what is missing.
  double rate = in_period_ * 1000.0 / static_cast<double>(elapsed);
  rate_ = rate_ == 0 ? rate : (rate_ + rate) / 2;
  period_start_ = now_ms;
  in_period_ = 0;
  // Rounded, not ceiled: a rate measured a little high must not round a
  // whole batch up.
  auto want = std::round(rate_ * static_cast<double>(target_ms_) / 1000.0);
  window_ = want >= max_window_
                ? max_window_
                : std::max<uint32_t>(1, static_cast<uint32_t>(want));
  return window_;
}

} // namespace flow

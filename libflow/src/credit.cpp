#include "flow/credit.hpp"

#include <algorithm>
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
    : window_(window), threshold_(std::max<uint32_t>(1, return_threshold)) {}

void credit_receiver::on_receive() {
  if (queued_ + held_ >= window_)
    throw std::logic_error("credit protocol: sender exceeded its window of " +
                           std::to_string(window_) + " batches");
  ++queued_;
}

uint32_t credit_receiver::on_processed(bool input_idle) {
  if (queued_ == 0)
    throw std::logic_error("credit protocol: processed a batch never received");
  --queued_;
  ++held_;
  if (input_idle || held_ >= threshold_) return release();
  return 0;
}

uint32_t credit_receiver::release() {
  auto n = held_;
  held_ = 0;
  return n;
}

} // namespace flow

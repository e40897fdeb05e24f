#include "flow/checkpoint/barrier_aligner.hpp"

#include <stdexcept>
#include <string>

namespace flow::checkpoint {

barrier_aligner::barrier_aligner(size_t inputs)
    : blocked_(inputs, false), ended_(inputs, false), open_(inputs) {}

barrier_aligner::outcome
barrier_aligner::on_barrier(size_t slot, checkpoint_id id, int64_t now_ms) {
  if (blocked_[slot] || ended_[slot])
    throw std::logic_error(
        "barrier protocol: barrier " + std::to_string(id.value()) +
        " on input " + std::to_string(slot) +
        (ended_[slot] ? ", which has ended" : ", which is blocked"));
  outcome out;
  if (!(latest_ < id)) {
    if (aligning_ && id == latest_) {
      blocked_[slot] = true;
      ++arrived_;
      if (arrived_ == open_) return complete(now_ms);
      out.what = verdict::blocked;
    }
    return out;
  }
  if (aligning_) {
    out.aborted = latest_;
    unblock_all();
  }
  latest_ = id;
  aligning_ = true;
  started_ms_ = now_ms;
  blocked_[slot] = true;
  arrived_ = 1;
  if (arrived_ == open_) {
    auto done = complete(now_ms);
    done.aborted = out.aborted;
    return done;
  }
  out.what = verdict::blocked;
  return out;
}

barrier_aligner::outcome barrier_aligner::on_end_of_input(size_t slot,
                                                          int64_t now_ms) {
  if (ended_[slot])
    throw std::logic_error("barrier protocol: input " + std::to_string(slot) +
                           " ended twice");
  ended_[slot] = true;
  --open_;
  // Blocked inputs are open (their end-of-stream waits behind the
  // barrier), so an alignment in progress keeps open_ >= arrived_ >= 1.
  if (aligning_ && arrived_ == open_) return complete(now_ms);
  return {};
}

bool barrier_aligner::cancel(checkpoint_id id) {
  if (!aligning_ || latest_ != id) return false;
  unblock_all();
  return true;
}

std::optional<checkpoint_id> barrier_aligner::aligning() const {
  if (!aligning_) return std::nullopt;
  return latest_;
}

barrier_aligner::outcome barrier_aligner::complete(int64_t now_ms) {
  unblock_all();
  outcome out;
  out.what = verdict::aligned;
  out.alignment_ms = now_ms - started_ms_;
  return out;
}

void barrier_aligner::unblock_all() {
  blocked_.assign(blocked_.size(), false);
  arrived_ = 0;
  aligning_ = false;
}

} // namespace flow::checkpoint

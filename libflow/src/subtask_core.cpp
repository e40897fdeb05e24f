#include "flow/subtask_core.hpp"

#include <algorithm>
#include <stdexcept>

namespace flow {

subtask_core::subtask_core(const task_factory& make, task_setup setup,
                           std::vector<size_t> input_edges,
                           size_t output_channels, const channel_options& opts,
                           transport& tr, subtask_metrics& metrics)
  : outbox_(output_channels, opts.credit_window, tr, metrics),
    input_edges_(std::move(input_edges)),
    ended_(input_edges_.size(), false),
    open_inputs_(input_edges_.size()),
    transport_(tr),
    metrics_(metrics) {
  inputs_.reserve(input_edges_.size());
  for (size_t i = 0; i < input_edges_.size(); ++i)
    inputs_.emplace_back(opts.credit_window, opts.credit_return);
  setup.out = &outbox_;
  setup.batch_size = opts.batch_size;
  batch_size_ = opts.batch_size;
  task_ = make(setup);
}

void subtask_core::on_batch(size_t in_slot, batch_ptr b) {
  if (ended_[in_slot])
    throw std::logic_error("channel protocol: batch after end-of-stream");
  inputs_[in_slot].on_receive();
  queue_.push_back(input_event{in_slot, std::move(b)});
  auto queued = static_cast<uint32_t>(queue_.size());
  metrics_.queued_batches.store(queued, std::memory_order_relaxed);
  subtask_metrics::raise_to(metrics_.max_queued_batches, queued);
}

void subtask_core::on_end_of_stream(size_t in_slot) {
  queue_.push_back(input_event{in_slot, nullptr});
}

void subtask_core::on_credit(size_t out_slot, uint32_t n) {
  outbox_.on_credit(out_slot, n);
}

step_result subtask_core::drain() {
  while (!queue_.empty() && !outbox_.blocked()) {
    auto ev = std::move(queue_.front());
    queue_.pop_front();
    if (!ev.batch) {
      if (ended_[ev.slot])
        throw std::logic_error("channel protocol: end-of-stream twice");
      ended_[ev.slot] = true;
      if (--open_inputs_ == 0) {
        task_->end_of_input();
        finish_output();
      }
      continue;
    }
    metrics_.add(metrics_.batches_in, 1);
    metrics_.add(metrics_.records_in, ev.batch->size());
    task_->process(input_edges_[ev.slot], *ev.batch);
    ev.batch.reset();
    metrics_.queued_batches.store(static_cast<uint32_t>(queue_.size()),
                                  std::memory_order_relaxed);
    if (auto n = inputs_[ev.slot].on_processed(queue_.empty()))
      transport_.send_credit(ev.slot, n);
  }
  if (queue_.empty()) {
    // Held-back credit must not outlive the queue, or a sender waiting for
    // it would stall with nothing queued here.
    for (size_t slot = 0; slot < inputs_.size(); ++slot)
      if (auto n = inputs_[slot].release())
        transport_.send_credit(slot, n);
  }
  if (finished())
    return step_result::finished;
  return step_result::waiting;
}

step_result subtask_core::poll_source(size_t budget) {
  if (done_)
    return finished() ? step_result::finished : step_result::waiting;
  // Poll in steps of about one batch, so that a blocked output stops the
  // source after at most one more batch.
  size_t step = std::max<size_t>(1, std::min(budget, batch_size_));
  for (size_t used = 0; used < budget; used += step) {
    if (outbox_.blocked())
      return step_result::waiting;
    switch (task_->poll(step)) {
      case source_state::more:
        break;
      case source_state::idle:
        return step_result::idle;
      case source_state::done:
        finish_output();
        return finished() ? step_result::finished : step_result::waiting;
    }
  }
  return outbox_.blocked() ? step_result::waiting : step_result::more;
}

void subtask_core::flush() {
  if (!done_)
    task_->flush();
}

void subtask_core::request_stop() {
  task_->request_stop();
}

void subtask_core::finish_output() {
  task_->flush_all();
  outbox_.close();
  done_ = true;
  metrics_.finished.store(true, std::memory_order_relaxed);
}

} // namespace flow

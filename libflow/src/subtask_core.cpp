#include "flow/subtask_core.hpp"

#include <algorithm>
#include <stdexcept>

namespace flow {

subtask_core::subtask_core(const task_factory& make, task_setup setup,
                           std::vector<size_t> input_edges,
                           size_t output_channels, const channel_options& opts,
                           transport& tr, subtask_metrics& metrics,
                           const flow::clock* clk)
    : outbox_(output_channels, opts.credit_window, tr, metrics),
      input_edges_(std::move(input_edges)), ended_(input_edges_.size(), false),
      open_inputs_(input_edges_.size()), transport_(tr), metrics_(metrics),
      clock_(clk ? clk : &flow::clock::system()), times_(input_edges_.size()),
      aligner_(input_edges_.size()), held_(input_edges_.size()) {
  inputs_.reserve(input_edges_.size());
  for (size_t i = 0; i < input_edges_.size(); ++i)
    inputs_.emplace_back(opts.credit_window, opts.credit_return);
  if (opts.debloat_target.count() > 0)
    debloaters_.assign(
        input_edges_.size(),
        credit_debloater{opts.credit_window, to_millis(opts.debloat_target)});
  setup.out = &outbox_;
  setup.batch_size = opts.batch_size;
  setup.clock = clock_;
  setup.metrics = &metrics_;
  setup.idle_timeout = to_millis(opts.idle_timeout);
  setup.watermark_interval = to_millis(opts.watermark_interval);
  batch_size_ = opts.batch_size;
  task_ = make(setup);
}

void subtask_core::push_event(input_event ev) {
  auto& t = times_[ev.slot];
  t.last_seq = head_seq_ + static_cast<int64_t>(queue_.size());
  t.has_queued = true;
  queue_.push_back(std::move(ev));
}

subtask_core::input_event* subtask_core::last_queued(size_t slot) {
  auto& t = times_[slot];
  return t.has_queued ? &queue_[static_cast<size_t>(t.last_seq - head_seq_)]
                      : nullptr;
}

void subtask_core::on_batch(size_t in_slot, batch_ptr b) {
  if (ended_[in_slot])
    throw std::logic_error("channel protocol: batch after end-of-stream");
  inputs_[in_slot].on_receive();
  push_event(input_event{in_slot, input_event::batch, std::move(b)});
  // Batches only: end-of-stream and watermarks take no credit.
  auto queued = static_cast<uint32_t>(++queued_batches_);
  metrics_.queued_batches.store(queued, std::memory_order_relaxed);
  subtask_metrics::raise_to(metrics_.max_queued_batches, queued);
}

void subtask_core::on_end_of_stream(size_t in_slot) {
  push_event(input_event{in_slot, input_event::end_of_stream, nullptr});
}

void subtask_core::on_watermark(size_t in_slot, int64_t wm) {
  if (ended_[in_slot])
    throw std::logic_error("channel protocol: watermark after end-of-stream");
  auto* last = last_queued(in_slot);
  if (!last && aligner_.blocked(in_slot)) {
    // Behind the barrier: waits with the channel's held events.
    auto& held = held_[in_slot];
    if (!held.empty() && held.back().kind == input_event::watermark)
      held.back().wm = std::max(held.back().wm, wm);
    else
      held.push_back(input_event{in_slot, input_event::watermark, nullptr, wm});
    return;
  }
  if (!last) {
    // Everything before it on this channel is processed: applies now.
    auto& t = times_[in_slot];
    if (wm > t.wm) {
      t.wm = wm;
      wm_dirty_ = true;
    }
    return;
  }
  if (last->kind == input_event::watermark) {
    // Consecutive watermarks of a channel coalesce: the queue stays
    // bounded by the credit window.
    last->wm = std::max(last->wm, wm);
    return;
  }
  push_event(input_event{in_slot, input_event::watermark, nullptr, wm});
}

void subtask_core::on_idle(size_t in_slot, bool idle) {
  if (ended_[in_slot])
    throw std::logic_error("channel protocol: status after end-of-stream");
  auto* last = last_queued(in_slot);
  if (!last && aligner_.blocked(in_slot)) {
    auto& held = held_[in_slot];
    if (!held.empty() && held.back().kind == input_event::status)
      held.back().idle = idle;
    else
      held.push_back(
          input_event{in_slot, input_event::status, nullptr, 0, idle});
    return;
  }
  if (!last) {
    auto& t = times_[in_slot];
    if (t.idle != idle) {
      t.idle = idle;
      wm_dirty_ = true;
    }
    return;
  }
  if (last->kind == input_event::status) {
    last->idle = idle; // statuses coalesce as watermarks do
    return;
  }
  push_event(input_event{in_slot, input_event::status, nullptr, 0, idle});
}

void subtask_core::on_barrier(size_t in_slot, checkpoint_id id) {
  if (ended_[in_slot])
    throw std::logic_error("channel protocol: barrier after end-of-stream");
  input_event ev{in_slot, input_event::barrier, nullptr};
  ev.barrier_id = id;
  push_event(std::move(ev));
}

bool subtask_core::inject_barrier(checkpoint_id id) {
  if (done_ || !is_source()) return false;
  checkpoint(id, 0);
  return true;
}

void subtask_core::abort_checkpoint(checkpoint_id id) {
  if (aligner_.cancel(id)) release_held();
}

void subtask_core::restore(const subtask_restore& r) {
  task_->restore_key_groups(r.key_groups);
  if (is_source()) task_->restore_positions(r.positions);
  task_->restore_operator_state(r.id, r.operator_state);
  task_->restore_dead_letters(r.id, r.dead_letters);
  auto& et = r.event_time;
  outbox_.restore_status(et.output_watermark, et.output_idle);
  if (r.inputs.size() == times_.size()) {
    for (size_t slot = 0; slot < times_.size(); ++slot) {
      times_[slot].wm = r.inputs[slot].watermark;
      times_[slot].idle = r.inputs[slot].idle;
    }
    wm_dirty_ = true;
  }
  if (et.watermark > watermark_ && et.watermark < max_timestamp) {
    watermark_ = et.watermark;
    subtask_metrics::raise_to(metrics_.watermark, watermark_);
    task_->on_watermark(watermark_);
  }
}

void subtask_core::checkpoint_complete(
    checkpoint_id id, const std::vector<source_position>& positions) {
  if (!done_ || hold_at_end_) task_->checkpoint_complete(id, positions);
}

bool subtask_core::snapshot_at_end(checkpoint_id id) {
  if (!ended() || !(snapshotted_ < id)) return false;
  snapshot(id, 0);
  return true;
}

void subtask_core::checkpoint(checkpoint_id id, int64_t alignment_ms) {
  // Records emitted before the barrier go out before it.
  task_->flush_all();
  snapshot(id, alignment_ms);
  outbox_.push_barrier(id);
  release_held();
}

void subtask_core::snapshot(checkpoint_id id, int64_t alignment_ms) {
  snapshotted_ = id;
  subtask_snapshot s{id, alignment_ms, {}, {}, {}, {}, {}, {}};
  s.event_time = {watermark_, outbox_.watermark(), outbox_.idle()};
  s.key_groups_later = task_->snapshot_key_groups(s.key_groups);
  if (is_source()) task_->snapshot_positions(s.positions);
  task_->prepare_checkpoint();
  task_->snapshot_operator_state(id, s.operator_state);
  task_->snapshot_dead_letters(id, s.dead_letters);
  unflushed_.push_back(std::move(s));
  release_flushed();
}

void subtask_core::release_flushed() {
  if (unflushed_.empty() || task_->busy()) return;
  for (auto& s : unflushed_)
    snapshots_.push_back(std::move(s));
  unflushed_.clear();
}

void subtask_core::release_held() {
  // Back to the queue's front, each input's events in their order; the
  // sequence numbers of the queued events stay as they are.
  for (size_t slot = held_.size(); slot-- > 0;) {
    auto& held = held_[slot];
    if (held.empty()) continue;
    auto& t = times_[slot];
    if (!t.has_queued) {
      t.has_queued = true;
      t.last_seq = head_seq_ - 1;
    }
    while (!held.empty()) {
      queue_.push_front(std::move(held.back()));
      held.pop_back();
      --head_seq_;
    }
  }
}

void subtask_core::on_credit(size_t out_slot, uint32_t n) {
  outbox_.on_credit(out_slot, n);
}

step_result subtask_core::drain() {
  if (task_->busy()) task_->resume();
  release_flushed();
  if (wm_dirty_ && !stalled()) {
    update_watermark();
    update_idle();
  }
  while (!queue_.empty() && !stalled()) {
    auto ev = std::move(queue_.front());
    queue_.pop_front();
    ++head_seq_;
    auto& t = times_[ev.slot];
    if (t.has_queued && t.last_seq < head_seq_) t.has_queued = false;
    if (aligner_.blocked(ev.slot)) {
      held_[ev.slot].push_back(std::move(ev));
      continue;
    }
    switch (ev.kind) {
    case input_event::barrier: {
      auto o = aligner_.on_barrier(ev.slot, ev.barrier_id, clock_->now());
      if (o.what == checkpoint::barrier_aligner::verdict::aligned)
        checkpoint(ev.barrier_id, o.alignment_ms);
      continue;
    }
    case input_event::watermark:
      if (ev.wm > t.wm) {
        t.wm = ev.wm;
        update_watermark();
      }
      continue;
    case input_event::status:
      if (ev.idle != t.idle) {
        t.idle = ev.idle;
        update_watermark();
        update_idle();
      }
      continue;
    case input_event::end_of_stream:
      if (ended_[ev.slot])
        throw std::logic_error("channel protocol: end-of-stream twice");
      ended_[ev.slot] = true;
      t.wm = max_timestamp;
      --open_inputs_;
      update_watermark();
      if (auto o = aligner_.on_end_of_input(ev.slot, clock_->now());
          o.what == checkpoint::barrier_aligner::verdict::aligned)
        checkpoint(aligner_.latest(), o.alignment_ms);
      if (open_inputs_ == 0) {
        task_->end_of_input();
        finish_output();
      } else {
        update_idle();
      }
      continue;
    case input_event::batch:
      break;
    }
    metrics_.add(metrics_.batches_in, 1);
    metrics_.add(metrics_.records_in, ev.data->size());
    task_->process(input_edges_[ev.slot], *ev.data);
    ev.data.reset();
    metrics_.queued_batches.store(static_cast<uint32_t>(--queued_batches_),
                                  std::memory_order_relaxed);
    if (!debloaters_.empty())
      inputs_[ev.slot].set_effective_window(
          debloaters_[ev.slot].on_processed(clock_->now()));
    if (auto n = inputs_[ev.slot].on_processed(queue_.empty()))
      transport_.send_credit(ev.slot, n);
  }
  if (queue_.empty()) {
    // Held-back credit must not outlive the queue, or a sender waiting for
    // it would stall with nothing queued here.
    for (size_t slot = 0; slot < inputs_.size(); ++slot)
      if (auto n = inputs_[slot].release()) transport_.send_credit(slot, n);
  }
  if (finished()) return step_result::finished;
  return task_->busy() ? step_result::busy : step_result::waiting;
}

step_result subtask_core::poll_source(size_t budget) {
  release_flushed(); // a checkpoint waiting for the source's own writes
  if (done_) return finished() ? step_result::finished : step_result::waiting;
  // Poll in steps of about one batch, so that a blocked output stops the
  // source after at most one more batch.
  size_t step = std::max<size_t>(1, std::min(budget, batch_size_));
  for (size_t used = 0; used < budget; used += step) {
    if (outbox_.blocked()) return step_result::waiting;
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
  if (done_) return;
  task_->flush();
  update_idle(); // a flushed batch declared the output active
}

bool subtask_core::set_wakeup(std::function<void()> wake) {
  return task_->set_wakeup(std::move(wake));
}

void subtask_core::request_stop() {
  task_->request_stop();
}

void subtask_core::update_watermark() {
  wm_dirty_ = false;
  if (times_.empty()) return;
  // As Flink's status watermark valve: the minimum over the open inputs
  // that are active; while every open input is idle, the highest of
  // theirs (each promised no earlier records until it becomes active).
  int64_t active_min = max_timestamp;
  int64_t idle_max = min_timestamp;
  bool any_active = false;
  for (size_t i = 0; i < times_.size(); ++i) {
    if (ended_[i]) continue;
    auto& t = times_[i];
    if (t.idle) {
      idle_max = std::max(idle_max, t.wm);
    } else {
      any_active = true;
      active_min = std::min(active_min, t.wm);
    }
  }
  auto wm = open_inputs_ == 0 ? max_timestamp
            : any_active      ? active_min
                              : idle_max;
  if (wm <= watermark_) return;
  watermark_ = wm;
  subtask_metrics::raise_to(metrics_.watermark, wm);
  task_->on_watermark(wm);
}

bool subtask_core::inputs_idle() const noexcept {
  if (open_inputs_ == 0) return false;
  for (size_t i = 0; i < times_.size(); ++i)
    if (!ended_[i] && !times_[i].idle) return false;
  return true;
}

void subtask_core::update_idle() {
  if (is_source() || done_) return;
  auto idle = inputs_idle();
  if (idle != outbox_.idle()) task_->on_idle(idle);
}

void subtask_core::advance_time() {
  if (done_ || stalled()) return;
  if (wm_dirty_) update_watermark();
  auto now = clock_->now();
  if (task_->next_timer() <= now) task_->on_processing_time(now);
  update_idle();
}

int64_t subtask_core::next_wakeup() const {
  if (done_) return max_timestamp;
  return task_->next_timer();
}

void subtask_core::finish_output() {
  task_->flush_all();
  outbox_.close();
  done_ = true;
  metrics_.finished.store(true, std::memory_order_relaxed);
}

} // namespace flow

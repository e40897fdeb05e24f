#include "flow/outbox.hpp"

#include "flow/time.hpp"

#include <stdexcept>

namespace flow {

transport::~transport() = default;

void transport::send_barrier(size_t, checkpoint_id) {
  throw std::logic_error("this transport carries no checkpoint barriers");
}

outbox::outbox(size_t channels, uint32_t window, transport& tr,
               subtask_metrics& metrics)
    : transport_(tr), metrics_(metrics), watermark_(min_timestamp) {
  channels_.reserve(channels);
  for (size_t i = 0; i < channels; ++i)
    channels_.emplace_back(window);
}

void outbox::push(size_t slot, batch_ptr b) {
  if (closed_) throw std::logic_error("outbox: push after close");
  if (idle_) push_idle(false);
  auto& ch = channels_[slot];
  bool was_blocked = !ch.pending.empty();
  ch.pending.push_back({std::move(b)});
  subtask_metrics::raise_to(metrics_.max_pending_batches,
                            static_cast<uint32_t>(ch.pending.size()));
  try_send(slot);
  update_blocked(slot, was_blocked);
}

void outbox::push_watermark(int64_t wm) {
  if (closed_) throw std::logic_error("outbox: watermark after close");
  if (wm <= watermark_) return;
  watermark_ = wm;
  subtask_metrics::raise_to(metrics_.watermark, wm);
  for (size_t slot = 0; slot < channels_.size(); ++slot) {
    auto& ch = channels_[slot];
    if (ch.pending.empty()) {
      transport_.send_watermark(slot, wm);
    } else if (ch.pending.back().what == channel::entry::kind::watermark) {
      ch.pending.back().wm = wm; // coalesce with the queued watermark
    } else {
      channel::entry e;
      e.what = channel::entry::kind::watermark;
      e.wm = wm;
      ch.pending.push_back(std::move(e));
    }
  }
}

void outbox::push_barrier(checkpoint_id id) {
  if (closed_) throw std::logic_error("outbox: barrier after close");
  for (size_t slot = 0; slot < channels_.size(); ++slot) {
    auto& ch = channels_[slot];
    if (ch.pending.empty()) {
      transport_.send_barrier(slot, id);
    } else {
      channel::entry e;
      e.what = channel::entry::kind::barrier;
      e.barrier = id;
      ch.pending.push_back(std::move(e));
    }
  }
}

void outbox::push_idle(bool idle) {
  if (closed_) throw std::logic_error("outbox: status after close");
  if (idle == idle_) return;
  idle_ = idle;
  for (size_t slot = 0; slot < channels_.size(); ++slot) {
    auto& ch = channels_[slot];
    if (ch.pending.empty()) {
      transport_.send_idle(slot, idle);
    } else if (ch.pending.back().what == channel::entry::kind::status) {
      ch.pending.back().idle = idle; // coalesce with the queued status
    } else {
      channel::entry e;
      e.what = channel::entry::kind::status;
      e.idle = idle;
      ch.pending.push_back(std::move(e));
    }
  }
}

void outbox::close() {
  if (closed_) return;
  closed_ = true;
  unsent_eos_ = channels_.size();
  for (size_t slot = 0; slot < channels_.size(); ++slot)
    try_send(slot);
}

void outbox::on_credit(size_t slot, uint32_t n) {
  auto& ch = channels_[slot];
  bool was_blocked = !ch.pending.empty();
  ch.credit.on_credit(n);
  try_send(slot);
  update_blocked(slot, was_blocked);
}

void outbox::try_send(size_t slot) {
  auto& ch = channels_[slot];
  while (!ch.pending.empty()) {
    if (!ch.pending.front().batch) {
      auto e = ch.pending.front();
      ch.pending.pop_front();
      switch (e.what) {
      case channel::entry::kind::watermark:
        transport_.send_watermark(slot, e.wm);
        break;
      case channel::entry::kind::status:
        transport_.send_idle(slot, e.idle);
        break;
      case channel::entry::kind::barrier:
        transport_.send_barrier(slot, e.barrier);
        break;
      case channel::entry::kind::batch:
        break;
      }
      continue;
    }
    if (!ch.credit.can_send()) break;
    auto b = std::move(ch.pending.front().batch);
    ch.pending.pop_front();
    ch.credit.on_send();
    metrics_.add(metrics_.batches_out, 1);
    metrics_.add(metrics_.records_out, b->size());
    subtask_metrics::raise_to(metrics_.max_in_flight, ch.credit.in_flight());
    transport_.send_batch(slot, std::move(b));
  }
  if (closed_ && ch.pending.empty() && !ch.eos_sent) {
    ch.eos_sent = true;
    --unsent_eos_;
    transport_.send_end_of_stream(slot);
  }
}

void outbox::update_blocked(size_t slot, bool was_blocked) {
  bool is_blocked = !channels_[slot].pending.empty();
  if (was_blocked == is_blocked) return;
  if (is_blocked) {
    if (blocked_channels_++ == 0) {
      blocked_since_ = std::chrono::steady_clock::now();
      metrics_.blocked_since_ns.store(
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              blocked_since_.time_since_epoch())
              .count(),
          std::memory_order_relaxed);
      metrics_.blocked.store(true, std::memory_order_relaxed);
    }
  } else if (--blocked_channels_ == 0) {
    auto d = std::chrono::steady_clock::now() - blocked_since_;
    metrics_.add(
        metrics_.blocked_ns,
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    metrics_.blocked.store(false, std::memory_order_relaxed);
  }
}

} // namespace flow

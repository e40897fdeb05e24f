#pragma once

#include "flow/batch.hpp"
#include "flow/outbox.hpp"
#include "flow/partitioning.hpp"
#include "flow/time.hpp"

#include <stdexcept>
#include <vector>

namespace flow {

/// Routes the records a subtask emits to its output channels and closes
/// batches when they reach `batch_size` records (or on flush()).
template <class T>
class router {
public:
  router(std::vector<out_edge_layout> edges, outbox& out, size_t batch_size)
      : out_(out), batch_size_(batch_size), buffers_(out.size()) {
    for (auto& e : edges) {
      edge x;
      x.kind = e.kind;
      x.slots = std::move(e.slots);
      x.max_parallelism = e.max_parallelism;
      if (e.kind == partitioning::hash)
        x.hash = hasher_for<T>(*e.hasher).hash();
      edges_.push_back(std::move(x));
    }
    single_slot_ = edges_.size() == 1 && edges_[0].slots.size() == 1 &&
                   edges_[0].kind != partitioning::broadcast;
  }

  void emit(T&& x) {
    if (single_slot_) {
      append(edges_[0].slots[0], std::move(x));
      return;
    }
    auto n = edges_.size();
    for (size_t i = 0; i + 1 < n; ++i) {
      T copy = x;
      route(edges_[i], std::move(copy));
    }
    if (n > 0) route(edges_[n - 1], std::move(x));
  }

  void emit(const T& x) {
    T copy = x;
    emit(std::move(copy));
  }

  /// Emits a default-constructed record that `fill(T&)` writes. On a single
  /// channel it is built in its outgoing batch (no move); elsewhere in a
  /// temporary, then emitted. If `fill` throws, nothing is emitted.
  template <class Fill>
  void emit_filled(Fill&& fill) {
    if (single_slot_) {
      auto slot = edges_[0].slots[0];
      auto& buf = buffer(slot);
      buf.emplace_back();
      try {
        fill(buf.back());
      } catch (...) {
        buf.pop_back();
        throw;
      }
      close_if_full(slot);
      return;
    }
    T x{};
    fill(x);
    emit(std::move(x));
  }

  /// Emits a whole batch. On a single channel with nothing buffered the
  /// vector itself becomes the outgoing batch: no per-record copy.
  void emit_batch(std::vector<T>&& xs) {
    if (xs.empty()) return;
    if (single_slot_) {
      auto slot = edges_[0].slots[0];
      if (buffers_[slot].empty()) {
        auto b = std::make_shared<typed_batch<T>>(std::move(xs));
        out_.push(slot, std::move(b));
        return;
      }
    }
    for (auto& x : xs)
      emit(std::move(x));
  }

  /// Closes every partially filled batch whose channel is not waiting for
  /// credit (those are closed once the channel drains).
  void flush() {
    for (size_t slot = 0; slot < buffers_.size(); ++slot)
      if (!buffers_[slot].empty() && !out_.has_pending(slot)) close(slot);
  }

  /// Sends watermark `wm` downstream on every channel, after the records
  /// emitted so far (partially filled batches are closed first, so the
  /// watermark never overtakes them). Ignored unless it advances.
  void emit_watermark(int64_t wm) {
    if (wm <= out_.watermark()) return;
    flush_all();
    out_.push_watermark(wm);
  }

  /// Declares the subtask idle (true) or active again (false) on every
  /// channel (transport::send_idle). Records emitted so far go first; the
  /// next record emitted declares it active again by itself.
  void emit_idle(bool idle) {
    if (idle == out_.idle()) return;
    if (idle) flush_all();
    out_.push_idle(idle);
  }

  /// The last watermark emitted (min_timestamp before the first).
  int64_t watermark_sent() const noexcept { return out_.watermark(); }

  /// Closes every partially filled batch, whatever the channel's credit.
  void flush_all() {
    for (size_t slot = 0; slot < buffers_.size(); ++slot)
      if (!buffers_[slot].empty()) close(slot);
  }

  bool has_buffered() const noexcept {
    for (auto& b : buffers_)
      if (!b.empty()) return true;
    return false;
  }

private:
  struct edge {
    partitioning kind;
    typename key_hasher<T>::function hash;
    std::vector<size_t> slots;
    uint32_t max_parallelism;
    size_t next = 0;
  };

  void route(edge& e, T&& x) {
    auto n = e.slots.size();
    switch (e.kind) {
    case partitioning::forward:
      append(e.slots[0], std::move(x));
      break;
    case partitioning::rebalance:
      append(e.slots[e.next], std::move(x));
      if (++e.next == n) e.next = 0;
      break;
    case partitioning::hash: {
      auto kg = key_group_of(e.hash(x), e.max_parallelism);
      auto target =
          subtask_of_key_group(kg, e.max_parallelism, static_cast<uint32_t>(n));
      append(e.slots[target], std::move(x));
      break;
    }
    case partitioning::broadcast:
      for (size_t i = 0; i + 1 < n; ++i)
        append(e.slots[i], T{x});
      append(e.slots[n - 1], std::move(x));
      break;
    }
  }

  void append(size_t slot, T&& x) {
    buffer(slot).push_back(std::move(x));
    close_if_full(slot);
  }

  /// The open batch of `slot`, room for a whole batch reserved.
  std::vector<T>& buffer(size_t slot) {
    auto& buf = buffers_[slot];
    if (buf.capacity() == 0) buf.reserve(batch_size_);
    return buf;
  }

  void close_if_full(size_t slot) {
    if (buffers_[slot].size() >= batch_size_) close(slot);
  }

  void close(size_t slot) {
    auto b = std::make_shared<typed_batch<T>>();
    b->records.swap(buffers_[slot]);
    out_.push(slot, std::move(b));
  }

  outbox& out_;
  size_t batch_size_;
  std::vector<edge> edges_;
  std::vector<std::vector<T>> buffers_;
  bool single_slot_ = false;
};

/// Event time as a source subtask sees it (flow/watermark.hpp implements
/// it). A source that reads several splits (Kafka partitions) tracks a
/// watermark per split itself (split_watermarks) and emits their minimum
/// with emitter::emit_watermark; otherwise the source task generates
/// watermarks from the records it emits.
template <class T>
class source_time {
public:
  /// The timestamp assigner of the source, or null (no event time).
  virtual const watermark_strategy<T>* strategy() const = 0;
  /// Processing time, ms.
  virtual int64_t now() const = 0;
  /// flow.idle-timeout in ms: a split with nothing to read and no record
  /// for this long counts as idle; 0: never.
  virtual int64_t idle_timeout() const = 0;
  /// flow.watermark-interval in ms: emit watermarks at most this often
  /// (0: whenever they advance).
  virtual int64_t watermark_interval() const = 0;
  /// Sees every record emitted (before it is routed).
  virtual void on_record(const T& x) = 0;
  /// A watermark from the source function itself; from then on the task
  /// generates none of its own.
  virtual void on_watermark(int64_t wm) = 0;
  /// The source function declares the subtask idle (emitter::mark_idle).
  virtual void mark_idle() = 0;

protected:
  ~source_time() = default;
};

/// What user functions write their output records to.
template <class T>
class emitter {
public:
  explicit emitter(router<T>& r, source_time<T>* time = nullptr)
      : router_(&r), time_(time) {}
  void emit(T&& x) {
    if (time_) time_->on_record(x);
    router_->emit(std::move(x));
  }
  void emit(const T& x) {
    if (time_) time_->on_record(x);
    router_->emit(x);
  }
  void operator()(T&& x) { emit(std::move(x)); }
  void operator()(const T& x) { emit(x); }

  /// Emits a default-constructed record that `fill(T&)` writes, where the
  /// router would otherwise move it to (router::emit_filled). If `fill`
  /// throws, nothing is emitted and the exception propagates.
  template <class Fill>
  void emit_filled(Fill&& fill) {
    router_->emit_filled([&](T& x) {
      fill(x);
      if (time_) time_->on_record(x);
    });
  }

  /// Sources only: no record with a timestamp <= `wm` follows from this
  /// source subtask. Throws std::logic_error elsewhere.
  void emit_watermark(int64_t wm) {
    if (!time_)
      throw std::logic_error("emit_watermark: only sources emit watermarks");
    time_->on_watermark(wm);
  }

  /// Sources only: this source subtask has nothing to read (every split it
  /// reads is caught up, and has had no record for flow.idle-timeout): its
  /// watermark stops holding the job back until its next record, which
  /// declares it active again. Only the source knows: the runtime never
  /// infers idleness from silence. Throws std::logic_error elsewhere.
  void mark_idle() {
    if (!time_) throw std::logic_error("mark_idle: only sources are idle");
    time_->mark_idle();
  }

  /// Sources only: the source's event-time settings; null elsewhere.
  source_time<T>* time() const noexcept { return time_; }

private:
  router<T>* router_;
  source_time<T>* time_;
};

} // namespace flow

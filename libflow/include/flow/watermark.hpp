#pragma once

#include "flow/connector.hpp"
#include "flow/emitting_task.hpp"
#include "flow/time.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

namespace flow {

/// Bounded out-of-orderness watermarks of a source that reads several
/// splits (Kafka partitions): one watermark per split (highest timestamp
/// - max delay - 1). A split is idle while it is caught up (nothing left
/// to read: the source says so) and has had no record for `idle_timeout`
/// ms; a split that is merely slow or not read (backpressure) never is.
/// The source's watermark is the minimum over its active splits; while
/// every split is idle, the highest of theirs (as Flink's watermark valve),
/// and the source declares itself idle (emitter::mark_idle). A finished
/// split no longer counts. Plain logic: the source calls it and emits
/// current() with emitter::emit_watermark.
class split_watermarks {
public:
  split_watermarks(int64_t max_out_of_orderness, int64_t idle_timeout)
      : delay_(max_out_of_orderness), idle_timeout_(idle_timeout) {}

  /// A split starts (before its first record). Until it has a record, it
  /// holds the watermark at min_timestamp (unless idle).
  void add(uint32_t split, int64_t now) {
    splits_[split] = state{min_timestamp, now, false};
  }

  /// The split ended (or was revoked): it no longer holds anything back.
  void remove(uint32_t split) { splits_.erase(split); }

  /// A record with event time `ts` from `split`: it is not caught up.
  void observe(uint32_t split, int64_t ts, int64_t now) {
    auto& s = splits_[split];
    s.max_ts = std::max(s.max_ts, ts);
    s.last_record = now;
    s.caught_up = false;
  }

  /// Everything `split` holds so far has been read (Kafka: position ==
  /// log-end offset); until its next record.
  void caught_up(uint32_t split) { splits_[split].caught_up = true; }

  /// The watermark now; min_timestamp while no split is known or an
  /// active split has no record yet.
  int64_t current(int64_t now) const {
    int64_t active_min = max_timestamp;
    int64_t idle_max = min_timestamp;
    bool any_active = false;
    for (auto& [id, s] : splits_) {
      if (is_idle(s, now)) {
        idle_max = std::max(idle_max, watermark_of(s));
      } else {
        any_active = true;
        active_min = std::min(active_min, watermark_of(s));
      }
    }
    return any_active ? active_min : idle_max;
  }

  /// True while there are splits and every one is idle.
  bool idle(int64_t now) const {
    if (splits_.empty()) return false;
    for (auto& [id, s] : splits_)
      if (!is_idle(s, now)) return false;
    return true;
  }

  size_t size() const noexcept { return splits_.size(); }

private:
  struct state {
    int64_t max_ts = min_timestamp;
    int64_t last_record = 0;
    bool caught_up = false;
  };
  bool is_idle(const state& s, int64_t now) const {
    return idle_timeout_ > 0 && s.caught_up &&
           now - s.last_record >= idle_timeout_;
  }
  int64_t watermark_of(const state& s) const {
    return s.max_ts == min_timestamp ? min_timestamp : s.max_ts - delay_ - 1;
  }

  int64_t delay_;
  int64_t idle_timeout_;
  std::map<uint32_t, state> splits_;
};

/// Hosts a source_function and gives it event time: with a strategy it
/// generates bounded out-of-orderness watermarks from the records emitted
/// (one split per source subtask), at most every watermark_interval ms;
/// a source function may instead emit its own (per split) watermarks
/// through emitter::emit_watermark. Only the source function declares the
/// subtask idle (emitter::mark_idle): a source that returns
/// source_state::idle is merely waiting (a rate limit, a slow input).
template <class T>
class event_time_source_task final : public emitting_task<T>,
                                     private source_time<T> {
public:
  event_time_source_task(const task_setup& s,
                         std::unique_ptr<source_function<T>> f,
                         std::shared_ptr<const watermark_strategy<T>> strategy)
      : emitting_task<T>(s), fn_(std::move(f)), strategy_(std::move(strategy)),
        clock_(s.clock ? s.clock : &clock::system()),
        idle_timeout_(s.idle_timeout), interval_(s.watermark_interval),
        out_(this->router_, this) {
    if (strategy_ && !strategy_->timestamp)
      throw std::invalid_argument("watermark strategy without timestamp");
    fn_->open(connector_context::of(s));
  }

  source_state poll(size_t max_records) override {
    auto r = fn_->poll(out_, max_records);
    if (strategy_ && !explicit_ && max_ts_ != min_timestamp &&
        r != source_state::done) {
      auto wm = max_ts_ - strategy_->max_out_of_orderness - 1;
      if (wm > this->router_.watermark_sent()) {
        auto now = clock_->now();
        if (interval_ <= 0 || now - last_emit_ >= interval_) {
          last_emit_ = now;
          this->router_.emit_watermark(wm);
        }
      }
    }
    return r;
  }

  void request_stop() override { fn_->request_stop(); }
  bool set_wakeup(std::function<void()> wake) override {
    return fn_->set_wakeup(std::move(wake));
  }
  void snapshot_positions(std::vector<source_position>& out) const override {
    auto p = fn_->positions();
    out.insert(out.end(), p.begin(), p.end());
  }
  void restore_positions(const std::vector<source_position>& p) override {
    fn_->restore(p);
  }
  void prepare_checkpoint() override { fn_->prepare_checkpoint(); }
  bool busy() const override { return fn_->busy(); }
  /// A source runs no user function under the on-error policy: its own
  /// dead letters go through its connector (the Kafka source's queue), so
  /// it holds none in checkpoints and opens no writer on a restore.
  void snapshot_dead_letters(checkpoint_id, std::string&) override {}
  void restore_dead_letters(checkpoint_id, const std::string&) override {}
  void checkpoint_complete(checkpoint_id id,
                           const std::vector<source_position>& p) override {
    fn_->checkpoint_complete(p);
    emitting_task<T>::checkpoint_complete(id, p);
  }

private:
  const watermark_strategy<T>* strategy() const override {
    return strategy_.get();
  }
  int64_t now() const override { return clock_->now(); }
  int64_t idle_timeout() const override { return idle_timeout_; }
  int64_t watermark_interval() const override { return interval_; }
  void on_record(const T& x) override {
    if (strategy_ && !explicit_)
      max_ts_ = std::max(max_ts_, strategy_->timestamp(x));
  }
  void on_watermark(int64_t wm) override {
    explicit_ = true;
    this->router_.emit_watermark(wm);
  }
  void mark_idle() override { this->router_.emit_idle(true); }

  std::unique_ptr<source_function<T>> fn_;
  std::shared_ptr<const watermark_strategy<T>> strategy_;
  const clock* clock_;
  int64_t idle_timeout_;
  int64_t interval_;
  int64_t max_ts_ = min_timestamp;
  int64_t last_emit_ = min_timestamp / 2;
  bool explicit_ = false;
  emitter<T> out_;
};

/// assign_timestamps on a stream that is not a source's: generates bounded
/// out-of-orderness watermarks from the records passing through (per
/// subtask, at most every watermark_interval ms) and replaces the upstream
/// watermarks (only end of input, max_timestamp, is passed on).
template <class T>
class timestamp_assigner_task final : public emitting_task<T> {
public:
  timestamp_assigner_task(const task_setup& s,
                          std::shared_ptr<const watermark_strategy<T>> st)
      : emitting_task<T>(s), strategy_(std::move(st)),
        clock_(s.clock ? s.clock : &clock::system()),
        interval_(s.watermark_interval) {}

  void process(size_t, batch_base& b) override {
    auto& xs = records_of<T>(b);
    for (auto& x : xs)
      max_ts_ = std::max(max_ts_, strategy_->timestamp(x));
    this->router_.emit_batch(std::move(xs));
    if (max_ts_ == min_timestamp) return;
    auto wm = max_ts_ - strategy_->max_out_of_orderness - 1;
    if (wm <= this->router_.watermark_sent()) return;
    auto now = clock_->now();
    if (interval_ <= 0 || now - last_emit_ >= interval_) {
      last_emit_ = now;
      this->router_.emit_watermark(wm);
    }
  }

  void on_watermark(int64_t wm) override {
    if (wm == max_timestamp) this->router_.emit_watermark(wm);
  }

  /// A watermark held back by the interval goes out when it has passed,
  /// even if no more input comes.
  int64_t next_timer() const override {
    return pending() ? last_emit_ + interval_ : max_timestamp;
  }

  void on_processing_time(int64_t now) override {
    if (!pending()) return;
    last_emit_ = now;
    this->router_.emit_watermark(max_ts_ - strategy_->max_out_of_orderness - 1);
  }

private:
  bool pending() const {
    return max_ts_ != min_timestamp &&
           max_ts_ - strategy_->max_out_of_orderness - 1 >
               this->router_.watermark_sent();
  }

  std::shared_ptr<const watermark_strategy<T>> strategy_;
  const clock* clock_;
  int64_t interval_;
  int64_t max_ts_ = min_timestamp;
  int64_t last_emit_ = min_timestamp / 2;
};

} // namespace flow

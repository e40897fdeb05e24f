#pragma once

// Windows on keyed streams: tumbling, sliding and session windows on event
// or processing time, and count windows; reduce, aggregate and full-window
// process functions; allowed lateness with updated results; records beyond
// it to an optional side output. See flow/windows.hpp for the builders.

#include "flow/aggregators.hpp"
#include "flow/emitting_task.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"
#include "flow/log.hpp"
#include "flow/serde.hpp"
#include "flow/time.hpp"
#include "flow/timers.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace flow {

/// A time window [start, end) in ms; for count windows, record positions.
struct window {
  int64_t start = 0;
  int64_t end = 0;
  /// The last timestamp inside: the window fires at this watermark.
  int64_t max_timestamp() const noexcept { return end - 1; }
  friend bool operator==(const window& a, const window& b) {
    return a.start == b.start && a.end == b.end;
  }
  friend bool operator<(const window& a, const window& b) {
    return std::tie(a.start, a.end) < std::tie(b.start, b.end);
  }
};

/// What aggregate and reduce windows emit: one per (key, window) firing.
template <class K, class R>
struct window_result {
  K key;
  window w;
  R value;
  friend bool operator==(const window_result& a, const window_result& b) {
    return a.key == b.key && a.w == b.w && a.value == b.value;
  }
  friend bool operator<(const window_result& a, const window_result& b) {
    return std::tie(a.key, a.w, a.value) < std::tie(b.key, b.w, b.value);
  }
  friend std::ostream& operator<<(std::ostream& os, const window_result& r) {
    return os << '[' << r.w.start << ',' << r.w.end << ") " << r.value;
  }
};

// -- window assigners --------------------------------------------------------

/// Fixed-size, non-overlapping windows [k*size + offset, (k+1)*size + offset).
struct tumbling_windows {
  int64_t size;
  int64_t offset = 0;
  time_domain domain = time_domain::event;
  /// The same windows on processing time.
  tumbling_windows processing_time() const {
    auto w = *this;
    w.domain = time_domain::processing;
    return w;
  }
};

/// Windows of `size` starting every `slide` ms. Records go into panes of
/// gcd(size, slide) ms, each record is added once, and a window's result
/// combines its panes (two-stacks: O(1) merges per window on average), so
/// the cost per record does not grow with size / slide.
struct sliding_windows {
  int64_t size;
  int64_t slide;
  int64_t offset = 0;
  time_domain domain = time_domain::event;
  sliding_windows processing_time() const {
    auto w = *this;
    w.domain = time_domain::processing;
    return w;
  }
};

/// Per key, records closer than `gap` ms form one session [first, last +
/// gap); a record that bridges two sessions merges them.
struct session_windows {
  int64_t gap;
  time_domain domain = time_domain::event;
  session_windows processing_time() const {
    auto w = *this;
    w.domain = time_domain::processing;
    return w;
  }
};

/// Per key, every `slide` records: the last `size` records (fewer at the
/// start). Positions are arrival order per key; the partial window at the
/// end of input does not fire.
struct count_windows {
  uint64_t size;
  uint64_t slide;
};

inline tumbling_windows tumbling(int64_t size_ms, int64_t offset_ms = 0) {
  return {size_ms, offset_ms};
}
inline sliding_windows sliding(int64_t size_ms, int64_t slide_ms,
                               int64_t offset_ms = 0) {
  return {size_ms, slide_ms, offset_ms};
}
inline session_windows session(int64_t gap_ms) {
  return {gap_ms};
}
inline count_windows counting(uint64_t size, uint64_t slide = 0) {
  return {size, slide == 0 ? size : slide};
}

/// A record that arrived after its windows were complete and the allowed
/// lateness had passed (the side output of a window operator).
template <class T>
struct late_record {
  T record;
};

template <class T>
struct serde<late_record<T>, std::enable_if_t<serde<T>::available>> {
  static constexpr bool available = true;
  static void write(const late_record<T>& x, std::vector<char>& out) {
    serde<T>::write(x.record, out);
  }
  static late_record<T> read(const char*& pos, const char* end) {
    return {serde<T>::read(pos, end)};
  }
};

namespace detail {

template <class A, class = void>
struct has_merge : std::false_type {};
template <class A>
struct has_merge<A, std::void_t<decltype(std::declval<const A&>().merge(
                        std::declval<typename A::accumulator&>(),
                        std::declval<const typename A::accumulator&>()))>>
    : std::true_type {};

template <class A>
struct is_sum : std::false_type {};
template <class F>
struct is_sum<sum<F>> : std::true_type {};

/// Floor of `v` to the grid offset + k*unit.
inline int64_t floor_to(int64_t v, int64_t unit, int64_t offset) {
  auto r = (v - offset) % unit;
  if (r < 0) r += unit;
  return v - r;
}

// Window functions: how records become an accumulator and a result.
// `incremental` ones merge cheaply (panes combine with two-stacks); the
// others (full-window process functions) keep the records.

template <class K, class T, class Agg>
struct aggregate_fn {
  using acc = typename Agg::accumulator;
  using out = window_result<K, typename Agg::result>;
  static constexpr bool incremental = true;
  Agg agg;
  acc init() const { return agg.init(); }
  void add(acc& a, const T& x) const { agg.add(a, x); }
  void merge(acc& into, const acc& from) const {
    if constexpr (has_merge<Agg>::value)
      agg.merge(into, from);
    else if constexpr (std::is_same_v<Agg, count> || is_sum<Agg>::value)
      into += from;
    else
      static_assert(dependent_false<Agg>,
                    "window aggregates need `void merge(accumulator& into, "
                    "const accumulator& from)` on the aggregator");
  }
  bool empty(const acc&) const { return false; }
  template <class E>
  void result(const K& k, const window& w, const acc& a, E&& emit) const {
    emit(out{k, w, agg.get(a)});
  }
};

template <class K, class T, class F>
struct reduce_fn {
  using acc = std::optional<T>;
  using out = window_result<K, T>;
  static constexpr bool incremental = true;
  F f;
  acc init() const { return std::nullopt; }
  void add(acc& a, const T& x) const {
    if (a)
      a = f(static_cast<const T&>(*a), x);
    else
      a = x;
  }
  void merge(acc& into, const acc& from) const {
    if (!from) return;
    if (into)
      into = f(static_cast<const T&>(*into), static_cast<const T&>(*from));
    else
      into = from;
  }
  bool empty(const acc& a) const { return !a; }
  template <class E>
  void result(const K& k, const window& w, const acc& a, E&& emit) const {
    if (a) emit(out{k, w, *a});
  }
};

template <class K, class T, class Out, class F>
struct process_fn {
  using acc = std::vector<T>;
  using out = Out;
  static constexpr bool incremental = false;
  F f;
  acc init() const { return {}; }
  void add(acc& a, const T& x) const { a.push_back(x); }
  void merge(acc& into, const acc& from) const {
    into.insert(into.end(), from.begin(), from.end());
  }
  bool empty(const acc& a) const { return a.empty(); }
  template <class E>
  void result(const K& k, const window& w, const acc& a, E&& emit) const {
    std::vector<Out> outs;
    f(k, w, a, outs);
    for (auto& o : outs)
      emit(std::move(o));
  }
};

/// FIFO of panes with O(1) amortized aggregate of everything inside
/// (two stacks): push at the back, evict at the front, query the whole.
template <class Fn>
class pane_fifo {
public:
  using acc = typename Fn::acc;

  void push(const Fn& fn, int64_t start, const acc& a) {
    entry e{start, a, a};
    if (!back_.empty()) {
      e.agg = back_.back().agg;
      fn.merge(e.agg, a);
    }
    back_.push_back(std::move(e));
  }

  /// Drops panes starting before `start`.
  void evict_before(const Fn& fn, int64_t start) {
    while (true) {
      if (front_.empty()) {
        if (back_.empty() || back_.front().start >= start) return;
        flip(fn);
      }
      if (front_.back().start >= start) return;
      front_.pop_back();
    }
  }

  bool empty() const noexcept { return front_.empty() && back_.empty(); }

  /// Aggregate of all panes, oldest first.
  acc query(const Fn& fn) const {
    if (front_.empty()) return back_.back().agg;
    auto r = front_.back().agg;
    if (!back_.empty()) fn.merge(r, back_.back().agg);
    return r;
  }

  void clear() {
    front_.clear();
    back_.clear();
  }

private:
  friend struct serde<pane_fifo>;
  struct entry {
    int64_t start;
    acc value;
    acc agg;
  };

  void flip(const Fn& fn) {
    // Newest first, so that the oldest ends on top; each agg covers its
    // entry and every newer one in front_.
    for (auto i = back_.rbegin(); i != back_.rend(); ++i) {
      entry e{i->start, std::move(i->value), {}};
      if (front_.empty()) {
        e.agg = e.value;
      } else {
        e.agg = e.value;
        fn.merge(e.agg, front_.back().agg);
      }
      front_.push_back(std::move(e));
    }
    back_.clear();
  }

  std::vector<entry> front_; // back() is the oldest
  std::vector<entry> back_;  // back() is the newest
};

/// Base of the window tasks: keyed state, output of results and of late
/// records.
template <class T, class Out, bool Late>
class window_task_base
    : public keyed_task<
          std::conditional_t<Late, std::variant<Out, late_record<T>>, Out>> {
public:
  using record =
      std::conditional_t<Late, std::variant<Out, late_record<T>>, Out>;
  using keyed_task<record>::keyed_task;

  void end_of_input() override {
    if (dropped_ > 0)
      logger("flow/window")
          ->warn("{} late records dropped (no late output)", dropped_);
  }

  /// Late records dropped (no side output configured).
  uint64_t dropped() const noexcept { return dropped_; }

protected:
  void emit_result(Out&& o) {
    if constexpr (Late)
      this->router_.emit(record{std::in_place_index<0>, std::move(o)});
    else
      this->router_.emit(std::move(o));
  }
  void emit_late(const T& x) {
    if constexpr (Late)
      this->router_.emit(record{std::in_place_index<1>, late_record<T>{x}});
    else
      ++dropped_;
  }
  auto emitter_fn() {
    return [this](Out&& o) { emit_result(std::move(o)); };
  }
  /// Runs `fire` (the window function on window `w` of key `k`) under the
  /// on-error policy: a window it throws on emits nothing more.
  template <class K, class F>
  void fire_guarded(const K& k, window w, F&& fire) {
    try {
      fire();
    } catch (...) {
      this->errors_.on_failure("window [" + std::to_string(w.start) + ", " +
                               std::to_string(w.end) + ") of key " +
                               describe_value(k));
    }
  }

  uint64_t dropped_ = 0;
};

/// The state of one key of a time window operator: its panes and its
/// pending firing. The rest caches what the panes give (rebuilt after a
/// restore).
template <class Fn>
struct time_window_state {
  using acc = typename Fn::acc;
  static constexpr int64_t no_timer = min_timestamp;
  std::map<int64_t, acc> panes;
  /// Window end - 1 at which the key fires next.
  int64_t timer = no_timer;
  int64_t cached_start = min_timestamp;
  acc* cached = nullptr;
  pane_fifo<Fn> fifo;
  /// Panes starting before this are in the fifo (if it is valid).
  int64_t fifo_next = min_timestamp;
};

/// Tumbling and sliding windows on event or processing time.
template <class K, class T, class KeyFn, class Fn, bool Late>
class time_window_task final
    : public window_task_base<T, typename Fn::out, Late> {
public:
  using acc = typename Fn::acc;

  time_window_task(const task_setup& s, KeyFn key, Fn fn, sliding_windows w,
                   int64_t lateness, timestamp_fn<T> ts)
      : window_task_base<T, typename Fn::out, Late>(s), key_(std::move(key)),
        fn_(std::move(fn)), size_(w.size), slide_(w.slide), offset_(w.offset),
        pane_(std::gcd(w.size, w.slide)), lateness_(lateness),
        domain_(w.domain), ts_(std::move(ts)),
        clock_(s.clock ? s.clock : &clock::system()), keys_(s.max_parallelism),
        fire_(s.max_parallelism), cleanup_(s.max_parallelism) {
    this->key_groups_.add(keys_);
    this->key_groups_.add(fire_);
    this->key_groups_.add(cleanup_);
  }

  void process(size_t, batch_base& b) override {
    this->for_each_record(records_of<T>(b), [this](T& x) { add(x); });
  }

  void on_watermark(int64_t wm) override {
    if (domain_ == time_domain::event || wm == max_timestamp) advance(wm);
    this->router_.emit_watermark(wm);
  }

  void on_processing_time(int64_t now) override {
    if (domain_ == time_domain::processing) advance(now);
  }

  int64_t next_timer() const override {
    if (domain_ != time_domain::processing) return max_timestamp;
    return std::min(fire_.next(), cleanup_.next());
  }

private:
  using key_state = time_window_state<Fn>;
  static constexpr int64_t no_timer = key_state::no_timer;

  /// Smallest window end >= v.
  int64_t end_at_or_after(int64_t v) const {
    return floor_to(v - 1 - size_, slide_, offset_) + slide_ + size_;
  }

  void add(const T& x) {
    // On processing time a record is never late: windows that fired at
    // this very millisecond are closed, it belongs to the next one.
    int64_t ts = domain_ == time_domain::event
                     ? ts_(x)
                     : std::max(clock_->now(), time_ + 1);
    auto last_end = floor_to(ts, slide_, offset_) + size_;
    if (last_end - 1 + lateness_ <= time_) {
      this->emit_late(x);
      return;
    }
    auto k = key_(x);
    auto kg = this->key_group(k);
    auto& ks = keys_.get_or_create(kg, k);
    auto p = floor_to(ts, pane_, offset_);
    if (ks.cached == nullptr || ks.cached_start != p) {
      auto it = ks.panes.find(p);
      if (it == ks.panes.end()) it = ks.panes.emplace(p, fn_.init()).first;
      ks.cached = &it->second;
      ks.cached_start = p;
    }
    fn_.add(*ks.cached, x);
    if (ts <= time_) late_update(k, ks, ts, p, last_end);
    auto e = end_at_or_after(std::max(ts + 1, time_ + 2));
    if (e <= last_end && (ks.timer == no_timer || e - 1 < ks.timer)) {
      if (ks.timer != no_timer) fire_.remove(kg, k, ks.timer);
      ks.timer = e - 1;
      fire_.add(kg, k, e - 1);
    }
  }

  /// A record behind the current time but within the allowed lateness:
  /// windows that fired already fire again with it.
  void late_update(const K& k, key_state& ks, int64_t ts, int64_t pane,
                   int64_t last_end) {
    if (pane < ks.fifo_next) {
      ks.fifo.clear();
      ks.fifo_next = min_timestamp;
    }
    for (auto e = end_at_or_after(ts + 1); e <= last_end; e += slide_)
      if (e - 1 <= time_ && e - 1 + lateness_ > time_)
        emit_direct(k, ks, window{e - size_, e});
  }

  void emit_direct(const K& k, key_state& ks, window w) {
    auto r = fn_.init();
    bool any = false;
    for (auto it = ks.panes.lower_bound(w.start);
         it != ks.panes.end() && it->first < w.end; ++it) {
      fn_.merge(r, it->second);
      any = true;
    }
    if (any)
      this->fire_guarded(k, w,
                         [&] { fn_.result(k, w, r, this->emitter_fn()); });
  }

  void advance(int64_t t) {
    time_ = t;
    fire_.fire(
        t, [this](int64_t at, uint32_t kg, const K& k) { fire(at, kg, k); });
    cleanup_.fire(
        t, [this](int64_t at, uint32_t kg, const K& k) { cleanup(at, kg, k); });
  }

  void fire(int64_t at, uint32_t kg, const K& k) {
    auto& group = keys_.key_group(kg);
    auto it = group.find(k);
    if (it == group.end() || it->second.timer != at) return; // superseded
    auto& ks = it->second;
    ks.timer = no_timer;
    window w{at + 1 - size_, at + 1};
    if constexpr (Fn::incremental) {
      for (auto p = ks.panes.lower_bound(std::max(ks.fifo_next, w.start));
           p != ks.panes.end() && p->first < w.end; ++p)
        ks.fifo.push(fn_, p->first, p->second);
      ks.fifo_next = w.end;
      ks.fifo.evict_before(fn_, w.start);
      if (!ks.fifo.empty())
        this->fire_guarded(k, w, [&] {
          fn_.result(k, w, ks.fifo.query(fn_), this->emitter_fn());
        });
    } else {
      emit_direct(k, ks, w);
    }
    if (lateness_ == 0)
      erase_before(ks, w.start + slide_);
    else
      cleanup_.add(kg, k, at + lateness_);
    auto next = ks.panes.lower_bound(w.start + slide_);
    if (next != ks.panes.end()) {
      auto e = std::max(w.end + slide_, end_at_or_after(next->first + 1));
      ks.timer = e - 1;
      fire_.add(kg, k, e - 1);
    } else if (ks.panes.empty()) {
      group.erase(it);
    }
  }

  void cleanup(int64_t at, uint32_t kg, const K& k) {
    auto& group = keys_.key_group(kg);
    auto it = group.find(k);
    if (it == group.end()) return;
    auto& ks = it->second;
    // Panes only in windows ending at or before at - lateness + 1.
    erase_before(ks, at - lateness_ + 1 - size_ + slide_);
    if (ks.panes.empty() && ks.timer == no_timer) group.erase(it);
  }

  void erase_before(key_state& ks, int64_t start) {
    auto end = ks.panes.lower_bound(start);
    if (ks.cached && ks.cached_start < start) ks.cached = nullptr;
    ks.panes.erase(ks.panes.begin(), end);
  }

  KeyFn key_;
  Fn fn_;
  int64_t size_;
  int64_t slide_;
  int64_t offset_;
  int64_t pane_;
  int64_t lateness_;
  time_domain domain_;
  timestamp_fn<T> ts_;
  const clock* clock_;
  /// Event time (watermark) or processing time reached so far.
  int64_t time_ = min_timestamp;
  keyed_store<K, key_state> keys_;
  keyed_timers<K> fire_;
  keyed_timers<K> cleanup_;
};

/// One session of a key: [start (its key in the map), end).
template <class Acc>
struct session_state {
  int64_t end;
  Acc a;
  /// Changed since it last fired.
  bool dirty = true;
};

/// Session windows: per key, sessions [first, last + gap) that merge when a
/// record bridges them.
template <class K, class T, class KeyFn, class Fn, bool Late>
class session_window_task final
    : public window_task_base<T, typename Fn::out, Late> {
public:
  using acc = typename Fn::acc;

  session_window_task(const task_setup& s, KeyFn key, Fn fn, session_windows w,
                      int64_t lateness, timestamp_fn<T> ts)
      : window_task_base<T, typename Fn::out, Late>(s), key_(std::move(key)),
        fn_(std::move(fn)), gap_(w.gap), lateness_(lateness), domain_(w.domain),
        ts_(std::move(ts)), clock_(s.clock ? s.clock : &clock::system()),
        keys_(s.max_parallelism), timers_(s.max_parallelism) {
    this->key_groups_.add(keys_);
    this->key_groups_.add(timers_);
  }

  void process(size_t, batch_base& b) override {
    this->for_each_record(records_of<T>(b), [this](T& x) { add(x); });
  }

  void on_watermark(int64_t wm) override {
    if (domain_ == time_domain::event || wm == max_timestamp) advance(wm);
    this->router_.emit_watermark(wm);
  }

  void on_processing_time(int64_t now) override {
    if (domain_ == time_domain::processing) advance(now);
  }

  int64_t next_timer() const override {
    return domain_ == time_domain::processing ? timers_.next() : max_timestamp;
  }

private:
  using session = session_state<acc>;
  using sessions = std::map<int64_t, session>; // by start

  void add(const T& x) {
    int64_t ts = domain_ == time_domain::event
                     ? ts_(x)
                     : std::max(clock_->now(), time_ + 1);
    auto k = key_(x);
    auto kg = this->key_group(k);
    auto& ss = keys_.get_or_create(kg, k);
    // Sessions intersecting [ts, ts + gap] (touching ones merge too).
    auto hi = ss.upper_bound(ts + gap_);
    auto lo = hi;
    while (lo != ss.begin() && std::prev(lo)->second.end >= ts)
      --lo;
    window merged{ts, ts + gap_};
    for (auto i = lo; i != hi; ++i) {
      merged.start = std::min(merged.start, i->first);
      merged.end = std::max(merged.end, i->second.end);
    }
    if (merged.end - 1 + lateness_ <= time_) {
      if (ss.empty()) keys_.erase(kg, k);
      this->emit_late(x);
      return;
    }
    session s{merged.end, fn_.init(), true};
    for (auto i = lo; i != hi; ++i)
      fn_.merge(s.a, i->second.a);
    fn_.add(s.a, x);
    ss.erase(lo, hi);
    auto& placed = ss.emplace(merged.start, std::move(s)).first->second;
    if (merged.end - 1 <= time_) {
      // Late but allowed: the window is complete, fire the update now.
      this->fire_guarded(k, merged, [&] {
        fn_.result(k, merged, placed.a, this->emitter_fn());
      });
      placed.dirty = false;
      timers_.add(kg, k, merged.end - 1 + lateness_);
    } else {
      timers_.add(kg, k, merged.end - 1);
    }
  }

  void advance(int64_t t) {
    time_ = t;
    timers_.fire(t, [this](int64_t, uint32_t kg, const K& k) { fire(kg, k); });
  }

  void fire(uint32_t kg, const K& k) {
    auto& group = keys_.key_group(kg);
    auto it = group.find(k);
    if (it == group.end()) return;
    auto& ss = it->second;
    for (auto i = ss.begin(); i != ss.end();) {
      auto& s = i->second;
      if (s.end - 1 > time_) break; // sessions are disjoint and ordered
      if (s.dirty) {
        this->fire_guarded(k, window{i->first, s.end}, [&] {
          fn_.result(k, window{i->first, s.end}, s.a, this->emitter_fn());
        });
        s.dirty = false;
        if (lateness_ > 0) timers_.add(kg, k, s.end - 1 + lateness_);
      }
      if (s.end - 1 + lateness_ <= time_)
        i = ss.erase(i);
      else
        ++i;
    }
    if (ss.empty()) group.erase(it);
  }

  KeyFn key_;
  Fn fn_;
  int64_t gap_;
  int64_t lateness_;
  time_domain domain_;
  timestamp_fn<T> ts_;
  const clock* clock_;
  int64_t time_ = min_timestamp;
  keyed_store<K, sessions> keys_;
  keyed_timers<K> timers_;
};

/// The state of one key of a count window operator.
template <class Fn>
struct count_window_state {
  using acc = typename Fn::acc;
  int64_t count = 0;
  /// The pane being filled (once started).
  acc current;
  bool started = false;
  pane_fifo<Fn> fifo;           // incremental functions
  std::map<int64_t, acc> panes; // the others
};

/// Count windows: per key, every `slide` records the last `size` ones.
template <class K, class T, class KeyFn, class Fn>
class count_window_task final
    : public window_task_base<T, typename Fn::out, false> {
public:
  using acc = typename Fn::acc;

  count_window_task(const task_setup& s, KeyFn key, Fn fn, count_windows w)
      : window_task_base<T, typename Fn::out, false>(s), key_(std::move(key)),
        fn_(std::move(fn)), size_(static_cast<int64_t>(w.size)),
        slide_(static_cast<int64_t>(w.slide)), pane_(std::gcd(size_, slide_)),
        keys_(s.max_parallelism) {
    this->key_groups_.add(keys_);
  }

  void process(size_t, batch_base& b) override {
    this->for_each_record(records_of<T>(b), [this](T& x) { add(x); });
  }

private:
  void add(const T& x) {
    auto k = key_(x);
    auto& ks = keys_.get_or_create(this->key_group(k), k);
    if (!ks.started) {
      ks.current = fn_.init();
      ks.started = true;
    }
    fn_.add(ks.current, x);
    ++ks.count;
    if (ks.count % pane_ != 0) return;
    auto start = ks.count - pane_;
    if constexpr (Fn::incremental)
      ks.fifo.push(fn_, start, ks.current);
    else
      ks.panes.emplace(start, std::move(ks.current));
    ks.current = fn_.init();
    if (ks.count % slide_ != 0) return;
    window w{std::max<int64_t>(0, ks.count - size_), ks.count};
    if constexpr (Fn::incremental) {
      ks.fifo.evict_before(fn_, w.start);
      this->fire_guarded(k, w, [&] {
        fn_.result(k, w, ks.fifo.query(fn_), this->emitter_fn());
      });
    } else {
      ks.panes.erase(ks.panes.begin(), ks.panes.lower_bound(w.start));
      auto r = fn_.init();
      for (auto& [start, a] : ks.panes)
        fn_.merge(r, a);
      this->fire_guarded(k, w,
                         [&] { fn_.result(k, w, r, this->emitter_fn()); });
    }
  }

  KeyFn key_;
  Fn fn_;
  int64_t size_;
  int64_t slide_;
  int64_t pane_;
  keyed_store<K, count_window_state<Fn>> keys_;
};

/// Passes on one output of an operator with side outputs (a std::variant
/// V per record): the results (I = 0), or the records of side output I
/// (alternatives I > 0 wrap them: late_record and the like, `.record`).
template <class V, size_t I, class R>
class select_task final : public emitting_task<R> {
public:
  using emitting_task<R>::emitting_task;
  void process(size_t, batch_base& b) override {
    for (auto& x : records_of<V>(b))
      if (x.index() == I) {
        if constexpr (I == 0)
          this->router_.emit(std::get<0>(std::move(x)));
        else
          this->router_.emit(std::get<I>(std::move(x)).record);
      }
  }
};

} // namespace detail

// Keyed state of the window operators in snapshots.

template <class Fn>
struct serde<detail::pane_fifo<Fn>,
             std::enable_if_t<serde<typename Fn::acc>::available>> {
  using fifo = detail::pane_fifo<Fn>;
  using acc = typename Fn::acc;
  static constexpr bool available = true;
  static void write(const fifo& x, std::vector<char>& out) {
    write_entries(x.front_, out);
    write_entries(x.back_, out);
  }
  static fifo read(const char*& pos, const char* end) {
    fifo x;
    x.front_ = read_entries(pos, end);
    x.back_ = read_entries(pos, end);
    return x;
  }

private:
  using entries = std::vector<typename fifo::entry>;
  static void write_entries(const entries& es, std::vector<char>& out) {
    detail::write_varint(es.size(), out);
    for (auto& e : es) {
      serde<int64_t>::write(e.start, out);
      serde<acc>::write(e.value, out);
      serde<acc>::write(e.agg, out);
    }
  }
  static entries read_entries(const char*& pos, const char* end) {
    entries es;
    for (auto n = detail::read_varint(pos, end); n > 0; --n) {
      auto start = serde<int64_t>::read(pos, end);
      auto value = serde<acc>::read(pos, end);
      es.push_back({start, std::move(value), serde<acc>::read(pos, end)});
    }
    return es;
  }
};

template <class Fn>
struct serde<detail::time_window_state<Fn>,
             std::enable_if_t<serde<typename Fn::acc>::available>> {
  using state = detail::time_window_state<Fn>;
  static constexpr bool available = true;
  static void write(const state& x, std::vector<char>& out) {
    serde<decltype(x.panes)>::write(x.panes, out);
    serde<int64_t>::write(x.timer, out);
  }
  static state read(const char*& pos, const char* end) {
    state x;
    x.panes = serde<decltype(x.panes)>::read(pos, end);
    x.timer = serde<int64_t>::read(pos, end);
    return x;
  }
};

template <class Acc>
struct serde<detail::session_state<Acc>,
             std::enable_if_t<serde<Acc>::available>> {
  static constexpr bool available = true;
  static void write(const detail::session_state<Acc>& x,
                    std::vector<char>& out) {
    serde<int64_t>::write(x.end, out);
    serde<Acc>::write(x.a, out);
    serde<bool>::write(x.dirty, out);
  }
  static detail::session_state<Acc> read(const char*& pos, const char* end) {
    auto e = serde<int64_t>::read(pos, end);
    auto a = serde<Acc>::read(pos, end);
    return {e, std::move(a), serde<bool>::read(pos, end)};
  }
};

template <class Fn>
struct serde<detail::count_window_state<Fn>,
             std::enable_if_t<serde<typename Fn::acc>::available>> {
  using state = detail::count_window_state<Fn>;
  static constexpr bool available = true;
  static void write(const state& x, std::vector<char>& out) {
    serde<int64_t>::write(x.count, out);
    serde<bool>::write(x.started, out);
    if (x.started) serde<typename Fn::acc>::write(x.current, out);
    serde<detail::pane_fifo<Fn>>::write(x.fifo, out);
    serde<decltype(x.panes)>::write(x.panes, out);
  }
  static state read(const char*& pos, const char* end) {
    state x;
    x.count = serde<int64_t>::read(pos, end);
    x.started = serde<bool>::read(pos, end);
    if (x.started) x.current = serde<typename Fn::acc>::read(pos, end);
    x.fifo = serde<detail::pane_fifo<Fn>>::read(pos, end);
    x.panes = serde<decltype(x.panes)>::read(pos, end);
    return x;
  }
};

} // namespace flow

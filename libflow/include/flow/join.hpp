#pragma once

// Joins of two keyed streams (both hash-partitioned by the same key type):
//
//   window_join(a, b, tumbling(1000), f)  pairs with equal key in the same
//                                         window: `Out f(const A&, const B&)`
//   interval_join(a, b, lo, hi, f)        pairs with equal key and
//                                         a.ts + lo <= b.ts <= a.ts + hi
//   join_table(a, table, f, domain)       each a with the latest table record
//                                         of its key (a changelog: last
//                                         value wins, a tombstone deletes,
//                                         flow/changelog.hpp): `Out f(const
//                                         A&, const B&)`; no match, no output
//
// Records that arrive behind the watermark cannot join any more: the
// window and interval joins drop them (counted, logged at end of input),
// or, called with join_options, return them as side outputs
// (join_output::late_a / late_b), as windows do with_late_output(). No
// buffer outlives the watermark: window cells go when their window fires,
// interval buffers when no later record can match them.

#include "flow/changelog.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"
#include "flow/log.hpp"
#include "flow/serde.hpp"
#include "flow/timers.hpp"
#include "flow/topology.hpp"
#include "flow/window.hpp"

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace flow {

/// Settings of a join called with them: the overloads of window_join and
/// interval_join taking join_options return their late records too
/// (join_output), versioned joins their unjoined records
/// (versioned_join_output).
struct join_options {
  /// Parallelism of the join and of the selectors of its outputs (unset:
  /// flow.parallelism); set it here, not on the returned streams.
  std::optional<uint32_t> parallelism;
};

/// The results of a window or interval join and its late records: those
/// that arrived behind the watermark, when no result can include them any
/// more. Late streams keep their side's timestamps.
template <class Out, class A, class B>
struct join_output {
  stream<Out> results;
  stream<A> late_a;
  stream<B> late_b;
};

namespace detail {

/// Adds a node reading `a` (edges 0..n_a-1) and `b` (the rest), both hash
/// partitioned; returns its output stream.
template <class Out, class KA, class A, class FA, class KB, class B, class FB>
stream<Out> add_two_input(keyed_stream<KA, A, FA>& a,
                          keyed_stream<KB, B, FB>& b, const std::string& name,
                          task_factory make) {
  static_assert(std::is_same_v<KA, KB>, "joins need the same key type");
  auto& t = a.input().graph();
  if (&b.input().graph() != &t)
    throw std::invalid_argument("join: streams of different topologies");
  node_def n;
  n.name = name;
  n.kind = node_kind::operation;
  n.make_task = std::move(make);
  for (auto p : a.input().producers())
    n.inputs.push_back(edge_def{p, partitioning::hash, a.hasher()});
  for (auto p : b.input().producers())
    n.inputs.push_back(edge_def{p, partitioning::hash, b.hasher()});
  return stream<Out>(t, {t.add_node(std::move(n))});
}

template <class T>
timestamp_fn<T> need_timestamps(const stream<T>& s, const std::string& what) {
  if (!s.timestamps())
    throw std::invalid_argument(what + " needs event time on both inputs: "
                                       "call assign_timestamps (or "
                                       "with_timestamps) before key_by");
  return *s.timestamps();
}

/// What a two-input join emits: its results, or with a late output a
/// result or a late record of either side (select_task splits them).
template <class Out, class A, class B, bool Late>
using join_record_t =
    std::conditional_t<Late, std::variant<Out, late_record<A>, late_record<B>>,
                       Out>;

/// Base of the joins: keyed state, the two inputs, late records (to the
/// late output if there is one, else dropped and counted).
template <class Out, class A, class B, bool Late>
class join_task_base : public keyed_task<join_record_t<Out, A, B, Late>> {
public:
  using record = join_record_t<Out, A, B, Late>;
  join_task_base(const task_setup& s, size_t a_edges)
      : keyed_task<record>(s), a_edges_(a_edges) {}
  void end_of_input() override {
    if (dropped_ > 0)
      logger("flow/join")
          ->warn("{} late records dropped (no late output)", dropped_);
  }

  /// Late records dropped (none with a late output).
  uint64_t dropped() const noexcept { return dropped_; }

protected:
  void emit_result(Out&& o) {
    if constexpr (Late)
      this->router_.emit(record{std::in_place_index<0>, std::move(o)});
    else
      this->router_.emit(std::move(o));
  }
  void late_a(const A& x) {
    if constexpr (Late)
      this->router_.emit(record{std::in_place_index<1>, late_record<A>{x}});
    else
      ++dropped_;
  }
  void late_b(const B& y) {
    if constexpr (Late)
      this->router_.emit(record{std::in_place_index<2>, late_record<B>{y}});
    else
      ++dropped_;
  }

  size_t a_edges_;
  uint64_t dropped_ = 0;
  int64_t wm_ = min_timestamp;
};

/// The records of both sides of one key in one window.
template <class A, class B>
struct join_cell {
  std::vector<A> a;
  std::vector<B> b;
};

/// The buffered records of both sides of one key, by timestamp.
template <class A, class B>
struct interval_buffers {
  std::multimap<int64_t, A> a;
  std::multimap<int64_t, B> b;
};

/// One key of a stream-table join: the table's latest record, and the
/// stream's records waiting for the watermark.
template <class A, class B>
struct table_entry {
  std::optional<B> latest;
  std::multimap<int64_t, A> held;
};

template <class K, class A, class B, class Out, class FA, class FB, class F,
          bool Late>
class window_join_task final : public join_task_base<Out, A, B, Late> {
public:
  window_join_task(const task_setup& s, size_t a_edges, FA ka, FB kb, F f,
                   sliding_windows w, timestamp_fn<A> ta, timestamp_fn<B> tb)
      : join_task_base<Out, A, B, Late>(s, a_edges), ka_(ka), kb_(kb), f_(f),
        w_(w), ta_(std::move(ta)), tb_(std::move(tb)),
        windows_(s.max_parallelism), ends_(s.max_parallelism) {
    this->key_groups_.add(windows_);
    this->key_groups_.add(ends_);
  }

  void process(size_t input, batch_base& b) override {
    if (input < this->a_edges_) {
      this->for_each_record(records_of<A>(b), [&](A& x) {
        if (!add(ta_(x), ka_(x), [&](cell& c) { c.a.push_back(x); }))
          this->late_a(x);
      });
    } else {
      this->for_each_record(records_of<B>(b), [&](B& y) {
        if (!add(tb_(y), kb_(y), [&](cell& c) { c.b.push_back(y); }))
          this->late_b(y);
      });
    }
  }

  void on_watermark(int64_t wm) override {
    this->wm_ = wm;
    ends_.fire(wm, [this](int64_t t, uint32_t kg, const K& k) {
      auto& group = windows_.key_group(kg);
      auto key = group.find(k);
      if (key == group.end()) return;
      auto& cells = key->second;
      auto c = cells.find(t + 1);
      if (c == cells.end()) return;
      for (auto& x : c->second.a)
        for (auto& y : c->second.b)
          this->join_guarded(static_cast<const A&>(x), static_cast<const B&>(y),
                             [&] {
                               this->emit_result(f_(static_cast<const A&>(x),
                                                    static_cast<const B&>(y)));
                             });
      cells.erase(c);
      if (cells.empty()) group.erase(key);
    });
    this->router_.emit_watermark(wm);
  }

private:
  using cell = join_cell<A, B>;

  /// Puts a record into its windows that are still open; false if none
  /// is (a late record).
  template <class Put>
  bool add(int64_t ts, const K& k, Put&& put) {
    auto last = floor_to(ts, w_.slide, w_.offset);
    if (last + w_.size - 1 <= this->wm_) return false;
    auto kg = this->key_group(k);
    auto& cells = windows_.get_or_create(kg, k);
    for (auto s = last; s > ts - w_.size; s -= w_.slide) {
      auto end = s + w_.size;
      if (end - 1 <= this->wm_) continue;
      put(cells[end]);
      ends_.add(kg, k, end - 1);
    }
    return true;
  }

  FA ka_;
  FB kb_;
  F f_;
  sliding_windows w_;
  timestamp_fn<A> ta_;
  timestamp_fn<B> tb_;
  /// key -> window end -> records of both sides.
  keyed_store<K, std::map<int64_t, cell>> windows_;
  /// A timer at end - 1 per (key, window end).
  keyed_timers<K> ends_;
};

template <class K, class A, class B, class Out, class FA, class FB, class F,
          bool Late>
class interval_join_task final : public join_task_base<Out, A, B, Late> {
public:
  interval_join_task(const task_setup& s, size_t a_edges, FA ka, FB kb, F f,
                     int64_t lower, int64_t upper, timestamp_fn<A> ta,
                     timestamp_fn<B> tb)
      : join_task_base<Out, A, B, Late>(s, a_edges), ka_(ka), kb_(kb), f_(f),
        lower_(lower), upper_(upper), ta_(std::move(ta)), tb_(std::move(tb)),
        keys_(s.max_parallelism), expiry_(s.max_parallelism) {
    this->key_groups_.add(keys_);
    this->key_groups_.add(expiry_);
  }

  void process(size_t input, batch_base& b) override {
    if (input < this->a_edges_) {
      this->for_each_record(records_of<A>(b), [&](A& x) {
        auto ts = ta_(x);
        if (ts <= this->wm_) {
          this->late_a(x);
          return;
        }
        auto k = ka_(x);
        auto kg = this->key_group(k);
        auto& st = keys_.get_or_create(kg, k);
        for (auto i = st.b.lower_bound(ts + lower_);
             i != st.b.end() && i->first <= ts + upper_; ++i)
          this->join_guarded(
              static_cast<const A&>(x), static_cast<const B&>(i->second), [&] {
                this->emit_result(f_(static_cast<const A&>(x),
                                     static_cast<const B&>(i->second)));
              });
        st.a.emplace(ts, x);
        expiry_.add(kg, k, ts + upper_);
      });
    } else {
      this->for_each_record(records_of<B>(b), [&](B& y) {
        auto ts = tb_(y);
        if (ts <= this->wm_) {
          this->late_b(y);
          return;
        }
        auto k = kb_(y);
        auto kg = this->key_group(k);
        auto& st = keys_.get_or_create(kg, k);
        for (auto i = st.a.lower_bound(ts - upper_);
             i != st.a.end() && i->first <= ts - lower_; ++i)
          this->join_guarded(
              static_cast<const A&>(i->second), static_cast<const B&>(y), [&] {
                this->emit_result(f_(static_cast<const A&>(i->second),
                                     static_cast<const B&>(y)));
              });
        st.b.emplace(ts, y);
        expiry_.add(kg, k, ts - lower_);
      });
    }
  }

  void on_watermark(int64_t wm) override {
    this->wm_ = wm;
    // Future records have ts > wm: an a with a.ts + upper <= wm and a b
    // with b.ts - lower <= wm can no longer match anything.
    expiry_.fire(wm, [this, wm](int64_t, uint32_t kg, const K& k) {
      auto& group = keys_.key_group(kg);
      auto it = group.find(k);
      if (it == group.end()) return;
      auto& st = it->second;
      st.a.erase(st.a.begin(), st.a.upper_bound(wm - upper_));
      st.b.erase(st.b.begin(), st.b.upper_bound(wm + lower_));
      if (st.a.empty() && st.b.empty()) group.erase(it);
    });
    this->router_.emit_watermark(wm);
  }

private:
  FA ka_;
  FB kb_;
  F f_;
  int64_t lower_;
  int64_t upper_;
  timestamp_fn<A> ta_;
  timestamp_fn<B> tb_;
  keyed_store<K, interval_buffers<A, B>> keys_;
  keyed_timers<K> expiry_;
};

template <class K, class A, class B, class Out, class FA, class FB, class F>
class table_join_task final : public join_task_base<Out, A, B, false> {
public:
  table_join_task(const task_setup& s, size_t a_edges, FA ka, FB kb, F f,
                  timestamp_fn<A> ta)
      : join_task_base<Out, A, B, false>(s, a_edges), ka_(ka), kb_(kb), f_(f),
        ta_(std::move(ta)), keys_(s.max_parallelism),
        waiting_(s.max_parallelism) {
    this->key_groups_.add(keys_);
    this->key_groups_.add(waiting_);
  }

  void process(size_t input, batch_base& b) override {
    if (input >= this->a_edges_) {
      this->for_each_record(records_of<B>(b), [&](B& y) {
        auto k = kb_(y);
        auto kg = this->key_group(k);
        if (!changelog_traits<B>::is_delete(y)) {
          keys_.get_or_create(kg, k).latest = std::move(y);
        } else if (auto e = keys_.find(kg, k)) {
          e->latest.reset();
          if (e->held.empty()) keys_.erase(kg, k);
        }
      });
      return;
    }
    this->for_each_record(records_of<A>(b), [&](A& x) {
      auto k = ka_(x);
      auto kg = this->key_group(k);
      if (ta_) {
        // Event time: wait until the table is complete up to x's time.
        auto ts = ta_(x);
        if (ts > this->wm_) {
          keys_.get_or_create(kg, k).held.emplace(ts, std::move(x));
          waiting_.add(kg, k, ts);
          return;
        }
      }
      auto e = keys_.find(kg, k);
      if (e && e->latest) probe(x, *e->latest);
    });
  }

  void on_watermark(int64_t wm) override {
    this->wm_ = wm;
    waiting_.fire(wm, [this, wm](int64_t, uint32_t kg, const K& k) {
      auto& group = keys_.key_group(kg);
      auto it = group.find(k);
      if (it == group.end()) return;
      auto& e = it->second;
      auto end = e.held.upper_bound(wm);
      if (e.latest)
        for (auto i = e.held.begin(); i != end; ++i)
          probe(i->second, *e.latest);
      e.held.erase(e.held.begin(), end);
      if (!e.latest && e.held.empty()) group.erase(it);
    });
    this->router_.emit_watermark(wm);
  }

private:
  void probe(const A& x, const B& y) {
    this->join_guarded(x, y, [&] { this->router_.emit(f_(x, y)); });
  }

  FA ka_;
  FB kb_;
  F f_;
  timestamp_fn<A> ta_;
  keyed_store<K, table_entry<A, B>> keys_;
  /// A timer at the timestamp of each held record's key.
  keyed_timers<K> waiting_;
};

} // namespace detail

// Keyed state of the joins in snapshots.

template <class A, class B>
struct serde<detail::join_cell<A, B>,
             std::enable_if_t<serde<A>::available && serde<B>::available>> {
  static constexpr bool available = true;
  static void write(const detail::join_cell<A, B>& x, std::vector<char>& out) {
    serde<std::vector<A>>::write(x.a, out);
    serde<std::vector<B>>::write(x.b, out);
  }
  static detail::join_cell<A, B> read(const char*& pos, const char* end) {
    auto a = serde<std::vector<A>>::read(pos, end);
    return {std::move(a), serde<std::vector<B>>::read(pos, end)};
  }
};

template <class A, class B>
struct serde<detail::interval_buffers<A, B>,
             std::enable_if_t<serde<A>::available && serde<B>::available>> {
  static constexpr bool available = true;
  static void write(const detail::interval_buffers<A, B>& x,
                    std::vector<char>& out) {
    serde<std::multimap<int64_t, A>>::write(x.a, out);
    serde<std::multimap<int64_t, B>>::write(x.b, out);
  }
  static detail::interval_buffers<A, B> read(const char*& pos,
                                             const char* end) {
    auto a = serde<std::multimap<int64_t, A>>::read(pos, end);
    return {std::move(a), serde<std::multimap<int64_t, B>>::read(pos, end)};
  }
};

template <class A, class B>
struct serde<detail::table_entry<A, B>,
             std::enable_if_t<serde<A>::available && serde<B>::available>> {
  static constexpr bool available = true;
  static void write(const detail::table_entry<A, B>& x,
                    std::vector<char>& out) {
    serde<std::optional<B>>::write(x.latest, out);
    serde<std::multimap<int64_t, A>>::write(x.held, out);
  }
  static detail::table_entry<A, B> read(const char*& pos, const char* end) {
    auto latest = serde<std::optional<B>>::read(pos, end);
    return {std::move(latest),
            serde<std::multimap<int64_t, A>>::read(pos, end)};
  }
};

namespace detail {

/// Splits the records of a join with side outputs (a std::variant R: the
/// results, then one wrapped alternative per side output) into a stream
/// per alternative, each selector at the join's parallelism.
template <class R, size_t I, class T>
stream<T> select_output(stream<R>& op, const std::string& name,
                        const std::optional<uint32_t>& parallelism) {
  auto s = op.template add<T>(name, [](const task_setup& ts) {
    return std::make_unique<select_task<R, I, T>>(ts);
  });
  if (parallelism) s = s.parallelism(*parallelism);
  return s;
}

template <bool Late, class K, class A, class FA, class B, class FB, class W,
          class F>
auto add_window_join(keyed_stream<K, A, FA>& a, keyed_stream<K, B, FB>& b, W w,
                     F f, const std::string& name) {
  static_assert(std::is_invocable_v<F&, const A&, const B&>,
                "window_join expects `Out f(const A&, const B&)`");
  using out = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
  using record = join_record_t<out, A, B, Late>;
  sliding_windows sw;
  if constexpr (std::is_same_v<W, tumbling_windows>)
    sw = sliding_windows{w.size, w.size, w.offset};
  else {
    static_assert(std::is_same_v<W, sliding_windows>,
                  "window_join takes tumbling() or sliding() windows");
    sw = w;
  }
  if (sw.size <= 0 || sw.slide <= 0)
    throw std::invalid_argument("window_join: size and slide > 0");
  auto ta = need_timestamps(a.input(), name);
  auto tb = need_timestamps(b.input(), name);
  auto na = a.input().producers().size();
  auto ka = a.key();
  auto kb = b.key();
  return add_two_input<record>(a, b, name, [=](const task_setup& s) {
    return std::make_unique<window_join_task<K, A, B, out, FA, FB, F, Late>>(
        s, na, ka, kb, f, sw, ta, tb);
  });
}

template <bool Late, class K, class A, class FA, class B, class FB, class F>
auto add_interval_join(keyed_stream<K, A, FA>& a, keyed_stream<K, B, FB>& b,
                       int64_t lower, int64_t upper, F f,
                       const std::string& name) {
  static_assert(std::is_invocable_v<F&, const A&, const B&>,
                "interval_join expects `Out f(const A&, const B&)`");
  using out = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
  using record = join_record_t<out, A, B, Late>;
  if (lower > upper)
    throw std::invalid_argument("interval_join: lower > upper");
  auto ta = need_timestamps(a.input(), name);
  auto tb = need_timestamps(b.input(), name);
  auto na = a.input().producers().size();
  auto ka = a.key();
  auto kb = b.key();
  return add_two_input<record>(a, b, name, [=](const task_setup& s) {
    return std::make_unique<interval_join_task<K, A, B, out, FA, FB, F, Late>>(
        s, na, ka, kb, f, lower, upper, ta, tb);
  });
}

/// The three outputs of a window or interval join with a late output.
template <class A, class B, class R>
auto split_late(stream<R> op, const std::string& name, const join_options& o,
                const timestamp_fn<A>& ta, const timestamp_fn<B>& tb) {
  using out = std::variant_alternative_t<0, R>;
  if (o.parallelism) op = op.parallelism(*o.parallelism);
  return join_output<out, A, B>{
      select_output<R, 0, out>(op, name + "-results", o.parallelism),
      select_output<R, 1, A>(op, name + "-late-a", o.parallelism)
          .with_timestamps(ta),
      select_output<R, 2, B>(op, name + "-late-b", o.parallelism)
          .with_timestamps(tb)};
}

} // namespace detail

/// Pairs of a and b records with the same key in the same tumbling or
/// sliding event-time window, emitted when the window completes. Late
/// records (every window they belong to has fired) are dropped and
/// counted.
template <class K, class A, class FA, class B, class FB, class W, class F>
auto window_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> b, W w, F f,
                 std::string name = "window-join") {
  return detail::add_window_join<false>(a, b, w, std::move(f), name);
}

/// As window_join, and the late records of both sides come out on
/// join_output::late_a / late_b.
template <class K, class A, class FA, class B, class FB, class W, class F>
auto window_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> b, W w, F f,
                 const join_options& o, std::string name = "window-join") {
  auto op = detail::add_window_join<true>(a, b, w, std::move(f), name);
  return detail::split_late<A, B>(op, name, o, *a.input().timestamps(),
                                  *b.input().timestamps());
}

/// Pairs with the same key and a.ts + lower <= b.ts <= a.ts + upper (ms),
/// emitted as soon as both are there. Late records (behind the watermark
/// on arrival) are dropped and counted.
template <class K, class A, class FA, class B, class FB, class F>
auto interval_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> b,
                   int64_t lower, int64_t upper, F f,
                   std::string name = "interval-join") {
  return detail::add_interval_join<false>(a, b, lower, upper, std::move(f),
                                          name);
}

/// As interval_join, and the late records of both sides come out on
/// join_output::late_a / late_b.
template <class K, class A, class FA, class B, class FB, class F>
auto interval_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> b,
                   int64_t lower, int64_t upper, F f, const join_options& o,
                   std::string name = "interval-join") {
  auto op =
      detail::add_interval_join<true>(a, b, lower, upper, std::move(f), name);
  return detail::split_late<A, B>(op, name, o, *a.input().timestamps(),
                                  *b.input().timestamps());
}

/// Joins each record of `a` with the latest record of its key in `table`
/// (a changelog stream: the last value per key wins; a tombstone, see
/// flow::changelog_traits, deletes the key). With
/// time_domain::event, a record waits until the operator's watermark
/// passes its timestamp, so a table that is loaded first (a bounded
/// source ends: +infinity) or carries event time is complete up to it;
/// with time_domain::processing it joins with the table as it is now.
template <class K, class A, class FA, class B, class FB, class F>
auto join_table(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table, F f,
                time_domain domain = time_domain::processing,
                std::string name = "table-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B&>,
                "join_table expects `Out f(const A&, const B&)`");
  using out = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
  timestamp_fn<A> ta;
  if (domain == time_domain::event)
    ta = detail::need_timestamps(a.input(), name);
  auto na = a.input().producers().size();
  auto ka = a.key();
  auto kb = table.key();
  return detail::add_two_input<out>(a, table, name, [=](const task_setup& s) {
    return std::make_unique<detail::table_join_task<K, A, B, out, FA, FB, F>>(
        s, na, ka, kb, f, ta);
  });
}

} // namespace flow

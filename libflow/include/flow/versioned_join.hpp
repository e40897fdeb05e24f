#pragma once

// The event-time versioned table join (Flink's temporal join, FOR
// SYSTEM_TIME AS OF):
//
//   versioned_join(orders, customers, f)       each order with the customer
//                                              version valid at the order's
//                                              event time: `Out f(const A&,
//                                              const B&)`; none, no output
//   versioned_left_join(orders, customers, f)  the same, and orders without
//                                              a valid version too: `Out
//                                              f(const A&, const B*)` with
//                                              null then
//
// Both inputs carry event time: a table record (a changelog entry) is the
// version of its key from its timestamp on, until the next one; a
// tombstone (flow::changelog_traits) ends it. A stream record waits until
// the watermark passes its timestamp, so every version up to it has
// arrived, then joins: the output is the same in every run, at every
// parallelism, batch size and load. Versions no future record can need
// (all but the last one at or before the watermark) are dropped as the
// watermark advances; state is kept per key in the keyed-state store.
// Unlike join_table (processing time, the latest value), nothing here
// depends on arrival order across the two inputs.
//
// Every buffer is bounded in event time. With
// versioned_join_options::max_wait = w, a record with no version valid at
// its time t (an order before its customer) waits until the watermark
// passes t + w for its key's first version after t, and joins that one;
// then, still without one, it is unmatched: the inner kind leaves it out,
// the left kind emits it with a null table side. Records behind the
// watermark on arrival are late. Called with versioned_join_options, both
// kinds return the records they did not join (inner: unmatched and late;
// left: late) as a second stream, versioned_join_output::unjoined;
// otherwise those are dropped, counted and logged at end of input.

#include "flow/changelog.hpp"
#include "flow/join.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"
#include "flow/log.hpp"
#include "flow/timers.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

namespace flow {

/// Whether a stream record without a valid table version is emitted.
enum class join_kind {
  /// No: only records with a version.
  inner,
  /// Yes, with a null table side.
  left,
};

/// Settings of a versioned join called with them (it then returns
/// versioned_join_output).
struct versioned_join_options : join_options {
  /// How long (event time, ms) a stream record with no version valid at
  /// its time waits for its key's first version after it; 0: not at all.
  int64_t max_wait = 0;
};

/// A stream record a versioned join did not join: what its unjoined
/// output carries.
template <class A>
struct unjoined_record {
  A record;
};

template <class A>
struct serde<unjoined_record<A>, std::enable_if_t<serde<A>::available>> {
  static constexpr bool available = true;
  static void write(const unjoined_record<A>& x, std::vector<char>& out) {
    serde<A>::write(x.record, out);
  }
  static unjoined_record<A> read(const char*& pos, const char* end) {
    return {serde<A>::read(pos, end)};
  }
};

/// The results of a versioned join and the stream records it did not
/// join (see the top of this file); unjoined keeps the stream's
/// timestamps.
template <class Out, class A>
struct versioned_join_output {
  stream<Out> results;
  stream<A> unjoined;
};

namespace detail {

template <class Out, class A, bool Unjoined>
using versioned_record_t =
    std::conditional_t<Unjoined, std::variant<Out, unjoined_record<A>>, Out>;

template <class K, class A, class B, class Out, class FA, class FB, class F,
          join_kind Kind, bool Unjoined>
class versioned_join_task final
    : public keyed_task<versioned_record_t<Out, A, Unjoined>> {
public:
  using record = versioned_record_t<Out, A, Unjoined>;

  versioned_join_task(const task_setup& s, size_t a_edges, FA ka, FB kb, F f,
                      timestamp_fn<A> ta, timestamp_fn<B> tb, int64_t max_wait)
      : keyed_task<record>(s), a_edges_(a_edges), ka_(std::move(ka)),
        kb_(std::move(kb)), f_(std::move(f)), ta_(std::move(ta)),
        tb_(std::move(tb)), max_wait_(max_wait), state_(s.max_parallelism),
        timers_(s.max_parallelism) {
    this->key_groups_.add(state_);
    this->key_groups_.add(timers_);
  }

  void process(size_t input, batch_base& b) override {
    if (input >= a_edges_) {
      this->for_each_record(records_of<B>(b), [&](B& y) {
        auto ts = tb_(y);
        if (ts <= wm_) ++late_versions_;
        auto k = kb_(y);
        auto kg = this->key_group(k);
        state_.get_or_create(kg, k).versions.insert_or_assign(ts, std::move(y));
        timers_.add(kg, k, ts);
      });
      return;
    }
    this->for_each_record(records_of<A>(b), [&](A& x) {
      auto ts = ta_(x);
      if (ts <= wm_) {
        ++late_records_;
        unjoined(x);
        return;
      }
      auto k = ka_(x);
      auto kg = this->key_group(k);
      state_.get_or_create(kg, k).waiting.emplace(ts, std::move(x));
      ++waiting_;
      timers_.add(kg, k, ts);
    });
  }

  void on_watermark(int64_t wm) override {
    wm_ = wm;
    timers_.fire(wm, [this, wm](int64_t, uint32_t kg, const K& k) {
      advance(kg, k, wm);
    });
    this->router_.emit_watermark(wm);
  }

  void end_of_input() override {
    if (late_records_ == 0 && late_versions_ == 0 && dropped_ == 0) return;
    auto log = logger("flow/join");
    if constexpr (Unjoined)
      log->warn("versioned join: {} late records (to the unjoined output), "
                "{} late table versions applied",
                late_records_, late_versions_);
    else
      log->warn("versioned join: {} late records, {} records without a "
                "result dropped (no unjoined output), {} late table versions "
                "applied",
                late_records_, dropped_, late_versions_);
  }

  /// Keys with state (versions or waiting records).
  size_t keys() const noexcept { return state_.size(); }

  /// Stream records waiting (for the watermark, or for a version).
  size_t waiting() const noexcept { return waiting_; }

private:
  struct key_state {
    /// Table versions by event time (tombstones included: they end the
    /// previous version).
    std::map<int64_t, B> versions;
    /// Stream records by event time: ahead of the watermark, or passed by
    /// it without a version and waiting up to max_wait for one.
    std::multimap<int64_t, A> waiting;
  };

  /// The version of `st` valid at `ts`, or null.
  static const B* version_at(const key_state& st, int64_t ts) {
    auto i = st.versions.upper_bound(ts);
    if (i == st.versions.begin()) return nullptr;
    --i;
    return changelog_traits<B>::is_delete(i->second) ? nullptr : &i->second;
  }

  void unjoined(const A& a) {
    if constexpr (Unjoined)
      this->router_.emit(record{std::in_place_index<1>, unjoined_record<A>{a}});
    else
      ++dropped_;
  }

  void emit(const A& a, const B* v) {
    if constexpr (Kind == join_kind::left) {
      if (v)
        this->join_guarded(a, *v, [&] { emit_result(f_(a, v)); });
      else
        this->join_guarded(a, std::string("no version"),
                           [&] { emit_result(f_(a, v)); });
    } else {
      if (v)
        this->join_guarded(a, *v, [&] { emit_result(f_(a, *v)); });
      else
        unjoined(a);
    }
  }

  void emit_result(Out&& o) {
    if constexpr (Unjoined)
      this->router_.emit(record{std::in_place_index<0>, std::move(o)});
    else
      this->router_.emit(std::move(o));
  }

  /// The watermark passed a timer of key `k`: joins its records up to
  /// `wm` that have a version (or whose wait is over), then drops the
  /// versions no later record can need.
  void advance(uint32_t kg, const K& k, int64_t wm) {
    auto* st = state_.find(kg, k);
    if (!st) return;
    auto due = st->waiting.upper_bound(wm);
    for (auto i = st->waiting.begin(); i != due;) {
      auto ts = i->first;
      auto* v = version_at(*st, ts);
      if (!v && max_wait_ > 0) {
        // The first version after ts is final once the watermark has
        // passed it: later versions have later times.
        auto next = st->versions.upper_bound(ts);
        if (next != st->versions.end() && next->first <= wm &&
            next->first <= ts + max_wait_) {
          if (!changelog_traits<B>::is_delete(next->second)) v = &next->second;
        } else if (ts + max_wait_ > wm) {
          timers_.add(kg, k, ts + max_wait_);
          ++i;
          continue;
        }
      }
      emit(i->second, v);
      i = st->waiting.erase(i);
      --waiting_;
    }
    // Later records have ts > wm, and the records still waiting have no
    // version in (ts, wm]: the last version at or before wm is the oldest
    // one any of them can need; a tombstone there is as good as nothing.
    auto keep = st->versions.upper_bound(wm);
    if (keep != st->versions.begin()) {
      --keep;
      if (changelog_traits<B>::is_delete(keep->second)) ++keep;
      st->versions.erase(st->versions.begin(), keep);
    }
    if (st->waiting.empty() && st->versions.empty()) state_.erase(kg, k);
  }

  size_t a_edges_;
  FA ka_;
  FB kb_;
  F f_;
  timestamp_fn<A> ta_;
  timestamp_fn<B> tb_;
  int64_t max_wait_;
  keyed_store<K, key_state> state_;
  /// One per (key, event time) of a waiting record, its end of wait, or a
  /// version.
  keyed_timers<K> timers_;
  int64_t wm_ = min_timestamp;
  size_t waiting_ = 0;
  uint64_t late_records_ = 0;
  uint64_t late_versions_ = 0;
  /// Records without a result and no unjoined output to go to.
  uint64_t dropped_ = 0;
};

/// The output type of a versioned join's function.
template <join_kind Kind, class F, class A, class B>
struct versioned_output {
  using type = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
};
template <class F, class A, class B>
struct versioned_output<join_kind::left, F, A, B> {
  using type = std::decay_t<std::invoke_result_t<F&, const A&, const B*>>;
};

template <join_kind Kind, bool Unjoined, class K, class A, class FA, class B,
          class FB, class F>
auto add_versioned_join(keyed_stream<K, A, FA>& a,
                        keyed_stream<K, B, FB>& table, F f,
                        const std::string& name, int64_t max_wait) {
  using out = typename versioned_output<Kind, F, A, B>::type;
  using record = versioned_record_t<out, A, Unjoined>;
  if (max_wait < 0)
    throw std::invalid_argument(name + ": max_wait must be >= 0, not " +
                                std::to_string(max_wait));
  auto ta = need_timestamps(a.input(), name);
  auto tb = need_timestamps(table.input(), name);
  auto na = a.input().producers().size();
  auto ka = a.key();
  auto kb = table.key();
  return add_two_input<record>(a, table, name, [=](const task_setup& s) {
    return std::make_unique<
        versioned_join_task<K, A, B, out, FA, FB, F, Kind, Unjoined>>(
        s, na, ka, kb, f, ta, tb, max_wait);
  });
}

/// The two outputs of a versioned join with an unjoined output.
template <class A, class R>
auto split_unjoined(stream<R> op, const std::string& name,
                    const versioned_join_options& o,
                    const timestamp_fn<A>& ta) {
  using out = std::variant_alternative_t<0, R>;
  if (o.parallelism) op = op.parallelism(*o.parallelism);
  return versioned_join_output<out, A>{
      select_output<R, 0, out>(op, name + "-results", o.parallelism),
      select_output<R, 1, A>(op, name + "-unjoined", o.parallelism)
          .with_timestamps(ta)};
}

} // namespace detail

/// Joins each record of `a` with the version of its key in `table` valid
/// at the record's event time (see the top of this file); records without
/// one give no output.
template <class K, class A, class FA, class B, class FB, class F>
auto versioned_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table, F f,
                    std::string name = "versioned-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B&>,
                "versioned_join expects `Out f(const A&, const B&)`");
  return detail::add_versioned_join<join_kind::inner, false>(
      a, table, std::move(f), name, 0);
}

/// As versioned_join, records without a version waiting up to
/// `o.max_wait` for one; the records it did not join (without a version,
/// or late) come out on versioned_join_output::unjoined.
template <class K, class A, class FA, class B, class FB, class F>
auto versioned_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table, F f,
                    const versioned_join_options& o,
                    std::string name = "versioned-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B&>,
                "versioned_join expects `Out f(const A&, const B&)`");
  auto op = detail::add_versioned_join<join_kind::inner, true>(
      a, table, std::move(f), name, o.max_wait);
  return detail::split_unjoined<A>(op, name, o, *a.input().timestamps());
}

/// As versioned_join, and records of `a` without a valid version come out
/// too, with a null table side.
template <class K, class A, class FA, class B, class FB, class F>
auto versioned_left_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table,
                         F f, std::string name = "versioned-left-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B*>,
                "versioned_left_join expects `Out f(const A&, const B*)` "
                "(null: no version valid at the record's time)");
  return detail::add_versioned_join<join_kind::left, false>(
      a, table, std::move(f), name, 0);
}

/// As versioned_left_join, records without a version waiting up to
/// `o.max_wait` for one before they come out with a null table side; late
/// records come out on versioned_join_output::unjoined.
template <class K, class A, class FA, class B, class FB, class F>
auto versioned_left_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table,
                         F f, const versioned_join_options& o,
                         std::string name = "versioned-left-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B*>,
                "versioned_left_join expects `Out f(const A&, const B*)` "
                "(null: no version valid at the record's time)");
  auto op = detail::add_versioned_join<join_kind::left, true>(
      a, table, std::move(f), name, o.max_wait);
  return detail::split_unjoined<A>(op, name, o, *a.input().timestamps());
}

} // namespace flow

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
// Stream records behind the watermark on arrival are late: dropped,
// counted and logged at end of input. Unlike join_table (processing
// time, the latest value), nothing here depends on arrival order across
// the two inputs.

#include "flow/changelog.hpp"
#include "flow/join.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"
#include "flow/log.hpp"
#include "flow/timers.hpp"

#include <map>
#include <string>
#include <type_traits>

namespace flow {

/// Whether a stream record without a valid table version is emitted.
enum class join_kind {
  /// No: only records with a version.
  inner,
  /// Yes, with a null table side.
  left,
};

namespace detail {

template <class K, class A, class B, class Out, class FA, class FB, class F,
          join_kind Kind>
class versioned_join_task final : public keyed_task<Out> {
public:
  versioned_join_task(const task_setup& s, size_t a_edges, FA ka, FB kb, F f,
                      timestamp_fn<A> ta, timestamp_fn<B> tb)
      : keyed_task<Out>(s), a_edges_(a_edges), ka_(std::move(ka)),
        kb_(std::move(kb)), f_(std::move(f)), ta_(std::move(ta)),
        tb_(std::move(tb)), state_(s.max_parallelism),
        timers_(s.max_parallelism) {
    this->key_groups_.add(state_);
    this->key_groups_.add(timers_);
  }

  void process(size_t input, batch_base& b) override {
    if (input >= a_edges_) {
      for (auto& y : records_of<B>(b)) {
        auto ts = tb_(y);
        if (ts <= wm_) ++late_versions_;
        auto k = kb_(y);
        auto kg = this->key_group(k);
        state_.get_or_create(kg, k).versions.insert_or_assign(ts, std::move(y));
        timers_.add(kg, k, ts);
      }
      return;
    }
    for (auto& x : records_of<A>(b)) {
      auto ts = ta_(x);
      if (ts <= wm_) {
        ++late_records_;
        continue;
      }
      auto k = ka_(x);
      auto kg = this->key_group(k);
      state_.get_or_create(kg, k).waiting.emplace(ts, std::move(x));
      timers_.add(kg, k, ts);
    }
  }

  void on_watermark(int64_t wm) override {
    wm_ = wm;
    timers_.fire(wm, [this, wm](int64_t, uint32_t kg, const K& k) {
      advance(kg, k, wm);
    });
    this->router_.emit_watermark(wm);
  }

  void end_of_input() override {
    if (late_records_ > 0 || late_versions_ > 0)
      logger("flow/join")
          ->warn("versioned join: {} late records dropped, {} late table "
                 "versions applied",
                 late_records_, late_versions_);
  }

  /// Keys with state (versions or waiting records).
  size_t keys() const noexcept { return state_.size(); }

private:
  struct key_state {
    /// Table versions by event time (tombstones included: they end the
    /// previous version).
    std::map<int64_t, B> versions;
    /// Stream records waiting for the watermark, by event time.
    std::multimap<int64_t, A> waiting;
  };

  /// The version of `st` valid at `ts`, or null.
  static const B* version_at(const key_state& st, int64_t ts) {
    auto i = st.versions.upper_bound(ts);
    if (i == st.versions.begin()) return nullptr;
    --i;
    return changelog_traits<B>::is_delete(i->second) ? nullptr : &i->second;
  }

  /// The watermark passed a timer of key `k`: joins its records up to
  /// `wm`, then drops the versions no later record can need.
  void advance(uint32_t kg, const K& k, int64_t wm) {
    auto* st = state_.find(kg, k);
    if (!st) return;
    auto due = st->waiting.upper_bound(wm);
    for (auto i = st->waiting.begin(); i != due; ++i) {
      auto* v = version_at(*st, i->first);
      const A& a = i->second;
      if constexpr (Kind == join_kind::left) {
        this->router_.emit(f_(a, v));
      } else {
        if (v) this->router_.emit(f_(a, *v));
      }
    }
    st->waiting.erase(st->waiting.begin(), due);
    // Later records have ts > wm: the last version at or before wm is the
    // oldest one they can need; a tombstone there is as good as nothing.
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
  keyed_store<K, key_state> state_;
  /// One per (key, event time) of a waiting record or a version.
  keyed_timers<K> timers_;
  int64_t wm_ = min_timestamp;
  uint64_t late_records_ = 0;
  uint64_t late_versions_ = 0;
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

template <join_kind Kind, class K, class A, class FA, class B, class FB,
          class F>
auto add_versioned_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table,
                        F f, std::string name) {
  using out = typename versioned_output<Kind, F, A, B>::type;
  auto ta = need_timestamps(a.input(), name);
  auto tb = need_timestamps(table.input(), name);
  auto na = a.input().producers().size();
  auto ka = a.key();
  auto kb = table.key();
  return add_two_input<out>(a, table, name, [=](const task_setup& s) {
    return std::make_unique<versioned_join_task<K, A, B, out, FA, FB, F, Kind>>(
        s, na, ka, kb, f, ta, tb);
  });
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
  return detail::add_versioned_join<join_kind::inner>(a, table, std::move(f),
                                                      std::move(name));
}

/// As versioned_join, and records of `a` without a valid version come out
/// too, with a null table side.
template <class K, class A, class FA, class B, class FB, class F>
auto versioned_left_join(keyed_stream<K, A, FA> a, keyed_stream<K, B, FB> table,
                         F f, std::string name = "versioned-left-join") {
  static_assert(std::is_invocable_v<F&, const A&, const B*>,
                "versioned_left_join expects `Out f(const A&, const B*)` "
                "(null: no version valid at the record's time)");
  return detail::add_versioned_join<join_kind::left>(a, table, std::move(f),
                                                     std::move(name));
}

} // namespace flow

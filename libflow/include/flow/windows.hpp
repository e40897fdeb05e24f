#pragma once

// The window builders: keyed_stream::window(assigner) and what follows.
//
//   auto counts = events.assign_timestamps(ts, 500)   // 500 ms disorder
//                   .key_by(campaign)
//                   .window(flow::tumbling(10'000))
//                   .allowed_lateness(1'000)
//                   .aggregate(flow::count());  // window_result<K, int64_t>

#include "flow/callable_traits.hpp"
#include "flow/topology.hpp"
#include "flow/window.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

namespace flow {

/// Results and late records of a window operator with_late_output().
template <class Out, class T>
struct windowed_output {
  stream<Out> results;
  /// Records that came after their windows' allowed lateness.
  stream<T> late;
};

/// A keyed stream cut into windows; finish it with aggregate, reduce or
/// process.
template <class K, class T, class KeyFn, class W, bool Late = false>
class windowed_stream {
public:
  windowed_stream(keyed_stream<K, T, KeyFn> in, W w)
      : in_(std::move(in)), w_(w) {}

  /// Records up to `ms` behind the watermark still update their windows
  /// (which fire again with the new result); later ones are dropped (and
  /// counted) or go to the late output. Not for count windows.
  windowed_stream allowed_lateness(int64_t ms) const {
    static_assert(!std::is_same_v<W, count_windows>,
                  "count windows have no lateness");
    if (ms < 0) throw std::invalid_argument("allowed_lateness: negative");
    auto r = *this;
    r.lateness_ = ms;
    return r;
  }

  /// The operator also produces the stream of late records (see
  /// windowed_output).
  windowed_stream<K, T, KeyFn, W, true> with_late_output() const {
    static_assert(!std::is_same_v<W, count_windows>,
                  "count windows have no late records");
    windowed_stream<K, T, KeyFn, W, true> r{in_, w_};
    r.lateness_ = lateness_;
    r.parallelism_ = parallelism_;
    return r;
  }

  /// Parallelism of the window operator (and its output selectors).
  windowed_stream parallelism(uint32_t n) const {
    auto r = *this;
    r.parallelism_ = n;
    return r;
  }

  /// Incremental aggregate (flow::count, flow::sum or an aggregator with
  /// `merge`): emits window_result<K, Agg::result>.
  template <class Agg>
  auto aggregate(Agg agg, std::string name = "window") {
    return build(detail::aggregate_fn<K, T, Agg>{std::move(agg)}, name);
  }

  /// Incremental reduce, `T f(const T& acc, const T& x)` (associative):
  /// emits window_result<K, T>.
  template <class F>
  auto reduce(F f, std::string name = "window") {
    static_assert(std::is_invocable_r_v<T, F&, const T&, const T&>,
                  "window reduce expects `T f(const T& acc, const T& x)`");
    return build(detail::reduce_fn<K, T, F>{std::move(f)}, name);
  }

  /// Full-window function: `void f(const K& key, const flow::window& w,
  /// const std::vector<T>& records, std::vector<Out>& out)`.
  template <class F>
  auto process(F f, std::string name = "window") {
    static_assert(detail::callable_traits<F>::arity == 4,
                  "window process expects `void f(const K&, const "
                  "flow::window&, const std::vector<T>&, std::vector<Out>&)`");
    using out = typename detail::arg_t<F, 3>::value_type;
    return build(detail::process_fn<K, T, out, F>{std::move(f)}, name);
  }

private:
  template <class, class, class, class, bool>
  friend class windowed_stream;

  template <class Fn>
  auto build(Fn fn, const std::string& name) {
    using out = typename Fn::out;
    using record =
        std::conditional_t<Late, std::variant<out, late_record<T>>, out>;
    timestamp_fn<T> ts;
    bool event = true;
    if constexpr (std::is_same_v<W, count_windows>) {
      event = false;
      if (w_.size == 0 || w_.slide == 0)
        throw std::invalid_argument("count window: size and slide > 0");
    } else if constexpr (std::is_same_v<W, session_windows>) {
      event = w_.domain == time_domain::event;
      if (w_.gap <= 0) throw std::invalid_argument("session window: gap > 0");
    } else if constexpr (std::is_same_v<W, tumbling_windows>) {
      event = w_.domain == time_domain::event;
      if (w_.size <= 0)
        throw std::invalid_argument("tumbling window: size > 0");
    } else {
      static_assert(std::is_same_v<W, sliding_windows>,
                    "window expects tumbling(), sliding(), session() or "
                    "counting()");
      event = w_.domain == time_domain::event;
      if (w_.size <= 0 || w_.slide <= 0)
        throw std::invalid_argument("sliding window: size and slide > 0");
    }
    if (event) {
      if (!in_.input().timestamps())
        throw std::invalid_argument(
            "window '" + name +
            "' on event time needs timestamps: call assign_timestamps (or "
            "with_timestamps) on the stream before key_by");
      ts = *in_.input().timestamps();
    }
    auto key = in_.key();
    auto w = w_;
    auto lateness = lateness_;
    task_factory make = [=](const task_setup& s) -> std::unique_ptr<task> {
      if constexpr (std::is_same_v<W, count_windows>) {
        return std::make_unique<detail::count_window_task<K, T, KeyFn, Fn>>(
            s, key, fn, w);
      } else if constexpr (std::is_same_v<W, session_windows>) {
        return std::make_unique<
            detail::session_window_task<K, T, KeyFn, Fn, Late>>(s, key, fn, w,
                                                                lateness, ts);
      } else if constexpr (std::is_same_v<W, tumbling_windows>) {
        return std::make_unique<
            detail::time_window_task<K, T, KeyFn, Fn, Late>>(
            s, key, fn, sliding_windows{w.size, w.size, w.offset, w.domain},
            lateness, ts);
      } else {
        return std::make_unique<
            detail::time_window_task<K, T, KeyFn, Fn, Late>>(s, key, fn, w,
                                                             lateness, ts);
      }
    };
    auto op = in_.input().template add_keyed<record>(name, std::move(make),
                                                     in_.hasher());
    if (parallelism_) op = op.parallelism(*parallelism_);
    if constexpr (Late) {
      auto results =
          op.template add<out>(name + "-results", [](const task_setup& s) {
            return std::make_unique<detail::select_task<record, 0, out>>(s);
          });
      auto late = op.template add<T>(name + "-late", [](const task_setup& s) {
        return std::make_unique<detail::select_task<record, 1, T>>(s);
      });
      if (parallelism_) {
        results = results.parallelism(*parallelism_);
        late = late.parallelism(*parallelism_);
      }
      if (ts) late = late.with_timestamps(ts);
      return windowed_output<out, T>{results, late};
    } else {
      return op;
    }
  }

  keyed_stream<K, T, KeyFn> in_;
  W w_;
  int64_t lateness_ = 0;
  std::optional<uint32_t> parallelism_;
};

template <class K, class T, class KeyFn>
template <class Assigner>
auto keyed_stream<K, T, KeyFn>::window(Assigner assigner) const {
  return windowed_stream<K, T, KeyFn, Assigner>(*this, assigner);
}

} // namespace flow

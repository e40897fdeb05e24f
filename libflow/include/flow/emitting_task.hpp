#pragma once

#include "flow/record_errors.hpp"
#include "flow/router.hpp"
#include "flow/task.hpp"

#include <type_traits>
#include <utility>
#include <vector>

namespace flow {

/// A task emitting records of type Out through a router, applying the
/// subtask's on-error policy (record_error_handler) to the records its
/// user code throws on.
template <class Out>
class emitting_task : public task {
public:
  explicit emitting_task(const task_setup& s)
      : router_(s.outputs, *s.out, s.batch_size), errors_(s) {}
  void flush() override { router_.flush(); }
  void flush_all() override { router_.flush_all(); }
  bool has_buffered() const override { return router_.has_buffered(); }
  /// Forwards the watermark after the records emitted so far.
  void on_watermark(int64_t wm) override { router_.emit_watermark(wm); }
  /// Passes the idle status on, after the records emitted so far.
  void on_idle(bool idle) override { router_.emit_idle(idle); }
  /// Busy while dead letters wait for their acknowledgement.
  bool busy() const override { return errors_.busy(); }
  void resume() override { errors_.resume(); }
  /// Keeps `wake` for the dead-letter writer; the subtask retries a busy
  /// task anyway, so this returns false.
  bool set_wakeup(std::function<void()> wake) override {
    errors_.set_wakeup(std::move(wake));
    return false;
  }
  void snapshot_dead_letters(checkpoint_id id, std::string& out) override {
    out = errors_.snapshot(id);
  }
  void restore_dead_letters(checkpoint_id id,
                            const std::string& state) override {
    errors_.restore(id, state);
  }
  /// Publishes the dead letters checkpoint `id` held. Tasks that override
  /// it call it too.
  void checkpoint_complete(checkpoint_id id,
                           const std::vector<source_position>&) override {
    errors_.checkpoint_complete(id);
  }

protected:
  /// Runs `body(x)` on every record of `xs` in order. A record `body`
  /// throws on goes to the on-error policy (under fail the exception
  /// propagates); the others go on. Under dead-letter each record is
  /// copied first, as `body` may move from it; otherwise nothing but the
  /// zero-cost try block is added to the loop.
  template <class Rec, class Body>
  void for_each_record(std::vector<Rec>& xs, Body&& body) {
    if constexpr (std::is_copy_constructible_v<Rec>) {
      if (errors_.needs_record()) {
        for (auto& x : xs) {
          Rec copy = x;
          try {
            body(x);
          } catch (...) {
            errors_.on_failure(&copy);
          }
        }
        return;
      }
    }
    for (auto& x : xs) {
      try {
        body(x);
      } catch (...) {
        errors_.on_failure(static_cast<const Rec*>(nullptr));
      }
    }
  }

  /// Replaces every record x of `xs` by `f(std::move(x))`, in place, and
  /// drops the records `f` throws on (after the on-error policy): the
  /// survivors keep their order.
  template <class Rec, class F>
  void transform_records(std::vector<Rec>& xs, F& f) {
    rewrite_records(xs, [&f](Rec& x) { x = f(std::move(x)); });
  }

  /// As transform_records, with `void f(Rec&)` changing each record where
  /// it lies: no move per record.
  template <class Rec, class F>
  void update_records(std::vector<Rec>& xs, F& f) {
    rewrite_records(xs, [&f](Rec& x) { f(x); });
  }

  /// Runs `step` on every record of `xs` where it lies and drops the
  /// records it throws on (after the on-error policy, which sees the record
  /// as it was before the step): the survivors keep their order.
  template <class Rec, class Step>
  void rewrite_records(std::vector<Rec>& xs, Step step) {
    size_t kept = 0;
    auto keep = [&](size_t i) {
      if (kept != i) xs[kept] = std::move(xs[i]);
      ++kept;
    };
    if constexpr (std::is_copy_constructible_v<Rec>) {
      if (errors_.needs_record()) {
        for (size_t i = 0; i < xs.size(); ++i) {
          Rec copy = xs[i];
          try {
            step(xs[i]);
            keep(i);
          } catch (...) {
            errors_.on_failure(&copy);
          }
        }
        if (kept < xs.size()) xs.erase(xs.begin() + kept, xs.end());
        return;
      }
    }
    for (size_t i = 0; i < xs.size(); ++i) {
      try {
        step(xs[i]);
        keep(i);
      } catch (...) {
        errors_.on_failure(static_cast<const Rec*>(nullptr));
      }
    }
    if (kept < xs.size()) xs.erase(xs.begin() + kept, xs.end());
  }

  /// Keeps the records of `xs` for which `p` holds, in order; a record `p`
  /// throws on goes to the on-error policy and is dropped.
  template <class Rec, class P>
  void filter_records(std::vector<Rec>& xs, P& p) {
    size_t kept = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      bool keep = false;
      try {
        keep = p(static_cast<const Rec&>(xs[i]));
      } catch (...) {
        errors_.on_failure(&xs[i]);
      }
      if (!keep) continue;
      if (kept != i) xs[kept] = std::move(xs[i]);
      ++kept;
    }
    if (kept < xs.size()) xs.erase(xs.begin() + kept, xs.end());
  }

  /// Runs `call` (a join function on `a` and `b`, emitting its result)
  /// under the on-error policy: a pair it throws on has no result.
  template <class A, class B, class Call>
  void join_guarded(const A& a, const B& b, Call&& call) {
    try {
      call();
    } catch (...) {
      errors_.on_failure("join of " + describe_value(a) + " with " +
                         describe_value(b));
    }
  }

  router<Out> router_;
  record_error_handler errors_;
};

} // namespace flow

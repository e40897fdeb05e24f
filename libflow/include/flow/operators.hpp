#pragma once

#include "flow/emitting_task.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace flow {

/// One output record per input record.
template <class In, class Out, class F>
class map_task final : public emitting_task<Out> {
public:
  map_task(const task_setup& s, F f)
      : emitting_task<Out>(s), f_(std::move(f)) {}
  void process(size_t, batch_base& b) override {
    auto& xs = records_of<In>(b);
    if constexpr (std::is_same_v<In, Out>) {
      // Transform in place and pass the batch on.
      this->transform_records(xs, f_);
      this->router_.emit_batch(std::move(xs));
    } else {
      this->for_each_record(
          xs, [this](In& x) { this->router_.emit(f_(std::move(x))); });
    }
  }

private:
  F f_;
};

/// Changes each record in place with `void f(T&)` (map's in-place form).
template <class T, class F>
class update_task final : public emitting_task<T> {
public:
  update_task(const task_setup& s, F f)
      : emitting_task<T>(s), f_(std::move(f)) {}
  void process(size_t, batch_base& b) override {
    auto& xs = records_of<T>(b);
    this->update_records(xs, f_);
    this->router_.emit_batch(std::move(xs));
  }

private:
  F f_;
};

/// Keeps the records for which the predicate holds.
template <class T, class F>
class filter_task final : public emitting_task<T> {
public:
  filter_task(const task_setup& s, F f)
      : emitting_task<T>(s), f_(std::move(f)) {}
  void process(size_t, batch_base& b) override {
    // Compact in place and pass the batch on.
    auto& xs = records_of<T>(b);
    this->filter_records(xs, f_);
    this->router_.emit_batch(std::move(xs));
  }

private:
  F f_;
};

/// Zero or more output records per input record, through an emitter.
template <class In, class Out, class F>
class flat_map_task final : public emitting_task<Out> {
public:
  flat_map_task(const task_setup& s, F f)
      : emitting_task<Out>(s), f_(std::move(f)), out_(this->router_) {}
  void process(size_t, batch_base& b) override {
    this->for_each_record(records_of<In>(b),
                          [this](In& x) { f_(std::move(x), out_); });
  }

private:
  F f_;
  emitter<Out> out_;
};

/// Forwards records unchanged (used where only the partitioning changes).
template <class T>
class identity_task final : public emitting_task<T> {
public:
  using emitting_task<T>::emitting_task;
  void process(size_t, batch_base& b) override {
    this->router_.emit_batch(std::move(records_of<T>(b)));
  }
};

/// Running reduce per key: emits the new reduced value after each input.
template <class K, class T, class KeyFn, class F>
class reduce_task final : public keyed_task<T> {
public:
  reduce_task(const task_setup& s, KeyFn k, F f)
      : keyed_task<T>(s), key_(std::move(k)), f_(std::move(f)),
        state_(s.max_parallelism) {
    this->key_groups_.add_spilling(state_);
  }
  void process(size_t, batch_base& b) override {
    this->load_keys(state_, records_of<T>(b), key_);
    this->for_each_record(records_of<T>(b), [this](T& x) {
      auto k = key_(static_cast<const T&>(x));
      auto kg = this->key_group(k);
      auto [i, fresh] = state_.try_emplace(kg, std::move(k), x);
      if (!fresh)
        i->second =
            f_(static_cast<const T&>(i->second), static_cast<const T&>(x));
      this->router_.emit(static_cast<const T&>(i->second));
    });
    this->key_groups_.trim();
  }

private:
  KeyFn key_;
  F f_;
  keyed_store<K, T> state_;
};

/// Running aggregate per key: emits (key, result) after each input.
template <class K, class T, class KeyFn, class Agg>
class aggregate_task final
    : public keyed_task<std::pair<K, typename Agg::result>> {
public:
  using out_type = std::pair<K, typename Agg::result>;
  aggregate_task(const task_setup& s, KeyFn k, Agg a)
      : keyed_task<out_type>(s), key_(std::move(k)), agg_(std::move(a)),
        state_(s.max_parallelism) {
    this->key_groups_.add_spilling(state_);
  }
  void process(size_t, batch_base& b) override {
    this->load_keys(state_, records_of<T>(b), key_);
    this->for_each_record(records_of<T>(b), [this](T& x) {
      auto k = key_(static_cast<const T&>(x));
      auto kg = this->key_group(k);
      auto acc = state_.find(kg, k);
      if (!acc) acc = &state_.insert_absent(kg, k, agg_.init());
      agg_.add(*acc, static_cast<const T&>(x));
      this->router_.emit(out_type{std::move(k), agg_.get(*acc)});
    });
    this->key_groups_.trim();
  }

private:
  KeyFn key_;
  Agg agg_;
  keyed_store<K, typename Agg::accumulator> state_;
};

} // namespace flow

#pragma once

#include "flow/connector.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace flow {

/// Record count of a generator that runs until the job is stopped.
inline constexpr uint64_t unbounded = std::numeric_limits<uint64_t>::max();

/// Emits `make(i)` for i in [0, count), split into contiguous ranges over
/// the subtasks (or forever with count = flow::unbounded).
template <class F>
class generator_function final
    : public source_function<std::decay_t<std::invoke_result_t<F&, uint64_t>>> {
public:
  using value_type = std::decay_t<std::invoke_result_t<F&, uint64_t>>;

  generator_function(uint64_t count, F make, double rate)
      : count_(count), make_(std::move(make)), rate_(rate) {}

  void open(const connector_context& ctx) override {
    if (count_ == unbounded) {
      next_ = ctx.subtask_index;
      end_ = unbounded;
      step_ = ctx.parallelism;
    } else {
      next_ = count_ * ctx.subtask_index / ctx.parallelism;
      end_ = count_ * (ctx.subtask_index + 1) / ctx.parallelism;
      step_ = 1;
    }
    rate_ /= ctx.parallelism;
    start_ = std::chrono::steady_clock::now();
  }

  source_state poll(emitter<value_type>& out, size_t max_records) override {
    if (stopped_ || next_ >= end_) return source_state::done;
    auto n = static_cast<uint64_t>(max_records);
    if (rate_ > 0) {
      auto elapsed = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start_)
                         .count();
      auto allowed = static_cast<uint64_t>(elapsed * rate_);
      if (allowed <= emitted_) return source_state::idle;
      n = std::min(n, allowed - emitted_);
    }
    for (uint64_t i = 0; i < n && next_ < end_; ++i) {
      out.emit(make_(next_));
      next_ += step_;
      ++emitted_;
    }
    return next_ >= end_ ? source_state::done : source_state::more;
  }

  void request_stop() override { stopped_ = true; }

  /// One split: the index of the next record to make.
  std::vector<source_position> positions() const override {
    return {{"", static_cast<int64_t>(next_)}};
  }
  void restore(const std::vector<source_position>& p) override {
    for (auto& x : p)
      if (x.split.empty()) next_ = static_cast<uint64_t>(x.position);
  }

private:
  uint64_t count_;
  F make_;
  double rate_;
  uint64_t next_ = 0;
  uint64_t end_ = 0;
  uint64_t step_ = 1;
  uint64_t emitted_ = 0;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point start_;
};

/// A source of `count` records made by `T make(uint64_t index)`, at most
/// `rate` records per second over all subtasks (0: as fast as credit
/// allows).
template <class F>
auto generator(uint64_t count, F make, std::string name = "generator",
               double rate = 0) {
  using T = std::decay_t<std::invoke_result_t<F&, uint64_t>>;
  source_spec<T> spec;
  spec.name = std::move(name);
  spec.make = [count, make, rate](const connector_context&) {
    return std::make_unique<generator_function<F>>(count, make, rate);
  };
  return spec;
}

} // namespace flow

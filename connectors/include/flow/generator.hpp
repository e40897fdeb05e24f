#pragma once

#include "flow/connector.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace flow {

/// Record count of a generator that runs until the job is stopped.
inline constexpr uint64_t unbounded = std::numeric_limits<uint64_t>::max();

/// Emits `make(i)` for i in [0, count) (or forever with count =
/// flow::unbounded), cut into connector_context::max_parallelism numbered
/// splits, fixed whatever the parallelism: bounded, split k holds the
/// contiguous range [count * k / S, count * (k + 1) / S); unbounded, the
/// indexes i with i % S == k. Subtask j of p reads the splits k with
/// k % p == j: bounded one after the other, in ascending order (so a
/// single subtask emits 0, 1, 2, ...), unbounded one record of each in
/// turn. Its positions are the next index of each split, so it can be
/// restored at any parallelism (see source_position).
template <class F>
class generator_function final
    : public source_function<std::decay_t<std::invoke_result_t<F&, uint64_t>>> {
public:
  using value_type = std::decay_t<std::invoke_result_t<F&, uint64_t>>;

  generator_function(uint64_t count, F make, double rate)
      : count_(count), make_(std::move(make)), rate_(rate) {}

  void open(const connector_context& ctx) override {
    splits_total_ = std::max<uint32_t>(1, ctx.max_parallelism);
    splits_.clear();
    for (uint32_t k = ctx.subtask_index; k < splits_total_;
         k += ctx.parallelism)
      splits_.push_back(split_at(k, first_of(k)));
    rate_ /= ctx.parallelism;
    start_ = std::chrono::steady_clock::now();
  }

  source_state poll(emitter<value_type>& out, size_t max_records) override {
    skip_exhausted();
    if (stopped_ || current_ >= splits_.size()) return source_state::done;
    auto n = static_cast<uint64_t>(max_records);
    if (rate_ > 0) {
      auto elapsed = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start_)
                         .count();
      auto allowed = static_cast<uint64_t>(elapsed * rate_);
      if (allowed <= emitted_) return source_state::idle;
      n = std::min(n, allowed - emitted_);
    }
    for (uint64_t i = 0; i < n && current_ < splits_.size(); ++i) {
      auto& s = splits_[current_];
      out.emit(make_(s.next));
      s.next += s.step;
      ++emitted_;
      if (count_ == unbounded) {
        if (++current_ == splits_.size()) current_ = 0;
      } else {
        skip_exhausted();
      }
    }
    return current_ >= splits_.size() ? source_state::done : source_state::more;
  }

  void request_stop() override { stopped_ = true; }

  /// Per split ("k"): the index of the next record to make.
  std::vector<source_position> positions() const override {
    std::vector<source_position> out;
    out.reserve(splits_.size());
    for (auto& s : splits_)
      out.push_back({std::to_string(s.id), static_cast<int64_t>(s.next)});
    return out;
  }

  /// Takes exactly the splits in `p`; throws std::invalid_argument for a
  /// split that is not one of this generator's.
  void restore(const std::vector<source_position>& p) override {
    std::vector<split> restored;
    for (auto& x : p) {
      uint32_t k = 0;
      bool numbered = !x.split.empty() && x.split.size() < 10;
      for (char c : x.split) {
        numbered = numbered && c >= '0' && c <= '9';
        if (numbered) k = k * 10 + static_cast<uint32_t>(c - '0');
      }
      if (!numbered || k >= splits_total_ || x.position < 0)
        throw std::invalid_argument(
            "generator: position of split '" + x.split + "' at " +
            std::to_string(x.position) + " is not one of its " +
            std::to_string(splits_total_) +
            " splits (flow.max-parallelism changed, or a checkpoint of "
            "another source?)");
      restored.push_back(split_at(k, static_cast<uint64_t>(x.position)));
    }
    std::sort(restored.begin(), restored.end(),
              [](const split& a, const split& b) { return a.id < b.id; });
    splits_ = std::move(restored);
    current_ = 0;
  }

private:
  struct split {
    uint32_t id;
    uint64_t next;
    uint64_t end;
    uint64_t step;
  };

  uint64_t first_of(uint32_t k) const {
    return count_ == unbounded ? k : range_bound(k);
  }
  uint64_t range_bound(uint32_t k) const {
    // count * k / S without overflow for counts up to 2^64 / 2^32.
    return static_cast<uint64_t>(static_cast<unsigned __int128>(count_) * k /
                                 splits_total_);
  }
  split split_at(uint32_t k, uint64_t next) const {
    if (count_ == unbounded) return {k, next, unbounded, splits_total_};
    return {k, next, range_bound(k + 1), 1};
  }
  /// Bounded: moves current_ past the splits that have nothing left.
  void skip_exhausted() {
    if (count_ == unbounded) return;
    while (current_ < splits_.size() &&
           splits_[current_].next >= splits_[current_].end)
      ++current_;
  }

  uint64_t count_;
  F make_;
  double rate_;
  uint32_t splits_total_ = 1;
  std::vector<split> splits_;
  size_t current_ = 0;
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

#pragma once

#include "flow/connector.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace flow {

/// A source emitting the given records; with parallelism p, subtask i
/// emits the records at positions i, i+p, ...
template <class T>
source_spec<T> from_collection(std::vector<T> records,
                               std::string name = "collection") {
  class fn final : public source_function<T> {
  public:
    explicit fn(std::shared_ptr<const std::vector<T>> xs)
        : xs_(std::move(xs)) {}
    void open(const connector_context& ctx) override {
      pos_ = ctx.subtask_index;
      step_ = ctx.parallelism;
    }
    source_state poll(emitter<T>& out, size_t max_records) override {
      for (size_t i = 0; i < max_records && pos_ < xs_->size(); ++i) {
        out.emit((*xs_)[pos_]);
        pos_ += step_;
      }
      return pos_ < xs_->size() ? source_state::more : source_state::done;
    }
    /// One split: the index of the next record.
    std::vector<source_position> positions() const override {
      return {{"", static_cast<int64_t>(pos_)}};
    }
    void restore(const std::vector<source_position>& p) override {
      for (auto& x : p)
        if (x.split.empty()) pos_ = static_cast<size_t>(x.position);
    }

  private:
    std::shared_ptr<const std::vector<T>> xs_;
    size_t pos_ = 0;
    size_t step_ = 1;
  };
  auto shared = std::make_shared<const std::vector<T>>(std::move(records));
  source_spec<T> spec;
  spec.name = std::move(name);
  spec.make = [shared](const connector_context&) {
    return std::make_unique<fn>(shared);
  };
  return spec;
}

/// Collects every record that reaches its sink, for tests and small jobs.
/// Thread-safe; the records are in arrival order per subtask only.
template <class T>
class collector {
public:
  collector() : state_(std::make_shared<state>()) {}

  /// A sink appending to this collector.
  sink_spec<T> sink(std::string name = "collect") const {
    class fn final : public sink_function<T> {
    public:
      explicit fn(std::shared_ptr<state> st) : st_(std::move(st)) {}
      void write(std::vector<T>& records) override {
        std::lock_guard<std::mutex> guard{st_->mtx};
        for (auto& x : records)
          st_->records.push_back(std::move(x));
      }

    private:
      std::shared_ptr<state> st_;
    };
    auto st = state_;
    sink_spec<T> spec;
    spec.name = std::move(name);
    spec.make = [st](const connector_context&) {
      return std::make_unique<fn>(st);
    };
    return spec;
  }

  std::vector<T> records() const {
    std::lock_guard<std::mutex> guard{state_->mtx};
    return state_->records;
  }

  size_t size() const {
    std::lock_guard<std::mutex> guard{state_->mtx};
    return state_->records.size();
  }

private:
  struct state {
    std::mutex mtx;
    std::vector<T> records;
  };
  std::shared_ptr<state> state_;
};

} // namespace flow

#pragma once

#include "flow/connector.hpp"
#include "flow/generator.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace flow {

/// A source emitting the given records: a generator (flow/generator.hpp)
/// over their indexes, so a single subtask emits them in order, several
/// share contiguous ranges of them, and it restores at any parallelism.
template <class T>
source_spec<T> from_collection(std::vector<T> records,
                               std::string name = "collection") {
  auto shared = std::make_shared<const std::vector<T>>(std::move(records));
  auto n = static_cast<uint64_t>(shared->size());
  return generator(
      n, [shared](uint64_t i) { return (*shared)[static_cast<size_t>(i)]; },
      std::move(name));
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

// The job the system tests run on several processes:
//   numbers -> square (map) -> key_by(x % 1000) -> count -> key_by -> sink
// The sink prints one line per key with its final count ("key K\tcount"),
// so outputs of different runs can be compared.
//
// Test knobs (environment, so that every node builds the same topology
// unless told otherwise):
//   FLOW_TEST_RECORDS    records to generate (default 200000; 0: unbounded)
//   FLOW_TEST_RATE       records/s of the generator (default: unlimited)
//   FLOW_TEST_SINK_US    microseconds the sink sleeps per batch (default 0)
//   FLOW_TEST_VARIANT    1: a different topology (fingerprint mismatch test)
#include "flow/files.hpp"
#include "flow/generator.hpp"
#include "flow/run.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace {

uint64_t env(const char* name, uint64_t fallback) {
  auto v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

/// Keeps the last count per key and prints them at end of input.
class final_counts final
    : public flow::sink_function<std::pair<uint64_t, int64_t>> {
public:
  explicit final_counts(uint64_t sleep_us) : sleep_us_(sleep_us) {}
  void write(std::vector<std::pair<uint64_t, int64_t>>& xs) override {
    for (auto& [k, c] : xs)
      last_[k] = std::max(last_[k], c);
    if (sleep_us_ > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
  }
  void finish() override {
    static std::mutex mtx;
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& [k, c] : last_)
      std::cout << "key " << k << '\t' << c << '\n';
    std::cout.flush();
  }

private:
  uint64_t sleep_us_;
  std::map<uint64_t, int64_t> last_;
};

} // namespace

int main(int argc, char** argv) {
  auto records = env("FLOW_TEST_RECORDS", 200000);
  auto rate = static_cast<double>(env("FLOW_TEST_RATE", 0));
  auto sleep_us = env("FLOW_TEST_SINK_US", 0);
  auto variant = env("FLOW_TEST_VARIANT", 0);
  flow::topology t{"cluster-test"};
  auto squares = t.source(flow::generator(
                              records == 0 ? flow::unbounded : records,
                              [](uint64_t i) { return i; }, "numbers", rate))
                     .map([](uint64_t x) { return x * x; }, "square");
  if (variant == 1)
    squares = squares.filter([](uint64_t) { return true; }, "extra");
  squares.key_by([](uint64_t x) { return x % 1000; })
      .aggregate(flow::count(), "count")
      .key_by([](const std::pair<uint64_t, int64_t>& kv) { return kv.first; })
      .partitioned("by-key")
      .sink({"final-counts",
             [sleep_us](const flow::connector_context&) {
               return std::make_unique<final_counts>(sleep_us);
             },
             std::nullopt});
  return flow::run(t, argc, argv);
}

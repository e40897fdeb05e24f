#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

namespace flow::test {

/// The seed of this test run's random inputs, the same for every test of
/// the run: LIBFLOW_TEST_SEED if set (to replay a failed run), else taken
/// from the clock. Printed once to stderr, so every failing run's output
/// says how to replay it.
inline uint64_t test_seed() {
  static const uint64_t seed = [] {
    uint64_t chosen = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    if (const char* given = std::getenv("LIBFLOW_TEST_SEED"))
      chosen = std::stoull(given);
    std::cerr << "test seed " << chosen
              << " (replay with LIBFLOW_TEST_SEED=" << chosen << ")\n";
    return chosen;
  }();
  return seed;
}

/// A test's random inputs, drawn from a generator seeded with test_seed():
/// `rnd(lo, hi)` uniformly from [lo, hi], `rnd.next()` 64 bits (e.g. a
/// scheduler's seed).
class test_random {
public:
  test_random() : engine_(test_seed()) {}
  uint32_t operator()(uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>{lo, hi}(engine_);
  }
  uint64_t next() { return engine_(); }

private:
  std::mt19937_64 engine_;
};

} // namespace flow::test

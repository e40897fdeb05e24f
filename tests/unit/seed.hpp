#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
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

} // namespace flow::test

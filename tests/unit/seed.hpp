#pragma once

#include <chrono>
#include <cstdint>

namespace flow::test {

/// The seed of this test run's random inputs, the same for every test of
/// the run (tests log it with BOOST_TEST_MESSAGE so a failure can be
/// replayed).
inline uint64_t test_seed() {
  static uint64_t seed = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return seed;
}

} // namespace flow::test

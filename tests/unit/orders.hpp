#pragma once

// Orders and versioned customers, the records of the join tests
// (joins.cpp, join_bounds.cpp).

#include "flow/changelog.hpp"

#include <cstdint>
#include <optional>

namespace {

struct order {
  int64_t id;
  uint32_t customer;
  int64_t ts;
};

/// A customer version: tier from ts on; no tier: deleted (a tombstone).
struct customer {
  uint32_t id;
  int64_t ts;
  std::optional<int64_t> tier;
};

} // namespace

template <>
struct flow::changelog_traits<customer> {
  static bool is_delete(const customer& c) noexcept { return !c.tier; }
};

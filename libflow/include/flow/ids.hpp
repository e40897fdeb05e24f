#pragma once

#include <cstdint>
#include <functional>
#include <ostream>

namespace flow {

/// An integer identifier that does not mix with identifiers of another kind.
template <class Tag, class Rep = uint32_t>
class strong_id {
public:
  using rep = Rep;

  constexpr strong_id() noexcept = default;
  constexpr explicit strong_id(Rep value) noexcept : value_(value) {}

  constexpr Rep value() const noexcept { return value_; }

  friend constexpr bool operator==(strong_id a, strong_id b) noexcept {
    return a.value_ == b.value_;
  }
  friend constexpr bool operator!=(strong_id a, strong_id b) noexcept {
    return a.value_ != b.value_;
  }
  friend constexpr bool operator<(strong_id a, strong_id b) noexcept {
    return a.value_ < b.value_;
  }
  friend std::ostream& operator<<(std::ostream& os, strong_id x) {
    return os << x.value_;
  }

private:
  Rep value_ = 0;
};

/// Index of a logical operator in its topology.
using node_id = strong_id<struct node_id_tag>;
/// Index of a channel in a physical plan (one upstream -> downstream pair).
using channel_id = strong_id<struct channel_id_tag>;
/// Index of a subtask in a physical plan (unique across operators).
using subtask_id = strong_id<struct subtask_id_tag>;
/// Number of a checkpoint or savepoint of a job; grows by one per trigger
/// and keeps growing across restores.
using checkpoint_id = strong_id<struct checkpoint_id_tag, uint64_t>;

} // namespace flow

namespace std {
template <class Tag, class Rep>
struct hash<flow::strong_id<Tag, Rep>> {
  size_t operator()(flow::strong_id<Tag, Rep> x) const noexcept {
    return std::hash<Rep>{}(x.value());
  }
};
} // namespace std

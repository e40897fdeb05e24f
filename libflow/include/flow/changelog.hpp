#pragma once

#include <optional>
#include <utility>

namespace flow {

/// Changelog semantics of table records (join_table's table side): a
/// record for which is_delete() is true is a tombstone and removes its key
/// from the table. std::optional<V> deletes when empty, std::pair<K,
/// std::optional<V>> (a Kafka key and nullable value) when its value is;
/// flow::kafka::record when it has a null value. Specialize it for your own
/// table record types.
template <class B>
struct changelog_traits {
  static constexpr bool is_delete(const B&) noexcept { return false; }
};

template <class V>
struct changelog_traits<std::optional<V>> {
  static bool is_delete(const std::optional<V>& b) noexcept {
    return !b.has_value();
  }
};

template <class K, class V>
struct changelog_traits<std::pair<K, std::optional<V>>> {
  static bool is_delete(const std::pair<K, std::optional<V>>& b) noexcept {
    return !b.second.has_value();
  }
};

} // namespace flow

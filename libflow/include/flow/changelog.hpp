#pragma once

#include "flow/serde.hpp"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

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

/// One entry of a changelog with its time: `value` is the state of `key`
/// from `timestamp` (ms since the Unix epoch) on; no value deletes the key
/// (a tombstone). The table side of a versioned join needs the time of
/// each version, deletes included: a Kafka source of changelog_entry<K,
/// V> takes it from the record's timestamp.
template <class K, class V>
struct changelog_entry {
  K key{};
  std::optional<V> value;
  int64_t timestamp = 0;
};

template <class K, class V>
struct changelog_traits<changelog_entry<K, V>> {
  static bool is_delete(const changelog_entry<K, V>& e) noexcept {
    return !e.value.has_value();
  }
};

template <class K, class V>
struct serde<changelog_entry<K, V>,
             std::enable_if_t<serde<K>::available && serde<V>::available>> {
  static constexpr bool available = true;
  static void write(const changelog_entry<K, V>& x, std::vector<char>& out) {
    serde<K>::write(x.key, out);
    serde<std::optional<V>>::write(x.value, out);
    serde<int64_t>::write(x.timestamp, out);
  }
  static changelog_entry<K, V> read(const char*& pos, const char* end) {
    changelog_entry<K, V> x;
    x.key = serde<K>::read(pos, end);
    x.value = serde<std::optional<V>>::read(pos, end);
    x.timestamp = serde<int64_t>::read(pos, end);
    return x;
  }
};

} // namespace flow

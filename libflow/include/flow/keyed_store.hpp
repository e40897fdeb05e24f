#pragma once

#include "flow/key_groups.hpp"
#include "flow/serde.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flow {

namespace detail {

[[noreturn]] void throw_no_serde(const std::type_info& key,
                                 const std::type_info& value);

} // namespace detail

/// A value of type V per key, kept in the key group of the key: what every
/// keyed operator (reduce, aggregate, windows, joins, keyed process
/// functions) stores its state in. The caller passes the key group it
/// computed once per record (key_group_for); the lookup hashes the key
/// again, nothing else. Snapshots need flow::serde<K> and serde<V>.
template <class K, class V>
class keyed_store final : public key_group_state {
public:
  using map_type = std::unordered_map<K, V>;
  using iterator = typename map_type::iterator;

  explicit keyed_store(uint32_t key_groups) : groups_(key_groups) {}
  keyed_store(const keyed_store&) = delete;
  keyed_store& operator=(const keyed_store&) = delete;

  uint32_t key_groups() const noexcept {
    return static_cast<uint32_t>(groups_.size());
  }

  /// The value of `key` (in `key_group`), or null.
  V* find(uint32_t key_group, const K& key) {
    auto& g = groups_[key_group];
    auto i = g.find(key);
    return i == g.end() ? nullptr : &i->second;
  }

  /// The entry of `key`, made from `args` if there was none (then true).
  template <class Key, class... Args>
  std::pair<iterator, bool> try_emplace(uint32_t key_group, Key&& key,
                                        Args&&... args) {
    return groups_[key_group].try_emplace(std::forward<Key>(key),
                                          std::forward<Args>(args)...);
  }

  /// The value of `key`, value-initialized if there was none.
  V& get_or_create(uint32_t key_group, const K& key) {
    return groups_[key_group][key];
  }

  bool erase(uint32_t key_group, const K& key) {
    return groups_[key_group].erase(key) > 0;
  }

  /// Every key of `key_group` with its value.
  map_type& key_group(uint32_t key_group) { return groups_[key_group]; }
  const map_type& key_group(uint32_t key_group) const {
    return groups_[key_group];
  }

  /// Keys over all key groups.
  size_t size() const noexcept {
    size_t n = 0;
    for (auto& g : groups_)
      n += g.size();
    return n;
  }

  /// Calls f(key_group, key, value) for every entry, key group by key group.
  template <class F>
  void for_each(F&& f) {
    for (uint32_t kg = 0; kg < groups_.size(); ++kg)
      for (auto& [k, v] : groups_[kg])
        f(kg, k, v);
  }

  void set_key_groups(uint32_t n) override { groups_.resize(n); }

  bool empty(uint32_t key_group) const override {
    return groups_[key_group].empty();
  }

  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override {
    if constexpr (serde<map_type>::available)
      serde<map_type>::write(groups_[key_group], out);
    else
      detail::throw_no_serde(typeid(K), typeid(V));
  }

  void read_key_group(uint32_t key_group, const char*& pos,
                      const char* end) override {
    // key_group_states restores only empty key groups.
    if constexpr (serde<map_type>::available)
      groups_[key_group] = serde<map_type>::read(pos, end);
    else
      detail::throw_no_serde(typeid(K), typeid(V));
  }

private:
  std::vector<map_type> groups_;
};

} // namespace flow

#pragma once

#include "flow/key_groups.hpp"
#include "flow/serde.hpp"
#include "flow/state_map.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <unordered_set>
#include <utility>
#include <vector>

namespace flow {

namespace detail {

[[noreturn]] void throw_no_serde(const std::type_info& key,
                                 const std::type_info& value);
[[noreturn]] void throw_cannot_spill(const std::type_info& key,
                                     const std::type_info& value);

/// A spilled entry's key: the key group (4 bytes, big-endian, so that a
/// key group's entries are adjacent), then the key's serde bytes.
std::string spill_prefix(uint32_t key_group);

/// Entries per write to a spill_store when many are written at once (a
/// trim, a restore): the copies a write needs then stay small.
constexpr size_t spill_chunk = 4096;

/// The entries a spilling keyed_store caches in one key group, as serde
/// bytes (key, value, key, ...), and where each key's bytes are in them.
struct cached_entries {
  std::vector<char> bytes;
  std::vector<std::pair<size_t, size_t>> keys; // offset, length
};

/// A spilling keyed_store frozen for a snapshot: its cache's entries, and
/// a view of its store (null if nothing was ever written to it), whose
/// entries of keys the cache holds are out of date.
class frozen_spilled final : public frozen_key_groups {
public:
  frozen_spilled(std::unique_ptr<spill_view> view,
                 std::vector<cached_entries> groups)
      : view_(std::move(view)), groups_(std::move(groups)) {}
  bool empty(uint32_t key_group) const override;
  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override;
  /// A key group in keyed_store's snapshot format: the count, then the
  /// stored entries the cache does not override, then the cache's.
  static void write(const spill_view* view, uint32_t key_group,
                    const cached_entries& cached, std::vector<char>& out);

private:
  std::unique_ptr<spill_view> view_;
  std::vector<cached_entries> groups_;
};

/// The maps of an in-memory keyed_store's key groups as they were at a
/// snapshot (keyed_store::freeze). Each is serialized once, by whichever
/// side claims it first: the snapshot's writer, or the store just before
/// it changes the key group (then it takes the map back). The other side
/// waits meanwhile: one key group's serialization, never I/O.
template <class Map>
class lent_maps {
public:
  enum claim : uint8_t { unclaimed, writer_writing, store_writing, written };
  struct group {
    bool lent = false; // set before the snapshot leaves the subtask
    Map map;
    std::vector<char> bytes; // what the store wrote
    std::atomic<uint8_t> state{unclaimed};
  };

  explicit lent_maps(size_t key_groups)
      : groups_(std::make_unique<group[]>(key_groups)) {}

  group& operator[](uint32_t key_group) noexcept { return groups_[key_group]; }

  /// Returns once `g` is written: by `serialize`, claimed as `side` (then
  /// true), or by the other side (false). If `serialize` throws, the key
  /// group is left unclaimed, for either side to write.
  template <class F>
  static bool write_once(group& g, claim side, F&& serialize) {
    for (;;) {
      uint8_t seen = unclaimed;
      if (g.state.compare_exchange_weak(seen, side,
                                        std::memory_order_acquire)) {
        try {
          serialize();
        } catch (...) {
          g.state.store(unclaimed, std::memory_order_release);
          throw;
        }
        g.state.store(written, std::memory_order_release);
        return true;
      }
      if (seen == written) return false;
      std::this_thread::yield();
    }
  }

  /// The writer's side: appends the map as it was at the snapshot. Once:
  /// what the store wrote is handed over, not kept.
  void write(uint32_t key_group, std::vector<char>& out) {
    static const Map none;
    auto& g = groups_[key_group];
    if (!g.lent) return serde<Map>::write(none, out);
    if (write_once(g, writer_writing, [&] { serde<Map>::write(g.map, out); }))
      return;
    if (out.empty())
      out.swap(g.bytes);
    else
      out.insert(out.end(), g.bytes.begin(), g.bytes.end());
    std::vector<char>().swap(g.bytes);
  }

private:
  std::unique_ptr<group[]> groups_;
};

/// A snapshot's part of an in-memory keyed_store (keyed_store::freeze).
template <class Map>
class frozen_maps final : public frozen_key_groups {
public:
  explicit frozen_maps(std::shared_ptr<lent_maps<Map>> maps)
      : maps_(std::move(maps)) {}
  bool empty(uint32_t key_group) const override {
    return !(*maps_)[key_group].lent;
  }
  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override {
    maps_->write(key_group, out);
  }

private:
  std::shared_ptr<lent_maps<Map>> maps_;
};

} // namespace detail

/// A keyed_store<K, V> whatever its V: what a keyed process function
/// keeps of its state members (their values differ) to snapshot them and
/// to load a batch's keys into each.
template <class K>
class keyed_state_part : public key_group_state {
public:
  /// Whether the store may hold spilled entries: only then is a load()
  /// worth the keys it needs.
  virtual bool spilled_any() const noexcept = 0;
  /// See keyed_store::load.
  virtual void load(const std::vector<std::pair<uint32_t, K>>& keys) = 0;
};

/// A value of type V per key, kept in the key group of the key: what every
/// keyed operator (reduce, aggregate, windows, joins, keyed process
/// functions) stores its state in. The caller passes the key group it
/// computed once per record (key_group_for); the lookup hashes the key
/// again, nothing else. Snapshots need flow::serde<K> and serde<V>.
///
/// Spilling (spill_to, flow.state-backend = rocksdb): the maps then are a
/// cache in front of a spill_store holding the serde bytes of K and V
/// (serde<K> must give equal keys equal bytes). A lookup that misses the
/// cache reads the store and caches what it found; trim() writes every
/// cached entry back and empties the cache once it holds more than
/// cache_entries. Values are written back whether changed or not: find()
/// hands out mutable pointers. An operator that knows the keys of a batch
/// calls load() with them first: one read of the store for all of them,
/// instead of one per record that misses the cache. Snapshots and restores
/// have the same bytes in both modes.
///
/// A checkpoint freezes the store (freeze) and the snapshot is written
/// later, off the subtask's thread (key_group_states::snapshot). In memory,
/// each key group's map is lent to the snapshot as it is (detail::
/// lent_maps). The first time the store touches a key group the snapshot
/// has not written yet, it writes that key group's part of the snapshot
/// itself and takes the map back (if the writer is writing it right then,
/// it waits for it). So the subtask's thread serializes at most what the
/// snapshot used to serialize at once, only for the key groups it touches
/// before the writer gets to them, and nothing is copied. Spilling, the
/// cache's entries are copied and a view of the store taken.
template <class K, class V>
class keyed_store final : public keyed_state_part<K> {
public:
  using map_type = state_map<K, V>;
  using iterator = typename map_type::iterator;

  explicit keyed_store(uint32_t key_groups) : groups_(key_groups) {}
  keyed_store(const keyed_store&) = delete;
  keyed_store& operator=(const keyed_store&) = delete;

  uint32_t key_groups() const noexcept {
    return static_cast<uint32_t>(groups_.size());
  }

  /// Whether the spill_store may hold entries (something was written to
  /// it): only then do lookups that miss the cache read it.
  bool spilled_any() const noexcept override { return written_; }

  /// Spilling: caches the stored entries of `keys` (key group, key) that
  /// the cache lacks, with one read of the store; until the next load() or
  /// write to the store, find() and try_emplace() know the others are not
  /// stored without asking it. In memory: nothing to do.
  void load(const std::vector<std::pair<uint32_t, K>>& keys) override {
    if constexpr (spillable) {
      if (!written_) return;
      absent_.clear();
      std::vector<std::pair<std::string, const std::pair<uint32_t, K>*>> wanted;
      wanted.reserve(keys.size());
      for (auto& k : keys)
        if (group(k.first).count(k.second) == 0)
          wanted.emplace_back(spill_key(k.first, k.second), &k);
      std::sort(wanted.begin(), wanted.end(),
                [](auto& a, auto& b) { return a.first < b.first; });
      wanted.erase(
          std::unique(wanted.begin(), wanted.end(),
                      [](auto& a, auto& b) { return a.first == b.first; }),
          wanted.end());
      if (wanted.empty()) return;
      std::vector<std::string_view> sorted;
      sorted.reserve(wanted.size());
      for (auto& w : wanted)
        sorted.emplace_back(w.first);
      std::vector<bool> found(wanted.size(), false);
      spill_->get_sorted(sorted, [&](size_t i, std::string_view v) {
        found[i] = true;
        auto& [kg, key] = *wanted[i].second;
        const char* pos = v.data();
        group(kg).emplace(key, serde<V>::read(pos, v.data() + v.size()));
      });
      for (size_t i = 0; i < wanted.size(); ++i)
        if (!found[i]) absent_.insert(wanted[i].second->second);
    }
  }

  /// The value of `key` (in `key_group`), or null; valid until the next
  /// insertion into this store (state_map) or trim().
  V* find(uint32_t key_group, const K& key) {
    auto& g = group(key_group);
    auto i = g.find(key);
    if (i != g.end()) return &i->second;
    if constexpr (spillable)
      if (spill_) {
        i = load_one(key_group, key);
        if (i != g.end()) return &i->second;
      }
    return nullptr;
  }

  /// The entry of `key`, made from `args` if there was none (then true).
  template <class Key, class... Args>
  std::pair<iterator, bool> try_emplace(uint32_t key_group, Key&& key,
                                        Args&&... args) {
    auto& g = group(key_group);
    if constexpr (spillable)
      if (spill_) {
        auto i = g.find(key);
        if (i == g.end()) i = load_one(key_group, key);
        if (i != g.end()) return {i, false};
      }
    return g.try_emplace(std::forward<Key>(key), std::forward<Args>(args)...);
  }

  /// Adds `key`, which find() just did not find (no trim() since): unlike
  /// try_emplace, a spilling store does not look for it again.
  template <class Key, class... Args>
  V& insert_absent(uint32_t key_group, Key&& key, Args&&... args) {
    return group(key_group)
        .try_emplace(std::forward<Key>(key), std::forward<Args>(args)...)
        .first->second;
  }

  /// The value of `key`, value-initialized if there was none.
  V& get_or_create(uint32_t key_group, const K& key) {
    if (auto v = find(key_group, key)) return *v;
    return group(key_group)[key];
  }

  bool erase(uint32_t key_group, const K& key) {
    bool erased = group(key_group).erase(key) > 0;
    if constexpr (spillable)
      if (spill_) {
        auto k = spill_key(key_group, key);
        if (!erased) erased = spill_->get(k, scratch_);
        spill_->erase(k);
      }
    return erased;
  }

  /// Every key of `key_group` with its value. Not while spilling (changes
  /// through it would not reach the store): std::logic_error.
  map_type& key_group(uint32_t key_group) {
    if (spill_)
      throw std::logic_error("keyed_store::key_group: a spilling store "
                             "cannot hand out a key group to change");
    return group(key_group);
  }
  /// Every key of `key_group` with its value; spilling: loads the key
  /// group's spilled entries into the cache first.
  const map_type& key_group(uint32_t key_group) const {
    load_group(key_group);
    return group(key_group);
  }

  /// Keys over all key groups (spilling: reads every spilled key).
  size_t size() const {
    size_t n = 0;
    for (uint32_t kg = 0; kg < groups_.size(); ++kg) {
      n += lent(kg) ? (*lent_to_)[kg].map.size() : groups_[kg].size();
      if constexpr (spillable)
        if (spill_)
          scan_spilled(
              kg, [&](const char*, const char*, std::string_view) { ++n; });
    }
    return n;
  }

  /// Calls f(key_group, key, value) for every entry, key group by key group
  /// (spilling: each key group loaded into the cache first).
  template <class F>
  void for_each(F&& f) {
    for (uint32_t kg = 0; kg < groups_.size(); ++kg) {
      load_group(kg);
      for (auto& [k, v] : group(kg))
        f(kg, k, v);
    }
  }

  void set_key_groups(uint32_t n) override {
    take_all_back();
    groups_.resize(n);
  }

  bool empty(uint32_t key_group) const override {
    if (lent(key_group) || !groups_[key_group].empty()) return false;
    return !spill_ || !spill_->any(detail::spill_prefix(key_group));
  }

  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override {
    if constexpr (spillable) {
      if (!spill_)
        serde<map_type>::write(group(key_group), out);
      else
        detail::frozen_spilled::write(written_ ? spill_->view().get() : nullptr,
                                      key_group, cached(key_group), out);
    } else {
      detail::throw_no_serde(typeid(K), typeid(V));
    }
  }

  [[nodiscard]] std::unique_ptr<frozen_key_groups> freeze() const override {
    if constexpr (spillable) {
      if (!spill_) return lend();
      std::vector<detail::cached_entries> groups;
      groups.reserve(groups_.size());
      for (uint32_t kg = 0; kg < groups_.size(); ++kg)
        groups.push_back(cached(kg));
      return std::make_unique<detail::frozen_spilled>(
          written_ ? spill_->view() : nullptr, std::move(groups));
    } else {
      return nullptr;
    }
  }

  void read_key_group(uint32_t key_group, const char*& pos,
                      const char* end) override {
    // key_group_states restores only empty key groups.
    if constexpr (spillable) {
      if (!spill_) {
        group(key_group) = serde<map_type>::read(pos, end);
        return;
      }
      // Straight into the store: a restored key group may exceed memory.
      auto n = detail::read_varint(pos, end);
      spill_batch batch;
      auto prefix = detail::spill_prefix(key_group);
      for (uint64_t i = 0; i < n; ++i) {
        auto key = pos;
        serde<K>::read(pos, end);
        auto value = pos;
        serde<V>::read(pos, end);
        put_chunked(batch, prefix + std::string(key, value),
                    std::string(value, pos));
      }
      if (!batch.empty()) write_spilled(batch);
    } else {
      detail::throw_no_serde(typeid(K), typeid(V));
    }
  }

  void spill_to(std::unique_ptr<spill_store> store,
                size_t cache_entries) override {
    if constexpr (spillable) {
      take_all_back();
      spill_ = std::move(store);
      cache_entries_ = cache_entries;
    } else {
      detail::throw_cannot_spill(typeid(K), typeid(V));
    }
  }

  void trim() override {
    if constexpr (spillable) {
      if (!spill_) return;
      size_t n = 0;
      for (auto& g : groups_)
        n += g.size();
      if (n <= cache_entries_) return;
      // In chunks, each key group emptied once written: the serialized
      // copies stay small and the cache shrinks as they are written.
      spill_batch batch;
      std::vector<char> bytes;
      for (uint32_t kg = 0; kg < groups_.size(); ++kg) {
        for (auto& [k, v] : groups_[kg]) {
          bytes.clear();
          serde<V>::write(v, bytes);
          put_chunked(batch, spill_key(kg, k),
                      std::string(bytes.begin(), bytes.end()));
        }
        groups_[kg].clear();
      }
      if (!batch.empty()) write_spilled(batch);
    }
  }

private:
  static constexpr bool spillable = serde<K>::available && serde<V>::available;
  /// The map of `key_group`, taken back from a snapshot first.
  map_type& group(uint32_t key_group) const {
    if (lent_count_ != 0) take_back(key_group);
    return groups_[key_group];
  }

  bool lent(uint32_t key_group) const noexcept {
    return lent_count_ != 0 && lent_[key_group];
  }

  /// In memory: lends every key group that holds any to a snapshot (after
  /// taking back those an earlier one still holds).
  std::unique_ptr<frozen_key_groups> lend() const {
    if constexpr (spillable) {
      take_all_back();
      auto maps = std::make_shared<detail::lent_maps<map_type>>(groups_.size());
      lent_.assign(groups_.size(), false);
      for (uint32_t kg = 0; kg < groups_.size(); ++kg) {
        if (groups_[kg].empty()) continue;
        auto& g = (*maps)[kg];
        g.lent = true;
        g.map = std::move(groups_[kg]);
        groups_[kg] = map_type{};
        lent_[kg] = true;
        ++lent_count_;
      }
      if (lent_count_ != 0) lent_to_ = maps;
      return std::make_unique<detail::frozen_maps<map_type>>(std::move(maps));
    } else {
      return nullptr;
    }
  }

  // Out of line: the lookups that inline group() stay small.
  [[gnu::noinline]] void take_back(uint32_t key_group) const {
    if constexpr (spillable) {
      if (!lent_[key_group]) return;
      using maps = detail::lent_maps<map_type>;
      auto& g = (*lent_to_)[key_group];
      if (lent_to_.use_count() == 1) {
        // The snapshot is gone (written or dropped): nothing to write. Its
        // release of the maps, on the writer's thread, is ordered before
        // the changes to come.
        std::atomic_thread_fence(std::memory_order_acquire);
      } else {
        maps::write_once(g, maps::store_writing, [&] {
          try {
            serde<map_type>::write(g.map, g.bytes);
          } catch (...) {
            g.bytes.clear();
            throw;
          }
        });
      }
      groups_[key_group] = std::move(g.map);
      lent_[key_group] = false;
      if (--lent_count_ == 0) lent_to_.reset();
    }
  }

  /// Takes back every key group a snapshot holds.
  void take_all_back() const {
    for (uint32_t kg = 0; lent_count_ != 0 && kg < groups_.size(); ++kg)
      take_back(kg);
  }

  detail::cached_entries cached(uint32_t key_group) const {
    detail::cached_entries c;
    c.keys.reserve(groups_[key_group].size());
    for (auto& [k, v] : groups_[key_group]) {
      auto at = c.bytes.size();
      serde<K>::write(k, c.bytes);
      c.keys.emplace_back(at, c.bytes.size() - at);
      serde<V>::write(v, c.bytes);
    }
    return c;
  }

  std::string spill_key(uint32_t key_group, const K& key) const {
    std::vector<char> bytes;
    serde<K>::write(key, bytes);
    auto k = detail::spill_prefix(key_group);
    k.append(bytes.begin(), bytes.end());
    return k;
  }

  /// Caches the spilled entry of `key`; end() if there is none.
  iterator load_one(uint32_t key_group, const K& key) {
    auto& g = groups_[key_group];
    if (!written_ || absent_.count(key) != 0) return g.end();
    if (!spill_->get(spill_key(key_group, key), scratch_)) return g.end();
    const char* pos = scratch_.data();
    return g.emplace(key, serde<V>::read(pos, pos + scratch_.size())).first;
  }

  void write_spilled(const spill_batch& batch) {
    absent_.clear(); // what load() did not find may be stored now
    written_ = true;
    spill_->write(batch);
  }

  /// Adds an entry to `batch`, writing the batch once it holds spill_chunk
  /// entries; the caller writes what is left.
  void put_chunked(spill_batch& batch, std::string key, std::string value) {
    batch.puts.emplace_back(std::move(key), std::move(value));
    if (batch.puts.size() < detail::spill_chunk) return;
    write_spilled(batch);
    batch.puts.clear();
  }

  /// Calls f(key bytes, their end, value bytes) for every spilled entry of
  /// `key_group` that the cache does not hold.
  template <class F>
  void scan_spilled(uint32_t key_group, F&& f) const {
    auto& g = groups_[key_group];
    spill_->scan(detail::spill_prefix(key_group),
                 [&](std::string_view k, std::string_view v) {
                   const char* key = k.data() + 4;
                   const char* key_end = k.data() + k.size();
                   const char* pos = key;
                   if (g.count(serde<K>::read(pos, key_end)) == 0)
                     f(key, key_end, v);
                 });
  }

  /// Spilling: caches every spilled entry of `key_group`.
  void load_group(uint32_t key_group) const {
    if constexpr (spillable)
      if (spill_) {
        auto& g = groups_[key_group];
        scan_spilled(key_group, [&](const char* key, const char* key_end,
                                    std::string_view v) {
          const char* pos = v.data();
          auto value = serde<V>::read(pos, v.data() + v.size());
          g.emplace(serde<K>::read(key, key_end), std::move(value));
        });
      }
  }

  // Mutable: a spilling store's maps are a cache, filled by const reads;
  // an in-memory store's are lent by const freeze().
  mutable std::vector<map_type> groups_;
  // In memory: the maps lent to the last snapshot, which key groups it
  // holds still (not taken back), and how many.
  mutable std::shared_ptr<detail::lent_maps<map_type>> lent_to_;
  mutable std::vector<bool> lent_;
  mutable size_t lent_count_ = 0;
  std::unique_ptr<spill_store> spill_;
  size_t cache_entries_ = 0;
  std::string scratch_;
  // Keys the last load() did not find in the store (nor the cache).
  std::unordered_set<K> absent_;
  bool written_ = false; // to the spill store, ever
};

} // namespace flow

#include "flow/key_groups.hpp"

#include "flow/keyed_store.hpp"
#include "flow/serde.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>

namespace flow {

key_group_state::~key_group_state() = default;

frozen_key_groups::~frozen_key_groups() = default;

spill_view::~spill_view() = default;

void key_group_state::spill_to(std::unique_ptr<spill_store>, size_t) {
  throw std::logic_error("this keyed state cannot spill");
}

spill_store::~spill_store() = default;

state_backend::~state_backend() = default;

bool detail::frozen_spilled::empty(uint32_t key_group) const {
  return groups_[key_group].keys.empty() &&
         !(view_ && view_->any(spill_prefix(key_group)));
}

void detail::frozen_spilled::write_key_group(uint32_t key_group,
                                             std::vector<char>& out) const {
  write(view_.get(), key_group, groups_[key_group], out);
}

void detail::frozen_spilled::write(const spill_view* view, uint32_t key_group,
                                   const cached_entries& cached,
                                   std::vector<char>& out) {
  // serde<K> gives equal keys equal bytes: a stored key is cached if its
  // bytes are.
  std::unordered_set<std::string_view> in_cache;
  in_cache.reserve(cached.keys.size());
  for (auto [at, length] : cached.keys)
    in_cache.emplace(cached.bytes.data() + at, length);
  uint64_t n = cached.keys.size();
  std::vector<char> stored;
  if (view)
    view->scan(spill_prefix(key_group),
               [&](std::string_view k, std::string_view value) {
                 auto key = k.substr(4); // after the key group
                 if (in_cache.count(key) != 0) return;
                 stored.insert(stored.end(), key.begin(), key.end());
                 stored.insert(stored.end(), value.begin(), value.end());
                 ++n;
               });
  write_varint(n, out);
  out.insert(out.end(), stored.begin(), stored.end());
  out.insert(out.end(), cached.bytes.begin(), cached.bytes.end());
}

void key_group_states::add_spilling(key_group_state& part) {
  if (backend_) {
    part.spill_to(backend_->open(owner_ + "." + std::to_string(parts_.size())),
                  backend_->cache_entries());
    spilling_.push_back(&part);
  }
  parts_.push_back(&part);
}

void key_group_states::trim() {
  for (auto p : spilling_)
    p->trim();
}

void detail::throw_no_serde(const std::type_info& key,
                            const std::type_info& value) {
  throw std::logic_error(
      std::string("keyed state cannot be snapshotted: specialize "
                  "flow::serde for its key (") +
      key.name() + ") and value (" + value.name() + ")");
}

void detail::throw_cannot_spill(const std::type_info& key,
                                const std::type_info& value) {
  throw std::logic_error(
      std::string("keyed state cannot spill (flow.state-backend = rocksdb): "
                  "specialize flow::serde for its key (") +
      key.name() + ") and value (" + value.name() + ")");
}

std::string detail::spill_prefix(uint32_t key_group) {
  return {static_cast<char>(key_group >> 24),
          static_cast<char>(key_group >> 16), static_cast<char>(key_group >> 8),
          static_cast<char>(key_group)};
}

namespace {

/// Appends every key group that holds any with the entries of each part,
/// in the parts' order (key_group_state or frozen_key_groups).
template <class Parts>
void write_key_groups(uint32_t key_groups, const Parts& parts,
                      std::vector<key_group_snapshot>& out) {
  for (uint32_t kg = 0; kg < key_groups; ++kg) {
    bool any = false;
    for (auto& p : parts)
      any = any || !p->empty(kg);
    if (!any) continue;
    key_group_snapshot s;
    s.key_group = kg;
    for (auto& p : parts)
      p->write_key_group(kg, s.bytes);
    out.push_back(std::move(s));
  }
}

/// A part in memory, written at the snapshot: each key group, also those
/// it holds nothing of (another part may).
class written_key_groups final : public frozen_key_groups {
public:
  written_key_groups(const key_group_state& part, uint32_t key_groups)
      : bytes_(key_groups), empty_(key_groups) {
    for (uint32_t kg = 0; kg < key_groups; ++kg) {
      empty_[kg] = part.empty(kg);
      part.write_key_group(kg, bytes_[kg]);
    }
  }
  bool empty(uint32_t key_group) const override { return empty_[key_group]; }
  void write_key_group(uint32_t key_group,
                       std::vector<char>& out) const override {
    auto& bytes = bytes_[key_group];
    out.insert(out.end(), bytes.begin(), bytes.end());
  }

private:
  std::vector<std::vector<char>> bytes_;
  std::vector<bool> empty_;
};

} // namespace

deferred_key_groups
key_group_states::snapshot(std::vector<key_group_snapshot>& out) const {
  std::vector<std::unique_ptr<frozen_key_groups>> frozen;
  bool deferred = false;
  for (auto p : parts_) {
    frozen.push_back(p->freeze());
    deferred = deferred || frozen.back();
  }
  if (!deferred) {
    write_key_groups(key_groups_, parts_, out);
    return nullptr;
  }
  for (size_t i = 0; i < parts_.size(); ++i)
    if (!frozen[i])
      frozen[i] = std::make_unique<written_key_groups>(*parts_[i], key_groups_);
  // Once: a part in memory hands over what its store wrote for it.
  return [frozen = std::make_shared<decltype(frozen)>(std::move(frozen)),
          written = std::make_shared<std::atomic<bool>>(false),
          n = key_groups_](std::vector<key_group_snapshot>& out) {
    if (written->exchange(true))
      throw std::logic_error("a snapshot's key groups are written once");
    write_key_groups(n, *frozen, out);
  };
}

void key_group_states::restore(const std::vector<key_group_snapshot>& groups) {
  for (auto& s : groups) {
    auto kg = s.key_group;
    if (kg >= key_groups_)
      throw std::invalid_argument(
          "key group " + std::to_string(kg) + " restored into an operator of " +
          std::to_string(key_groups_) + " key groups (flow.max-parallelism)");
    for (auto p : parts_)
      if (!p->empty(kg))
        throw std::invalid_argument("key group " + std::to_string(kg) +
                                    " restored twice");
    const char* pos = s.bytes.data();
    const char* end = pos + s.bytes.size();
    for (auto p : parts_)
      p->read_key_group(kg, pos, end);
    if (pos != end)
      throw serde_error("key group " + std::to_string(kg) + ": " +
                        std::to_string(end - pos) + " bytes left unread");
  }
}

} // namespace flow

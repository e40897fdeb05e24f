#include "flow/key_groups.hpp"

#include "flow/keyed_store.hpp"
#include "flow/serde.hpp"

#include <stdexcept>
#include <string>

namespace flow {

key_group_state::~key_group_state() = default;

void key_group_state::spill_to(std::unique_ptr<spill_store>, size_t) {
  throw std::logic_error("this keyed state cannot spill");
}

spill_store::~spill_store() = default;

state_backend::~state_backend() = default;

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

void key_group_states::snapshot(std::vector<key_group_snapshot>& out) const {
  for (uint32_t kg = 0; kg < key_groups_; ++kg) {
    bool any = false;
    for (auto p : parts_)
      any = any || !p->empty(kg);
    if (!any) continue;
    key_group_snapshot s;
    s.key_group = kg;
    for (auto p : parts_)
      p->write_key_group(kg, s.bytes);
    out.push_back(std::move(s));
  }
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

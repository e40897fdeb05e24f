#include "flow/partitioning.hpp"

namespace flow {

record_hasher::~record_hasher() = default;

std::string to_string(partitioning p) {
  switch (p) {
  case partitioning::forward:
    return "forward";
  case partitioning::hash:
    return "hash";
  case partitioning::rebalance:
    return "rebalance";
  case partitioning::broadcast:
    return "broadcast";
  }
  return "?";
}

uint64_t mix_hash(uint64_t h) noexcept {
  // splitmix64 finalizer
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint32_t key_group_of(uint64_t key_hash, uint32_t max_parallelism) noexcept {
  return static_cast<uint32_t>(mix_hash(key_hash) % max_parallelism);
}

uint32_t subtask_of_key_group(uint32_t key_group, uint32_t max_parallelism,
                              uint32_t parallelism) noexcept {
  return static_cast<uint32_t>(uint64_t{key_group} * parallelism /
                               max_parallelism);
}

} // namespace flow

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow {

/// How records of an edge are spread over the downstream subtasks.
enum class partitioning {
  /// Upstream subtask i feeds downstream subtask i (equal parallelism).
  forward,
  /// By key: every record with the same key reaches the same subtask.
  hash,
  /// Round-robin over all downstream subtasks.
  rebalance,
  /// Every record to every downstream subtask.
  broadcast,
};

std::string to_string(partitioning p);

/// Maps a key hash to its key group, in [0, max_parallelism).
uint32_t key_group_of(uint64_t key_hash, uint32_t max_parallelism) noexcept;

/// Maps a key group to the subtask that owns it (Flink's formula, so key
/// groups move in contiguous ranges when parallelism changes).
uint32_t subtask_of_key_group(uint32_t key_group, uint32_t max_parallelism,
                              uint32_t parallelism) noexcept;

/// Finalizer of a 64-bit hash, so that std::hash of integers (the identity
/// on libstdc++) still spreads well over key groups.
uint64_t mix_hash(uint64_t h) noexcept;

/// The key hash function of a hash-partitioned edge carrying records of T.
template <class T>
using key_hasher = std::function<uint64_t(const T&)>;

/// One outgoing edge of a subtask as the plan lays it out: how to
/// partition and which output slots (ordered by downstream subtask index)
/// it may write to. `hasher` points to a key_hasher<T> for hash edges.
struct out_edge_layout {
  partitioning kind = partitioning::forward;
  std::shared_ptr<const void> hasher;
  std::vector<size_t> slots;
  uint32_t max_parallelism = 128;
};

} // namespace flow

#pragma once

#include "flow/defaults.hpp"
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
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

/// The key hash of the records of a hash-partitioned edge, with their type
/// erased so that the untyped graph and plan can carry it; the router of
/// the sending subtask gets the typed key_hasher<T> back with hasher_for.
class record_hasher {
public:
  virtual ~record_hasher();
  /// The type of the records it hashes.
  virtual const std::type_info& record_type() const noexcept = 0;
};

/// Hashes a record of type T by its key (std::hash of the key).
template <class T>
class key_hasher final : public record_hasher {
public:
  using function = std::function<uint64_t(const T&)>;
  explicit key_hasher(function f) : f_(std::move(f)) {}
  uint64_t operator()(const T& x) const { return f_(x); }
  const function& hash() const noexcept { return f_; }
  const std::type_info& record_type() const noexcept override {
    return typeid(T);
  }

private:
  function f_;
};

/// `h` as the hasher of records of type T; throws std::logic_error naming
/// both types if it hashes another type.
template <class T>
const key_hasher<T>& hasher_for(const record_hasher& h) {
  if (auto typed = dynamic_cast<const key_hasher<T>*>(&h)) return *typed;
  throw std::logic_error(std::string("hash edge of records of type ") +
                         typeid(T).name() + " has a hasher of " +
                         h.record_type().name());
}

/// One outgoing edge of a subtask as the plan lays it out: how to
/// partition and which output slots (ordered by downstream subtask index)
/// it may write to; the key hasher of hash edges.
struct out_edge_layout {
  partitioning kind = partitioning::forward;
  std::shared_ptr<const record_hasher> hasher;
  std::vector<size_t> slots;
  uint32_t max_parallelism = default_max_parallelism;
};

} // namespace flow

#pragma once

// The hash map that keyed state keeps a key group's entries in.

#include "flow/serde.hpp"

#include <absl/container/flat_hash_map.h>

#include <type_traits>

namespace flow {

/// A key group's entries: Abseil's flat_hash_map (a Swiss table). A
/// lookup reads the table's group of control bytes and the slot it
/// matches, where std::unordered_map reads the bucket array, the node
/// before the bucket's first and the nodes of its chain: over 10^5 keys
/// one or two cache misses fewer per record (W2's profile in
/// bench/RESULTS.md). Entries move when an insertion grows the table:
/// a pointer into it is valid until the next insertion. Its iteration
/// order differs between processes: nothing may depend on it.
template <class K, class V>
using state_map = absl::flat_hash_map<K, V>;

template <class K, class V>
struct serde<state_map<K, V>,
             std::enable_if_t<serde<K>::available && serde<V>::available>>
    : detail::map_serde<state_map<K, V>, K, V> {};

} // namespace flow

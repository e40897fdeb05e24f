#pragma once

// The rocksdb state backend (flow.state-backend = rocksdb): one embedded
// RocksDB per spilling keyed state, in a scratch directory of the process
// run under flow.state-dir, sharing one block cache and one write buffer
// budget (half of flow.state-memory each; the tables' bloom filters and
// indexes, partitioned, are in the block cache, within the budget). Writes
// skip RocksDB's write-ahead log:
// after a crash the job restores from its checkpoint, never from these
// files, which are removed when their stores close; directories of runs
// whose process died are removed by the next run's backend.

#include "flow/state_backend.hpp"

#include <memory>

namespace flow {

/// The backend `o` asks for; null for flow.state-backend = memory. Creates
/// no file until its first store opens; a store that cannot be created
/// throws config_failure naming flow.state-dir.
std::shared_ptr<state_backend> make_state_backend(const state_options& o);

} // namespace flow

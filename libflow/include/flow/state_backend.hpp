#pragma once

// Where keyed state lives (flow.state-backend): in memory (the default), or
// spilled to an embedded key-value store on local disk (rocksdb), so that
// a subtask's keyed state may exceed its memory. Only the interfaces are
// here; libflow/rocksdb implements them (flow/rocksdb_state.hpp). The
// local store is scratch space: what survives a crash is the checkpoint,
// which holds the same bytes whichever backend wrote it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flow {

/// The flow.state-* options. The member initializers are their defaults,
/// which libflow/src/job_options.cpp declares.
struct state_options {
  /// flow.state-backend: "memory" or "rocksdb".
  std::string backend = "memory";
  /// flow.state-dir: the parent directory of the rocksdb backend's local
  /// stores (one directory per process run, removed when it ends); empty:
  /// the system's temporary directory.
  std::string dir;
  /// flow.state-cache-entries: keys a spilling keyed state of one subtask
  /// keeps decoded in memory; beyond that, between two input batches, it
  /// writes them all to its store and starts over.
  size_t cache_entries = 100000;
  /// flow.state-memory: bytes the rocksdb backend of one process may use
  /// for its block cache and write buffers together (half each; the
  /// tables' filters and indexes are in the block cache).
  size_t memory = size_t{64} << 20;
};

/// Writes a spill_store applies at once.
struct spill_batch {
  std::vector<std::pair<std::string, std::string>> puts;
  bool empty() const noexcept { return puts.empty(); }
};

/// What a spill_store held when the view was taken, read-only: readable on
/// any thread while the store goes on being written, and after the store
/// is destroyed (the view keeps what it reads). Errors are thrown as
/// std::runtime_error.
class spill_view {
public:
  virtual ~spill_view();
  /// Calls f(key, value) for every entry whose key begins with `prefix`,
  /// in key order.
  virtual void
  scan(std::string_view prefix,
       const std::function<void(std::string_view, std::string_view)>& f)
      const = 0;
  /// True if some key begins with `prefix`.
  virtual bool any(std::string_view prefix) const = 0;
};

/// The byte store one spilling keyed_store writes its entries to.
/// Keys are ordered bytewise. Errors of the store are thrown as
/// std::runtime_error.
class spill_store {
public:
  virtual ~spill_store();
  /// The value of `key` into `value`; false if there is none.
  virtual bool get(std::string_view key, std::string& value) = 0;
  /// Calls found(i, value) for every keys[i] the store holds; `keys` are
  /// sorted bytewise, without duplicates. One request, far cheaper than a
  /// get() per key.
  virtual void
  get_sorted(const std::vector<std::string_view>& keys,
             const std::function<void(size_t, std::string_view)>& found) = 0;
  virtual void write(const spill_batch& batch) = 0;
  virtual void erase(std::string_view key) = 0;
  /// Calls f(key, value) for every entry whose key begins with `prefix`,
  /// in key order.
  virtual void
  scan(std::string_view prefix,
       const std::function<void(std::string_view, std::string_view)>& f) = 0;
  /// True if some key begins with `prefix`.
  virtual bool any(std::string_view prefix) = 0;
  /// A consistent view of the store as it is now (a checkpoint reads it
  /// off the subtask's thread); cheap to take.
  virtual std::unique_ptr<spill_view> view() = 0;
  /// Bytes the store keeps in memory outside the backend's budget
  /// (flow.state-memory), such as its tables' readers.
  virtual size_t memory_outside_budget() = 0;
};

/// Opens the spill stores of one process's subtasks.
class state_backend {
public:
  virtual ~state_backend();
  /// flow.state-cache-entries.
  virtual size_t cache_entries() const noexcept = 0;
  /// A new, empty store; `name` says whose it is (operator, subtask).
  virtual std::unique_ptr<spill_store> open(const std::string& name) = 0;
};

} // namespace flow

#pragma once

#include "flow/batch.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <vector>

namespace flow::runtime {

// Data plane (between subtasks), in order per channel:
//   (batch_atom, uint32 in_slot, batch_ptr)   data, consumes one credit
//   (eos_atom, uint32 in_slot)                end-of-stream
// Against the data direction, sent with high priority:
//   (credit_atom, uint32 out_slot, uint32 n)  n batches processed
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using eos_atom = caf::atom_constant<caf::atom("eos")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;

// Control plane (job <-> subtask, and a subtask to itself).
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;

/// A subtask's peers: for every output slot the downstream actor and its
/// input slot, for every input slot the upstream actor and its output slot.
struct wiring {
  std::vector<caf::actor> downstream;
  std::vector<uint32_t> downstream_slots;
  std::vector<caf::actor> upstream;
  std::vector<uint32_t> upstream_slots;
};

} // namespace flow::runtime

// Batches and wiring stay inside one process for now: the pointer is moved
// between actors, never serialized. Remote channels need a serde (issue 5).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flow::batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flow::runtime::wiring)

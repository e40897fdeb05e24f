#pragma once

#include "flow/defaults.hpp"
#include "flow/ids.hpp"
#include "flow/partitioning.hpp"
#include "flow/topology.hpp"

#include <string>
#include <vector>

namespace flow {

/// One channel: a FIFO from an upstream subtask's output slot to a
/// downstream subtask's input slot.
struct channel_plan {
  channel_id id;
  subtask_id from;
  size_t from_slot = 0;
  subtask_id to;
  size_t to_slot = 0;
};

/// One subtask: an instance of a logical operator.
struct subtask_plan {
  subtask_id id;
  node_id node;
  std::string operator_name;
  uint32_t index = 0;
  uint32_t parallelism = 1;
  node_kind kind = node_kind::operation;
  /// First slot of the operator's slot group; subtask i runs in slot
  /// slot_base + i.
  uint32_t slot_base = 0;
  /// Input channel per input slot, and the logical edge it belongs to.
  std::vector<channel_id> inputs;
  std::vector<size_t> input_edges;
  /// Output channel per output slot.
  std::vector<channel_id> outputs;
  /// Outgoing logical edges with their output slots.
  std::vector<out_edge_layout> out_edges;
  /// The operator's own on-error policy (stream::on_error); unset: the
  /// job's (flow.on-error).
  std::optional<flow::on_error> on_error;
};

/// Settings that shape the physical plan.
struct plan_options {
  uint32_t default_parallelism = 1;
  uint32_t max_parallelism = default_max_parallelism;
};

/// The physical plan: every operator expanded into its subtasks, every
/// edge into channels.
struct physical_plan {
  std::vector<subtask_plan> subtasks;
  std::vector<channel_plan> channels;
  /// Number of key groups of every keyed operator (flow.max-parallelism):
  /// fixed for the job's lifetime, checkpoints record it.
  uint32_t max_parallelism = default_max_parallelism;

  /// Throws std::invalid_argument for graphs that cannot run (forward edge
  /// between different parallelisms, a sink feeding something, ...),
  /// config_failure for a parallelism above opts.max_parallelism.
  static physical_plan build(const topology& t, const plan_options& opts);

  /// One line per operator: name, parallelism, input partitionings.
  std::string describe() const;
};

} // namespace flow

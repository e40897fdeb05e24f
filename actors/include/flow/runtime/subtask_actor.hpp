#pragma once

#include "flow/checkpoint/store.hpp"
#include "flow/job_options.hpp"
#include "flow/metrics.hpp"
#include "flow/plan.hpp"
#include "flow/topology.hpp"

#include <caf/all.hpp>

#include <memory>
#include <optional>

namespace flow::runtime {

/// Everything needed to spawn one subtask actor.
struct subtask_spec {
  subtask_plan plan;
  task_factory make_task;
  job_options options;
  std::shared_ptr<subtask_metrics> metrics;
  /// Receives (done_atom, uint32 subtask) or (failed_atom or
  /// config_failed_atom, uint32, string), and the subtask's checkpoint
  /// acknowledgements.
  caf::actor job;
  /// Where the subtask writes its checkpoint parts; null: no checkpoints.
  std::shared_ptr<const checkpoint::store> checkpoints;
  /// The state the subtask starts from, if the job restores a checkpoint.
  std::optional<subtask_restore> restore;
  /// Where its keyed state spills (flow.state-backend); null: memory.
  std::shared_ptr<state_backend> state;
};

/// Spawns the actor hosting one subtask. It waits for a (wire_atom, wiring)
/// message, then runs: sources start polling, operators wait for input.
caf::actor spawn_subtask(caf::actor_system& sys, subtask_spec spec);

} // namespace flow::runtime

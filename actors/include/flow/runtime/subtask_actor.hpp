#pragma once

#include "flow/job_options.hpp"
#include "flow/metrics.hpp"
#include "flow/plan.hpp"
#include "flow/topology.hpp"

#include <caf/all.hpp>

#include <memory>

namespace flow::runtime {

/// Everything needed to spawn one subtask actor.
struct subtask_spec {
  subtask_plan plan;
  task_factory make_task;
  job_options options;
  std::shared_ptr<subtask_metrics> metrics;
  /// Receives (done_atom, uint32 subtask) or (failed_atom or
  /// config_failed_atom, uint32, string).
  caf::actor job;
};

/// Spawns the actor hosting one subtask. It waits for a (wire_atom, wiring)
/// message, then runs: sources start polling, operators wait for input.
caf::actor spawn_subtask(caf::actor_system& sys, subtask_spec spec);

} // namespace flow::runtime

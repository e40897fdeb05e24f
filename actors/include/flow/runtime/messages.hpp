#pragma once

#include "flow/batch.hpp"
#include "flow/metrics.hpp"
#include "flow/observe/snapshot.hpp"
#include "flow/task.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flow::runtime {

// Data plane (between subtasks), in order per channel:
//   (batch_atom, uint32 in_slot, batch_ptr)   data, consumes one credit
//   (eos_atom, uint32 in_slot)                end-of-stream
//   (watermark_atom, uint32 in_slot, int64)   event-time progress, no credit
//   (idle_atom, uint32 in_slot, bool idle)    watermark status, no credit
//   (barrier_atom, uint32 in_slot, uint64 id) checkpoint barrier, no credit
// Against the data direction, sent with high priority:
//   (credit_atom, uint32 out_slot, uint32 n)  n batches processed
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using eos_atom = caf::atom_constant<caf::atom("eos")>;
using watermark_atom = caf::atom_constant<caf::atom("watermark")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
using barrier_atom = caf::atom_constant<caf::atom("barrier")>;

// Control plane (job <-> subtask, and a subtask to itself).
using wire_atom = caf::atom_constant<caf::atom("wire")>;
/// (poll_atom, uint64 generation): a source subtask polls itself, a busy
/// sink retries; polls of an older generation are stale (a wake-up
/// overtook them).
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// A source's input may have arrived, or a busy sink may go on (sent from
/// a connector's thread, or when a connector's blocking work returned).
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
/// As failed_atom, for a flow::config_failure: the job exits 2.
using config_failed_atom = caf::atom_constant<caf::atom("cfgfailed")>;
/// (report_atom, uint32 subtask, subtask_totals, bool blocked): periodic
/// counters of a subtask for the status line.
using report_atom = caf::atom_constant<caf::atom("report")>;

/// (node_atom, string name, process_sample): a worker's process counters,
/// every second, for the coordinator's HTTP endpoints.
using node_atom = caf::atom_constant<caf::atom("node")>;

// Checkpoints (job <-> subtask; ids are checkpoint_id values, parts
// serialized flow::checkpoint::pb::Part messages):
/// (cp_trigger_atom, uint64 id): job -> source subtasks: inject barrier id.
using cp_trigger_atom = caf::atom_constant<caf::atom("cptrigger")>;
/// (cp_stop_atom, uint64 id): job -> source subtasks: inject barrier id
/// (a savepoint's), then stop as stop_atom does: nothing after the barrier.
using cp_stop_atom = caf::atom_constant<caf::atom("cpstop")>;
/// (cp_ack_atom, uint32 subtask, uint64 id, string part): the subtask's
/// part of checkpoint id is written.
using cp_ack_atom = caf::atom_constant<caf::atom("cpack")>;
/// (cp_decline_atom, uint32 subtask, uint64 id, string cause): it is not.
using cp_decline_atom = caf::atom_constant<caf::atom("cpdecline")>;
/// (cp_abort_atom, uint64 id): job -> subtasks: checkpoint id is aborted.
using cp_abort_atom = caf::atom_constant<caf::atom("cpabort")>;
/// (cp_done_atom, uint64 id, string part): job -> subtasks: checkpoint id,
/// in which the subtask's part was `part` (sources; empty for the others),
/// is complete.
using cp_done_atom = caf::atom_constant<caf::atom("cpdone")>;
/// (ended_atom, uint32 subtask): subtask -> job: its output ended; it
/// waits for release_atom (a job with checkpoints ends with a final one).
using ended_atom = caf::atom_constant<caf::atom("ended")>;
/// (cp_end_atom, uint64 id): job -> an ended subtask: snapshot checkpoint
/// id now, without a barrier (unless it did already).
using cp_end_atom = caf::atom_constant<caf::atom("cpend")>;
/// (release_atom): job -> ended subtasks: the job ends, finish.
using release_atom = caf::atom_constant<caf::atom("release")>;

/// A subtask's peers: for every output slot the downstream actor and its
/// input slot, for every input slot the upstream actor and its output slot.
struct wiring {
  std::vector<caf::actor> downstream;
  std::vector<uint32_t> downstream_slots;
  std::vector<caf::actor> upstream;
  std::vector<uint32_t> upstream_slots;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wiring& x) {
  return f(caf::meta::type_name("flow::wiring"), x.downstream,
           x.downstream_slots, x.upstream, x.upstream_slots);
}

/// Counters of a subtask, sent with done_atom (final) and report_atom.
using subtask_totals = subtask_sample;

/// A snapshot of a subtask's counters.
inline subtask_totals totals_of(const subtask_metrics& m) {
  return sample_of(m);
}

/// Registers the message types that may cross nodes.
void add_message_types(caf::actor_system_config& cfg);

} // namespace flow::runtime

namespace flow {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_lag& x) {
  return f(caf::meta::type_name("flow::partition_lag"), x.topic, x.partition,
           x.lag);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_group_snapshot& x) {
  return f(caf::meta::type_name("flow::key_group_snapshot"), x.key_group,
           x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, source_position& x) {
  return f(caf::meta::type_name("flow::source_position"), x.split, x.position);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_time_snapshot& x) {
  return f(caf::meta::type_name("flow::event_time_snapshot"), x.watermark,
           x.output_watermark, x.output_idle);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_time& x) {
  return f(caf::meta::type_name("flow::channel_time"), x.watermark, x.idle);
}

/// A subtask's state to restore travels in a cluster's deploy request.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subtask_restore& x) {
  auto id = x.id.value();
  if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    auto err = f(caf::meta::type_name("flow::subtask_restore"), id,
                 x.key_groups, x.positions, x.operator_state, x.dead_letters,
                 x.event_time, x.inputs);
    if (!err) x.id = checkpoint_id{id};
    return err;
  } else {
    return f(caf::meta::type_name("flow::subtask_restore"), id, x.key_groups,
             x.positions, x.operator_state, x.dead_letters, x.event_time,
             x.inputs);
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subtask_sample& x) {
  return f(caf::meta::type_name("flow::subtask_sample"), x.records_in,
           x.records_out, x.batches_in, x.batches_out, x.blocked_ns,
           x.max_in_flight, x.max_queued_batches, x.queued_batches, x.blocked,
           x.finished, x.watermark, x.dead_lettered, x.skipped,
           x.producer_queue, x.lags);
}

namespace observe {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_sample& x) {
  return f(caf::meta::type_name("flow::process_sample"), x.rss_bytes,
           x.cpu_seconds);
}

} // namespace observe

/// Batches cross nodes as their wire form (serde<T> per record, encoded
/// once per batch); they arrive as a wire_batch that the receiving task
/// decodes. Local messages are never serialized by CAF.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_ptr& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    std::vector<char> bytes;
    x->serialize(bytes);
    return f(caf::meta::type_name("flow::batch"), bytes);
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::vector<char> bytes;
    auto err = f(caf::meta::type_name("flow::batch"), bytes);
    if (!err) x = std::make_shared<wire_batch>(std::move(bytes));
    return err;
  } else {
    // Rendering for logs and errors: the size only.
    uint64_t records = x ? x->size() : 0;
    return f(caf::meta::type_name("flow::batch"), records);
  }
}

} // namespace flow

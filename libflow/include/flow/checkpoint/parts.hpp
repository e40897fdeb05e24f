#pragma once

#include "flow/plan.hpp"
#include "flow/subtask_core.hpp"
#include "flow/task.hpp"

#include "flow/checkpoint/metadata.pb.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace flow::checkpoint {

/// A checkpoint that does not fit the job being started: another topology,
/// other operator names or parallelisms. The message says what differs.
struct incompatible_checkpoint : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a part's file holds.
struct part_state {
  std::vector<key_group_snapshot> key_groups;
  /// A sink's own state (task::snapshot_operator_state); empty if none.
  std::string operator_state;
  /// Dead letters waiting for publication (task::snapshot_dead_letters).
  std::string dead_letters;
};

/// The bytes of a part's file: the snapshot's keyed state and operator
/// state (pb::PartState), the same bytes as its SerializeAsString. The
/// operator state's pieces are shared, not copied (an exactly-once sink's
/// is an interval of its output); takes `snap` by value: a caller that
/// moves it in saves a copy of the dead letters and of the keyed state.
/// Writes deferred key groups first (subtask_snapshot::write_key_groups).
byte_chain encode_state(subtask_snapshot snap);

/// The state in a part file's bytes. Throws std::runtime_error for bytes
/// that are not a pb::PartState.
part_state decode_state(const std::string& bytes);

/// The metadata of subtask `s`'s snapshot, as store::write_part takes it
/// (which adds file, size and checksum). Throws std::logic_error if the
/// snapshot's key groups are deferred (call write_key_groups first: the
/// metadata records their range).
pb::Part describe(const subtask_plan& s, const subtask_snapshot& snap);

/// The source positions a part holds.
std::vector<source_position> positions_of(const pb::Part& part);

/// What the subtasks of a job start from when it restores a checkpoint.
struct redistribution {
  /// Indexed by subtask id.
  std::vector<subtask_restore> subtasks;
  /// The operators restored at another parallelism: "name p -> q".
  std::vector<std::string> rescaled;
};

/// Splits checkpoint `md` over the subtasks of `plan`; `states[j]` is what
/// the file of md.parts(j) holds. The checkpoint must hold the same
/// operators (index in the topology and name), each with one part per
/// subtask it ran with, and the same number of key groups
/// (plan.max_parallelism; unknown before format version 3). An operator
/// at the parallelism it ran at restores part i into subtask i. At
/// another parallelism (rescaling):
/// - keyed state: each key group goes to the subtask that owns it now
///   (subtask_of_key_group), whichever subtask held it;
/// - source positions: the union of the old subtasks' splits, split n
///   (a number: a Kafka partition, a generator's split) to subtask
///   n % parallelism, the assignment of a fresh start (see
///   source_position);
/// - a sink's own state (operator_state) cannot be split or merged: a
///   sink that holds any is refused; so is a subtask holding dead letters
///   not yet published (dead_letters);
/// - event time: a subtask starts at the lowest watermark and output
///   watermark of the old subtasks it inherits from (those that held its
///   splits, for a source, or its key groups), idle if they all were.
/// Each input channel then starts at its upstream subtask's restored
/// output watermark and status (at an aligned checkpoint, what the
/// channel had delivered). A checkpoint without event time (an earlier
/// build's) leaves every subtask at the lowest watermark.
/// Throws incompatible_checkpoint naming the first difference or what
/// cannot be rescaled.
redistribution redistribute(const pb::Metadata& md,
                            std::vector<part_state> states,
                            const physical_plan& plan);

} // namespace flow::checkpoint

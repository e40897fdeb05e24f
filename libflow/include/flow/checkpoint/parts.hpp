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
};

/// The bytes of a part's file: the snapshot's keyed state and operator
/// state (pb::PartState). Takes `snap` by value: a caller that moves it in
/// saves a copy of the state (an exactly-once sink's is an interval of
/// output).
std::string encode_state(subtask_snapshot snap);

/// The state in a part file's bytes. Throws std::runtime_error for bytes
/// that are not a pb::PartState.
part_state decode_state(const std::string& bytes);

/// The metadata of subtask `s`'s snapshot, as store::write_part takes it
/// (which adds file, size and checksum).
pb::Part describe(const subtask_plan& s, const subtask_snapshot& snap);

/// The source positions a part holds.
std::vector<source_position> positions_of(const pb::Part& part);

/// The part of `md` that restores each subtask of `plan`, indexed by
/// subtask id. Every subtask has exactly one part: the same operator (its
/// index in the topology and its name) at the same parallelism and index.
/// Throws incompatible_checkpoint naming the first difference.
std::vector<const pb::Part*> match_parts(const pb::Metadata& md,
                                         const physical_plan& plan);

} // namespace flow::checkpoint

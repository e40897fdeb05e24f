#pragma once

#include <string_view>

namespace flow {

/// Test-only fault injection: crash points for the fault-injection harness
/// (tests/chaos). Never set it in production.
///
/// The environment variable LIBFLOW_FAULT = "<point>[:<n>]" makes the
/// process end with _exit(fault_exit_code) the n-th time (default: the
/// first) it reaches the crash point named <point>, as a kill -9 would
/// end it there: no destructor, no flush. Unset or naming another point,
/// fault_point() does nothing (one atomic load). The points:
///
///  - "after-checkpoint-before-commit": an exactly-once Kafka sink subtask
///    learned that a checkpoint completed and is about to publish its
///    records; nothing of that transaction is sent yet;
///  - "during-commit": the transaction's records are written and
///    acknowledged and its marker is not yet sent: the transaction is open
///    on the broker.
///
/// The count is per process, over all subtasks.
void fault_point(std::string_view point);

/// The exit code of a process ended by fault_point.
inline constexpr int fault_exit_code = 86;

/// The crash points fault_point knows (for the harness and error text).
inline constexpr std::string_view fault_after_checkpoint_before_commit =
    "after-checkpoint-before-commit";
inline constexpr std::string_view fault_during_commit = "during-commit";

} // namespace flow

#pragma once

#include <optional>
#include <string_view>

namespace flow {

/// What a task does with a record on which a user function (map, filter,
/// flat_map, key, reduce, aggregate, process, window or join function)
/// threw, or which its sink cannot write (unserializable, too large).
enum class on_error {
  /// The job fails, naming operator, subtask, exception type and message.
  fail,
  /// The record goes to the configured dead-letter destination with its
  /// provenance, is counted, and the job goes on.
  dead_letter,
  /// The record is dropped, counted and logged (rate-limited); the job
  /// goes on.
  skip,
};

/// "fail", "dead-letter" or "skip": as flow.on-error spells them.
const char* to_string(on_error p) noexcept;
/// The policy spelt `s` (see to_string), or nullopt.
std::optional<on_error> parse_on_error(std::string_view s) noexcept;

} // namespace flow

#pragma once

// What happens to one record a user function throws on, or a sink cannot
// write: the on-error policy (flow.on-error, stream::on_error), the
// dead-letter interface a connector implements, and the handler every
// operator and sink task applies per record.

#include "flow/exceptions.hpp"
#include "flow/ids.hpp"
#include "flow/on_error.hpp"
#include "flow/option.hpp"
#include "flow/serde.hpp"
#include "flow/settings.hpp"
#include "flow/task.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace flow {

class topology;
struct job_options;

/// Where a record came from, when a source said so (a Kafka record's
/// topic, partition and offset; see dead_letter_traits).
struct record_origin {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

/// How a record of type T goes into a dead letter. Types that know their
/// origin, or have a better payload than their flow::serde bytes,
/// specialize it (flow::kafka does for kafka::record): `static
/// std::optional<record_origin> origin(const T&)` and, with
/// `has_payload = true`, `static std::string payload(const T&)`.
template <class T, class = void>
struct dead_letter_traits {
  static constexpr bool has_payload = false;
  static std::optional<record_origin> origin(const T&) { return std::nullopt; }
};

/// A record one subtask failed on, as a dead-letter destination gets it.
struct dead_letter {
  std::string operator_name;
  uint32_t subtask_index = 0;
  /// The exception's type ("std::invalid_argument", "int (not a
  /// std::exception)") and its what() (empty for other throws).
  std::string exception_type;
  std::string message;
  /// The record: its flow::serde bytes if `serialized` (a string as it
  /// is), else a readable description (what failed, the type's name).
  std::string payload;
  bool serialized = false;
  std::optional<record_origin> origin;
};

/// One subtask's dead-letter output. Never blocks: it holds what it cannot
/// send yet. Threading: the subtask's thread only.
///
/// A writer of a checkpointed destination (dead_letter_destination::
/// checkpointed) publishes with the job's checkpoints, as an exactly-once
/// sink does: the dead letters written between barriers n-1 and n are
/// part of checkpoint n's state (snapshot) and become visible once it has
/// completed (checkpoint_complete), so that a restart from a checkpoint
/// neither loses nor repeats the dead letters of the records it replays.
class dead_letter_writer {
public:
  virtual ~dead_letter_writer();
  /// Takes `d` (held until it can be sent).
  virtual void write(dead_letter d) = 0;
  /// Serves the writer; true once nothing waits: everything written is
  /// acknowledged (durable), or for a checkpointed writer held in its
  /// state with no publication in flight. Throws if a dead letter cannot
  /// be delivered.
  virtual bool flushed() = 0;
  /// The writer calls `wake` (any thread, cheaply) when flushed() may have
  /// become true. Called once, before the first write().
  virtual void set_wakeup(std::function<void()> wake) {}

  // -- checkpointed writers ---------------------------------------------------

  /// Barrier `id`: the dead letters not yet published, as checkpoint `id`
  /// keeps them (empty: none).
  virtual std::string snapshot(checkpoint_id id) { return {}; }
  /// Before the first write(), when the job restores checkpoint `id`: what
  /// snapshot(id) returned for the same subtask (empty if nothing: the
  /// writer then only settles what the run before left open).
  virtual void restore(checkpoint_id id, const std::string& state) {}
  /// Checkpoint `id` (and those before it) completed: publishes its dead
  /// letters; flushed() is false until they are published.
  virtual void checkpoint_complete(checkpoint_id id) {}
};

/// A connector that takes dead letters (the Kafka connector: a topic),
/// registered once per process with register_dead_letter_destination.
class dead_letter_destination {
public:
  virtual ~dead_letter_destination();
  /// The option that configures it, for error messages.
  virtual std::string key() const = 0;
  /// True if `settings` configure it.
  virtual bool configured(const settings_map& settings) const = 0;
  /// True if its writers under `settings` publish with the checkpoints
  /// (see dead_letter_writer): their state is then part of each
  /// checkpoint.
  virtual bool checkpointed(const settings_map& settings) const {
    return false;
  }
  /// The writer of one subtask (called on its first dead letter, or on a
  /// restore of dead letters a checkpoint holds, on the subtask's thread;
  /// blocking work goes to s.executor).
  virtual std::unique_ptr<dead_letter_writer>
  open(const task_setup& s) const = 0;
};

/// Adds a destination (static initialization of a connector library).
/// Returns true, for use in an initializer.
bool register_dead_letter_destination(
    std::shared_ptr<const dead_letter_destination> d);

/// The first registered destination that `settings` configure, or null.
const dead_letter_destination*
configured_dead_letter_destination(const settings_map& settings);

/// An operator or sink of `t` whose policy (its own, else flow.on-error)
/// is dead-letter while no destination is configured: the error naming the
/// key to set (the registered destination's, or flow.on-error when no
/// connector of the program takes dead letters). Checked before a job
/// starts (exit 2).
std::optional<config_error> check_error_policies(const topology& t,
                                                 const job_options& opts);

/// `x` as text for an error or a dead letter: a string or number as
/// itself, anything else by its type's name (operator<< is not asked:
/// templates declare it for types they cannot print).
template <class T>
std::string describe_value(const T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    return x;
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(x);
  } else {
    return "(" + type_name(typeid(T)) + ")";
  }
}

/// Applies a subtask's on-error policy to the records its task fails on.
/// Tasks call on_failure() inside the catch block around one record's
/// user code; nothing of it runs while nothing throws.
///
/// Under `fail` on_failure rethrows. Under `skip` it counts
/// (subtask_metrics::records_skipped) and logs at most one line per
/// second per subtask (type and message, and how many were skipped since
/// the last line). Under `dead_letter` it writes the record to the
/// subtask's dead_letter_writer, opened on the first one, and counts
/// (records_dead_lettered); the task is then busy() until the dead letters
/// are acknowledged, so the subtask neither takes input nor finishes
/// before they are durable. With a checkpointed destination (Kafka with
/// kafka.delivery = exactly-once) they are held in the checkpoints
/// (snapshot, restore) and published once one completes
/// (checkpoint_complete): the task is busy() while that publication is in
/// flight, so a subtask at its end finishes only after it.
///
/// Threading: the subtask's thread only.
class record_error_handler {
public:
  explicit record_error_handler(const task_setup& s);
  ~record_error_handler();
  record_error_handler(const record_error_handler&) = delete;
  record_error_handler& operator=(const record_error_handler&) = delete;

  on_error policy() const noexcept { return policy_; }

  /// True if on_failure needs the record as it was before the user
  /// function got it (dead-letter): tasks that move records into user
  /// functions keep a copy then.
  bool needs_record() const noexcept {
    return policy_ == on_error::dead_letter;
  }

  /// Call inside a catch block: applies the policy to the exception being
  /// handled and to `record` (null if it is gone).
  template <class T>
  void on_failure(const T* record) {
    if (policy_ == on_error::fail) throw;
    dead_letter d = describe_exception();
    if (policy_ == on_error::dead_letter) {
      if (record) {
        d.origin = dead_letter_traits<T>::origin(*record);
        describe_record(*record, d);
      } else {
        d.payload = "(record of type " + type_name(typeid(T)) + ", not kept)";
      }
    }
    handle(std::move(d));
  }

  /// As on_failure for a failure that concerns no single record (a window
  /// firing, a timer): `what` describes it.
  void on_failure(std::string what);

  /// True while dead letters wait for their acknowledgement.
  bool busy() const noexcept { return busy_; }
  /// Serves the dead-letter writer; throws if a dead letter cannot be
  /// delivered.
  void resume();
  /// Keeps `wake` for the dead-letter writer.
  void set_wakeup(std::function<void()> wake);

  // -- checkpoints (a checkpointed destination's writer) ---------------------

  /// The dead letters checkpoint `id` holds (empty: none, or not
  /// checkpointed).
  std::string snapshot(checkpoint_id id);
  /// Resumes from what snapshot(id) returned, before the first record:
  /// opens the writer (under dead-letter also if `state` is empty) and
  /// stays busy() until the restored dead letters are published.
  void restore(checkpoint_id id, const std::string& state);
  /// Checkpoint `id` completed: its dead letters go out.
  void checkpoint_complete(checkpoint_id id);

  uint64_t skipped() const noexcept { return skipped_; }
  uint64_t dead_lettered() const noexcept { return dead_lettered_; }

private:
  template <class T>
  static void describe_record(const T& x, dead_letter& d) {
    if constexpr (dead_letter_traits<T>::has_payload) {
      d.payload = dead_letter_traits<T>::payload(x);
      d.serialized = true;
    } else if constexpr (std::is_same_v<T, std::string>) {
      d.payload = x;
      d.serialized = true;
    } else if constexpr (serde<T>::available) {
      std::vector<char> bytes;
      serde<T>::write(x, bytes);
      d.payload.assign(bytes.begin(), bytes.end());
      d.serialized = true;
    } else {
      d.payload = describe_value(x);
    }
  }

  /// describe_current_exception() split into type and message, with the
  /// subtask's names.
  dead_letter describe_exception() const;
  void handle(dead_letter d);
  /// Opens the writer if it is not (throws config_failure without a
  /// destination).
  dead_letter_writer& writer();

  on_error policy_;
  std::string operator_name_;
  uint32_t subtask_index_;
  subtask_metrics* metrics_;
  const flow::clock* clock_;
  /// For opening the writer (dead-letter only).
  task_setup setup_;
  const dead_letter_destination* destination_ = nullptr;
  std::unique_ptr<dead_letter_writer> writer_;
  std::function<void()> wake_;
  bool busy_ = false;
  uint64_t skipped_ = 0;
  uint64_t dead_lettered_ = 0;
  /// Rate limit of the skip log: last line's time (ms), skips since.
  int64_t last_log_ms_ = 0;
  uint64_t unlogged_ = 0;
};

} // namespace flow

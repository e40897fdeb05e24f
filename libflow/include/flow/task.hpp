#pragma once

#include "flow/batch.hpp"
#include "flow/byte_chain.hpp"
#include "flow/defaults.hpp"
#include "flow/ids.hpp"
#include "flow/metrics.hpp"
#include "flow/on_error.hpp"
#include "flow/outbox.hpp"
#include "flow/partitioning.hpp"
#include "flow/settings.hpp"
#include "flow/time.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow {

class blocking_executor;
class state_backend;

/// Everything a task needs to set itself up for one subtask.
struct task_setup {
  std::string operator_name;
  uint32_t subtask_index = 0;
  uint32_t parallelism = 1;
  size_t batch_size = default_batch_size;
  std::vector<out_edge_layout> outputs;
  outbox* out = nullptr;
  /// The node's configuration (never null inside a job).
  const settings_map* settings = nullptr;
  /// Number of key groups (flow.max-parallelism): keyed state is kept per
  /// key group, key_group_of(hash, max_parallelism).
  uint32_t max_parallelism = default_max_parallelism;
  /// The subtask's counters (set by subtask_core; never null inside a
  /// job): connectors publish their gauges in metrics->connector.
  subtask_metrics* metrics = nullptr;
  /// Processing time (set by subtask_core; never null inside a job).
  const flow::clock* clock = nullptr;
  /// flow.idle-timeout in ms (0: off): a source (or source split) that has
  /// nothing to read and no records for this long declares itself idle.
  int64_t idle_timeout = 0;
  /// flow.watermark-interval in ms: a source emits a generated watermark at
  /// most this often (0: after every poll in which it advanced).
  int64_t watermark_interval = default_watermark_interval_ms;
  /// Runs the connectors' blocking work off the subtask's thread (null:
  /// none, such work runs inline; see blocking_executor).
  blocking_executor* executor = nullptr;
  /// What to do with a record the task's user code throws on or its sink
  /// cannot write (record_error_handler).
  flow::on_error on_error = flow::on_error::fail;
  /// Where spilling keyed state goes (flow.state-backend); null: memory.
  state_backend* state = nullptr;
};

/// The keyed state of one key group of an operator instance, serialized
/// with flow::serde: what moves between subtasks when parallelism changes.
struct key_group_snapshot {
  uint32_t key_group = 0;
  std::vector<char> bytes;
};

/// Keyed state a snapshot took but has not written yet: appends its key
/// groups when called, on any thread, once (again: std::logic_error). What
/// it writes is the state as it was at the snapshot, whatever the task did
/// since (spilled state is read through a view of its store; a key group
/// in memory the task changed meanwhile was written by the task first:
/// key_group_state::freeze).
using deferred_key_groups =
    std::function<void(std::vector<key_group_snapshot>&)>;

/// Where a source stands in one of its splits, as a checkpoint keeps it:
/// the split and the position of the next record to read (an index, an
/// offset). A split named by a number n (a Kafka partition, a generator's
/// split, as decimal text) belongs at parallelism p to subtask n % p, at
/// a fresh start as after a restore: a source whose splits are all
/// numbered so can be restored at another parallelism (each subtask gets
/// the positions of its splits, whichever subtask held them). Any other
/// name ("" for a source that is one split per subtask) restores only at
/// the parallelism it was taken at.
struct source_position {
  std::string split;
  int64_t position = 0;
  friend bool operator==(const source_position& a, const source_position& b) {
    return a.split == b.split && a.position == b.position;
  }
};

/// Where a subtask stands in event time, as a checkpoint keeps it.
struct event_time_snapshot {
  /// The subtask's event time: the watermark its task has reached
  /// (task::on_watermark).
  int64_t watermark = min_timestamp;
  /// The last watermark it sent downstream, and whether it had declared
  /// itself idle (transport::send_idle): what its receivers' input
  /// channels from it stood at.
  int64_t output_watermark = min_timestamp;
  bool output_idle = false;
};

/// An input channel's event time.
struct channel_time {
  int64_t watermark = min_timestamp;
  bool idle = false;
};

/// Result of one poll of a source.
enum class source_state {
  /// More records may follow right away.
  more,
  /// Nothing to emit now; poll again later.
  idle,
  /// The source is exhausted (bounded input, or stop was requested).
  done,
};

/// The logic of one subtask: a source, an operator or a sink. Driven by
/// subtask_core on the subtask's thread of control; never concurrently.
/// User-function exceptions propagate out of these calls.
class task {
public:
  virtual ~task();

  /// Consumes one input batch from input edge `input` (index of the
  /// logical edge, for operators with several inputs).
  virtual void process(size_t input, batch_base& b);

  /// Emits up to about `max_records` records (sources only).
  virtual source_state poll(size_t max_records);

  /// Asks a source to finish as if its input had ended.
  virtual void request_stop() {}

  /// Sources and sinks: see source_function::set_wakeup and
  /// sink_function::set_wakeup.
  virtual bool set_wakeup(std::function<void()> wake) { return false; }

  /// Sinks: true while the task waits for work of its own (see
  /// sink_function::busy); it then gets no input, watermark or timer, only
  /// resume(). Sources: true while a checkpoint waits for them
  /// (source_function::prepare_checkpoint); they are polled as usual.
  virtual bool busy() const { return false; }

  /// Goes on with what made the task busy.
  virtual void resume() {}

  /// All inputs ended: emit what remains of the state. on_watermark
  /// (max_timestamp) came before.
  virtual void end_of_input() {}

  /// The subtask's event time advanced to `wm`: the minimum of its input
  /// channels' watermarks (ended inputs count as max_timestamp). Called only
  /// when it advances and never while an output is blocked. Tasks fire
  /// event-time timers, then forward it (emitting_task does the forwarding).
  virtual void on_watermark(int64_t wm) {}

  /// Operators: every open input of the subtask became idle (true: its
  /// sources are caught up, see transport::send_idle) or one became active
  /// again (false). Tasks pass it on (emitting_task does); a task that
  /// emits records while idle declares itself active by that, and the
  /// subtask goes idle again after the call that emitted them.
  virtual void on_idle(bool idle) {}

  /// Processing time reached `now` (ms), at or after next_timer().
  virtual void on_processing_time(int64_t now) {}

  /// Earliest processing time at which on_processing_time is wanted;
  /// max_timestamp for none.
  virtual int64_t next_timer() const { return max_timestamp; }

  /// Closes partially filled output batches of channels that have credit.
  virtual void flush() {}

  /// Closes every partially filled output batch.
  virtual void flush_all() { flush(); }

  /// True if some output record sits in a partially filled batch.
  virtual bool has_buffered() const { return false; }

  /// Keyed operators: the state (values, window contents, buffers, timers)
  /// of every key group that holds any in this subtask, appended to `out`;
  /// or, if the state can be frozen (key_group_state::freeze: keyed
  /// stores in memory and spilled state), returned instead
  /// to be written later, off the subtask's thread. Called between two of
  /// the calls above, the task goes on unchanged. Throws std::logic_error
  /// if a key or value type has no flow::serde.
  [[nodiscard]] virtual deferred_key_groups
  snapshot_key_groups(std::vector<key_group_snapshot>& out) const;

  /// Keyed operators: adds key groups snapshotted by instances of the same
  /// operator at any parallelism (and the same max parallelism) to this
  /// fresh instance, before its first input. The watermark is no keyed
  /// state: subtask_core restores it (on_watermark) after this.
  /// Throws std::invalid_argument for a key group out of range or restored
  /// twice, serde_error for malformed bytes, std::logic_error if the task
  /// has no keyed state.
  virtual void
  restore_key_groups(const std::vector<key_group_snapshot>& groups);

  /// Sinks and sources: a checkpoint's barrier arrived (sink_function::
  /// prepare_checkpoint, source_function::prepare_checkpoint); the subtask
  /// acknowledges it once busy() is false.
  virtual void prepare_checkpoint() {}

  /// Sources: appends where the source stands (source_function::positions),
  /// called between two polls.
  virtual void snapshot_positions(std::vector<source_position>& out) const {}

  /// Sources: resume from `positions` (taken by snapshot_positions of the
  /// same subtask, or at another parallelism those of the numbered splits
  /// this subtask owns now: see source_position), before the first poll.
  virtual void restore_positions(const std::vector<source_position>& p) {}

  /// Sinks: the sink's own state at checkpoint `id` goes to `out`
  /// (sink_function::snapshot_state), right after prepare_checkpoint().
  virtual void snapshot_operator_state(checkpoint_id id, byte_chain& out) {}

  /// Sinks: resume from `state` (what snapshot_operator_state wrote for
  /// the same subtask at checkpoint `id`; empty if nothing), before the
  /// first input. Called on every restore.
  virtual void restore_operator_state(checkpoint_id id,
                                      const std::string& state) {}

  /// Operators and sinks: the dead letters held for checkpoint `id`
  /// (record_error_handler::snapshot), right after snapshot_operator_state.
  virtual void snapshot_dead_letters(checkpoint_id id, std::string& out) {}

  /// Operators and sinks: resume from what snapshot_dead_letters wrote for
  /// the same subtask at checkpoint `id` (empty if nothing), before the
  /// first input. Called on every restore.
  virtual void restore_dead_letters(checkpoint_id id,
                                    const std::string& state) {}

  /// Checkpoint `id` is complete (written and durable). Sources stood at
  /// `p` in it (source_function::checkpoint_complete); sinks learn the id
  /// (sink_function::checkpoint_complete).
  virtual void checkpoint_complete(checkpoint_id id,
                                   const std::vector<source_position>& p) {}
};

/// What a subtask starts from when its job restores a checkpoint.
struct subtask_restore {
  /// The checkpoint restored.
  checkpoint_id id;
  std::vector<key_group_snapshot> key_groups;
  std::vector<source_position> positions;
  /// Sinks: their own state (task::snapshot_operator_state).
  std::string operator_state;
  /// Dead letters not yet published (task::snapshot_dead_letters).
  std::string dead_letters;
  /// The subtask's event time at the checkpoint (see
  /// checkpoint::redistribute for a rescaled operator).
  event_time_snapshot event_time;
  /// Per input slot: the output watermark and status its upstream subtask
  /// restores (what that channel had delivered at the checkpoint); empty
  /// for a checkpoint without event time (the inputs start at the lowest
  /// watermark).
  std::vector<channel_time> inputs;
};

using task_factory = std::function<std::unique_ptr<task>(const task_setup&)>;

} // namespace flow

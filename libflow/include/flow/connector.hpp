#pragma once

#include "flow/blocking_executor.hpp"
#include "flow/defaults.hpp"
#include "flow/emitting_task.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flow {

/// Where a source or sink instance runs.
struct connector_context {
  std::string operator_name;
  uint32_t subtask_index = 0;
  uint32_t parallelism = 1;
  /// The node's configuration: connectors read their options here.
  const settings_map* settings = nullptr;
  /// Where the connector runs what would block its thread (see
  /// blocking_executor); null: nowhere, background_result runs it inline.
  blocking_executor* executor = nullptr;
  /// Where the connector publishes gauges about the system it talks to
  /// (consumer lag, producer queue), for the HTTP endpoints; may be null.
  /// Written from the subtask's thread only.
  connector_metrics* metrics = nullptr;
  /// Sinks: the subtask's on-error policy, for the records the sink cannot
  /// write (unserializable, too large): call errors->on_failure(&record)
  /// inside the catch block (see record_error_handler). Never null for a
  /// sink inside a job.
  record_error_handler* errors = nullptr;
  /// flow.max-parallelism: the most subtasks any operator of the job can
  /// have, fixed for the job's lifetime. A source that cuts its input into
  /// splits of its own (the generator) makes this many, so that each
  /// subtask has some at any parallelism (see source_position).
  uint32_t max_parallelism = default_max_parallelism;

  static connector_context of(const task_setup& s) {
    connector_context c{
        s.operator_name, s.subtask_index,
        s.parallelism,   s.settings,
        s.executor,      s.metrics ? &s.metrics->connector : nullptr};
    c.max_parallelism = s.max_parallelism;
    return c;
  }
};

/// A source of records of type T, one instance per source subtask.
template <class T>
class source_function {
public:
  virtual ~source_function() = default;
  virtual void open(const connector_context&) {}
  /// Emits up to about `max_records` records to `out`.
  virtual source_state poll(emitter<T>& out, size_t max_records) = 0;
  /// Graceful stop: the next poll should return done.
  virtual void request_stop() {}
  /// A source that can tell when input arrives calls `wake` (from any
  /// thread, cheaply) once records may be there after poll() returned
  /// idle, and returns true; the host then polls at once rather than
  /// retrying idle sources every millisecond. Called once, after open().
  virtual bool set_wakeup(std::function<void()> wake) { return false; }

  // -- checkpoints ----------------------------------------------------------

  /// Where the source stands: per split, the position of the next record
  /// poll() would emit. Called between polls when the job checkpoints; a
  /// source without positions (the default) starts from its beginning
  /// after a restore.
  virtual std::vector<source_position> positions() const { return {}; }

  /// After open(), before the first poll: resume at `positions` (what
  /// positions() returned for the same subtask at a checkpoint; restored
  /// at another parallelism, those of the numbered splits this subtask
  /// owns now, see source_position).
  virtual void restore(const std::vector<source_position>& positions) {}

  /// A checkpoint in which this source stood at `positions` is complete
  /// (written and durable): a source may now tell its input (Kafka: commit
  /// the offsets to the consumer group). Must not block the thread.
  virtual void
  checkpoint_complete(const std::vector<source_position>& positions) {}

  /// Right after positions() at a checkpoint: what the source wrote
  /// elsewhere for the records before those positions (the Kafka source's
  /// dead letters) must be durable before the checkpoint completes, else a
  /// restart from it would never write them. Start that here and stay
  /// busy() until it is done: the checkpoint's acknowledgement waits (the
  /// source is polled as usual meanwhile).
  virtual void prepare_checkpoint() {}
  /// True while prepare_checkpoint()'s work is not done.
  virtual bool busy() const { return false; }
};

/// A sink for records of type T, one instance per sink subtask.
template <class T>
class sink_function {
public:
  virtual ~sink_function() = default;
  virtual void open(const connector_context&) {}
  /// Consumes a batch; may move records out of `records`.
  virtual void write(std::vector<T>& records) = 0;
  /// End of input: flush everything written so far.
  virtual void finish() {}

  /// A sink that has to wait (a full producer queue, acknowledgements
  /// after finish(), a connection still opening) says so here instead of
  /// blocking its thread. While busy, the host gives it no input and does
  /// not count it as finished: the subtask withholds credit upstream, and
  /// calls resume() after the sink's wake-up (set_wakeup), or after a short
  /// delay if it has none. Asked after open(), write(), finish() and
  /// resume().
  virtual bool busy() const { return false; }
  /// Goes on with what made the sink busy. Throws as write() does.
  virtual void resume() {}
  /// As source_function::set_wakeup: the sink calls `wake` (from any
  /// thread, cheaply) once resume() may make progress, and returns true.
  /// Called once, after open().
  virtual bool set_wakeup(std::function<void()> wake) { return false; }

  /// A checkpoint's barrier arrived: everything write() got so far must be
  /// durable (delivered, acknowledged) before the checkpoint completes,
  /// else a restart from it would lose records. Start that here and stay
  /// busy() until it is done; the checkpoint waits for it.
  virtual void prepare_checkpoint() {}

  // -- checkpoints: the sink's own state --------------------------------------

  /// Barrier `id` arrived, after prepare_checkpoint() and before the next
  /// write(): the sink's state to keep in checkpoint `id` (records it holds
  /// back until the checkpoint completes, say); empty: none (the default).
  /// A std::string converts (moved, not copied); a sink that keeps the
  /// bytes itself too hands them over as shared pieces.
  virtual byte_chain snapshot_state(checkpoint_id id) { return {}; }

  /// After open(), before the first write(), when the job restores
  /// checkpoint `id`: what snapshot_state(id) returned for the same subtask
  /// (empty if nothing). Not called on a fresh start.
  virtual void restore(checkpoint_id id, const std::string& state) {}

  /// Checkpoint `id`, and with it what snapshot_state(id) returned, is
  /// complete (written and durable): a sink may now make its output of
  /// that checkpoint visible. Completions arrive in increasing order but
  /// not every id is reported (aborted checkpoints, lost messages): `id`
  /// also covers the checkpoints before it. Must not block the thread.
  virtual void checkpoint_complete(checkpoint_id id) {}
};

template <class T>
using source_maker = std::function<std::unique_ptr<source_function<T>>(
    const connector_context&)>;

template <class T>
using sink_maker =
    std::function<std::unique_ptr<sink_function<T>>(const connector_context&)>;

/// A source as the topology builder takes it.
template <class T>
struct source_spec {
  std::string name;
  source_maker<T> make;
  std::optional<uint32_t> parallelism;
};

/// A sink as the topology builder takes it.
template <class T>
struct sink_spec {
  sink_spec() = default;
  sink_spec(std::string n, sink_maker<T> m,
            std::optional<uint32_t> p = std::nullopt, std::string group = {})
      : name(std::move(n)), make(std::move(m)), parallelism(p),
        slot_group(std::move(group)) {}
  std::string name;
  sink_maker<T> make;
  std::optional<uint32_t> parallelism;
  /// Slot group of the sink; empty: that of its input.
  std::string slot_group;
};

/// Task hosting a sink_function.
template <class T>
class sink_task final : public task {
public:
  sink_task(const task_setup& s, std::unique_ptr<sink_function<T>> f)
      : errors_(s), fn_(std::move(f)) {
    auto ctx = connector_context::of(s);
    ctx.errors = &errors_;
    fn_->open(ctx);
  }
  void process(size_t, batch_base& b) override { fn_->write(records_of<T>(b)); }
  void end_of_input() override { fn_->finish(); }
  /// Busy while the sink waits, or dead letters wait for their
  /// acknowledgement.
  bool busy() const override { return fn_->busy() || errors_.busy(); }
  void resume() override {
    if (fn_->busy()) fn_->resume();
    if (errors_.busy()) errors_.resume();
  }
  bool set_wakeup(std::function<void()> wake) override {
    errors_.set_wakeup(wake);
    return fn_->set_wakeup(std::move(wake));
  }
  void prepare_checkpoint() override { fn_->prepare_checkpoint(); }
  void snapshot_operator_state(checkpoint_id id, byte_chain& out) override {
    out = fn_->snapshot_state(id);
  }
  void restore_operator_state(checkpoint_id id,
                              const std::string& state) override {
    fn_->restore(id, state);
  }
  void snapshot_dead_letters(checkpoint_id id, std::string& out) override {
    out = errors_.snapshot(id);
  }
  void restore_dead_letters(checkpoint_id id,
                            const std::string& state) override {
    errors_.restore(id, state);
  }
  void checkpoint_complete(checkpoint_id id,
                           const std::vector<source_position>&) override {
    fn_->checkpoint_complete(id);
    errors_.checkpoint_complete(id);
  }

private:
  record_error_handler errors_;
  std::unique_ptr<sink_function<T>> fn_;
};

} // namespace flow

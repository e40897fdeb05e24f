#pragma once

#include "flow/batch.hpp"
#include "flow/outbox.hpp"
#include "flow/partitioning.hpp"
#include "flow/settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flow {

/// Everything a task needs to set itself up for one subtask.
struct task_setup {
  std::string operator_name;
  uint32_t subtask_index = 0;
  uint32_t parallelism = 1;
  size_t batch_size = 1024;
  std::vector<out_edge_layout> outputs;
  outbox* out = nullptr;
  /// The node's configuration (never null inside a job).
  const settings_map* settings = nullptr;
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

  /// All inputs ended: emit what remains of the state.
  virtual void end_of_input() {}

  /// Closes partially filled output batches of channels that have credit.
  virtual void flush() {}

  /// Closes every partially filled output batch.
  virtual void flush_all() { flush(); }

  /// True if some output record sits in a partially filled batch.
  virtual bool has_buffered() const { return false; }
};

using task_factory = std::function<std::unique_ptr<task>(const task_setup&)>;

} // namespace flow

#pragma once

#include "flow/kafka/options.hpp"

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace flow::kafka {

/// Commits source offsets only after the Kafka sinks of the job delivered
/// everything (at-least-once until checkpoints exist).
///
/// The records of one job cannot be traced from sink back to source
/// offsets (operators may filter, split, aggregate), so the rule is coarse
/// but safe: a source that finishes (end of a bounded input, or a graceful
/// stop) reports its positions; they are committed when every Kafka sink
/// of the process has flushed (finish() returned, all acknowledged). A job
/// that fails or crashes commits nothing, and restarts from the previous
/// commit: records are repeated, never lost. Offsets are not committed
/// while an unbounded job runs. A job without Kafka sinks commits nothing
/// by itself (its positions wait for the next Kafka sink flush in the
/// process).
///
/// Process-wide and thread-safe.
class offset_committer {
public:
  static offset_committer& instance();

  /// A Kafka sink opened.
  void sink_opened();

  /// A Kafka sink flushed everything; commits if it was the last open one
  /// and no sink was abandoned. Blocks (not on a scheduler thread). Throws
  /// kafka_error(offset_commit_failed) once every commit was tried if one
  /// of a job without checkpoints failed: nothing is lost, but the next
  /// run would read those records again, and the job says so by failing.
  /// A job with checkpoints resumes from them; its failed commit (for lag
  /// tools) is logged.
  void sink_finished();

  /// A Kafka sink went away without finishing (job failure): what the
  /// sources reported is discarded once the last sink is gone.
  void sink_abandoned();

  /// A source finished with these next offsets per partition; its job
  /// takes checkpoints if `checkpointed`.
  void source_finished(const client_settings& s, const std::string& topic,
                       std::vector<std::pair<int32_t, int64_t>> positions,
                       bool checkpointed);

private:
  struct pending {
    client_settings settings;
    std::string topic;
    std::vector<std::pair<int32_t, int64_t>> positions;
    bool checkpointed = false;
  };
  /// Commits what the sources reported unless a sink was abandoned;
  /// returns the failed commits' errors ("" if none).
  std::string last_sink_gone(std::unique_lock<std::mutex>& guard);

  std::mutex mtx_;
  int open_sinks_ = 0;
  bool abandoned_ = false;
  std::vector<pending> pending_;
};

} // namespace flow::kafka

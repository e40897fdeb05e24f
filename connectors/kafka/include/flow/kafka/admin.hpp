#pragma once

#include "flow/kafka/options.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flow::kafka {

/// Topic administration for tests, examples and the dead-letter topics.
/// On the embedded cluster, topics are created through embedded_cluster
/// (the mock has no CreateTopics); delete_topic is not supported there.
/// Not thread-safe.
class admin {
public:
  explicit admin(const client_settings& s);
  ~admin();

  admin(const admin&) = delete;
  admin& operator=(const admin&) = delete;

  /// Creates `topic` with topic `configs` (e.g. max.message.bytes); an
  /// existing topic is fine (and keeps its configs). replication -1: the
  /// broker's default. Returns once the topic's metadata is visible to
  /// clients (within kafka.timeout-ms). Blocks: not on a scheduler
  /// thread. Throws kafka_error.
  void create_topic(
      const std::string& topic, int32_t partitions, int32_t replication = -1,
      const std::vector<std::pair<std::string, std::string>>& configs = {});

  /// The value of topic config `name` of `topic` (max.message.bytes, ...),
  /// or nullopt if the broker has none or the cluster is embedded. Blocks.
  /// Throws kafka_error (unknown_topic if it does not exist).
  std::optional<std::string> topic_config(const std::string& topic,
                                          const std::string& name);

  /// Deletes `topic` (missing is fine). Throws kafka_error.
  void delete_topic(const std::string& topic);

  /// Partitions of `topic`; throws kafka_error(unknown_topic) if missing.
  int32_t partitions(const std::string& topic);

  /// The fewest replicas a partition of `topic` has; throws
  /// kafka_error(unknown_topic) if missing.
  int32_t min_replicas(const std::string& topic);

  /// What committed() does about an offset commit of a transaction that
  /// has not ended: `wait` until it has (require_stable; retried up to
  /// kafka.timeout-ms, then kafka_error(timed_out)), or `skip` it and
  /// answer at once with the last commit that completed.
  enum class pending_commits { wait, skip };

  /// The offsets `group` committed for `topic`, by partition (partitions
  /// without a commit are left out). Throws kafka_error: timed_out after
  /// kafka.timeout-ms, offset_commit_failed for other errors.
  std::map<int32_t, int64_t>
  committed(const std::string& group, const std::string& topic,
            pending_commits pending = pending_commits::wait);

  /// committed(group, topic, pending_commits::skip) of each of `groups`,
  /// asked at once (one request per group, concurrently, on this client)
  /// rather than one after the other.
  std::map<std::string, std::map<int32_t, int64_t>>
  committed_skipping_pending(const std::vector<std::string>& groups,
                             const std::string& topic);

  /// Commits `offsets` (next offset to read, by partition) for `group`.
  void commit(const std::string& group, const std::string& topic,
              const std::map<int32_t, int64_t>& offsets);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace flow::kafka

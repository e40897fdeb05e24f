#pragma once

#include "flow/option.hpp"
#include "flow/settings.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flow::kafka {

/// Where a source starts reading each assigned partition.
struct start_offset {
  enum class kind {
    /// The first retained record.
    earliest,
    /// After the last record at open time (only new records).
    latest,
    /// The group's committed offset (kafka.group-id); earliest if none.
    committed,
    /// The first record with a timestamp >= `timestamp_ms`.
    timestamp,
    /// Explicit offsets per partition (`offsets`); partitions not listed
    /// start at the earliest record.
    explicit_offsets,
  };
  kind what = kind::earliest;
  int64_t timestamp_ms = 0;
  std::map<int32_t, int64_t> offsets;

  /// Parses `earliest`, `latest`, `committed`, `timestamp:<ms>` or
  /// `offsets:<partition>=<offset>,...`.
  static std::optional<start_offset> parse(const std::string& text);
};

/// What a Kafka sink guarantees (kafka.delivery).
enum class delivery_guarantee {
  /// Idempotent producer; records are acknowledged before a checkpoint
  /// completes. After a crash, the output since the last checkpoint is
  /// written again (duplicates, never loss).
  at_least_once,
  /// Transactional producer: the output between two checkpoints becomes
  /// visible to read_committed consumers, once, when the second one
  /// completes (connectors/kafka/README.md, "Exactly-once").
  exactly_once,
};

/// The `kafka` options as typed values. The options themselves (key,
/// default, bounds, description) are declared once, in options.cpp; the
/// member initializers here are their defaults.
struct client_settings {
  /// host:port[,host:port...] or "embedded" (librdkafka's in-process mock
  /// cluster, see embedded_cluster.hpp). No default: a program with a Kafka
  /// source or sink refuses to start without it (exit 2).
  std::string bootstrap;
  /// Consumer group for committed offsets (start-offset=committed, and the
  /// offsets committed when the job ends gracefully). Empty: no commits.
  std::string group_id;
  start_offset start;
  /// Read each partition up to its end offset at open time, then finish
  /// (a bounded job). Otherwise sources run until the job is stopped.
  bool stop_at_end = false;
  /// Dead-letter topic of topic T: T + dlq_suffix.
  std::string dlq_suffix = ".dlq";
  /// A record that fails to deserialize fails the job instead of going to
  /// the dead-letter topic.
  bool fail_on_bad_record = false;
  /// Topic of the records user functions and sinks fail on under on-error
  /// dead-letter (operator_dead_letters); empty: none.
  std::string dead_letter_topic;
  /// Producer linger (librdkafka linger.ms). 1 ms: under load librdkafka
  /// batches while requests are in flight anyway (W1 ran as fast with 0, 1
  /// and 5), at low load every millisecond here is latency (W4).
  int64_t linger_ms = 1;
  /// Producer batch size in bytes (librdkafka batch.size).
  int64_t batch_size = 1000000;
  /// Deadline of a produced record including librdkafka's retries
  /// (delivery.timeout.ms); afterwards the job fails.
  int64_t delivery_timeout_ms = 60000;
  /// How long open() waits for the cluster's metadata before failing with
  /// broker_unreachable / unknown_topic.
  int64_t timeout_ms = 10000;
  /// Partitions of topics that the embedded cluster creates; 0: the
  /// parallelism of the operator that creates it.
  int64_t embedded_partitions = 0;
  /// kafka.delivery.
  delivery_guarantee delivery = delivery_guarantee::at_least_once;
  /// Exactly-once: transaction.timeout.ms of the sinks' transactional
  /// producers; must exceed flow.checkpoint-interval.
  int64_t transaction_timeout_ms = 60000;
  /// Exactly-once: bytes of records (keys, values, headers) a sink subtask
  /// may hold back until the checkpoint that covers them completes.
  int64_t exactly_once_buffer_bytes = int64_t{256} << 20;
  /// Extra librdkafka properties for every client, as "key=value"; they
  /// override the connector's defaults.
  std::vector<std::pair<std::string, std::string>> properties;

  /// Reads the `kafka.*` keys of `s` (the node's settings, checked against
  /// the option schema by the runtime). Throws std::invalid_argument with a
  /// config_error message for a bad value or an unset kafka.bootstrap.
  static client_settings from(const settings_map* s);

  /// True if bootstrap names the embedded mock cluster.
  bool embedded() const noexcept { return bootstrap == "embedded"; }
};

/// Declares that this program runs a Kafka source or sink, which makes
/// kafka.bootstrap required: flow::program refuses to run without it
/// (exit 2 naming the option). The source and sink builders call it.
void require_bootstrap();

/// kafka.dead-letter-topic of `s` (empty: unset), and its key.
std::string dead_letter_topic_of(const settings_map& s);
const std::string& dead_letter_topic_key();

} // namespace flow::kafka

#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace flow::kafka {

/// librdkafka's in-process mock cluster, used when kafka.bootstrap is
/// "embedded": the zero-setup default for demos. One per process, created
/// on first use and destroyed at exit; its clients connect over loopback
/// TCP like to a real broker.
///
/// Limits (librdkafka 2.0.2 mock): one broker, replication 1, data only in
/// memory (gone when the process exits, so only jobs in the same process
/// share it); no CreateTopics/DeleteTopics via the admin API (topics are
/// created by ensure_topic, which the connectors call); no compaction,
/// retention, ACLs or transactions across restarts. Good for demos and
/// examples, not for tests of broker behavior: those use the real broker.
///
/// Thread-safe.
class embedded_cluster {
public:
  /// The process's cluster, created on first call.
  static embedded_cluster& instance();

  ~embedded_cluster();
  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;

  /// Bootstrap servers of the mock broker ("127.0.0.1:port").
  const std::string& bootstrap() const noexcept { return bootstrap_; }

  /// Creates `topic` with `partitions` partitions unless it exists; returns
  /// its partition count (that of the first creation).
  int32_t ensure_topic(const std::string& topic, int32_t partitions);

  /// Takes the broker down (connections closed, new ones refused; data
  /// kept) or brings it back: how tests make a dead broker. The connectors
  /// never call it.
  void set_available(bool up);

  /// Makes the broker answer requests for `topic`'s metadata with
  /// TOPIC_AUTHORIZATION_FAILED, as a broker whose ACLs deny the client
  /// would (`refused` false: answers again). For tests; the connectors
  /// never call it.
  void refuse_topic(const std::string& topic, bool refused);

  /// Makes the broker answer the next produce request, whichever client
  /// sends it, with OUT_OF_ORDER_SEQUENCE_NUMBER, as a broker that lost
  /// track of a producer's sequence would: an idempotent producer can no
  /// longer tell what was written, a fatal error. The answer waits for a
  /// request until one comes or `armed` is false. For tests; the
  /// connectors never call it.
  void answer_next_produce_out_of_sequence(bool armed);

  /// Makes the broker answer the next fetch request, whichever client
  /// sends it, with TOPIC_AUTHORIZATION_FAILED for each of its partitions,
  /// as a broker whose ACLs changed while a job read would. Waits for a
  /// request as answer_next_produce_out_of_sequence does. For tests; the
  /// connectors never call it.
  void answer_next_fetch_not_authorized(bool armed);

  /// Makes the broker refuse offset commits, whichever client sends them,
  /// with GROUP_AUTHORIZATION_FAILED (the next 1000 of them), as a broker
  /// whose ACLs deny the group would (`refused` false: accepts them
  /// again). For tests; the connectors never call it.
  void refuse_offset_commits(bool refused);

private:
  embedded_cluster();
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string bootstrap_;
  std::mutex mtx_;
  std::map<std::string, int32_t> topics_;
};

} // namespace flow::kafka

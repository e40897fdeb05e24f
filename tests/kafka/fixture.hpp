#pragma once

// Helpers of the kafka suite: the real broker's address, unique topics,
// producing test input and reading a topic back.

#include "flow/kafka.hpp"
#include "flow/runtime/job.hpp"

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flow::kafka::test {

/// LIBFLOW_KAFKA_BOOTSTRAP, default 127.0.0.1:9092.
std::string bootstrap();

using raw_client = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;

/// A plain librdkafka client of the broker, for what the connector does
/// not do (another producer's transaction, end offsets per isolation
/// level), with `properties` besides bootstrap.servers. Throws
/// std::runtime_error with librdkafka's message.
raw_client make_raw_client(
    rd_kafka_type_t type,
    const std::vector<std::pair<std::string, std::string>>& properties);

/// Reads records whose value is "<key>:<sequence within key>..." and
/// counts what is wrong: a value not of the record's key, a gap, repeat or
/// reordering in a key's sequence, a key on two partitions.
struct key_sequences {
  std::unordered_map<std::string, int64_t> last;
  std::unordered_map<std::string, int32_t> partition_of;
  uint64_t bad = 0;

  /// The key and sequence of `r` (checked as above); throws
  /// std::runtime_error if it has no key.
  std::pair<std::string, int64_t> add(const record& r);
};

/// Record i of a sequence a producer's batch call (rd_kafka_produce_batch)
/// takes only in part: value "<key>:<sequence within key>" of `keys` keys
/// (i % keys); every 97th record has a header, every 101st a timestamp,
/// keys divisible by 5 an explicit partition of 4.
struct mixed_records {
  explicit mixed_records(int keys);
  producer_record make(int i) const;
  /// Adds `r`, read back, to `seqs`, also counting in seqs.bad a wrong
  /// partition, header or timestamp.
  void check(key_sequences& seqs, const record& r) const;
  /// What is wrong about `got`, records [0, n) read back: each record as
  /// check() finds it, and each key whose sequence does not end at its
  /// last record (missing keys included). 0 if nothing.
  uint64_t wrong(const std::vector<record>& got, int n) const;

  int keys;
  /// An hour ago (older timestamps could fall to a topic's retention).
  int64_t base_ms;
};

struct fixture {
  fixture();

  /// A topic name no other test (or earlier run) uses, created with
  /// `partitions` partitions.
  std::string make_topic(const std::string& what, int32_t partitions);

  /// A unique name (topics not created, groups).
  std::string unique(const std::string& what);

  /// Job options for the broker, with kafka.* settings added.
  job_options options(uint32_t parallelism,
                      const settings_map& extra = {}) const;

  /// Produces records and waits until all are acknowledged; a non-zero
  /// `max_message_bytes` lets the producer send records up to that size.
  void produce(const std::string& topic,
               const std::vector<producer_record>& records,
               size_t max_message_bytes = 0);

  /// Every committed record of `topic`, from the earliest to the end
  /// offsets once await_transaction_markers() returned, partition by
  /// partition in offset order.
  std::vector<record> read_all(const std::string& topic);

  /// Waits (up to 30 s, for a transaction left open) until each partition's
  /// last stable offset reached its high watermark. A transaction's commit
  /// returns once the coordinator has logged it; the coordinator writes its
  /// markers into the partitions after that. Until they land, a
  /// read_committed reader's end offset is the transaction's first offset,
  /// so a bounded read right after a commit could end before its records.
  void await_transaction_markers(const std::string& topic);

  /// Every committed record of `topic` up to its last stable offsets now,
  /// without waiting for markers: what a job's progress looks like while
  /// it runs.
  std::vector<record> read_stable(const std::string& topic);

  client_settings settings;
  admin adm;
};

} // namespace flow::kafka::test

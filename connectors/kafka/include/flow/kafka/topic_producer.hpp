#pragma once

#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace flow::kafka {

/// An idempotent producer (acks=all, murmur2 key partitioning as the Java
/// client) writing to one topic, with delivery reports tracked: a record
/// that librdkafka could not deliver within kafka.delivery-timeout-ms
/// (after its retries) makes the next produce()/poll()/flush() throw
/// kafka_error(delivery_failed); a fatal producer error throws
/// kafka_error(fatal) with librdkafka's reason.
///
/// Two ways to use it. Tools and tests call produce() and flush(), which
/// block while librdkafka's queue is full and until everything is
/// acknowledged. The runtime's sinks must not block their thread: they
/// call enqueue(), service() and flushed(), which never wait; the writer
/// holds back what librdkafka has no room for, and calls the wake-up
/// (set_wakeup) when a delivery report makes progress possible.
///
/// Threading: not thread-safe; use it from one thread (the sink subtask).
/// Delivery reports and error callbacks are served by the calls above on
/// the calling thread, never on librdkafka's threads, so the tracking needs
/// no locks. Only the log callback and the wake-up run on librdkafka
/// threads.
class topic_producer {
public:
  /// What makes a producer transactional (exactly-once sinks).
  struct transactional {
    /// transactional.id: the same for every run of one sink subtask, so
    /// that a new instance fences the older ones (init_transactions).
    std::string id;
    /// transaction.timeout.ms (kafka.transaction-timeout-ms); it also caps
    /// the records' delivery timeout (librdkafka requires that).
    int64_t timeout_ms = 60000;
  };

  /// A transactional producer: as the constructor below, then
  /// init_transactions, which aborts a transaction an older instance of
  /// `txn.id` left open and fences that instance (its next call fails
  /// fatally). Blocks: not on a scheduler thread. Records go into a
  /// transaction (begin_transaction, then try_produce_in_place or enqueue) that
  /// publish_transaction() or commit_transaction() commits.
  topic_producer(const client_settings& s, std::string topic,
                 int32_t embedded_partitions, const transactional& txn);

  /// Connects to the cluster of `s`; waits up to kafka.timeout-ms for the
  /// topic's metadata and throws kafka_error (broker_unreachable,
  /// unknown_topic) if it does not come. On the embedded cluster the topic
  /// is created with `embedded_partitions` (or s.embedded_partitions).
  topic_producer(const client_settings& s, std::string topic,
                 int32_t embedded_partitions = 1);
  ~topic_producer();

  topic_producer(const topic_producer&) = delete;
  topic_producer& operator=(const topic_producer&) = delete;

  /// Queues `r` (copied into librdkafka). Blocks while librdkafka's queue
  /// is full, serving delivery reports.
  void produce(const producer_record& r);

  /// As produce(), from views (no intermediate copies).
  void produce(std::string_view value, const std::string_view* key,
               const std::vector<header>& headers,
               std::optional<int32_t> partition = std::nullopt,
               std::optional<int64_t> timestamp = std::nullopt);

  /// Serves delivery reports without blocking; throws on a failed delivery.
  void poll();

  /// Waits until every queued record is acknowledged (at most
  /// delivery-timeout-ms plus a margin); throws on a failed delivery.
  void flush();

  /// Passes `r` to librdkafka without blocking, or, if its queue is full
  /// or records are held already, holds it (moved), in order, for
  /// service(). No allocation beyond librdkafka's copy while nothing is
  /// held.
  void enqueue(producer_record&& r);

  /// As above, copying `r` only if it must be held.
  void enqueue(const producer_record& r);

  /// As enqueue() of records[0, n) in order, where most records go to
  /// librdkafka in one call (rd_kafka_produce_batch: its checks, clock
  /// reads and topic lock once per call, not per record). Those it has no
  /// room for are moved out of `records` and held; records with headers,
  /// a timestamp or a partition beyond the topic's known ones go one at a
  /// time. `records` keeps its elements (and their buffers) for reuse.
  /// On an error other than a full queue (it throws, and the job fails)
  /// later records of the same call may have been passed on.
  void enqueue(std::vector<producer_record>& records, size_t n);

  /// True while enqueue() holds records librdkafka had no room for.
  bool holding() const noexcept;

  /// Serves delivery reports and passes held records on while librdkafka
  /// has room, without blocking. While records stay held, the wake-up is
  /// armed. Throws on a failed delivery.
  void service();

  /// Flush without blocking: service(), then true once nothing is held or
  /// unacknowledged; while false, the wake-up is armed. The first call of
  /// a flush starts a deadline (delivery-timeout-ms plus a margin) after
  /// which it throws kafka_error(delivery_failed), as flush() does; the
  /// flush ends when it returns true (a checkpoint's flush, then the final
  /// one).
  bool flushed();

  /// `wake` is called when a delivery report (or error) arrives while the
  /// wake-up is armed by service() or flushed(); then it is disarmed. It
  /// runs on a librdkafka thread under a queue lock: it must be quick and
  /// call no librdkafka function. Call once.
  void set_wakeup(std::function<void()> wake);

  /// Transactional producers: begins a transaction (a local step, no
  /// wait); records then go into it (try_produce_in_place, enqueue) until
  /// publish_transaction(..., begun = true) commits it.
  void begin_transaction();

  /// Queues one record in librdkafka without blocking (copied); false if
  /// its queue is full. Throws kafka_error for other errors.
  bool try_produce(std::string_view value, const std::string_view* key,
                   const std::vector<header>& headers,
                   std::optional<int32_t> partition,
                   std::optional<int64_t> timestamp);
  /// Passes run.records[first, ...) to librdkafka without blocking, most
  /// in one call as enqueue() of records does, but librdkafka sends the
  /// values from where they are (keys and headers it copies): the
  /// producer holds run.buffer until no record is in flight and none has
  /// failed (then until it is destroyed, after librdkafka). Stops at the
  /// first record librdkafka's queue has no room for and returns its
  /// index (the run's size if none); throws kafka_error for other errors.
  size_t try_produce_in_place(const record_run& run, size_t first = 0);
  /// As try_produce_in_place(), blocking while librdkafka's queue is full
  /// (as produce()).
  void produce_in_place(const record_run& run);

  /// Where a publish_transaction() spent its time, in µs: its records'
  /// acknowledgements (write and flush), the marker
  /// (send_offsets_to_transaction) and the commit.
  struct transaction_timing {
    int64_t flush_us = 0;
    int64_t marker_us = 0;
    int64_t commit_us = 0;
  };

  /// Transactional producers: begins a transaction unless `begun`
  /// (begin_transaction() was called, and records may be in it already),
  /// calls `write`, which produce()s the rest of the transaction's records
  /// on this producer, in order, and sets `marker_group`'s committed
  /// offset of this topic's partition 0 to `marker`
  /// (send_offsets_to_transaction), in ONE transaction, and commits it. Blocks
  /// until committed (on the sink's executor, never a scheduler thread); the
  /// transaction is open only during this call. Calls
  /// fault_point(fault_during_commit) once the records are acknowledged, before
  /// the marker and the commit. Throws kafka_error (fatal if fenced by a newer
  /// instance); the transaction is then not committed, or its outcome is
  /// unknown: the job fails and the marker tells the next run.
  transaction_timing publish_transaction(const std::function<void()>& write,
                                         const std::string& marker_group,
                                         int64_t marker, bool begun = false);

  /// Committed offsets by (topic, partition): a transaction's marker.
  using marker_offsets = std::map<std::pair<std::string, int32_t>, int64_t>;

  /// Transactional producers: waits until every record of the transaction
  /// begun with begin_transaction() is acknowledged, then sets
  /// `marker_group`'s committed offsets to `marker` in it (if any;
  /// send_offsets_to_transaction) and commits it. Blocks (on an executor,
  /// never a scheduler thread); throws kafka_error (fatal if fenced by a
  /// newer instance), the transaction then not committed.
  void commit_transaction(const std::string& marker_group = {},
                          const marker_offsets& marker = {});

  /// Partitions of the topic.
  int32_t partitions() const noexcept { return partitions_; }

  const std::string& topic() const noexcept { return topic_; }

  /// Records acknowledged by the broker so far.
  uint64_t delivered() const noexcept;

  /// Records queued and not yet acknowledged or failed.
  uint64_t in_flight() const noexcept;

private:
  struct impl;
  topic_producer(const client_settings& s, std::string topic,
                 int32_t embedded_partitions, const transactional* txn);
  void check();
  /// send_offsets_to_transaction of `marker` for `group`.
  void send_marker(const std::string& group, const marker_offsets& marker,
                   const std::string& context);
  /// Serves delivery reports; lets go of the lent buffers once nothing is
  /// in flight.
  void serve_reports(int timeout_ms);
  bool try_produce(const producer_record& r);
  /// Passes records[first, n) to librdkafka without blocking, stopping at
  /// the first one its queue has no room for; returns that one's index (n
  /// if none).
  size_t try_produce(const std::vector<producer_record>& records, size_t first,
                     size_t n);
  /// As above, with librdkafka's `msgflags` (copy or not) for every
  /// record: runs of records without headers, a timestamp or a partition
  /// beyond the topic's known ones in one rd_kafka_produce_batch each, the
  /// others one at a time. Record: producer_record or record_run::entry.
  template <class Record>
  size_t try_produce_each(const std::vector<Record>& records, size_t first,
                          size_t n, int msgflags);
  /// records[first, last), all as try_produce_each batches them, in one
  /// rd_kafka_produce_batch; as above.
  template <class Record>
  size_t try_produce_batch(const std::vector<Record>& records, size_t first,
                           size_t last, int msgflags);
  /// Whether librdkafka took a record (`err`, an rd_kafka_resp_err_t):
  /// false if its queue is full; throws kafka_error for any other error.
  bool accepted(int err);
  /// Produces with `msgflags`; false if the queue is full.
  bool send(std::string_view value, const std::string_view* key,
            const std::vector<header>& headers,
            std::optional<int32_t> partition, std::optional<int64_t> timestamp,
            int msgflags);
  void send_held();
  /// Appends `r` to the held records.
  void hold(producer_record&& r);
  /// Arms the wake-up and serves once more: a report that came before
  /// arming is served here, a later one calls the wake-up.
  void arm_and_serve();
  std::unique_ptr<impl> impl_;
  std::string topic_;
  int32_t partitions_ = 0;
};

} // namespace flow::kafka

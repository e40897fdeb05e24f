#pragma once

#include "flow/byte_chain.hpp"
#include "flow/ids.hpp"
#include "flow/kafka/record.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flow::kafka {

/// Where in an epoch's chunks a record starts.
struct epoch_position {
  size_t chunk = 0;
  /// Byte in that chunk.
  size_t at = 0;
};

/// The records of one epoch: what a sink subtask was given between
/// checkpoint barriers id-1 and id, each serialized once, as the sink's
/// checkpointed state holds them (so a snapshot copies bytes, record by
/// record nothing). Immutable once closed, so a publication on another
/// thread and a snapshot on the subtask's may read it together.
struct epoch {
  checkpoint_id id;
  /// The records, encoded back to back across chunks; a record never spans
  /// two, and a chunk never moves or grows once a record is in it (what
  /// is handed out keeps pointing at the record, even while the epoch is
  /// open).
  std::vector<std::shared_ptr<const std::string>> chunks;
  /// Number of records.
  size_t records = 0;
  /// Bytes of the records' keys, values and headers (what the limit
  /// counts).
  size_t bytes = 0;

  /// Calls `f` with the records from `from` on (the first, or where
  /// epoch_log::take_open stopped), in order, in runs as take_open offers
  /// them, without copying key or value.
  void for_each(const std::function<void(const record_run&)>& f,
                epoch_position from = {}) const;
  /// The records as producer_records (tests, tools).
  std::vector<producer_record> decode() const;
};

/// Chunks of closed epochs come back here when their last holder (the
/// log, a publication, a checkpoint's writer, a producer) lets go of them,
/// and the open epoch fills them again: their pages are mapped already,
/// where a fresh chunk costs a page fault per 4 KiB.
/// Thread-safe: the last holder may be on any thread.
class epoch_buffers {
public:
  /// An empty buffer of at least `capacity` bytes: a kept one if one is
  /// large enough.
  std::string take(size_t capacity);
  /// Keeps `buffer` for take() (at most `kept` of them), or frees it.
  void give_back(std::unique_ptr<std::string> buffer);
  /// About two epochs of 32 MiB in default chunks: what a sink at 1 s
  /// checkpoints has in flight at W1's rate.
  static constexpr size_t kept = 64;

private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<std::string>> free_;
};

/// What one Kafka transaction publishes: the epochs up to `up_to`, in
/// order, and the marker that says they are committed.
struct publication {
  checkpoint_id up_to;
  std::vector<epoch> epochs;
  /// The committed offset of the sink subtask's marker group after the
  /// transaction: base + up_to.
  int64_t marker = 0;
  size_t records() const;
};

/// The exactly-once Kafka sink's decisions, free of librdkafka (DESIGN.md
/// "Checkpoints and exactly-once"; the argument is in
/// connectors/kafka/README.md): which records are held back, which
/// epochs a completed checkpoint makes publishable, which restored epochs
/// a previous run committed already.
///
/// Records of the open epoch accumulate; barrier `id` closes it as epoch
/// `id`; the closed epochs not yet known to be committed are the sink's
/// checkpointed state (encode/restore). When checkpoint n completes, the
/// epochs <= n go out in ONE transaction whose marker is base + n; a
/// transaction's marker is monotonic, so "epoch k is committed" is
/// "marker >= base + k". `base` shifts the marker of this lineage of
/// checkpoints above the markers of earlier runs (a fresh start, or a
/// restore of a checkpoint older than what was committed since), and is
/// part of the state.
///
/// Memory: at most `max_bytes` of records (key, value and headers) are
/// held, normally one checkpoint interval of output; more fails the job
/// (append throws) rather than grow without bound.
///
/// Threading: not thread-safe; the sink subtask's thread only. The
/// publication's epochs are shared, immutable, with the thread that
/// publishes them.
class epoch_log {
public:
  /// The capacity of an epoch's chunks (a larger record gets a chunk of
  /// its own size).
  static constexpr size_t default_chunk_bytes = size_t{1} << 20;

  /// `limit_key`: the option that sets max_bytes, for the error.
  epoch_log(size_t max_bytes, std::string limit_key,
            size_t chunk_bytes = default_chunk_bytes);

  /// Adds `r` to the open epoch (serialized: `r` itself is not kept).
  /// Throws kafka_error(other) naming the limit's option if the log would
  /// hold more than max_bytes.
  void append(const producer_record& r);

  /// Barrier `id`: the open epoch becomes epoch `id` (also when empty: its
  /// marker still advances).
  void close(checkpoint_id id);

  /// The closed epochs and base, as the checkpoint keeps them: the
  /// epochs' bytes are shared, not copied.
  byte_chain encode() const;

  /// Replaces the closed epochs and base by those `bytes` encode()d.
  /// Throws std::invalid_argument for bytes that are not such state.
  void restore(const std::string& bytes);

  /// After restoring checkpoint `restored` (0: a fresh start) and reading
  /// the marker group's committed offset `marker` (-1: none): drops the
  /// epochs a previous run committed, and moves base so that this run's
  /// markers exceed `marker`. Returns the number of records dropped.
  size_t reconcile(int64_t marker, checkpoint_id restored);

  /// The epochs <= `completed` as one publication, or nothing if there are
  /// none. They stay in the log (and in its snapshots) until confirm().
  std::optional<publication> publishable(checkpoint_id completed) const;

  /// `p` is committed: its epochs leave the log.
  void confirm(const publication& p);

  /// Records in one run of take_open or epoch::for_each at most.
  static constexpr size_t run_records = 1024;

  /// Offers the open epoch's records from `from` on ({}: its first) to
  /// `f`, in order, in runs (the records of one chunk, at most run_records
  /// of them), until `f` takes only a prefix of a run (it returns how many
  /// records it took: a producer's full queue); returns where the next
  /// offer starts, the first record not taken. Closing the epoch keeps the
  /// positions: epoch::for_each goes on from there.
  epoch_position take_open(epoch_position from,
                           const std::function<size_t(const record_run&)>& f);

  int64_t base() const noexcept { return base_; }
  /// Closed epochs held, oldest first.
  const std::vector<epoch>& closed() const noexcept { return closed_; }
  size_t open_records() const noexcept { return open_records_; }
  size_t bytes() const noexcept { return bytes_; }

private:
  /// A chunk of at least `capacity` bytes, given back to buffers_ when the
  /// last holder lets go.
  std::shared_ptr<const std::string> new_chunk(size_t capacity);

  size_t max_bytes_;
  std::string limit_key_;
  size_t chunk_bytes_;
  /// The open epoch's records, encoded; the last chunk fills (through
  /// filling_, as the chunks are handed out as const).
  std::vector<std::shared_ptr<const std::string>> open_;
  std::string* filling_ = nullptr;
  size_t open_records_ = 0;
  size_t open_bytes_ = 0;
  std::vector<epoch> closed_;
  std::shared_ptr<epoch_buffers> buffers_ = std::make_shared<epoch_buffers>();
  /// take_open's run, kept for its capacity.
  record_run run_;
  /// Bytes held, open and closed.
  size_t bytes_ = 0;
  int64_t base_ = 0;
};

} // namespace flow::kafka

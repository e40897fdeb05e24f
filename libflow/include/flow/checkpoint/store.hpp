#pragma once

#include "flow/checkpoint/error.hpp"
#include "flow/ids.hpp"

#include "flow/checkpoint/metadata.pb.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flow::checkpoint {

/// The metadata format this build writes (metadata.proto says what each
/// version holds)...
inline constexpr uint32_t metadata_format_version = 5;
/// ... and the oldest it reads.
inline constexpr uint32_t oldest_metadata_format_version = 1;

/// The checksum of a part's bytes in a checkpoint of metadata format
/// `version`: FNV-1a 64 up to version 3, a faster multiply-rotate hash
/// over 8-byte words (four lanes of xxHash64's round) from version 4.
uint64_t part_checksum(uint32_t version, std::string_view bytes);
/// The same of the concatenation of `pieces`.
uint64_t part_checksum(uint32_t version,
                       const std::vector<std::string_view>& pieces);

/// Writes whole files durably. The store writes every file through one;
/// tests substitute a writer that fails as a full disk does.
class file_writer {
public:
  virtual ~file_writer();
  /// Creates or truncates `path`, writes the concatenation of `pieces`,
  /// fsyncs and closes it. Safe to call from several threads for
  /// different paths.
  virtual std::optional<storage_error>
  write(const std::filesystem::path& path,
        const std::vector<std::string_view>& pieces) const = 0;
  /// One piece.
  std::optional<storage_error> write(const std::filesystem::path& path,
                                     std::string_view bytes) const {
    return write(path, std::vector<std::string_view>{bytes});
  }
  /// open(2), write(2), fsync(2), close(2); files of 1 MiB and more with
  /// O_DIRECT where the file system takes it (around the page cache).
  static const file_writer& posix();
  /// Files posix() has written with O_DIRECT so far (tests).
  static uint64_t posix_direct_files() noexcept;
};

/// A complete checkpoint or savepoint: its directory and its metadata,
/// checked against its parts.
struct completed_checkpoint {
  std::filesystem::path dir;
  pb::Metadata metadata;
  checkpoint_id id() const { return checkpoint_id{metadata.checkpoint_id()}; }
};

/// Checkpoints of one job in a directory (local, or a shared filesystem
/// for several nodes):
///
///     <root>/chk-<id>/<part files>, <root>/chk-<id>/_metadata
///     <root>/savepoint-<id>/...
///
/// Subtasks' parts are written first, by write_part(), on I/O threads; the
/// job writes `_metadata` last with commit(): temp file, fsync, rename,
/// fsync of the directory. A savepoint's parts may be written as a
/// checkpoint's (subtasks do not know what a barrier is for): commit()
/// renames chk-<id> to savepoint-<id> first. A directory without valid
/// metadata, or whose parts do not match it (missing, other size, other
/// checksum), is not a checkpoint: latest() skips it with a warning and nothing
/// of it is ever restored. commit() keeps the newest `retained` checkpoints and
/// deletes older ones and abandoned partial ones; savepoints are never deleted.
///
/// Every call blocks on file I/O: never call it on a shared scheduler
/// thread. write_part() may run concurrently with itself; commit(),
/// discard() and latest() are called by the job, one at a time.
class store {
public:
  /// `retained` >= 1.
  store(std::filesystem::path root, uint32_t retained,
        const file_writer& writer = file_writer::posix());

  const std::filesystem::path& root() const noexcept { return root_; }

  /// Checks that the root can be listed and, if `for_writing`, creates it
  /// if missing and checks that it can be written (a probe file of a name
  /// no other process uses, written and removed). A job calls it once as
  /// it starts: a directory it cannot list would otherwise look empty (the
  /// job would start fresh, its state lost), and one it cannot write would
  /// fail every checkpoint while the job ran on. Without `for_writing` a
  /// missing root is fine (nothing to restore).
  std::optional<storage_error> prepare(bool for_writing) const;

  /// Directory of checkpoint (or savepoint) `id`.
  std::filesystem::path directory(checkpoint_id id, bool savepoint) const;

  /// Writes one subtask's snapshot, the concatenation of `pieces` (as
  /// checkpoint::encode_state gives it), as a part of checkpoint `id`;
  /// returns `part` with file, size_bytes and checksum filled in. The
  /// file is named after part.operator_id() and part.subtask_index().
  result<pb::Part>
  write_part(checkpoint_id id, bool savepoint, pb::Part part,
             const std::vector<std::string_view>& pieces) const;
  /// One piece.
  result<pb::Part> write_part(checkpoint_id id, bool savepoint, pb::Part part,
                              std::string_view bytes) const {
    return write_part(id, savepoint, std::move(part),
                      std::vector<std::string_view>{bytes});
  }

  /// Makes the checkpoint `metadata` describes complete (its parts must
  /// have been written), then applies retention. Fills in format_version.
  std::optional<storage_error> commit(pb::Metadata metadata);

  /// Deletes what an aborted checkpoint wrote (a warning if that fails).
  void discard(checkpoint_id id, bool savepoint) const;

  /// The complete checkpoint or savepoint with the highest id, skipping
  /// (with a warning) every directory that is not one.
  std::optional<completed_checkpoint> latest() const;

  /// Ids of the complete checkpoints (not savepoints), ascending.
  std::vector<checkpoint_id> completed() const;

  /// Reads and checks the checkpoint or savepoint in `dir` (as
  /// `--flow.restore=PATH` names it).
  static result<completed_checkpoint> open(const std::filesystem::path& dir);

  /// The bytes of `part` of `cp`, checked against its size and checksum.
  static result<std::string> read_part(const completed_checkpoint& cp,
                                       const pb::Part& part);

private:
  struct entry {
    checkpoint_id id;
    bool savepoint;
    std::filesystem::path dir;
  };
  /// Every chk-<id> and savepoint-<id> directory, by ascending id.
  std::vector<entry> scan() const;
  void apply_retention(checkpoint_id committed) const;

  std::filesystem::path root_;
  uint32_t retained_;
  const file_writer& writer_;
};

} // namespace flow::checkpoint

#include "flow/checkpoint/store.hpp"

#include "flow/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <system_error>

namespace flow::checkpoint {

namespace fs = std::filesystem;

namespace {

constexpr const char* metadata_file = "_metadata";
constexpr const char* metadata_temp = "_metadata.tmp";
constexpr std::string_view checkpoint_prefix = "chk-";
constexpr std::string_view savepoint_prefix = "savepoint-";

/// The parts' checksum up to metadata format 3: FNV-1a 64.
uint64_t fnv1a64(const std::vector<std::string_view>& pieces) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (auto bytes : pieces)
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
  return h;
}

/// The parts' checksum from metadata format 4 on: four lanes of xxHash64's
/// round (its primes; not xxHash64 itself) over 8-byte words, then the
/// lanes, the tail bytes and the length folded together. The lanes'
/// multiplications overlap, so it runs at several bytes per cycle where
/// byte-wise FNV-1a takes four cycles per byte: an exactly-once sink's
/// part holds an interval of its output. Fed piece by piece: the 32-byte
/// blocks run on across the pieces' boundaries.
class checksum64 {
public:
  void update(std::string_view bytes) {
    total_ += bytes.size();
    if (pending_ > 0) {
      auto n = std::min(block - pending_, bytes.size());
      std::memcpy(buffer_ + pending_, bytes.data(), n);
      pending_ += n;
      bytes.remove_prefix(n);
      if (pending_ < block) return;
      mix(buffer_);
      pending_ = 0;
    }
    for (; bytes.size() >= block; bytes.remove_prefix(block))
      mix(bytes.data());
    std::memcpy(buffer_, bytes.data(), bytes.size());
    pending_ = bytes.size();
  }

  uint64_t value() const {
    uint64_t h = total_;
    for (auto x : lane_)
      h = round(h, x);
    for (size_t i = 0; i < pending_; ++i)
      h = round(h, static_cast<unsigned char>(buffer_[i]));
    return h;
  }

private:
  static constexpr uint64_t p1 = 0x9e3779b185ebca87ull;
  static constexpr uint64_t p2 = 0xc2b2ae3d27d4eb4full;
  static constexpr size_t block = 32;
  static uint64_t round(uint64_t acc, uint64_t w) {
    acc += w * p2;
    return ((acc << 31) | (acc >> 33)) * p1;
  }
  void mix(const char* at) {
    for (size_t k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, at + 8 * k, sizeof w);
      lane_[k] = round(lane_[k], w);
    }
  }
  uint64_t lane_[4] = {p1 + p2, p2, 0, 0 - p1};
  uint64_t total_ = 0;
  char buffer_[block];
  size_t pending_ = 0;
};

storage_error errno_error(const fs::path& p, int err) {
  return storage_error{p.string(), std::strerror(err)};
}

/// Owns a file descriptor.
class unique_fd {
public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  /// Closes now; returns errno of a failed close(2), 0 on success.
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

private:
  int fd_;
};

/// Files of at least this many bytes go around the page cache (O_DIRECT):
/// a checkpoint part is written once and read only at a restore, and on a
/// virtual machine fresh page-cache pages can cost more CPU than the
/// bytes' copy (bench/RESULTS.md, "Where a slow round's CPU goes"). Smaller
/// files (the metadata, probes, small parts) go through the page cache.
constexpr size_t direct_write_min = size_t{1} << 20;
/// O_DIRECT's alignment of buffer, offset and length (a multiple of the
/// usual 512-byte and 4 KiB logical blocks).
constexpr size_t direct_alignment = 4096;
/// The size of an aligned buffer for O_DIRECT.
constexpr size_t direct_buffer_bytes = size_t{4} << 20;

std::atomic<uint64_t> direct_files{0};

using aligned_buffer = std::unique_ptr<char, decltype(&std::free)>;

/// Aligned buffers kept from file to file (each part is written on a
/// thread of its own, so a thread's buffer would not outlive its file):
/// their pages stay mapped, where a fresh buffer per file would bring back
/// the page faults that writing around the page cache avoids. Holds as
/// many as were ever in use at once, at most `kept`.
class aligned_buffers {
public:
  static constexpr size_t kept = 4;

  /// A kept buffer, or a new one.
  aligned_buffer take() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (!free_.empty()) {
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    aligned_buffer b{static_cast<char*>(std::aligned_alloc(
                         direct_alignment, direct_buffer_bytes)),
                     &std::free};
    if (!b) throw std::bad_alloc();
    return b;
  }

  void give_back(aligned_buffer b) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (free_.size() < kept) free_.push_back(std::move(b));
  }

  static aligned_buffers& instance() {
    static aligned_buffers buffers;
    return buffers;
  }

private:
  std::mutex mutex_;
  std::vector<aligned_buffer> free_;
};

/// write(2) of all of `bytes`, going on after a short write or EINTR;
/// errno of a failed write, 0 on success.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

/// open(2) without O_DIRECT, write(2), fsync(2), close(2).
std::optional<storage_error>
write_buffered(const fs::path& path,
               const std::vector<std::string_view>& pieces) {
  unique_fd fd{
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (fd.get() < 0) return errno_error(path, errno);
  for (auto bytes : pieces)
    if (int err = write_all(fd.get(), bytes)) return errno_error(path, err);
  if (::fsync(fd.get()) != 0) return errno_error(path, errno);
  if (int err = fd.close()) return errno_error(path, err);
  return std::nullopt;
}

/// The outcome of write_direct: done (with an error or not), or O_DIRECT
/// refused by the file system (EINVAL: one without it, or with a larger
/// alignment), in which case the file is to be written again, buffered.
struct direct_outcome {
  bool refused = false;
  std::optional<storage_error> error;
};

/// `pieces` (`total` bytes) with O_DIRECT, through a kept aligned buffer;
/// the last block is padded with zeros and cut off again (ftruncate), then
/// fsync(2).
direct_outcome write_direct(const fs::path& path,
                            const std::vector<std::string_view>& pieces,
                            size_t total) {
  // EINVAL from open(2) or write(2): O_DIRECT refused; otherwise an error.
  auto failed = [&](int err) {
    return err == EINVAL ? direct_outcome{true, std::nullopt}
                         : direct_outcome{false, errno_error(path, err)};
  };
  unique_fd fd{::open(
      path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644)};
  if (fd.get() < 0) return failed(errno);
  auto& buffers = aligned_buffers::instance();
  struct lease {
    aligned_buffers& from;
    aligned_buffer buffer;
    ~lease() { from.give_back(std::move(buffer)); }
  } held{buffers, buffers.take()};
  auto& buffer = held.buffer;
  // Writes buffer[0, n), n a multiple of the alignment; errno or 0.
  auto put = [&](size_t n) {
    return write_all(fd.get(), std::string_view(buffer.get(), n));
  };
  size_t fill = 0;
  for (auto bytes : pieces)
    while (!bytes.empty()) {
      auto n = std::min(bytes.size(), direct_buffer_bytes - fill);
      std::memcpy(buffer.get() + fill, bytes.data(), n);
      fill += n;
      bytes.remove_prefix(n);
      if (fill < direct_buffer_bytes) continue;
      if (int err = put(fill)) return failed(err);
      fill = 0;
    }
  if (fill > 0) {
    auto padded =
        (fill + direct_alignment - 1) / direct_alignment * direct_alignment;
    std::memset(buffer.get() + fill, 0, padded - fill);
    if (int err = put(padded)) return failed(err);
    if (padded != fill && ::ftruncate(fd.get(), static_cast<off_t>(total)) != 0)
      return {false, errno_error(path, errno)};
  }
  if (::fsync(fd.get()) != 0) return {false, errno_error(path, errno)};
  if (int err = fd.close()) return {false, errno_error(path, err)};
  direct_files.fetch_add(1, std::memory_order_relaxed);
  return {};
}

class posix_writer final : public file_writer {
public:
  std::optional<storage_error>
  write(const fs::path& path,
        const std::vector<std::string_view>& pieces) const override {
    size_t total = 0;
    for (auto bytes : pieces)
      total += bytes.size();
    if (total >= direct_write_min) {
      auto direct = write_direct(path, pieces, total);
      if (!direct.refused) return direct.error;
    }
    return write_buffered(path, pieces);
  }
};

/// Makes the entries of `dir` (files created or renamed in it) durable.
std::optional<storage_error> sync_directory(const fs::path& dir) {
  unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0) return errno_error(dir, errno);
  if (::fsync(fd.get()) != 0) return errno_error(dir, errno);
  if (int err = fd.close()) return errno_error(dir, err);
  return std::nullopt;
}

std::optional<storage_error> make_directories(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  // Another thread may have created it meanwhile: only its absence counts.
  if (ec && !fs::is_directory(dir))
    return storage_error{dir.string(), ec.message()};
  return std::nullopt;
}

result<std::string> read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  if (!in)
    return storage_error{p.string(),
                         "cannot open: " + std::string(std::strerror(errno))};
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return storage_error{p.string(), "read error"};
  return buf.str();
}

/// The id in a directory name "<prefix><id>", if it is one.
std::optional<uint64_t> parse_id(const std::string& name,
                                 std::string_view prefix) {
  if (name.size() <= prefix.size() ||
      name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  uint64_t id = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return id;
}

std::string part_file_name(const pb::Part& p) {
  return "op" + std::to_string(p.operator_id()) + "-" +
         std::to_string(p.subtask_index()) + ".part";
}

} // namespace

uint64_t part_checksum(uint32_t version, std::string_view bytes) {
  return part_checksum(version, std::vector<std::string_view>{bytes});
}

uint64_t part_checksum(uint32_t version,
                       const std::vector<std::string_view>& pieces) {
  if (version < 4) return fnv1a64(pieces);
  checksum64 h;
  for (auto bytes : pieces)
    h.update(bytes);
  return h.value();
}

file_writer::~file_writer() = default;

uint64_t file_writer::posix_direct_files() noexcept {
  return direct_files.load(std::memory_order_relaxed);
}

const file_writer& file_writer::posix() {
  static const posix_writer instance;
  return instance;
}

store::store(fs::path root, uint32_t retained, const file_writer& writer)
    : root_(std::move(root)), retained_(retained), writer_(writer) {
  if (retained_ < 1)
    throw std::invalid_argument("checkpoint store: retained must be >= 1");
}

std::optional<storage_error> store::prepare(bool for_writing) const {
  std::error_code ec;
  if (for_writing) {
    fs::create_directories(root_, ec);
    if (ec)
      return storage_error{root_.string(), "cannot create it: " + ec.message()};
  } else if (!fs::exists(root_, ec) && !ec) {
    return std::nullopt;
  }
  fs::directory_iterator listing{root_, ec};
  if (ec)
    return storage_error{root_.string(), "cannot list it: " + ec.message()};
  if (!for_writing) return std::nullopt;
  // Processes sharing the directory (on several hosts, or as PID 1 in
  // containers) must not remove each other's probe.
  std::random_device entropy;
  auto probe = root_ / (".probe-" + std::to_string(::getpid()) + "-" +
                        std::to_string(entropy()) + std::to_string(entropy()));
  if (auto err = writer_.write(probe, std::string_view{})) return err;
  fs::remove(probe, ec);
  if (ec)
    return storage_error{probe.string(), "cannot delete it: " + ec.message()};
  return std::nullopt;
}

fs::path store::directory(checkpoint_id id, bool savepoint) const {
  return root_ /
         (std::string(savepoint ? savepoint_prefix : checkpoint_prefix) +
          std::to_string(id.value()));
}

result<pb::Part>
store::write_part(checkpoint_id id, bool savepoint, pb::Part part,
                  const std::vector<std::string_view>& pieces) const {
  auto dir = directory(id, savepoint);
  if (auto err = make_directories(dir)) return *err;
  auto name = part_file_name(part);
  if (auto err = writer_.write(dir / name, pieces)) return *err;
  size_t size = 0;
  for (auto p : pieces)
    size += p.size();
  part.set_file(name);
  part.set_size_bytes(size);
  part.set_checksum(part_checksum(metadata_format_version, pieces));
  return part;
}

std::optional<storage_error> store::commit(pb::Metadata metadata) {
  metadata.set_format_version(metadata_format_version);
  checkpoint_id id{metadata.checkpoint_id()};
  auto dir = directory(id, metadata.savepoint());
  // Subtasks write every part under chk-<id> (a barrier does not say what
  // it is for): a savepoint's directory is renamed before its metadata.
  if (auto parts = directory(id, false);
      metadata.savepoint() && fs::is_directory(parts) && !fs::exists(dir)) {
    std::error_code ec;
    fs::rename(parts, dir, ec);
    if (ec) return storage_error{dir.string(), ec.message()};
    if (auto err = sync_directory(root_)) return err;
  }
  if (auto err = make_directories(dir)) return err;
  // The parts' directory entries must be durable before the metadata that
  // names them.
  if (auto err = sync_directory(dir)) return err;
  std::string bytes;
  if (!metadata.SerializeToString(&bytes))
    return storage_error{(dir / metadata_file).string(),
                         "cannot serialize the metadata"};
  if (auto err = writer_.write(dir / metadata_temp, bytes)) return err;
  std::error_code ec;
  fs::rename(dir / metadata_temp, dir / metadata_file, ec);
  if (ec) return storage_error{(dir / metadata_file).string(), ec.message()};
  if (auto err = sync_directory(dir)) return err;
  if (!metadata.savepoint()) apply_retention(id);
  return std::nullopt;
}

void store::discard(checkpoint_id id, bool savepoint) const {
  // An aborted savepoint's parts are still under chk-<id> (see commit).
  for (auto kind : {false, savepoint}) {
    auto dir = directory(id, kind);
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec)
      logger("flow/checkpoint")
          ->warn("cannot delete aborted checkpoint {}: {}", dir.string(),
                 ec.message());
  }
}

std::vector<store::entry> store::scan() const {
  std::vector<entry> found;
  std::error_code ec;
  for (fs::directory_iterator i{root_, ec}, end; !ec && i != end;
       i.increment(ec)) {
    if (!i->is_directory()) continue;
    auto name = i->path().filename().string();
    if (auto id = parse_id(name, checkpoint_prefix))
      found.push_back({checkpoint_id{*id}, false, i->path()});
    else if (auto sid = parse_id(name, savepoint_prefix))
      found.push_back({checkpoint_id{*sid}, true, i->path()});
  }
  std::sort(found.begin(), found.end(), [](const entry& a, const entry& b) {
    return a.id < b.id || (a.id == b.id && a.savepoint < b.savepoint);
  });
  return found;
}

std::vector<checkpoint_id> store::completed() const {
  std::vector<checkpoint_id> ids;
  for (auto& e : scan())
    if (!e.savepoint && fs::exists(e.dir / metadata_file)) ids.push_back(e.id);
  return ids;
}

void store::apply_retention(checkpoint_id committed) const {
  auto log = logger("flow/checkpoint");
  auto entries = scan();
  size_t complete = 0;
  // Newest first: keep `retained_` complete checkpoints; older complete
  // ones and partial ones older than `committed` (abandoned by an abort or
  // a crash) go.
  for (auto i = entries.rbegin(); i != entries.rend(); ++i) {
    if (i->savepoint) continue;
    bool is_complete = fs::exists(i->dir / metadata_file);
    bool keep = is_complete ? complete++ < retained_ : !(i->id < committed);
    if (keep) continue;
    std::error_code ec;
    fs::remove_all(i->dir, ec);
    if (ec)
      log->warn("cannot delete old checkpoint {}: {}", i->dir.string(),
                ec.message());
  }
}

std::optional<completed_checkpoint> store::latest() const {
  auto entries = scan();
  for (auto i = entries.rbegin(); i != entries.rend(); ++i) {
    auto cp = open(i->dir);
    if (cp) return std::move(cp.value());
    logger("flow/checkpoint")
        ->warn("skipping checkpoint {}", cp.error().message());
  }
  return std::nullopt;
}

result<completed_checkpoint> store::open(const fs::path& dir) {
  auto md_path = dir / metadata_file;
  if (!fs::exists(md_path))
    return storage_error{dir.string(),
                         "no _metadata: the checkpoint is not complete"};
  auto bytes = read_file(md_path);
  if (!bytes) return bytes.error();
  completed_checkpoint cp{dir, {}};
  if (!cp.metadata.ParseFromString(bytes.value()))
    return storage_error{md_path.string(), "corrupt metadata (cannot parse)"};
  if (cp.metadata.format_version() < oldest_metadata_format_version ||
      cp.metadata.format_version() > metadata_format_version)
    return storage_error{md_path.string(),
                         "metadata format version " +
                             std::to_string(cp.metadata.format_version()) +
                             ", this build reads " +
                             std::to_string(oldest_metadata_format_version) +
                             " to " + std::to_string(metadata_format_version)};
  // Every part is read and checked here, so that a damaged checkpoint is
  // skipped as a whole before anything of it is restored.
  for (auto& part : cp.metadata.parts()) {
    auto checked = read_part(cp, part);
    if (!checked) return checked.error();
  }
  return cp;
}

result<std::string> store::read_part(const completed_checkpoint& cp,
                                     const pb::Part& part) {
  if (part.file().empty()) return std::string{};
  auto path = cp.dir / part.file();
  auto bytes = read_file(path);
  if (!bytes)
    return storage_error{path.string(),
                         "missing part (" + bytes.error().cause + ")"};
  if (bytes->size() != part.size_bytes())
    return storage_error{path.string(),
                         "corrupt part: " + std::to_string(bytes->size()) +
                             " bytes, the metadata says " +
                             std::to_string(part.size_bytes())};
  if (part_checksum(cp.metadata.format_version(), bytes.value()) !=
      part.checksum())
    return storage_error{path.string(),
                         "corrupt part: checksum differs from the metadata"};
  return bytes;
}

} // namespace flow::checkpoint

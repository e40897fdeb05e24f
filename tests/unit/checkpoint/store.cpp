#include "flow/checkpoint/store.hpp"

#include "../seed.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

using namespace flow;
using namespace flow::checkpoint;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed with everything in it at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl =
        (fs::temp_directory_path() / "flow-ckpt-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A disk that fills up: writes go through to the real files while they
/// fit into the free space, then fail with ENOSPC.
class filling_disk final : public file_writer {
public:
  explicit filling_disk(size_t free) : left_(free) {}
  std::optional<storage_error>
  write(const fs::path& path,
        const std::vector<std::string_view>& pieces) const override {
    size_t size = 0;
    for (auto p : pieces)
      size += p.size();
    if (size > left_)
      return storage_error{path.string(), std::strerror(ENOSPC)};
    left_ -= size;
    return file_writer::posix().write(path, pieces);
  }
  void set_free(size_t n) { left_ = n; }

private:
  mutable std::atomic<size_t> left_;
};

pb::Part part_of(uint32_t op, uint32_t subtask) {
  pb::Part p;
  p.set_operator_id(op);
  p.set_operator_name("op" + std::to_string(op));
  p.set_subtask_index(subtask);
  p.set_parallelism(2);
  p.mutable_key_groups()->set_first(subtask * 64);
  p.mutable_key_groups()->set_end(subtask * 64 + 64);
  return p;
}

std::string state_bytes(uint64_t id, uint32_t op, uint32_t subtask) {
  return "state of op " + std::to_string(op) + "/" + std::to_string(subtask) +
         " at checkpoint " + std::to_string(id);
}

/// Writes two subtasks' parts of checkpoint `id` and commits it.
void write_checkpoint(store& s, uint64_t id, bool savepoint = false) {
  pb::Metadata md;
  md.set_checkpoint_id(id);
  md.set_job_name("test");
  md.set_savepoint(savepoint);
  for (uint32_t sub = 0; sub < 2; ++sub) {
    auto p = s.write_part(checkpoint_id{id}, savepoint, part_of(1, sub),
                          state_bytes(id, 1, sub));
    if (!p) BOOST_FAIL(p.error().message());
    *md.add_parts() = p.value();
  }
  auto err = s.commit(md);
  if (err) BOOST_FAIL(err->message());
}

void overwrite(const fs::path& p, const std::string& bytes) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out << bytes;
}

/// Random bytes from the run's seed (logged).
struct random_bytes {
  std::mt19937_64 rng{[] {
    auto seed = flow::test::test_seed();
    BOOST_TEST_MESSAGE("seed " << seed);
    return seed;
  }()};
  std::string operator()(size_t n) {
    std::string out(n, '\0');
    for (auto& c : out)
      c = static_cast<char>(rng());
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_store)

BOOST_AUTO_TEST_CASE(a_committed_checkpoint_is_found_with_its_parts) {
  temp_dir tmp;
  store s{tmp.path, 3};
  BOOST_CHECK(!s.latest());
  write_checkpoint(s, 7);
  auto cp = s.latest();
  BOOST_REQUIRE(cp);
  BOOST_CHECK_EQUAL(cp->id(), checkpoint_id{7});
  BOOST_CHECK_EQUAL(cp->dir, tmp.path / "chk-7");
  BOOST_CHECK_EQUAL(cp->metadata.format_version(), metadata_format_version);
  BOOST_CHECK_EQUAL(cp->metadata.job_name(), "test");
  BOOST_REQUIRE_EQUAL(cp->metadata.parts_size(), 2);
  for (uint32_t sub = 0; sub < 2; ++sub) {
    auto& p = cp->metadata.parts(static_cast<int>(sub));
    BOOST_CHECK_EQUAL(p.subtask_index(), sub);
    BOOST_CHECK_EQUAL(p.key_groups().first(), sub * 64);
    BOOST_CHECK_EQUAL(p.size_bytes(), state_bytes(7, 1, sub).size());
    auto bytes = store::read_part(*cp, p);
    BOOST_REQUIRE(bytes.ok());
    BOOST_CHECK_EQUAL(bytes.value(), state_bytes(7, 1, sub));
  }
  BOOST_CHECK(!fs::exists(tmp.path / "chk-7" / "_metadata.tmp"));
}

BOOST_AUTO_TEST_CASE(a_checkpoint_without_metadata_is_never_restored) {
  temp_dir tmp;
  store s{tmp.path, 3};
  write_checkpoint(s, 1);
  // Checkpoint 2: parts written, the job died before the metadata.
  auto p = s.write_part(checkpoint_id{2}, false, part_of(1, 0), "partial");
  BOOST_REQUIRE(p.ok());
  BOOST_CHECK_EQUAL(s.latest()->id(), checkpoint_id{1});
  auto opened = store::open(tmp.path / "chk-2");
  BOOST_REQUIRE(!opened.ok());
  BOOST_CHECK_NE(opened.error().cause.find("not complete"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(corrupt_checkpoints_are_skipped_as_a_whole) {
  temp_dir tmp;
  store s{tmp.path, 10};
  for (uint64_t id = 1; id <= 5; ++id)
    write_checkpoint(s, id);
  // 5: one part's bytes changed, same size.
  auto bytes = state_bytes(5, 1, 1);
  bytes[0] = 'X';
  overwrite(tmp.path / "chk-5" / "op1-1.part", bytes);
  // 4: one part truncated.
  overwrite(tmp.path / "chk-4" / "op1-0.part", "st");
  // 3: a part missing.
  fs::remove(tmp.path / "chk-3" / "op1-1.part");
  // 2: metadata garbage.
  overwrite(tmp.path / "chk-2" / "_metadata", "\xff\xff\xff garbage");
  BOOST_CHECK_EQUAL(s.latest()->id(), checkpoint_id{1});
  BOOST_CHECK_NE(store::open(tmp.path / "chk-5").error().cause.find("checksum"),
                 std::string::npos);
  BOOST_CHECK_NE(store::open(tmp.path / "chk-4").error().cause.find("bytes"),
                 std::string::npos);
  BOOST_CHECK_NE(store::open(tmp.path / "chk-3").error().cause.find("missing"),
                 std::string::npos);
  BOOST_CHECK_NE(store::open(tmp.path / "chk-2").error().cause.find("corrupt"),
                 std::string::npos);
  // 1 damaged as well: nothing is restorable.
  overwrite(tmp.path / "chk-1" / "op1-0.part", "");
  BOOST_CHECK(!s.latest());
}

BOOST_AUTO_TEST_CASE(metadata_of_an_unknown_format_version_is_refused) {
  temp_dir tmp;
  store s{tmp.path, 3};
  write_checkpoint(s, 1);
  auto cp = store::open(tmp.path / "chk-1");
  BOOST_REQUIRE(cp.ok());
  auto md = cp->metadata;
  md.set_format_version(metadata_format_version + 1);
  overwrite(tmp.path / "chk-1" / "_metadata", md.SerializeAsString());
  auto refused = store::open(tmp.path / "chk-1");
  BOOST_REQUIRE(!refused.ok());
  BOOST_CHECK_NE(refused.error().cause.find("format version"),
                 std::string::npos);
  BOOST_CHECK(!s.latest());
}

BOOST_AUTO_TEST_CASE(metadata_of_format_version_1_is_still_read) {
  // Version 1 had no sink state in its parts: restoring one is restoring a
  // checkpoint of sinks without state.
  temp_dir tmp;
  store s{tmp.path, 3};
  write_checkpoint(s, 1);
  auto md = store::open(tmp.path / "chk-1")->metadata;
  md.set_format_version(oldest_metadata_format_version);
  overwrite(tmp.path / "chk-1" / "_metadata", md.SerializeAsString());
  // Its checksums are FNV-1a's: the format 4 ones do not match.
  BOOST_CHECK(!store::open(tmp.path / "chk-1").ok());
  for (auto& p : *md.mutable_parts())
    p.set_checksum(part_checksum(oldest_metadata_format_version,
                                 state_bytes(1, 1, p.subtask_index())));
  overwrite(tmp.path / "chk-1" / "_metadata", md.SerializeAsString());
  auto cp = store::open(tmp.path / "chk-1");
  BOOST_REQUIRE(cp.ok());
  BOOST_CHECK_EQUAL(cp->metadata.format_version(),
                    oldest_metadata_format_version);
  md.set_format_version(oldest_metadata_format_version - 1);
  overwrite(tmp.path / "chk-1" / "_metadata", md.SerializeAsString());
  BOOST_CHECK(!store::open(tmp.path / "chk-1").ok());
}

BOOST_AUTO_TEST_CASE(any_changed_byte_of_a_large_part_is_found) {
  // The format 4 checksum reads 32-byte blocks in four lanes, then a tail:
  // a change anywhere is caught (every position of a part of 1000 bytes).
  temp_dir tmp;
  store s{tmp.path, 3};
  random_bytes random;
  auto& rng = random.rng;
  auto bytes = random(1000);
  auto part = s.write_part(checkpoint_id{1}, false, part_of(1, 0), bytes);
  BOOST_REQUIRE(part.ok());
  pb::Metadata md;
  md.set_checkpoint_id(1);
  md.set_job_name("test");
  *md.add_parts() = part.value();
  BOOST_REQUIRE(!s.commit(md));
  auto path = tmp.path / "chk-1" / part->file();
  BOOST_REQUIRE(store::open(tmp.path / "chk-1").ok());
  for (size_t at = 0; at < bytes.size(); ++at) {
    auto changed = bytes;
    changed[at] = static_cast<char>(changed[at] ^ (1 << (rng() % 8)));
    overwrite(path, changed);
    BOOST_TEST_INFO("byte " << at);
    BOOST_REQUIRE(!store::open(tmp.path / "chk-1").ok());
  }
  overwrite(path, bytes);
  BOOST_CHECK(store::open(tmp.path / "chk-1").ok());
}

BOOST_AUTO_TEST_CASE(a_part_written_in_pieces_is_the_part_written_whole) {
  // An exactly-once sink's part comes in pieces (its epochs, shared): the
  // file, size and checksum are those of their concatenation, wherever
  // the pieces cut the checksum's 32-byte blocks (random cuts, seeded).
  temp_dir tmp;
  store s{tmp.path, 3};
  random_bytes random;
  auto& rng = random.rng;
  for (size_t round = 0; round < 50; ++round) {
    auto bytes = random(rng() % 300);
    std::vector<std::string_view> pieces;
    for (std::string_view rest = bytes; !rest.empty();) {
      auto n = std::min<size_t>(rest.size(), rng() % 70);
      pieces.push_back(rest.substr(0, n)); // empty pieces too
      rest.remove_prefix(n);
    }
    for (auto version :
         {oldest_metadata_format_version, metadata_format_version})
      BOOST_CHECK_EQUAL(part_checksum(version, pieces),
                        part_checksum(version, bytes));
    auto id = checkpoint_id{round + 1};
    auto whole = s.write_part(id, false, part_of(1, 0), bytes);
    auto cut = s.write_part(id, false, part_of(1, 1), pieces);
    BOOST_REQUIRE(whole.ok() && cut.ok());
    BOOST_CHECK_EQUAL(cut->size_bytes(), bytes.size());
    BOOST_CHECK_EQUAL(cut->checksum(), whole->checksum());
    std::ifstream in{s.directory(id, false) / cut->file(), std::ios::binary};
    std::string written{std::istreambuf_iterator<char>(in), {}};
    BOOST_CHECK(written == bytes);
  }
}

BOOST_AUTO_TEST_CASE(retention_keeps_the_newest_and_every_savepoint) {
  temp_dir tmp;
  store s{tmp.path, 3};
  write_checkpoint(s, 1);
  write_checkpoint(s, 2, /*savepoint*/ true);
  write_checkpoint(s, 3);
  // 4 aborted after writing a part; 7 in flight (newer than the commit).
  BOOST_REQUIRE(s.write_part(checkpoint_id{4}, false, part_of(1, 0), "x").ok());
  BOOST_REQUIRE(s.write_part(checkpoint_id{7}, false, part_of(1, 0), "x").ok());
  write_checkpoint(s, 5);
  write_checkpoint(s, 6);
  BOOST_CHECK(s.completed() ==
              (std::vector<checkpoint_id>{checkpoint_id{3}, checkpoint_id{5},
                                          checkpoint_id{6}}));
  BOOST_CHECK(!fs::exists(tmp.path / "chk-1"));
  BOOST_CHECK(!fs::exists(tmp.path / "chk-4"));
  BOOST_CHECK(fs::exists(tmp.path / "chk-7"));
  BOOST_CHECK(store::open(tmp.path / "savepoint-2").ok());
  write_checkpoint(s, 8);
  write_checkpoint(s, 9);
  BOOST_CHECK(s.completed() ==
              (std::vector<checkpoint_id>{checkpoint_id{6}, checkpoint_id{8},
                                          checkpoint_id{9}}));
  BOOST_CHECK(store::open(tmp.path / "savepoint-2").ok());
  BOOST_CHECK(!fs::exists(tmp.path / "chk-7"));
}

BOOST_AUTO_TEST_CASE(the_latest_may_be_a_savepoint) {
  temp_dir tmp;
  store s{tmp.path, 3};
  write_checkpoint(s, 1);
  write_checkpoint(s, 2, /*savepoint*/ true);
  auto cp = s.latest();
  BOOST_REQUIRE(cp);
  BOOST_CHECK_EQUAL(cp->id(), checkpoint_id{2});
  BOOST_CHECK(cp->metadata.savepoint());
  BOOST_CHECK_EQUAL(cp->dir, tmp.path / "savepoint-2");
}

BOOST_AUTO_TEST_CASE(a_full_disk_fails_the_checkpoint_naming_path_and_cause) {
  temp_dir tmp;
  filling_disk disk{1'000'000};
  store s{tmp.path, 3, disk};
  write_checkpoint(s, 1);
  auto first = s.write_part(checkpoint_id{2}, false, part_of(1, 0),
                            state_bytes(2, 1, 0));
  BOOST_REQUIRE(first.ok());
  disk.set_free(999);
  auto second = s.write_part(checkpoint_id{2}, false, part_of(1, 1),
                             std::string(1000, 's'));
  BOOST_REQUIRE(!second.ok());
  BOOST_CHECK_EQUAL(second.error().path,
                    (tmp.path / "chk-2" / "op1-1.part").string());
  BOOST_CHECK_EQUAL(second.error().cause, std::strerror(ENOSPC));
  BOOST_CHECK_NE(second.error().message().find("No space left"),
                 std::string::npos);
  s.discard(checkpoint_id{2}, false);
  BOOST_CHECK(!fs::exists(tmp.path / "chk-2"));
  BOOST_CHECK_EQUAL(s.latest()->id(), checkpoint_id{1});
  // The metadata itself cannot be written: the checkpoint stays partial.
  auto p = s.write_part(checkpoint_id{3}, false, part_of(1, 0), "a");
  BOOST_REQUIRE(p.ok());
  pb::Metadata md;
  md.set_checkpoint_id(3);
  *md.add_parts() = p.value();
  disk.set_free(0);
  auto err = s.commit(md);
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(err->path, (tmp.path / "chk-3" / "_metadata.tmp").string());
  BOOST_CHECK_EQUAL(s.latest()->id(), checkpoint_id{1});
  // Space again: the next checkpoint succeeds.
  disk.set_free(1'000'000);
  write_checkpoint(s, 4);
  BOOST_CHECK_EQUAL(s.latest()->id(), checkpoint_id{4});
}

BOOST_AUTO_TEST_CASE(an_unwritable_directory_is_an_error_value) {
  temp_dir tmp;
  // The checkpoint dir lies below a regular file (as unwritable as a
  // read-only dir for root, who may write anywhere).
  overwrite(tmp.path / "file", "not a directory");
  store s{tmp.path / "file" / "checkpoints", 3};
  auto p = s.write_part(checkpoint_id{1}, false, part_of(1, 0), "x");
  BOOST_REQUIRE(!p.ok());
  BOOST_CHECK_EQUAL(p.error().path,
                    (tmp.path / "file" / "checkpoints" / "chk-1").string());
  BOOST_CHECK_NE(p.error().cause.find("Not a directory"), std::string::npos);
  pb::Metadata md;
  md.set_checkpoint_id(1);
  BOOST_CHECK(s.commit(md));
  BOOST_CHECK(!s.latest());
}

/// Whether the file system of `dir` takes an aligned O_DIRECT write.
bool takes_direct_io(const fs::path& dir) {
  auto path = dir / "direct-probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0) return false;
  void* block = std::aligned_alloc(4096, 4096);
  std::memset(block, 0, 4096);
  bool ok = ::write(fd, block, 4096) == 4096;
  std::free(block);
  ::close(fd);
  fs::remove(path);
  return ok;
}

BOOST_AUTO_TEST_CASE(files_read_back_as_written_whatever_their_size) {
  // file_writer::posix() writes files of 1 MiB and more around the page
  // cache (O_DIRECT) through a 4 MiB aligned buffer, padding the last
  // 4 KiB block and cutting the file back to its size; smaller ones as
  // before. Sizes around each boundary, in pieces that cross them; where
  // the file system takes O_DIRECT, the large ones must have taken it (a
  // misaligned write would fall back to the page cache unseen).
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  temp_dir d;
  const bool direct = takes_direct_io(d.path);
  BOOST_TEST_MESSAGE("O_DIRECT " << (direct ? "taken" : "refused") << " in "
                                 << d.path);
  const size_t mib = size_t{1} << 20;
  auto read_back = [](const fs::path& path) {
    std::ifstream in{path, std::ios::binary};
    return std::string{std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>()};
  };
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, mib - 1, mib, mib + 1,
        mib + 4096, 4 * mib - 1, 4 * mib, 4 * mib + 1, 9 * mib + 12345}) {
    std::string bytes(size, '\0');
    for (auto& c : bytes)
      c = static_cast<char>(rng());
    std::vector<std::string_view> pieces;
    for (std::string_view rest = bytes; !rest.empty();) {
      auto n = std::min<size_t>(rest.size(), 1 + rng() % (3 * mib));
      pieces.push_back(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    auto path = d.path / ("f" + std::to_string(size));
    auto before = file_writer::posix_direct_files();
    auto err = file_writer::posix().write(path, pieces);
    BOOST_REQUIRE_MESSAGE(!err, size << ": " << (err ? err->message() : ""));
    BOOST_CHECK_EQUAL(file_writer::posix_direct_files() - before,
                      direct && size >= mib ? 1u : 0u);
    BOOST_REQUIRE_EQUAL(fs::file_size(path), size);
    BOOST_REQUIRE_MESSAGE(read_back(path) == bytes,
                          "file of " << size << " bytes");
    // Written again, shorter: nothing of the longer file stays.
    auto shorter = std::string_view(bytes).substr(0, size / 2 + size / 7);
    if (shorter.size() >= size) continue;
    BOOST_REQUIRE(!file_writer::posix().write(path, shorter));
    BOOST_REQUIRE_MESSAGE(read_back(path) == shorter,
                          "rewritten to " << shorter.size() << " bytes");
  }
}

BOOST_AUTO_TEST_CASE(parts_are_written_concurrently) {
  temp_dir tmp;
  store s{tmp.path, 3};
  constexpr uint32_t subtasks = 8;
  std::vector<std::optional<result<pb::Part>>> parts(subtasks);
  std::vector<std::thread> writers;
  for (uint32_t sub = 0; sub < subtasks; ++sub)
    writers.emplace_back([&, sub] {
      parts[sub].emplace(s.write_part(checkpoint_id{1}, false, part_of(2, sub),
                                      state_bytes(1, 2, sub)));
    });
  for (auto& w : writers)
    w.join();
  pb::Metadata md;
  md.set_checkpoint_id(1);
  for (auto& p : parts) {
    BOOST_REQUIRE(p->ok());
    *md.add_parts() = p->value();
  }
  BOOST_REQUIRE(!s.commit(md));
  auto cp = s.latest();
  BOOST_REQUIRE(cp);
  for (uint32_t sub = 0; sub < subtasks; ++sub)
    BOOST_CHECK_EQUAL(
        store::read_part(*cp, cp->metadata.parts(static_cast<int>(sub)))
            .value(),
        state_bytes(1, 2, sub));
}

BOOST_AUTO_TEST_SUITE_END()

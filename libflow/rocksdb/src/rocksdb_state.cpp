#include "flow/rocksdb_state.hpp"

#include "flow/exceptions.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace flow {

namespace {

namespace fs = std::filesystem;

const std::string scratch_prefix = "libflow-state-";

rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

void check(const rocksdb::Status& st, const char* what) {
  if (!st.ok())
    throw std::runtime_error(std::string("rocksdb state: ") + what + ": " +
                             st.ToString());
}

/// flow.state-dir cannot hold the stores: `why` says what failed.
config_failure unusable_state_dir(const fs::path& dir, const std::string& why) {
  return config_failure("invalid config: flow.state-dir = " + dir.string() +
                        " (expected a writable directory: " + why + ")");
}

/// A process run's scratch directory; removed with its last user.
struct scratch_dir {
  fs::path path;
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// Removes the scratch directories under `parent` of processes that no
/// longer run (killed before they could remove their own).
void remove_orphans(const fs::path& parent) {
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(parent, ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind(scratch_prefix, 0) != 0) continue;
    auto pid = std::atol(name.c_str() + scratch_prefix.size());
    if (pid <= 0 || pid == getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove_all(entry.path(), ignored);
    }
  }
}

/// One store's database and directory, removed when the store and the
/// last view of it are gone.
struct open_db {
  std::shared_ptr<scratch_dir> root;
  fs::path dir;
  std::unique_ptr<rocksdb::DB> db;
  ~open_db() {
    db.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

void scan_prefix(
    rocksdb::DB& db, const rocksdb::ReadOptions& read, std::string_view prefix,
    const std::function<void(std::string_view, std::string_view)>& f) {
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator(read)};
  for (it->Seek(slice(prefix));
       it->Valid() && it->key().starts_with(slice(prefix)); it->Next())
    f({it->key().data(), it->key().size()},
      {it->value().data(), it->value().size()});
  check(it->status(), "scan");
}

bool any_with_prefix(rocksdb::DB& db, const rocksdb::ReadOptions& read,
                     std::string_view prefix) {
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator(read)};
  it->Seek(slice(prefix));
  check(it->status(), "seek");
  return it->Valid() && it->key().starts_with(slice(prefix));
}

/// Reads through a RocksDB snapshot, released before the database can
/// close.
class rocksdb_view final : public spill_view {
public:
  explicit rocksdb_view(std::shared_ptr<open_db> db)
      : db_(std::move(db)), snapshot_(db_->db->GetSnapshot()) {
    read_.snapshot = snapshot_;
    // A checkpoint reads every entry once: its blocks would only push the
    // subtask's hot ones out of the block cache.
    read_.fill_cache = false;
  }
  ~rocksdb_view() override { db_->db->ReleaseSnapshot(snapshot_); }

  void scan(std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& f)
      const override {
    scan_prefix(*db_->db, read_, prefix, f);
  }

  bool any(std::string_view prefix) const override {
    return any_with_prefix(*db_->db, read_, prefix);
  }

private:
  std::shared_ptr<open_db> db_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions read_;
};

class rocksdb_store final : public spill_store {
public:
  rocksdb_store(std::shared_ptr<scratch_dir> root, fs::path dir,
                const rocksdb::Options& options)
      : open_(std::make_shared<open_db>()), db_(nullptr) {
    open_->root = std::move(root);
    open_->dir = std::move(dir);
    rocksdb::DB* db = nullptr;
    auto st = rocksdb::DB::Open(options, open_->dir.string(), &db);
    if (!st.ok())
      throw unusable_state_dir(open_->root->path.parent_path(), st.ToString());
    open_->db.reset(db);
    db_ = db;
    write_.disableWAL = true;
  }

  bool get(std::string_view key, std::string& value) override {
    auto st = db_->Get(read_, db_->DefaultColumnFamily(), slice(key), &value);
    if (st.IsNotFound()) return false;
    check(st, "get");
    return true;
  }

  void get_sorted(
      const std::vector<std::string_view>& keys,
      const std::function<void(size_t, std::string_view)>& found) override {
    auto n = keys.size();
    slices_.resize(n);
    values_.resize(n);
    statuses_.resize(n);
    for (size_t i = 0; i < n; ++i)
      slices_[i] = slice(keys[i]);
    db_->MultiGet(read_, db_->DefaultColumnFamily(), n, slices_.data(),
                  values_.data(), statuses_.data(), true);
    for (size_t i = 0; i < n; ++i) {
      if (statuses_[i].IsNotFound()) continue;
      check(statuses_[i], "multi-get");
      found(i, {values_[i].data(), values_[i].size()});
      values_[i].Reset();
    }
  }

  void write(const spill_batch& batch) override {
    // In key order: a memtable insert then starts from where the last one
    // ended (the skip list's remembered splice) instead of from the top.
    sorted_.clear();
    for (auto& put : batch.puts)
      sorted_.push_back(&put);
    std::sort(sorted_.begin(), sorted_.end(),
              [](auto* a, auto* b) { return a->first < b->first; });
    rocksdb::WriteBatch wb;
    for (auto* put : sorted_)
      check(wb.Put(put->first, put->second), "put");
    check(db_->Write(write_, &wb), "write");
  }

  void erase(std::string_view key) override {
    check(db_->Delete(write_, slice(key)), "delete");
  }

  void scan(std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& f)
      override {
    scan_prefix(*db_, read_, prefix, f);
  }

  std::unique_ptr<spill_view> view() override {
    return std::make_unique<rocksdb_view>(open_);
  }

  size_t memory_outside_budget() override {
    uint64_t bytes = 0;
    if (!db_->GetIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem,
                             &bytes))
      throw std::runtime_error("rocksdb state: no table readers' memory");
    return static_cast<size_t>(bytes);
  }

  bool any(std::string_view prefix) override {
    return any_with_prefix(*db_, read_, prefix);
  }

private:
  std::shared_ptr<open_db> open_;
  rocksdb::DB* db_; // open_'s
  rocksdb::ReadOptions read_;
  rocksdb::WriteOptions write_;
  std::vector<const std::pair<std::string, std::string>*> sorted_;
  std::vector<rocksdb::Slice> slices_;
  std::vector<rocksdb::PinnableSlice> values_;
  std::vector<rocksdb::Status> statuses_;
};

class rocksdb_backend final : public state_backend {
public:
  explicit rocksdb_backend(const state_options& o)
      : parent_(o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir)),
        cache_entries_(o.cache_entries) {
    // Half of the budget (flow.state-memory) for the block cache, half for
    // the write buffers.
    auto cache = rocksdb::NewLRUCache(o.memory / 2);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    // Index and filter blocks in partitions of metadata_block_size, in the
    // cache (so within the budget), only their top level pinned. Whole, a
    // table's filter block outgrew a cache shard and was evicted at once
    // (every get read it again: 85% of a W6 run's CPU); kept outside the
    // cache, filters and indexes cost about 1.3 bytes per key unbounded.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
    table.partition_filters = true;
    table.cache_index_and_filter_blocks = true;
    table.cache_index_and_filter_blocks_with_high_priority = true;
    table.pin_top_level_index_and_filter = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    options_.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    options_.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(o.memory / 2);
    // Most gets are of keys the cache just evicted, so in the memtables:
    // a bloom filter over their whole keys skips those that miss.
    options_.memtable_whole_key_filtering = true;
    options_.memtable_prefix_bloom_size_ratio = 0.1;
    // A memtable may take the write buffers' whole half: the manager
    // bounds all memtables together. With a quarter of an 8 MiB budget,
    // 5 x 10^6 keys took 132 flushes (76 with half) and 22 compactions
    // (17): a trim's 100,000 entries went to disk in pieces.
    options_.write_buffer_size = std::min<size_t>(o.memory / 2, 16 << 20);
    // Without a log, closing a store would first flush its memtables to
    // files removed right after.
    options_.avoid_flush_during_shutdown = true;
    options_.create_if_missing = true;
    options_.error_if_exists = true;
    options_.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    options_.keep_log_file_num = 1;
  }

  size_t cache_entries() const noexcept override { return cache_entries_; }

  std::unique_ptr<spill_store> open(const std::string& name) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!root_) {
      std::error_code ec;
      fs::create_directories(parent_, ec);
      if (ec) throw unusable_state_dir(parent_, ec.message());
      remove_orphans(parent_);
      static std::atomic<uint64_t> runs{0};
      auto root = std::make_shared<scratch_dir>();
      root->path = parent_ / (scratch_prefix + std::to_string(getpid()) + "-" +
                              std::to_string(runs++));
      fs::create_directories(root->path, ec);
      if (ec) throw unusable_state_dir(parent_, ec.message());
      root_ = std::move(root);
    }
    // Numbered (names repeat across runs of one process), then named for
    // whoever looks, with the characters a path may not hold replaced.
    auto file = std::to_string(stores_++) + "-" + name;
    for (auto& c : file)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-')
        c = '_';
    auto dir = root_->path / file;
    return std::make_unique<rocksdb_store>(root_, dir, options_);
  }

private:
  fs::path parent_;
  size_t cache_entries_;
  rocksdb::Options options_;
  std::mutex mtx_;
  std::shared_ptr<scratch_dir> root_;
  uint64_t stores_ = 0;
};

} // namespace

std::shared_ptr<state_backend> make_state_backend(const state_options& o) {
  if (o.backend != "rocksdb") return nullptr;
  return std::make_shared<rocksdb_backend>(o);
}

} // namespace flow

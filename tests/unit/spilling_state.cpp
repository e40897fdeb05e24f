// keyed_store spilling to the rocksdb backend (flow.state-backend =
// rocksdb): what it spilled reads back, snapshots hold the bytes a store in
// memory writes, restores go straight to disk, and the backend's scratch
// directories are owned: removed when their stores close, or by the next
// run when the process that made them died.
#include "recording_transport.hpp"
#include "seed.hpp"

#include "flow/collection.hpp"
#include "flow/exceptions.hpp"
#include "flow/keyed_store.hpp"
#include "flow/rocksdb_state.hpp"
#include "flow/state.hpp"
#include "flow/timers.hpp"
#include "flow/topology.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace flow;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t groups = 16;

using store = keyed_store<std::string, int64_t>;

/// A fresh directory, removed afterwards.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name)
      : path(fs::temp_directory_path() /
             (name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

std::shared_ptr<state_backend> rocksdb_in(const fs::path& dir,
                                          size_t cache_entries) {
  state_options o;
  o.backend = "rocksdb";
  o.dir = dir.string();
  o.cache_entries = cache_entries;
  o.memory = size_t{4} << 20;
  return make_state_backend(o);
}

uint32_t group_of(const std::string& k) {
  return key_group_for(k, groups);
}

/// Every entry of `s`, read through its snapshot of each key group.
std::map<std::string, int64_t> snapshot_entries(const store& s) {
  std::map<std::string, int64_t> all;
  for (uint32_t kg = 0; kg < groups; ++kg) {
    std::vector<char> bytes;
    s.write_key_group(kg, bytes);
    const char* pos = bytes.data();
    auto m = serde<store::map_type>::read(pos, bytes.data() + bytes.size());
    BOOST_CHECK(pos == bytes.data() + bytes.size());
    for (auto& [k, v] : m) {
      BOOST_CHECK_EQUAL(group_of(k), kg);
      BOOST_CHECK_MESSAGE(all.emplace(k, v).second, "twice: " << k);
    }
  }
  return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(spilling_state)

BOOST_AUTO_TEST_CASE(spilled_entries_read_back_and_snapshot_as_in_memory) {
  auto seed = flow::test::test_seed();
  std::mt19937_64 rng{seed};
  temp_dir dir{"flow-spill"};
  auto backend = rocksdb_in(dir.path, 1 + rng() % 16);
  BOOST_REQUIRE(backend);
  store memory{groups};
  store spilled{groups};
  spilled.spill_to(backend->open("test"), backend->cache_entries());
  std::map<std::string, int64_t> want;
  // Random adds, overwrites and erases, a trim after each "batch"; before
  // half of the batches, their keys loaded at once (as an operator does).
  for (int batch = 0; batch < 200; ++batch) {
    std::vector<std::pair<std::string, uint64_t>> ops; // key, what to do
    for (int i = 0, n = 1 + rng() % 20; i < n; ++i)
      ops.emplace_back("k" + std::to_string(rng() % 300), rng());
    if (rng() % 2 == 0) {
      std::vector<std::pair<uint32_t, std::string>> keys;
      for (auto& op : ops)
        keys.emplace_back(group_of(op.first), op.first);
      spilled.load(keys);
    }
    for (auto& [k, what] : ops) {
      auto kg = group_of(k);
      switch (what % 4) {
      case 0:
        memory.erase(kg, k);
        BOOST_CHECK_EQUAL(spilled.erase(kg, k), want.erase(k) > 0);
        break;
      case 1: {
        auto [it, fresh] = spilled.try_emplace(kg, k, int64_t{7});
        BOOST_CHECK_EQUAL(fresh, want.count(k) == 0);
        if (fresh) want[k] = 7;
        memory.try_emplace(kg, k, int64_t{7});
        BOOST_CHECK_EQUAL(it->second, want[k]);
        break;
      }
      default: {
        auto v = static_cast<int64_t>(what / 4 % 1000);
        spilled.get_or_create(kg, k) += v;
        memory.get_or_create(kg, k) += v;
        want[k] += v;
      }
      }
    }
    spilled.trim();
  }
  for (auto& [k, v] : want) {
    auto p = spilled.find(group_of(k), k);
    BOOST_REQUIRE_MESSAGE(p, "lost " << k);
    BOOST_CHECK_EQUAL(*p, v);
  }
  BOOST_CHECK(!spilled.find(group_of("absent"), "absent"));
  BOOST_CHECK_EQUAL(spilled.size(), want.size());
  for (uint32_t kg = 0; kg < groups; ++kg)
    BOOST_CHECK_EQUAL(spilled.empty(kg), memory.empty(kg));
  spilled.trim();
  BOOST_CHECK(snapshot_entries(spilled) == want);
  BOOST_CHECK(snapshot_entries(memory) == want);

  // A restore goes to the store; the cache starts empty.
  store restored{groups};
  restored.spill_to(backend->open("restored"), backend->cache_entries());
  for (uint32_t kg = 0; kg < groups; ++kg) {
    std::vector<char> bytes;
    memory.write_key_group(kg, bytes);
    const char* pos = bytes.data();
    restored.read_key_group(kg, pos, bytes.data() + bytes.size());
  }
  BOOST_CHECK(snapshot_entries(restored) == want);
  for (auto& [k, v] : want)
    BOOST_CHECK_EQUAL(std::as_const(restored).key_group(group_of(k)).at(k), v);

  // Reading a key group is fine; changing it would bypass the store.
  BOOST_CHECK_THROW(spilled.key_group(0), std::logic_error);
}

/// A spill_store counting the requests that reach the one it wraps.
struct counting_store final : spill_store {
  explicit counting_store(std::unique_ptr<spill_store> s)
      : inner(std::move(s)) {}
  bool get(std::string_view key, std::string& value) override {
    ++gets;
    return inner->get(key, value);
  }
  void get_sorted(
      const std::vector<std::string_view>& keys,
      const std::function<void(size_t, std::string_view)>& found) override {
    ++batched_gets;
    for (size_t i = 1; i < keys.size(); ++i)
      BOOST_CHECK(keys[i - 1] < keys[i]);
    inner->get_sorted(keys, found);
  }
  void write(const spill_batch& batch) override {
    largest_write = std::max(largest_write, batch.puts.size());
    written += batch.puts.size();
    inner->write(batch);
  }
  void erase(std::string_view key) override { inner->erase(key); }
  void scan(std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& f)
      override {
    ++scans;
    inner->scan(prefix, f);
  }
  bool any(std::string_view prefix) override {
    ++scans;
    return inner->any(prefix);
  }
  std::unique_ptr<spill_view> view() override {
    ++views;
    return inner->view();
  }
  size_t memory_outside_budget() override {
    return inner->memory_outside_budget();
  }
  std::unique_ptr<spill_store> inner;
  int gets = 0;
  int batched_gets = 0;
  int scans = 0; // scan() and any()
  int views = 0;
  size_t largest_write = 0;
  size_t written = 0;
};

/// A spilling store in a fresh directory whose requests to RocksDB are
/// counted.
struct counted_spilling {
  temp_dir dir;
  std::shared_ptr<state_backend> backend;
  counting_store* requests = nullptr;
  store s{groups};
  counted_spilling(const std::string& name, size_t cache_entries)
      : dir{"flow-spill-" + name}, backend{
                                       rocksdb_in(dir.path, cache_entries)} {
    auto counting = std::make_unique<counting_store>(backend->open(name));
    requests = counting.get();
    s.spill_to(std::move(counting), backend->cache_entries());
  }
};

// An operator loads a batch's keys with one request: then neither the keys
// the store held nor those it did not cost a read of their own, also when
// a key comes twice; a write to the store ends what load() knew of absent
// keys.
BOOST_AUTO_TEST_CASE(a_batch_of_keys_is_loaded_with_one_request) {
  counted_spilling spilling{"load", 2};
  auto& requests = *spilling.requests;
  auto& s = spilling.s;
  for (auto k : {"a", "b", "c"})
    s.get_or_create(group_of(k), k) = 10;
  s.trim(); // 3 > 2 entries: all written, the cache empty
  requests.gets = 0;

  std::vector<std::pair<uint32_t, std::string>> keys;
  for (auto k : {"c", "x", "a", "c", "y"})
    keys.emplace_back(group_of(k), k);
  s.load(keys);
  BOOST_CHECK_EQUAL(requests.batched_gets, 1);
  BOOST_CHECK_EQUAL(*s.find(group_of("a"), "a"), 10);
  BOOST_CHECK_EQUAL(*s.find(group_of("c"), "c"), 10);
  BOOST_CHECK(!s.find(group_of("x"), "x"));
  auto [y, fresh] = s.try_emplace(group_of("y"), "y", int64_t{1});
  BOOST_CHECK(fresh);
  BOOST_CHECK_EQUAL(requests.gets, 0);
  // "b" was not loaded: it is read on its own.
  BOOST_CHECK_EQUAL(*s.find(group_of("b"), "b"), 10);
  BOOST_CHECK_EQUAL(requests.gets, 1);

  // "x", absent when loaded, is written by the trim: found again.
  s.get_or_create(group_of("x"), "x") = 5;
  s.trim();
  BOOST_CHECK_EQUAL(*s.find(group_of("x"), "x"), 5);
  BOOST_CHECK_EQUAL(*s.find(group_of("y"), "y"), 1);
}

// A trim writes the cache in chunks of at most spill_chunk entries, so the
// copies it makes stay small however many keys the cache held; every entry
// still reads back, and the cache is empty afterwards.
BOOST_AUTO_TEST_CASE(a_trim_writes_in_chunks) {
  counted_spilling spilling{"chunks", 10};
  auto& requests = *spilling.requests;
  auto& s = spilling.s;
  const size_t n = 3 * detail::spill_chunk + 17;
  for (size_t i = 0; i < n; ++i) {
    auto k = "k" + std::to_string(i);
    s.get_or_create(group_of(k), k) = static_cast<int64_t>(i);
  }
  s.trim();
  BOOST_CHECK_EQUAL(requests.written, n);
  BOOST_CHECK(requests.largest_write <= detail::spill_chunk);
  BOOST_CHECK_GT(requests.largest_write, 0u);
  requests.gets = 0;
  for (size_t i = 0; i < n; i += 97) {
    auto k = "k" + std::to_string(i);
    auto* v = s.find(group_of(k), k);
    BOOST_REQUIRE(v);
    BOOST_CHECK_EQUAL(*v, static_cast<int64_t>(i));
  }
  // Each was read from the store: the trim left nothing cached.
  BOOST_CHECK_EQUAL(requests.gets, static_cast<int>((n + 96) / 97));
  BOOST_CHECK_EQUAL(snapshot_entries(s).size(), n);
}

/// The rocksdb backend in a fresh directory, each of whose stores counts
/// its requests.
struct counting_backend final : state_backend {
  temp_dir dir;
  std::shared_ptr<state_backend> inner;
  std::vector<counting_store*> stores;
  counting_backend(const std::string& name, size_t cache_entries)
      : dir{"flow-spill-" + name}, inner{rocksdb_in(dir.path, cache_entries)} {}
  size_t cache_entries() const noexcept override {
    return inner->cache_entries();
  }
  std::unique_ptr<spill_store> open(const std::string& name) override {
    auto s = std::make_unique<counting_store>(inner->open(name));
    stores.push_back(s.get());
    return s;
  }
  void reset() {
    for (auto s : stores)
      s->gets = s->batched_gets = 0;
  }
};

/// Key group -> the entries of a store, then the timers, as a snapshot of
/// key_group_states with those two parts holds them.
using frozen_state =
    std::map<uint32_t, std::pair<std::map<std::string, int64_t>,
                                 std::set<std::pair<std::string, int64_t>>>>;

frozen_state decode(const std::vector<key_group_snapshot>& snapshot) {
  frozen_state all;
  for (auto& g : snapshot) {
    const char* pos = g.bytes.data();
    const char* end = pos + g.bytes.size();
    auto& [entries, timers] = all[g.key_group];
    for (auto& [k, v] : serde<store::map_type>::read(pos, end))
      entries.emplace(k, v);
    for (auto n = detail::read_varint(pos, end); n > 0; --n) {
      auto k = serde<std::string>::read(pos, end);
      timers.emplace(k, serde<int64_t>::read(pos, end));
    }
    BOOST_CHECK(pos == end);
    BOOST_CHECK(!entries.empty() || !timers.empty());
  }
  BOOST_CHECK_EQUAL(all.size(), snapshot.size());
  return all;
}

/// A snapshot of `states` written at once.
void written_now(const key_group_states& states,
                 std::vector<key_group_snapshot>& out) {
  if (auto later = states.snapshot(out)) later(out);
}

/// A spilling store and timers in memory, as a keyed process function
/// keeps them, and the same parts in memory; changed alike.
struct two_parts {
  store spilled{groups};
  keyed_timers<std::string> timers{groups};
  key_group_states states;
  store memory{groups};
  keyed_timers<std::string> memory_timers{groups};
  key_group_states reference{groups};
  explicit two_parts(counting_backend& backend)
      : states{groups, &backend, "op#0"} {
    states.add_spilling(spilled);
    states.add(timers);
    reference.add(memory);
    reference.add(memory_timers);
  }
  /// A batch of random adds, overwrites, erases and timers, then a trim.
  void change(std::mt19937_64& rng) {
    for (int i = 0, n = 1 + static_cast<int>(rng() % 40); i < n; ++i) {
      auto k = "k" + std::to_string(rng() % 500);
      auto kg = group_of(k);
      auto what = rng();
      if (what % 5 == 0) {
        spilled.erase(kg, k);
        memory.erase(kg, k);
      } else if (what % 5 == 1) {
        timers.add(kg, k, static_cast<int64_t>(what % 100));
        memory_timers.add(kg, k, static_cast<int64_t>(what % 100));
      } else {
        spilled.get_or_create(kg, k) += static_cast<int64_t>(what % 1000);
        memory.get_or_create(kg, k) += static_cast<int64_t>(what % 1000);
      }
    }
    states.trim();
  }
};

// A snapshot of spilled state hands the subtask's thread nothing to read:
// the state is what it was at the snapshot when another thread writes it,
// while the subtask goes on changing, trimming and erasing, and after the
// store is gone.
BOOST_AUTO_TEST_CASE(a_snapshot_reads_the_store_later_as_it_was) {
  auto seed = flow::test::test_seed();
  std::mt19937_64 rng{seed};
  auto cache = 1 + rng() % 32;
  BOOST_TEST_MESSAGE("seed " << seed << ", cache of " << cache);
  counting_backend backend{"frozen", cache};
  auto parts = std::make_unique<two_parts>(backend);
  auto& p = *parts;
  for (int i = 0; i < 100; ++i) { // more keys than the cache holds
    auto k = "k" + std::to_string(i);
    p.spilled.get_or_create(group_of(k), k) = i;
    p.memory.get_or_create(group_of(k), k) = i;
  }
  for (int i = 0, n = 20 + static_cast<int>(rng() % 100); i < n; ++i)
    p.change(rng);

  auto& requests = *backend.stores.at(0);
  requests.scans = requests.views = 0;
  std::vector<key_group_snapshot> now, later, want;
  auto deferred = p.states.snapshot(now);
  BOOST_REQUIRE(deferred);
  BOOST_CHECK(now.empty());
  BOOST_CHECK_EQUAL(requests.scans, 0);
  BOOST_CHECK_EQUAL(requests.views, 1);
  written_now(p.reference, want);
  auto wanted = decode(want);
  BOOST_REQUIRE(!wanted.empty());

  for (int i = 0; i < 50; ++i)
    p.change(rng);
  deferred(later);
  BOOST_CHECK(decode(later) == wanted);

  // Written on another thread while the state changes.
  std::vector<key_group_snapshot> concurrent, concurrent_wanted, got;
  auto deferred_concurrent = p.states.snapshot(concurrent);
  BOOST_REQUIRE(deferred_concurrent);
  written_now(p.reference, concurrent_wanted);
  std::thread writer{[&] { deferred_concurrent(got); }};
  for (int i = 0; i < 50; ++i)
    p.change(rng);
  writer.join();
  BOOST_CHECK(decode(got) == decode(concurrent_wanted));

  // Taken, then its store closed before it is written (the backend, which
  // lives as long as the process, stays).
  std::vector<key_group_snapshot> last, last_wanted, last_got;
  auto deferred_last = p.states.snapshot(last);
  BOOST_REQUIRE(deferred_last);
  written_now(p.reference, last_wanted);
  parts.reset();
  deferred_last(last_got);
  BOOST_CHECK(decode(last_got) == decode(last_wanted));
  BOOST_CHECK(decode(last_got) != wanted); // 50 batches changed something
}

/// Counts each key's records in one state member and the sum of their
/// lengths in another; a key's first record sets a processing-time timer
/// 10 ms on that reports both.
struct count_and_length final
    : keyed_process_function<std::string, std::string,
                             std::pair<std::string, int64_t>> {
  value_state<std::string, int64_t> count{*this};
  value_state<std::string, int64_t> length{*this};
  void process_element(const std::string& x, context& ctx) override {
    auto n = count.value_or(0);
    if (n == 0) ctx.register_processing_time_timer(ctx.processing_time() + 10);
    count.update(n + 1);
    length.update(length.value_or(0) + static_cast<int64_t>(x.size()));
  }
  void on_timer(int64_t, time_domain, context& ctx) override {
    ctx.emit({ctx.key(), *count.get() * 1000 + *length.get()});
  }
};

// A keyed process function's spilled state is read like an aggregate's:
// one request per state member for a batch's keys, and for the keys whose
// timers are due, instead of one per record and member.
BOOST_AUTO_TEST_CASE(a_process_function_loads_a_batch_with_one_request) {
  counting_backend backend{"process", 2};
  topology t{"loads"};
  t.source(from_collection(std::vector<std::string>{}))
      .key_by([](const std::string& x) { return x; })
      .process([] { return std::make_unique<count_and_length>(); });
  flow::test::recording_transport<std::pair<std::string, int64_t>> tr;
  subtask_metrics m;
  outbox box{1, 1u << 20, tr, m};
  manual_clock clock{0};
  task_setup s;
  s.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
  s.out = &box;
  s.clock = &clock;
  s.state = &backend;
  auto op = t.nodes().back().make_task(s);
  BOOST_REQUIRE_EQUAL(backend.stores.size(), 2u);

  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i)
    keys.push_back("k" + std::to_string(i));
  typed_batch<std::string> first{keys};
  op->process(0, first); // 100 > 2 keys cached: all written back
  backend.reset();
  typed_batch<std::string> second{keys};
  op->process(0, second);
  for (auto st : backend.stores) {
    BOOST_CHECK_EQUAL(st->batched_gets, 1);
    BOOST_CHECK_EQUAL(st->gets, 0);
  }

  backend.reset();
  clock.set(10);
  op->on_processing_time(10); // the 100 timers, spilled state again
  op->flush_all();
  for (auto st : backend.stores) {
    BOOST_CHECK_EQUAL(st->batched_gets, 1);
    BOOST_CHECK_EQUAL(st->gets, 0);
  }
  BOOST_REQUIRE_EQUAL(tr.records.size(), keys.size());
  for (auto& [k, v] : tr.records)
    BOOST_CHECK_EQUAL(v, 2 * 1000 + 2 * static_cast<int64_t>(k.size()));
}

// Timers fire in the same order whether their keys are loaded first or
// not, in chunks, also when firing ones adds timers before, at and after
// the time of those still due, removes some of them and re-adds others.
BOOST_AUTO_TEST_CASE(timers_fire_in_order_when_their_keys_are_loaded_first) {
  auto seed = flow::test::test_seed();
  std::mt19937_64 rng{seed};
  using timers = keyed_timers<uint32_t>;
  timers plain{groups};
  timers loading{groups};
  auto n = 3 * timers::load_chunk + rng() % timers::load_chunk;
  for (size_t i = 0; i < n; ++i) {
    auto key = static_cast<uint32_t>(rng() % 500);
    auto at = static_cast<int64_t>(rng() % 1000);
    plain.add(key % groups, key, at);
    loading.add(key % groups, key, at);
  }
  // What a firing timer does depends on nothing but the timer.
  using fired = std::tuple<int64_t, uint32_t>;
  auto react = [](timers& ts, std::vector<fired>& log) {
    return [&ts, &log](int64_t t, uint32_t kg, uint32_t key) {
      log.emplace_back(t, key);
      auto h = (static_cast<uint64_t>(t) * 31 + key) % 10;
      if (h == 0) ts.add(kg, key, t - 1 - static_cast<int64_t>(key % 3));
      if (h == 1) ts.add((key + 1) % groups, key + 1, t);
      if (h == 2) ts.add(kg, key, t + 5);
      if (h == 3) ts.remove(kg, key, t + 1);
      if (h == 4 && ts.remove(kg, key, t + 2)) ts.add(kg, key, t + 2);
    };
  };
  std::vector<fired> want, got;
  size_t loads = 0;
  size_t largest_load = 0;
  for (int64_t now : {300, 700, 2000}) {
    plain.fire(now, react(plain, want));
    loading.fire(now, react(loading, got),
                 [&](const std::vector<std::pair<uint32_t, uint32_t>>& keys) {
                   ++loads;
                   largest_load = std::max(largest_load, keys.size());
                   for (auto& [kg, key] : keys)
                     BOOST_CHECK_EQUAL(kg, key % groups);
                 });
  }
  BOOST_TEST_MESSAGE(want.size() << " timers fired, " << loads << " loads");
  BOOST_CHECK(got == want);
  BOOST_CHECK_GE(want.size(), n / 2);
  BOOST_CHECK_GE(loads, 4u);
  BOOST_CHECK_EQUAL(largest_load, timers::load_chunk);
  BOOST_CHECK_EQUAL(loading.size(), 0u);
}

// flow.state-memory bounds the backend: the tables' filters and indexes
// are in its block cache, so what a store keeps beside it does not grow
// with its keys. (With filters and indexes beside the table readers, as
// before, 3 x 10^5 keys kept ~0.5 MB there: 10 filter bits and an index
// entry per key.)
BOOST_AUTO_TEST_CASE(filters_and_indexes_stay_within_the_memory_budget) {
  temp_dir dir{"flow-spill-budget"};
  state_options o;
  o.backend = "rocksdb";
  o.dir = dir.path.string();
  o.memory = size_t{1} << 20; // 256 KiB write buffers: many tables
  auto store = make_state_backend(o)->open("count#0.0");
  constexpr int keys = 300000;
  for (int at = 0; at < keys;) {
    spill_batch batch;
    for (int i = 0; i < 1000; ++i, ++at)
      batch.puts.emplace_back("user-" + std::to_string(at * 7919 % keys),
                              std::string(8, 'v'));
    store->write(batch);
  }
  auto outside = store->memory_outside_budget();
  BOOST_TEST_MESSAGE("beside the budget: " << outside << " bytes for " << keys
                                           << " keys");
  BOOST_TEST(outside < size_t{100} << 10);
  std::string v;
  BOOST_TEST(store->get("user-123", v));
  BOOST_TEST(!store->get("user-x", v));
}

BOOST_AUTO_TEST_CASE(scratch_directories_have_an_owner) {
  temp_dir dir{"flow-spill-dirs"};
  fs::create_directories(dir.path);
  // A directory of a process that died: a child that has exited.
  auto child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  auto orphan = dir.path / ("libflow-state-" + std::to_string(child) + "-0");
  fs::create_directories(orphan / "0-count_0.0");
  // One of a live process (this one's parent) stays.
  auto alive =
      dir.path / ("libflow-state-" + std::to_string(::getppid()) + "-0");
  fs::create_directories(alive);
  {
    auto backend = rocksdb_in(dir.path, 4);
    // Nothing is made before the first store opens.
    BOOST_CHECK(fs::exists(orphan));
    auto s = backend->open("count#0.0");
    BOOST_CHECK(!fs::exists(orphan));
    BOOST_CHECK(fs::exists(alive));
    size_t own = 0;
    for (auto& e : fs::directory_iterator(dir.path))
      if (e.path().filename().string().find(std::to_string(::getpid())) !=
          std::string::npos)
        ++own;
    BOOST_CHECK_EQUAL(own, 1u);
    backend.reset(); // the store keeps its directory
    s->write(spill_batch{{{"a", "1"}}});
    std::string v;
    BOOST_CHECK(s->get("a", v));
    BOOST_CHECK_EQUAL(v, "1");
  }
  for (auto& e : fs::directory_iterator(dir.path))
    BOOST_CHECK_MESSAGE(e.path() == alive, "left behind: " << e.path());
}

BOOST_AUTO_TEST_CASE(an_unusable_state_dir_is_a_configuration_failure) {
  temp_dir dir{"flow-spill-file"};
  fs::create_directories(dir.path.parent_path());
  { std::ofstream{dir.path} << "a file, not a directory"; }
  auto backend = rocksdb_in(dir.path / "state", 4);
  try {
    backend->open("count#0.0");
    BOOST_FAIL("opened a store under a file");
  } catch (const config_failure& e) {
    std::string what = e.what();
    BOOST_CHECK_NE(
        what.find("flow.state-dir = " + (dir.path / "state").string()),
        std::string::npos);
  }
  BOOST_CHECK(!make_state_backend(state_options{}));
}

BOOST_AUTO_TEST_SUITE_END()

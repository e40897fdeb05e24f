// Checkpoints on the actor runtime: parts matched to a plan, a job
// restored from a checkpoint of an earlier run, and a failing job that
// restarts itself from its latest checkpoint.
#include "flow/checkpoint/parts.hpp"
#include "flow/collection.hpp"
#include "flow/exceptions.hpp"
#include "flow/generator.hpp"
#include "flow/observe/exposition.hpp"
#include "flow/run.hpp"
#include "flow/runtime/job.hpp"

#include "../seed.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include <unistd.h>

using namespace flow;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed afterwards.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name) {
    path = fs::temp_directory_path() /
           (name + "-" + std::to_string(test::test_seed()) + "-" +
            std::to_string(::getpid()));
    fs::remove_all(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

/// generator(n) -> key_by(i % keys) -> count -> collector, the source
/// throttled to about `n / seconds` records per second.
topology counting_job(uint64_t n, uint64_t keys, double seconds,
                      collector<std::pair<uint64_t, int64_t>>& out,
                      uint32_t count_parallelism = 2,
                      uint32_t source_parallelism = 2) {
  topology t{"keyed-count"};
  t.source(generator(
               n, [](uint64_t i) { return i; }, "numbers",
               static_cast<double>(n) / seconds))
      .parallelism(source_parallelism)
      .key_by([keys](uint64_t i) { return i % keys; })
      .aggregate(count(), "count")
      .parallelism(count_parallelism)
      .sink(out.sink());
  return t;
}

/// The highest count per key in `out` (counts only grow within a run).
std::map<uint64_t, int64_t>
final_counts(const collector<std::pair<uint64_t, int64_t>>& out) {
  std::map<uint64_t, int64_t> m;
  for (auto& [k, c] : out.records())
    m[k] = std::max(m[k], c);
  return m;
}

/// As counting_job, with a map before the count that calls `check(i)` on
/// every record (it may throw); `seconds` = 0: the source is not
/// throttled.
template <class Check>
topology checked_counting_job(uint64_t n, uint64_t keys, double seconds,
                              collector<std::pair<uint64_t, int64_t>>& out,
                              Check check) {
  topology t{"keyed-count"};
  t.source(generator(
               n, [](uint64_t i) { return i; }, "numbers",
               seconds > 0 ? static_cast<double>(n) / seconds : 0))
      .parallelism(2)
      .map(
          [check](uint64_t i) {
            check(i);
            return i;
          },
          "check")
      .key_by([keys](uint64_t i) { return i % keys; })
      .aggregate(count(), "count")
      .parallelism(2)
      .sink(out.sink());
  return t;
}

job_options checkpointing(const fs::path& dir,
                          std::chrono::milliseconds every) {
  job_options o;
  o.status_interval = std::chrono::nanoseconds::zero();
  o.checkpoints.dir = dir.string();
  o.checkpoints.interval = every;
  return o;
}

topology small_topology(uint32_t parallelism, const std::string& map_name) {
  topology t{"small"};
  collector<uint64_t> out;
  t.source(from_collection<uint64_t>({1, 2, 3}))
      .parallelism(parallelism)
      .map([](uint64_t x) { return x; }, map_name)
      .sink(out.sink());
  return t;
}

checkpoint::pb::Metadata metadata_of(const physical_plan& plan) {
  checkpoint::pb::Metadata md;
  md.set_checkpoint_id(4);
  for (auto& s : plan.subtasks) {
    subtask_snapshot snap{checkpoint_id{4}, 0, {}, {{"", 7}}, {}, {}, {}, {}};
    *md.add_parts() = checkpoint::describe(s, snap);
  }
  return md;
}

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_recovery)

BOOST_AUTO_TEST_CASE(parts_restore_the_same_topology_only) {
  plan_options po;
  auto plan = physical_plan::build(small_topology(2, "map"), po);
  auto md = metadata_of(plan);
  std::vector<checkpoint::part_state> states(md.parts_size());
  auto split = checkpoint::redistribute(md, states, plan);
  BOOST_REQUIRE_EQUAL(split.subtasks.size(), plan.subtasks.size());
  BOOST_CHECK(split.rescaled.empty());
  for (auto& s : plan.subtasks)
    BOOST_CHECK((split.subtasks[s.id.value()].positions ==
                 std::vector<source_position>{{"", 7}}));
  // Another operator name, a part too many or too few: not this job's
  // checkpoint. Another parallelism: its positions are not numbered
  // splits (and it does not record its key groups).
  auto renamed = physical_plan::build(small_topology(2, "other"), po);
  BOOST_CHECK_THROW(checkpoint::redistribute(md, states, renamed),
                    checkpoint::incompatible_checkpoint);
  auto wider = physical_plan::build(small_topology(3, "map"), po);
  BOOST_CHECK_THROW(checkpoint::redistribute(md, states, wider),
                    checkpoint::incompatible_checkpoint);
  auto extra = md;
  *extra.add_parts() = md.parts(0);
  extra.mutable_parts(extra.parts_size() - 1)->set_subtask_index(9);
  BOOST_CHECK_THROW(
      checkpoint::redistribute(
          extra, std::vector<checkpoint::part_state>(extra.parts_size()), plan),
      checkpoint::incompatible_checkpoint);
  auto fewer = md;
  fewer.mutable_parts()->RemoveLast();
  BOOST_CHECK_THROW(
      checkpoint::redistribute(
          fewer, std::vector<checkpoint::part_state>(fewer.parts_size()), plan),
      checkpoint::incompatible_checkpoint);
}

BOOST_AUTO_TEST_CASE(part_state_round_trips) {
  // The sink's state in pieces, as the exactly-once sink hands over its
  // epochs.
  byte_chain sink_state{std::string("sink\0", 5)};
  sink_state.append(std::make_shared<const std::string>("state"));
  subtask_snapshot snap{checkpoint_id{1},
                        3,
                        {{5, {'a', 'b'}}, {9, {}}},
                        {},
                        sink_state,
                        {"held", 4},
                        {},
                        {}};
  auto bytes = checkpoint::encode_state(snap);
  // The same bytes as the whole message serialized at once.
  checkpoint::pb::PartState whole;
  auto* g = whole.add_key_groups();
  g->set_key_group(5);
  g->set_state("ab");
  whole.add_key_groups()->set_key_group(9);
  whole.set_operator_state(std::string("sink\0state", 10));
  whole.set_dead_letters("held");
  BOOST_CHECK(bytes.flatten() == whole.SerializeAsString());
  auto back = checkpoint::decode_state(bytes.flatten());
  BOOST_REQUIRE_EQUAL(back.key_groups.size(), 2u);
  BOOST_CHECK_EQUAL(back.key_groups[0].key_group, 5u);
  BOOST_CHECK((back.key_groups[0].bytes == std::vector<char>{'a', 'b'}));
  BOOST_CHECK_EQUAL(back.key_groups[1].key_group, 9u);
  BOOST_CHECK(back.key_groups[1].bytes.empty());
  BOOST_CHECK_EQUAL(back.operator_state, snap.operator_state.flatten());
  BOOST_CHECK_EQUAL(back.operator_state.size(), 10u);
  BOOST_CHECK_EQUAL(back.dead_letters, "held");
  BOOST_CHECK_THROW(checkpoint::decode_state("\xff\xff\xff"),
                    std::runtime_error);
}

BOOST_AUTO_TEST_CASE(deferred_key_groups_are_written_before_their_part) {
  // Spilled state is written after the snapshot: a part's bytes include
  // it, and its metadata cannot be described before it is written.
  plan_options po;
  auto plan = physical_plan::build(small_topology(1, "map"), po);
  subtask_snapshot snap{checkpoint_id{1}, 0, {}, {}, {}, {}, {}, {}};
  snap.key_groups_later = [](std::vector<key_group_snapshot>& out) {
    out.push_back({3, {'x'}});
  };
  BOOST_CHECK_THROW(checkpoint::describe(plan.subtasks[0], snap),
                    std::logic_error);
  auto back =
      checkpoint::decode_state(checkpoint::encode_state(snap).flatten());
  BOOST_REQUIRE_EQUAL(back.key_groups.size(), 1u);
  BOOST_CHECK_EQUAL(back.key_groups[0].key_group, 3u);
  snap.write_key_groups();
  BOOST_CHECK(!snap.key_groups_later);
  BOOST_CHECK_EQUAL(snap.key_groups.size(), 1u);
  auto part = checkpoint::describe(plan.subtasks[0], snap);
  BOOST_CHECK_EQUAL(part.key_groups().first(), 3u);
  BOOST_CHECK_EQUAL(part.key_groups().end(), 4u);
}

BOOST_AUTO_TEST_CASE(part_state_of_any_key_groups_is_the_serialized_message) {
  // Key groups written field by field: key group 0 and empty states (their
  // fields left out), numbers and lengths of several varint bytes, with and
  // without operator state and dead letters.
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 20; ++round) {
    subtask_snapshot snap{checkpoint_id{1}, 0, {}, {}, {}, {}, {}, {}};
    checkpoint::pb::PartState whole;
    for (int i = 0, n = static_cast<int>(rng() % 6); i < n; ++i) {
      uint32_t kgs[] = {0, 1, 127, 128, 300, 70000};
      size_t sizes[] = {0, 1, 127, 128, 5000, 200000};
      key_group_snapshot g{kgs[rng() % 6], {}};
      g.bytes.resize(sizes[rng() % 6]);
      for (auto& c : g.bytes)
        c = static_cast<char>(rng());
      auto* x = whole.add_key_groups();
      x->set_key_group(g.key_group);
      x->set_state(g.bytes.data(), g.bytes.size());
      snap.key_groups.push_back(std::move(g));
    }
    if (rng() % 2) {
      snap.operator_state.append(std::string(rng() % 300 + 1, 's'));
      whole.set_operator_state(snap.operator_state.flatten());
    }
    if (rng() % 2) {
      snap.dead_letters = std::string(rng() % 300 + 1, 'd');
      whole.set_dead_letters(snap.dead_letters);
    }
    BOOST_CHECK(checkpoint::encode_state(snap).flatten() ==
                whole.SerializeAsString());
  }
}

BOOST_AUTO_TEST_CASE(a_job_restored_from_a_checkpoint_ends_with_exact_counts) {
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  const uint64_t n = 20000 + rng() % 20000;
  const uint64_t keys = 3 + rng() % 50;
  std::map<uint64_t, int64_t> reference;
  for (uint64_t i = 0; i < n; ++i)
    ++reference[i % keys];
  temp_dir dir{"flow-recovery"};

  // A first run takes checkpoints while the throttled source runs (about
  // a second); it ends normally, with a final checkpoint once every
  // subtask has ended, and its checkpoints stay.
  collector<std::pair<uint64_t, int64_t>> first;
  auto o1 = checkpointing(dir.path, std::chrono::milliseconds(40));
  o1.checkpoints.retained = 1000;
  auto r1 = runtime::execute(counting_job(n, keys, 1.0, first), o1);
  BOOST_REQUIRE(r1.ok);
  BOOST_CHECK(final_counts(first) == reference);
  BOOST_REQUIRE_GE(r1.checkpoints.completed, 2u);
  checkpoint::store store{dir.path, 1000};
  auto ids = store.completed();
  BOOST_REQUIRE_GE(ids.size(), 2u);
  BOOST_CHECK(store.latest()->id() == ids.back());
  // The same job started from a checkpoint (flow.restore = its directory)
  // takes its state and the sources' positions: it must neither lose nor
  // recount a record. Its output shows a key's count only if a record of
  // the key comes after the checkpoint; one taken near the end (how near
  // depends on the machine's speed) leaves some keys without, and their
  // counts are then only in the state. So: a seeded checkpoint taken while
  // the job ran (the last is the final one), and an earlier one as long as
  // the restored run's output lacks a key; the first one, taken 40 ms into
  // a 1 s input, leaves every key some records.
  auto o2 = checkpointing(dir.path, std::chrono::milliseconds(0));
  auto pick = rng() % (ids.size() - 1);
  checkpoint_id chosen{};
  std::map<uint64_t, int64_t> restored_counts;
  runtime::job_result r2;
  for (;; --pick) {
    chosen = ids[pick];
    collector<std::pair<uint64_t, int64_t>> second;
    o2.checkpoints.restore = store.directory(chosen, false).string();
    r2 = runtime::execute(counting_job(n, keys, 0.2, second), o2);
    BOOST_REQUIRE(r2.ok);
    restored_counts = final_counts(second);
    for (auto& [k, c] : restored_counts)
      BOOST_CHECK_MESSAGE(c == reference[k], "key " << k << ": " << c
                                                    << " counted, "
                                                    << reference[k] << " in");
    if (restored_counts.size() == reference.size() || pick == 0) break;
    BOOST_TEST_MESSAGE("checkpoint " << chosen.value()
                                     << " leaves some keys without records");
  }
  BOOST_TEST_MESSAGE("restored checkpoint " << chosen.value() << " of "
                                            << ids.size());
  BOOST_CHECK(restored_counts == reference);
  auto* counted = r2.find("count");
  BOOST_REQUIRE(counted);
  BOOST_CHECK_LT(counted->records_in, n); // it did not start over
  BOOST_TEST_MESSAGE("the restored run counted " << counted->records_in
                                                 << " of " << n << " records");

  // Without the checkpoint (flow.restore = none) it starts over.
  collector<std::pair<uint64_t, int64_t>> fresh;
  o2.checkpoints.restore = "none";
  auto r3 = runtime::execute(counting_job(n, keys, 0.2, fresh), o2);
  BOOST_REQUIRE(r3.ok);
  BOOST_CHECK(final_counts(fresh) == reference);
  BOOST_CHECK_EQUAL(r3.find("count")->records_in, n);

  // By default (flow.restore = latest) it restores the latest one: the
  // first run's final checkpoint, which covers all of its input, so
  // nothing is counted again.
  collector<std::pair<uint64_t, int64_t>> again;
  o2.checkpoints.restore = "latest";
  auto r4 = runtime::execute(counting_job(n, keys, 0.2, again), o2);
  BOOST_REQUIRE(r4.ok);
  BOOST_CHECK(final_counts(again).empty());
  BOOST_CHECK_EQUAL(r4.find("count")->records_in, 0u);

  // At other parallelisms (of the source and of the count) the keyed
  // state and the generator's splits are redistributed: exact counts.
  for (uint32_t q : {3u, 1u}) {
    collector<std::pair<uint64_t, int64_t>> other;
    o2.checkpoints.restore = store.directory(chosen, false).string();
    auto r5 = runtime::execute(counting_job(n, keys, 0.2, other, q, q), o2);
    BOOST_REQUIRE_MESSAGE(r5.ok, r5.error);
    BOOST_CHECK(final_counts(other) == reference);
    BOOST_CHECK_EQUAL(r5.find("count")->records_in, counted->records_in);
  }

  // Another number of key groups: refused (exit 2), at any parallelism.
  collector<std::pair<uint64_t, int64_t>> regrouped;
  auto o3 = o2;
  o3.plan.max_parallelism = 64;
  BOOST_CHECK_THROW(runtime::execute(counting_job(n, keys, 0.2, regrouped), o3),
                    checkpoint::incompatible_checkpoint);
}

/// A check for checked_counting_job that throws once: at the first record
/// that is a multiple of `stride` once checkpoint 1 is complete
/// (`first_complete` exists), so that the restart has a checkpoint to
/// resume from whenever the failure happens.
struct poison_after_first_checkpoint {
  fs::path first_complete;
  uint64_t stride;
  std::shared_ptr<std::atomic<bool>> tripped =
      std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<uint64_t>> thrown_at =
      std::make_shared<std::atomic<uint64_t>>(0);

  void operator()(uint64_t i) const {
    if (i % stride != 0 || tripped->load() || !fs::exists(first_complete))
      return;
    if (tripped->exchange(true)) return;
    thrown_at->store(i);
    throw std::runtime_error("poison record " + std::to_string(i));
  }
};

BOOST_AUTO_TEST_CASE(a_failing_job_restarts_from_its_latest_checkpoint) {
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  const uint64_t n = 20000 + rng() % 20000;
  const uint64_t keys = 3 + rng() % 50;
  const uint64_t stride = 16 + rng() % 64;
  std::map<uint64_t, int64_t> reference;
  for (uint64_t i = 0; i < n; ++i)
    ++reference[i % keys];
  temp_dir dir{"flow-restart"};
  poison_after_first_checkpoint check{dir.path / "chk-1" / "_metadata", stride};
  collector<std::pair<uint64_t, int64_t>> out;
  auto o = checkpointing(dir.path, std::chrono::milliseconds(30));
  o.checkpoints.restart_backoff = std::chrono::milliseconds(10);
  observe::job_view view{"keyed-count", "node-a", "standalone"};
  auto r = runtime::execute(checked_counting_job(n, keys, 1.0, out, check), o,
                            nullptr, &view);
  BOOST_TEST_MESSAGE("thrown at record " << check.thrown_at->load());
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_REQUIRE(check.tripped->load());
  BOOST_CHECK_EQUAL(r.restarts, 1u);
  BOOST_CHECK(final_counts(out) == reference);
  BOOST_CHECK_GE(r.checkpoints.completed, 1u);
  // The last run resumed from a checkpoint: it did not count every record.
  auto* counted = r.find("count");
  BOOST_REQUIRE(counted);
  BOOST_CHECK_LT(counted->records_in, n);
  BOOST_CHECK_EQUAL(runtime::report("keyed-count", r), exit_ok);

  // The endpoints saw every checkpoint of both runs and the restart.
  auto snap = view.sample(clock::system().now(), {});
  BOOST_CHECK_EQUAL(snap->restarts, 1u);
  BOOST_CHECK_EQUAL(snap->checkpoints_completed, r.checkpoints.completed);
  BOOST_CHECK_EQUAL(snap->checkpoints_failed, r.checkpoints.failed);
  // The last complete one as the job counted it (a bounded job may abort
  // one more when its first subtask finishes).
  const observe::checkpoint_record* last = nullptr;
  for (auto& c : snap->checkpoints)
    if (c.id == r.checkpoints.last_completed->id.value()) last = &c;
  BOOST_REQUIRE(last);
  BOOST_CHECK(last->completed);
  BOOST_CHECK_EQUAL(last->size_bytes, r.checkpoints.last_completed->size_bytes);
  BOOST_CHECK_GT(last->size_bytes, 0u);
  BOOST_CHECK_GT(last->triggered_ms, 0);
  auto text = observe::prometheus_text(*snap);
  BOOST_CHECK_NE(text.find("\nflow_restarts_total{job=\"keyed-count\"} 1\n"),
                 std::string::npos);
  BOOST_CHECK_NE(
      text.find("\nflow_checkpoints_total{job=\"keyed-count\",result="
                "\"completed\"} " +
                std::to_string(r.checkpoints.completed) + "\n"),
      std::string::npos);
  auto json = observe::checkpoints_json(*snap);
  BOOST_CHECK_EQUAL(json["completed"].get<uint64_t>(), r.checkpoints.completed);
}

BOOST_AUTO_TEST_CASE(a_job_with_spilled_state_restarts_exactly) {
  // As above with the count's state in RocksDB (flow.state-backend =
  // rocksdb) and a cache of a few keys: the checkpoint is read out of and
  // restored into the spilled store.
  auto seed = test::test_seed();
  std::mt19937_64 rng{seed + 1};
  const uint64_t n = 20000 + rng() % 20000;
  const uint64_t keys = 100 + rng() % 2000;
  const uint64_t stride = 16 + rng() % 64;
  std::map<uint64_t, int64_t> reference;
  for (uint64_t i = 0; i < n; ++i)
    ++reference[i % keys];
  temp_dir dir{"flow-restart-spilled"};
  temp_dir state{"flow-state"};
  poison_after_first_checkpoint check{dir.path / "chk-1" / "_metadata", stride};
  collector<std::pair<uint64_t, int64_t>> out;
  auto o = checkpointing(dir.path, std::chrono::milliseconds(30));
  o.checkpoints.restart_backoff = std::chrono::milliseconds(10);
  o.state.backend = "rocksdb";
  o.state.dir = state.path.string();
  o.state.cache_entries = 1 + rng() % 8;
  o.state.memory = size_t{8} << 20;
  BOOST_TEST_MESSAGE("seed " << seed << ": " << keys << " keys, cache of "
                             << o.state.cache_entries);
  auto r = runtime::execute(checked_counting_job(n, keys, 1.0, out, check), o);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_REQUIRE(check.tripped->load());
  BOOST_CHECK_EQUAL(r.restarts, 1u);
  BOOST_CHECK(final_counts(out) == reference);
  // Both runs' scratch stores are gone.
  BOOST_REQUIRE(fs::exists(state.path));
  BOOST_CHECK(fs::is_empty(state.path));
}

BOOST_AUTO_TEST_CASE(stop_with_savepoint_then_resume_it_exactly) {
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  const uint64_t n = 200000;
  const uint64_t keys = 3 + rng() % 50;
  const auto stop_after = std::chrono::milliseconds(rng() % 300);
  std::map<uint64_t, int64_t> reference;
  for (uint64_t i = 0; i < n; ++i)
    ++reference[i % keys];
  temp_dir dir{"flow-savepoint"};

  // A stop request (as SIGTERM makes) a random while after the first
  // checkpoint: the sources stop at the savepoint's barrier.
  collector<std::pair<uint64_t, int64_t>> first;
  auto o1 = checkpointing(dir.path, std::chrono::milliseconds(50));
  o1.checkpoints.savepoint_on_stop = true;
  std::atomic<bool> stop{false};
  std::thread stopper{[&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!fs::exists(dir.path / "chk-1" / "_metadata") &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(stop_after);
    stop = true;
  }};
  auto r1 = runtime::execute(counting_job(n, keys, 20.0, first), o1, &stop);
  stopper.join();
  BOOST_REQUIRE_MESSAGE(r1.ok, r1.error);
  BOOST_REQUIRE(r1.checkpoints.last_completed);
  BOOST_CHECK(r1.checkpoints.last_completed->savepoint);
  checkpoint::store store{dir.path, 3};
  auto latest = store.latest();
  BOOST_REQUIRE(latest);
  BOOST_CHECK(latest->metadata.savepoint());
  BOOST_CHECK_EQUAL(latest->dir.filename().string(),
                    "savepoint-" + std::to_string(latest->id().value()));
  BOOST_CHECK(!fs::exists(store.directory(latest->id(), false)));
  auto counted_before = r1.find("count")->records_in;
  BOOST_TEST_MESSAGE("stopped at savepoint " << latest->id().value()
                                             << " having counted "
                                             << counted_before);
  BOOST_CHECK_LT(counted_before, n);

  // Resumed from the savepoint: the exact counts, every record counted
  // once over both runs (nothing after the barrier in the first).
  collector<std::pair<uint64_t, int64_t>> second;
  auto o2 = checkpointing(dir.path, std::chrono::milliseconds(0));
  o2.checkpoints.restore = latest->dir.string();
  auto r2 = runtime::execute(counting_job(n, keys, 0.05, second), o2);
  BOOST_REQUIRE_MESSAGE(r2.ok, r2.error);
  BOOST_CHECK(final_counts(second) == reference);
  BOOST_CHECK_EQUAL(counted_before + r2.find("count")->records_in, n);

  // The savepoint of parallelism 2 resumed at 3 and at 1 (source and
  // count): the same.
  for (uint32_t q : {3u, 1u}) {
    collector<std::pair<uint64_t, int64_t>> rescaled;
    auto r3 = runtime::execute(counting_job(n, keys, 0.05, rescaled, q, q), o2);
    BOOST_REQUIRE_MESSAGE(r3.ok, r3.error);
    BOOST_CHECK(final_counts(rescaled) == reference);
    BOOST_CHECK_EQUAL(counted_before + r3.find("count")->records_in, n);
  }
}

BOOST_AUTO_TEST_CASE(a_stop_savepoint_that_cannot_be_written_fails_the_run) {
  // Files where the savepoints must go: the stop's savepoint cannot be
  // committed. The job still stops, but not as if it had one.
  temp_dir dir{"flow-no-savepoint"};
  fs::create_directories(dir.path);
  for (int id = 1; id <= 10; ++id)
    std::ofstream{dir.path / ("savepoint-" + std::to_string(id))} << "taken";
  collector<std::pair<uint64_t, int64_t>> out;
  auto o = checkpointing(dir.path, std::chrono::milliseconds(0));
  o.checkpoints.savepoint_on_stop = true;
  std::atomic<bool> stop{false};
  std::thread stopper{[&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (out.size() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stop = true;
  }};
  auto r = runtime::execute(counting_job(100000, 7, 20.0, out), o, &stop);
  stopper.join();
  BOOST_TEST_MESSAGE(r.error);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.restarts, 0u);
  BOOST_CHECK_NE(r.error.find("stop savepoint"), std::string::npos);
  BOOST_CHECK_NE(r.error.find("the job stopped without it"), std::string::npos);
  BOOST_CHECK_EQUAL(runtime::report("keyed-count", r), exit_job_failed);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_that_cannot_be_written_fails_alone) {
  // A file where checkpoint 2's directory must go: its parts cannot be
  // written whoever runs the test (root too, unlike a read-only mode).
  temp_dir dir{"flow-unwritable"};
  fs::create_directories(dir.path);
  auto blocked = dir.path / "chk-2";
  { std::ofstream{blocked} << "not a directory"; }
  collector<std::pair<uint64_t, int64_t>> out;
  auto o = checkpointing(dir.path, std::chrono::milliseconds(30));
  o.checkpoints.retained = 1000;
  observe::job_view view{"keyed-count", "node-a", "standalone"};
  const uint64_t n = 20000, keys = 11;
  auto r = runtime::execute(counting_job(n, keys, 1.0, out), o, nullptr, &view);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  std::map<uint64_t, int64_t> reference;
  for (uint64_t i = 0; i < n; ++i)
    ++reference[i % keys];
  BOOST_CHECK(final_counts(out) == reference);
  auto snap = view.sample(clock::system().now(), {});
  const observe::checkpoint_record* second = nullptr;
  bool later_completed = false;
  for (auto& c : snap->checkpoints) {
    if (c.id == 2) second = &c;
    later_completed = later_completed || (c.id > 2 && c.completed);
  }
  BOOST_REQUIRE(second);
  BOOST_CHECK(!second->completed);
  BOOST_TEST_MESSAGE("checkpoint 2 failed: " << second->failure);
  BOOST_CHECK_NE(second->failure.find(blocked.string()), std::string::npos);
  BOOST_CHECK(later_completed);
  BOOST_CHECK_GE(r.checkpoints.failed, 1u);
  BOOST_CHECK_GT(r.checkpoints.last_completed->id.value(), 2u);
  checkpoint::store store{dir.path, 1000};
  BOOST_CHECK(store.latest()->id() == r.checkpoints.last_completed->id);
}

BOOST_AUTO_TEST_CASE(
    a_checkpoint_directory_that_cannot_be_used_fails_the_start) {
  // Before: a directory that could not be listed looked empty (the job
  // started fresh, its state lost) and one that could not be written
  // failed each checkpoint while the job ran on. A symlink loop and a path
  // below a file cannot be used whoever runs the test (root too).
  temp_dir dir{"flow-unusable"};
  fs::create_directories(dir.path);
  auto loop = dir.path / "loop";
  fs::create_directory_symlink(loop, loop);
  auto file = dir.path / "file";
  { std::ofstream{file} << "not a directory"; }
  for (auto& unusable : {loop, file / "checkpoints"}) {
    for (auto restore : {"latest", "none"}) {
      collector<std::pair<uint64_t, int64_t>> out;
      auto o = checkpointing(unusable, std::chrono::milliseconds(30));
      o.checkpoints.restore = restore;
      BOOST_CHECK_EXCEPTION(
          runtime::execute(counting_job(100, 3, 0.01, out), o), config_failure,
          [&](const config_failure& e) {
            BOOST_TEST_MESSAGE(e.what());
            return std::string(e.what()).find("flow.checkpoint-dir = " +
                                              unusable.string()) !=
                   std::string::npos;
          });
      BOOST_CHECK_EQUAL(out.size(), 0u);
    }
  }
  // A usable one is created, and the probe leaves nothing behind.
  auto fresh = dir.path / "a" / "b";
  collector<std::pair<uint64_t, int64_t>> out;
  auto r = runtime::execute(counting_job(100, 3, 0.01, out),
                            checkpointing(fresh, std::chrono::hours(1)));
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  for (auto& e : fs::directory_iterator(fresh))
    BOOST_CHECK_MESSAGE(e.path().filename().string().rfind(".probe", 0) != 0,
                        e.path() << " left behind");
}

BOOST_AUTO_TEST_CASE(a_job_that_keeps_failing_gives_up_after_its_attempts) {
  collector<std::pair<uint64_t, int64_t>> out;
  // Without checkpoints (none can complete between the failures and start
  // the attempts over), restarts set explicitly: each starts over.
  job_options o;
  o.status_interval = std::chrono::nanoseconds::zero();
  o.checkpoints.restart_attempts = 2;
  o.checkpoints.restart_backoff = std::chrono::milliseconds(10);
  // Fails on record 500 in every run.
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto check = [runs](uint64_t i) {
    if (i != 500) return;
    runs->fetch_add(1);
    throw std::runtime_error("record 500 is poison");
  };
  auto r = runtime::execute(checked_counting_job(4000, 7, 0, out, check), o);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK(!r.bad_config);
  BOOST_CHECK_EQUAL(r.restarts, 2u);
  BOOST_CHECK_EQUAL(runs->load(), 3);
  BOOST_CHECK_NE(r.error.find("record 500 is poison"), std::string::npos);
  BOOST_CHECK_NE(r.error.find("'check'"), std::string::npos);
  BOOST_CHECK_EQUAL(runtime::report("keyed-count", r), exit_job_failed);
}

BOOST_AUTO_TEST_CASE(a_configuration_failure_never_restarts) {
  temp_dir dir{"flow-config-failure"};
  collector<std::pair<uint64_t, int64_t>> out;
  auto o = checkpointing(dir.path, std::chrono::milliseconds(30));
  o.checkpoints.restart_attempts = 3;
  o.checkpoints.restart_backoff = std::chrono::milliseconds(10);
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto check = [runs](uint64_t i) {
    if (i != 10) return;
    runs->fetch_add(1);
    throw config_failure("invalid config: test.key = 1 (expected 2)");
  };
  auto r = runtime::execute(checked_counting_job(1000, 7, 0, out, check), o);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK(r.bad_config);
  BOOST_CHECK_EQUAL(r.restarts, 0u);
  BOOST_CHECK_EQUAL(runs->load(), 1);
  BOOST_CHECK_EQUAL(runtime::report("keyed-count", r), exit_bad_config);
}

BOOST_AUTO_TEST_CASE(without_checkpoints_a_failure_ends_the_job) {
  collector<std::pair<uint64_t, int64_t>> out;
  job_options o;
  o.status_interval = std::chrono::nanoseconds::zero();
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto check = [runs](uint64_t i) {
    if (i != 10) return;
    runs->fetch_add(1);
    throw std::runtime_error("record 10 is poison");
  };
  auto r = runtime::execute(checked_counting_job(1000, 7, 0, out, check), o);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.restarts, 0u);
  BOOST_CHECK_EQUAL(runs->load(), 1);
}

BOOST_AUTO_TEST_SUITE_END()

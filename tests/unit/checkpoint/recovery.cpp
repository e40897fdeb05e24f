// Checkpoints on the actor runtime: parts matched to a plan, and a job
// restored from a checkpoint of an earlier run.
#include "flow/checkpoint/parts.hpp"
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/runtime/job.hpp"

#include "../seed.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <random>

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
                      uint32_t count_parallelism = 2) {
  topology t{"keyed-count"};
  t.source(generator(
               n, [](uint64_t i) { return i; }, "numbers",
               static_cast<double>(n) / seconds))
      .parallelism(2)
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
    subtask_snapshot snap{checkpoint_id{4}, 0, {}, {{"", 7}}};
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
  auto parts = checkpoint::match_parts(md, plan);
  BOOST_REQUIRE_EQUAL(parts.size(), plan.subtasks.size());
  for (auto& s : plan.subtasks) {
    BOOST_REQUIRE(parts[s.id.value()]);
    BOOST_CHECK_EQUAL(parts[s.id.value()]->operator_name(), s.operator_name);
    BOOST_CHECK_EQUAL(parts[s.id.value()]->subtask_index(), s.index);
    BOOST_CHECK((checkpoint::positions_of(*parts[s.id.value()]) ==
                 std::vector<source_position>{{"", 7}}));
  }
  // Another operator name, another parallelism, a part too many or too
  // few: not this job's checkpoint.
  auto renamed = physical_plan::build(small_topology(2, "other"), po);
  BOOST_CHECK_THROW(checkpoint::match_parts(md, renamed),
                    checkpoint::incompatible_checkpoint);
  auto wider = physical_plan::build(small_topology(3, "map"), po);
  BOOST_CHECK_THROW(checkpoint::match_parts(md, wider),
                    checkpoint::incompatible_checkpoint);
  auto extra = md;
  *extra.add_parts() = md.parts(0);
  extra.mutable_parts(extra.parts_size() - 1)->set_subtask_index(9);
  BOOST_CHECK_THROW(checkpoint::match_parts(extra, plan),
                    checkpoint::incompatible_checkpoint);
  auto fewer = md;
  fewer.mutable_parts()->RemoveLast();
  BOOST_CHECK_THROW(checkpoint::match_parts(fewer, plan),
                    checkpoint::incompatible_checkpoint);
}

BOOST_AUTO_TEST_CASE(part_state_round_trips) {
  subtask_snapshot snap{
      checkpoint_id{1}, 3, {{5, {'a', 'b'}}, {9, {}}}, {}, {"sink\0state", 10}};
  auto back = checkpoint::decode_state(checkpoint::encode_state(snap));
  BOOST_REQUIRE_EQUAL(back.key_groups.size(), 2u);
  BOOST_CHECK_EQUAL(back.key_groups[0].key_group, 5u);
  BOOST_CHECK((back.key_groups[0].bytes == std::vector<char>{'a', 'b'}));
  BOOST_CHECK_EQUAL(back.key_groups[1].key_group, 9u);
  BOOST_CHECK(back.key_groups[1].bytes.empty());
  BOOST_CHECK_EQUAL(back.operator_state, snap.operator_state);
  BOOST_CHECK_EQUAL(back.operator_state.size(), 10u);
  BOOST_CHECK_THROW(checkpoint::decode_state("\xff\xff\xff"),
                    std::runtime_error);
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
  // a second); it ends normally, and its checkpoints stay.
  collector<std::pair<uint64_t, int64_t>> first;
  auto o1 = checkpointing(dir.path, std::chrono::milliseconds(40));
  o1.checkpoints.retained = 1000;
  auto r1 = runtime::execute(counting_job(n, keys, 1.0, first), o1);
  BOOST_REQUIRE(r1.ok);
  BOOST_CHECK(final_counts(first) == reference);
  BOOST_REQUIRE_GE(r1.checkpoints.completed, 1u);
  checkpoint::store store{dir.path, 1000};
  auto ids = store.completed();
  BOOST_REQUIRE(!ids.empty());
  BOOST_CHECK(store.latest()->id() == ids.back());
  auto chosen = ids[rng() % ids.size()];
  BOOST_TEST_MESSAGE("restoring checkpoint " << chosen.value() << " of "
                                             << ids.size());

  // The same job started from a checkpoint (flow.restore = its directory)
  // takes its state and the sources' positions: it must neither lose nor
  // recount a record.
  collector<std::pair<uint64_t, int64_t>> second;
  auto o2 = checkpointing(dir.path, std::chrono::milliseconds(0));
  o2.checkpoints.restore = store.directory(chosen, false).string();
  auto r2 = runtime::execute(counting_job(n, keys, 0.2, second), o2);
  BOOST_REQUIRE(r2.ok);
  BOOST_CHECK(final_counts(second) == reference);
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

  // By default (flow.restore = latest) it restores the latest one.
  collector<std::pair<uint64_t, int64_t>> again;
  o2.checkpoints.restore = "latest";
  auto r4 = runtime::execute(counting_job(n, keys, 0.2, again), o2);
  BOOST_REQUIRE(r4.ok);
  BOOST_CHECK(final_counts(again) == reference);
  BOOST_CHECK_LT(r4.find("count")->records_in, n);

  // Another parallelism of the count: the checkpoint does not fit.
  collector<std::pair<uint64_t, int64_t>> other;
  BOOST_CHECK_THROW(runtime::execute(counting_job(n, keys, 0.2, other, 3), o2),
                    checkpoint::incompatible_checkpoint);
}

BOOST_AUTO_TEST_SUITE_END()

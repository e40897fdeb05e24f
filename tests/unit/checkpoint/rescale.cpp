// Restoring a checkpoint at another parallelism (checkpoint::redistribute)
// on the seeded simulator: random graphs run at parallelisms p with
// checkpoints at random moments; a complete checkpoint is redistributed
// over the same graph at other parallelisms q, which runs to the end and
// must end in exactly the keyed state of the uninterrupted run. Then what
// cannot be rescaled is refused with the reason.

#include "../seed.hpp"
#include "../sim.hpp"

#include "flow/aggregators.hpp"
#include "flow/checkpoint/parts.hpp"
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/state.hpp"
#include "flow/windows.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace flow;
using flow::test::test_seed;

namespace {

using count_out = std::pair<uint64_t, int64_t>;

/// Keeps the highest running count per key (value state) and emits it
/// when the input ends, from an event-time timer at the end of time: its
/// output is its whole final state.
struct highest_count final
    : keyed_process_function<uint64_t, count_out, count_out> {
  value_state<uint64_t, int64_t> highest{*this};
  void process_element(const count_out& x, context& ctx) override {
    auto* h = highest.get();
    if (!h) ctx.register_event_time_timer(max_timestamp - 1);
    if (!h || *h < x.second) highest.update(x.second);
  }
  void on_timer(int64_t, time_domain, context& ctx) override {
    ctx.emit(count_out{ctx.key(), highest.value_or(0)});
  }
};

uint64_t key_of(uint64_t i, uint64_t keys) {
  return (i ^ (i >> 3)) % keys;
}

uint64_t shifted(uint64_t i) {
  return i * 7 + 1;
}

/// Sums the window counts per key and emits the total when the input
/// ends: its output is its whole final state.
struct window_total final
    : keyed_process_function<uint64_t, window_result<uint64_t, int64_t>,
                             count_out> {
  value_state<uint64_t, int64_t> total{*this};
  void process_element(const window_result<uint64_t, int64_t>& r,
                       context& ctx) override {
    auto* t = total.get();
    if (!t) ctx.register_event_time_timer(max_timestamp - 1);
    total.update((t ? *t : 0) + r.value);
  }
  void on_timer(int64_t, time_domain, context& ctx) override {
    ctx.emit(count_out{ctx.key(), total.value_or(0)});
  }
};

/// Parallelism of each operator of the graph.
struct widths {
  uint32_t source = 1;
  uint32_t map = 1;
  uint32_t count = 1;
  uint32_t highest = 1;
};

/// generator -> [map, rebalanced] -> key_by -> count -> key_by -> highest
/// -> collector. The same operators (names, order) at any widths.
topology graph(uint64_t n, uint64_t keys, bool with_map, const widths& w,
               collector<count_out>& out) {
  topology t{"rescale"};
  auto s = t.source(generator(
                        n, [](uint64_t i) { return i; }, "numbers"))
               .parallelism(w.source);
  if (with_map) s = s.rebalance().map(&shifted, "shift").parallelism(w.map);
  s.key_by([keys](uint64_t i) { return key_of(i, keys); })
      .aggregate(count(), "count")
      .parallelism(w.count)
      .key_by([](const count_out& x) { return x.first; })
      .process([] { return std::make_unique<highest_count>(); }, "highest")
      .parallelism(w.highest)
      .sink(out.sink());
  return t;
}

widths random_widths(std::mt19937_64& rng) {
  auto p = [&] { return 1 + static_cast<uint32_t>(rng() % 4); };
  return {p(), p(), p(), p()};
}

std::vector<count_out> sorted(std::vector<count_out> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// The metadata and part states of checkpoint `id` as the job would write
/// and read them: every subtask's snapshot of it through the part file's
/// encoding.
std::pair<checkpoint::pb::Metadata, std::vector<checkpoint::part_state>>
checkpoint_of(const test::sim& s, uint64_t id, uint32_t key_groups) {
  checkpoint::pb::Metadata md;
  md.set_checkpoint_id(id);
  md.set_job_name("rescale");
  md.set_key_groups(key_groups);
  std::vector<checkpoint::part_state> states;
  for (auto& sp : s.plan().subtasks)
    for (auto& snap : s.snapshots(sp.id.value()))
      if (snap.id.value() == id) {
        *md.add_parts() = checkpoint::describe(sp, snap);
        states.push_back(
            checkpoint::decode_state(checkpoint::encode_state(snap).flatten()));
      }
  return {std::move(md), std::move(states)};
}

/// The latest of checkpoints 1..`triggered` that every subtask of `s`
/// took (none is complete once a source has ended).
std::optional<uint64_t> latest_complete(const test::sim& s,
                                        uint64_t triggered) {
  for (uint64_t id = triggered; id >= 1; --id) {
    bool all = true;
    for (size_t i = 0; i < s.size(); ++i) {
      auto& snaps = s.snapshots(i);
      all = all && std::any_of(snaps.begin(), snaps.end(),
                               [&](auto& x) { return x.id.value() == id; });
    }
    if (all) return id;
  }
  return std::nullopt;
}

/// Channel settings of a randomized run.
job_options random_options(std::mt19937_64& rng) {
  job_options o;
  o.channels.batch_size = 1 + rng() % 32;
  o.channels.credit_window = 1 + static_cast<uint32_t>(rng() % 4);
  o.channels.credit_return = 1;
  o.source_poll_records = 1 + rng() % 64;
  return o;
}

/// A checkpoint of `plan` whose parts hold what the tests below name.
struct fake_checkpoint {
  checkpoint::pb::Metadata md;
  std::vector<checkpoint::part_state> states;
  explicit fake_checkpoint(const physical_plan& plan) {
    md.set_checkpoint_id(3);
    md.set_key_groups(plan.max_parallelism);
    for (auto& s : plan.subtasks) {
      subtask_snapshot snap{checkpoint_id{3}, 0, {}, {}, {}, {}, {}, {}};
      if (s.kind == node_kind::source)
        snap.positions = {{std::to_string(s.index), 10},
                          {std::to_string(s.index + 4), 20}};
      if (s.kind == node_kind::operation)
        for (uint32_t g = s.index; g < plan.max_parallelism; g += s.parallelism)
          snap.key_groups.push_back({g, {static_cast<char>(g)}});
      *md.add_parts() = checkpoint::describe(s, snap);
      states.push_back({snap.key_groups, {}, {}});
    }
  }
};

/// numbers -> count -> collect, the sink as wide as the count.
topology small(uint32_t sources, uint32_t counts) {
  topology t{"small"};
  collector<count_out> out;
  auto sink = out.sink();
  sink.parallelism = counts;
  t.source(from_collection<uint64_t>({1, 2, 3}, "numbers"))
      .parallelism(sources)
      .key_by([](uint64_t i) { return i; })
      .aggregate(count(), "count")
      .parallelism(counts)
      .sink(sink);
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_rescale)

BOOST_AUTO_TEST_CASE(
    a_checkpoint_restored_at_other_parallelisms_ends_in_the_uninterrupted_state) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  size_t checked = 0;
  for (int round = 0; round < 40; ++round) {
    BOOST_TEST_INFO("round " << round);
    const uint64_t n = 200 + rng() % 4000;
    const uint64_t keys = 1 + rng() % 80;
    const bool with_map = rng() % 2;
    auto before = random_widths(rng);
    auto after = random_widths(rng);

    collector<count_out> whole;
    auto o = random_options(rng);
    test::sim a{graph(n, keys, with_map, before, whole), o, rng()};
    std::vector<uint64_t> at;
    for (auto k = 1 + rng() % 4; k > 0; --k)
      at.push_back(rng() % 600);
    std::sort(at.begin(), at.end());
    a.trigger_checkpoints(at);
    a.run();
    auto want = sorted(whole.records());
    std::map<uint64_t, int64_t> reference;
    for (uint64_t i = 0; i < n; ++i)
      ++reference[key_of(with_map ? shifted(i) : i, keys)];
    BOOST_REQUIRE(want == sorted({reference.begin(), reference.end()}));

    auto complete = latest_complete(a, at.size());
    if (!complete) continue;
    auto [md, states] = checkpoint_of(a, *complete, o.plan.max_parallelism);

    collector<count_out> resumed;
    test::sim b{graph(n, keys, with_map, after, resumed), o, rng()};
    auto split = checkpoint::redistribute(md, std::move(states), b.plan());
    BOOST_TEST_MESSAGE(
        "round " << round << ": checkpoint " << *complete << " of " << at.size()
                 << ", widths " << before.source << before.map << before.count
                 << before.highest << " -> " << after.source << after.map
                 << after.count << after.highest << ", "
                 << split.rescaled.size() << " operators rescaled");
    b.restore(std::move(split.subtasks));
    b.run();
    BOOST_REQUIRE(sorted(resumed.records()) == want);
    uint64_t counted = 0;
    for (auto& sp : b.plan().subtasks)
      if (sp.operator_name == "count")
        counted += b.metrics(sp.id.value()).records_in;
    BOOST_CHECK_LE(counted, n);
    ++checked;
  }
  BOOST_TEST_MESSAGE(checked << " rounds restored a checkpoint");
  BOOST_REQUIRE_GT(checked, 10u);
}

BOOST_AUTO_TEST_CASE(key_groups_go_to_their_owner_and_splits_to_n_mod_q) {
  plan_options po;
  auto from = physical_plan::build(small(2, 2), po);
  fake_checkpoint cp{from};
  for (uint32_t q : {1u, 3u, 5u}) {
    auto to = physical_plan::build(small(q, q), po);
    auto split = checkpoint::redistribute(cp.md, cp.states, to);
    BOOST_CHECK_EQUAL(split.rescaled.size(), 3u); // source, count, sink
    std::set<uint32_t> groups;
    std::map<std::string, int64_t> positions;
    for (auto& s : to.subtasks) {
      auto& r = split.subtasks[s.id.value()];
      BOOST_CHECK_EQUAL(r.id.value(), 3u);
      for (auto& g : r.key_groups) {
        BOOST_CHECK_EQUAL(
            subtask_of_key_group(g.key_group, po.max_parallelism, q), s.index);
        BOOST_CHECK_EQUAL(g.bytes.at(0), static_cast<char>(g.key_group));
        BOOST_CHECK(groups.insert(g.key_group).second);
      }
      for (auto& x : r.positions) {
        BOOST_CHECK_EQUAL(std::stoul(x.split) % q, s.index);
        positions[x.split] = x.position;
      }
    }
    BOOST_CHECK_EQUAL(groups.size(), po.max_parallelism);
    BOOST_CHECK((positions == std::map<std::string, int64_t>{
                                  {"0", 10}, {"1", 10}, {"4", 20}, {"5", 20}}));
  }
  // At the same parallelism every subtask gets its own part back.
  auto same = checkpoint::redistribute(cp.md, cp.states, from);
  BOOST_CHECK(same.rescaled.empty());
  for (auto& s : from.subtasks)
    BOOST_CHECK((checkpoint::positions_of(cp.md.parts(s.id.value())) ==
                 same.subtasks[s.id.value()].positions));
}

BOOST_AUTO_TEST_CASE(what_cannot_be_rescaled_is_refused_with_the_reason) {
  plan_options po;
  auto from = physical_plan::build(small(2, 2), po);
  auto wider = physical_plan::build(small(3, 3), po);
  auto refused = [](const fake_checkpoint& cp, const physical_plan& plan,
                    const std::string& reason) {
    try {
      checkpoint::redistribute(cp.md, cp.states, plan);
      BOOST_ERROR("restored, expected a refusal: " << reason);
    } catch (const checkpoint::incompatible_checkpoint& e) {
      BOOST_TEST_MESSAGE(e.what());
      BOOST_CHECK_MESSAGE(
          std::string(e.what()).find(reason) != std::string::npos, e.what());
    }
  };
  // Another number of key groups, at any parallelism.
  plan_options more;
  more.max_parallelism = 256;
  refused(fake_checkpoint{from}, physical_plan::build(small(2, 2), more),
          "has 128 key groups (flow.max-parallelism), this job 256");
  // A source with one position per subtask.
  fake_checkpoint unnamed{from};
  unnamed.md.mutable_parts(0)->mutable_positions(0)->set_split("");
  refused(unnamed, wider, "is not a numbered split");
  BOOST_CHECK_NO_THROW(
      checkpoint::redistribute(unnamed.md, unnamed.states, from));
  // A sink's own state.
  fake_checkpoint sink_state{from};
  sink_state.states.back().operator_state = "epoch";
  refused(sink_state, physical_plan::build(small(2, 1), po),
          "holds state of its own");
  // Dead letters waiting for publication (an operator's, or a sink's).
  fake_checkpoint held{from};
  held.states.back().dead_letters = "epoch";
  refused(held, physical_plan::build(small(2, 1), po),
          "holds dead letters not yet published");
  BOOST_CHECK_NO_THROW(checkpoint::redistribute(held.md, held.states, from));
  // A checkpoint of format 2, which does not record its key groups.
  fake_checkpoint old{from};
  old.md.set_key_groups(0);
  refused(old, wider, "before format version 3");
  BOOST_CHECK_NO_THROW(checkpoint::redistribute(old.md, old.states, from));
  // Another topology; a part missing.
  fake_checkpoint missing{from};
  missing.md.mutable_parts()->RemoveLast();
  missing.states.pop_back();
  refused(missing, from, "has no state for operator 2 'collect' subtask 1");
}

BOOST_AUTO_TEST_CASE(late_records_stay_late_after_a_restore) {
  // A single source (its watermark reaches every window subtask in order
  // with its records, so which record is late does not depend on the
  // schedule) whose every 9th record from the 2000th on is 4 s behind:
  // late, dropped by the window. A run restored from a checkpoint drops
  // them too only if the window subtasks start at the watermark they had:
  // from the lowest one, those in the source's first poll would be counted.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  using ev = std::pair<uint64_t, int64_t>; // key, event time
  using counted = window_result<uint64_t, int64_t>;
  size_t checked = 0;
  for (int round = 0; round < 30; ++round) {
    BOOST_TEST_INFO("round " << round);
    const uint64_t n = 3000 + rng() % 6000;
    const uint64_t keys = 1 + rng() % 20;
    auto build = [n, keys](uint32_t windows, uint32_t totals,
                           collector<count_out>& out) {
      topology t{"late"};
      t.source(generator(
                   n,
                   [keys](uint64_t i) {
                     auto ts = 100000 + static_cast<int64_t>(i) * 3;
                     if (i >= 2000 && i % 9 == 8) ts -= 4000;
                     return ev{i % keys, ts};
                   },
                   "events"))
          .assign_timestamps([](const ev& x) { return x.second; }, 50)
          .key_by([](const ev& x) { return x.first; })
          .window(tumbling(100))
          .parallelism(windows)
          .aggregate(count(), "window")
          .key_by([](const counted& r) { return r.key; })
          .process([] { return std::make_unique<window_total>(); }, "total")
          .parallelism(totals)
          .sink(out.sink());
      return t;
    };
    auto before = random_widths(rng);
    auto after = round % 2 ? random_widths(rng) : before;
    auto o = random_options(rng);
    o.channels.watermark_interval = std::chrono::nanoseconds::zero();
    collector<count_out> whole;
    test::sim a{build(before.count, before.highest, whole), o, rng()};
    std::vector<uint64_t> at;
    for (auto k = 1 + rng() % 3; k > 0; --k)
      at.push_back(200 + rng() % 1500);
    std::sort(at.begin(), at.end());
    a.trigger_checkpoints(at);
    a.run();
    auto id = latest_complete(a, at.size());
    if (!id) continue;
    auto [md, states] = checkpoint_of(a, *id, o.plan.max_parallelism);
    collector<count_out> resumed;
    test::sim b{build(after.count, after.highest, resumed), o, rng()};
    b.restore(
        checkpoint::redistribute(md, std::move(states), b.plan()).subtasks);
    b.run();
    BOOST_TEST_MESSAGE("round " << round << ": checkpoint " << *id
                                << ", windows " << before.count << " -> "
                                << after.count);
    BOOST_REQUIRE(sorted(resumed.records()) == sorted(whole.records()));
    ++checked;
  }
  BOOST_REQUIRE_GT(checked, 10u);
}

BOOST_AUTO_TEST_SUITE_END()

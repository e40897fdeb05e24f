// The channel and credit protocol as plain logic: subtask_cores driven by
// a seeded random scheduler (sim.hpp), no actor system.
#include "seed.hpp"
#include "sim.hpp"

#include "flow/collection.hpp"
#include "flow/exceptions.hpp"
#include "flow/generator.hpp"
#include "flow/topology.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

using namespace flow;
using flow::test::test_seed;

namespace {

/// A source of strings built in place (emitter::emit_filled): record i is
/// "r<i>"; for every seventh one the fill writes part of it and throws,
/// so that record must not be emitted, nor leave anything behind.
struct filled_source final : source_function<std::string> {
  explicit filled_source(uint64_t n) : n(n) {}
  void open(const connector_context& ctx) override {
    next = ctx.subtask_index;
    step = ctx.parallelism;
  }
  source_state poll(emitter<std::string>& out, size_t max) override {
    for (size_t k = 0; k < max && next < n; ++k, next += step) {
      try {
        out.emit_filled([&](std::string& x) {
          BOOST_REQUIRE(x.empty()); // a fresh record, not a leftover
          x = "r";
          if (next % 7 == 3) throw std::runtime_error("bad record");
          x += std::to_string(next);
        });
      } catch (const std::runtime_error&) {
      }
    }
    return next < n ? source_state::more : source_state::done;
  }
  uint64_t n;
  uint64_t next = 0;
  uint64_t step = 1;
};

} // namespace

BOOST_AUTO_TEST_SUITE(subtask_core_protocol)

BOOST_AUTO_TEST_CASE(random_fan_in_fan_out_graphs_finish_with_exact_output) {
  BOOST_TEST_MESSAGE("seed " << flow::test::test_seed());
  flow::test::test_random rnd;
  for (int round = 0; round < 30; ++round) {
    uint64_t na = rnd(0, 3000);
    uint64_t nb = rnd(0, 3000);
    topology t{"fan"};
    auto a = t.source(generator(
                          na, [](uint64_t i) { return i; }, "a"))
                 .parallelism(rnd(1, 4));
    auto b = t.source(generator(
                          nb, [](uint64_t i) { return 1000000 + i; }, "b"))
                 .parallelism(rnd(1, 4));
    collector<std::pair<uint64_t, int64_t>> counts;
    collector<uint64_t> copies;
    auto tripled = a.union_with(b)
                       .rebalance()
                       .map([](uint64_t x) { return x * 3; })
                       .parallelism(rnd(1, 4));
    tripled.key_by([](uint64_t x) { return x % 17; })
        .aggregate(count())
        .parallelism(rnd(1, 4))
        .sink(counts.sink());
    auto sink_par = rnd(1, 3);
    auto copy_sink = copies.sink();
    copy_sink.parallelism = sink_par;
    tripled.broadcast().sink(copy_sink);

    channel_options copts;
    copts.batch_size = rnd(1, 64);
    copts.credit_window = rnd(1, 4);
    copts.credit_return = rnd(1, copts.credit_window);
    test::sim s{t, plan_options{}, copts, rnd.next()};
    BOOST_TEST_CONTEXT("round " << round << " batch " << copts.batch_size
                                << " window " << copts.credit_window) {
      BOOST_REQUIRE_NO_THROW(s.run());
      // Running counts: key k emits 1..c_k, each exactly once.
      std::map<uint64_t, int64_t> c;
      for (uint64_t i = 0; i < na; ++i)
        ++c[(i * 3) % 17];
      for (uint64_t i = 0; i < nb; ++i)
        ++c[((1000000 + i) * 3) % 17];
      std::vector<std::pair<uint64_t, int64_t>> expected;
      for (auto& [k, n] : c)
        for (int64_t j = 1; j <= n; ++j)
          expected.emplace_back(k, j);
      auto got = counts.records();
      std::sort(got.begin(), got.end());
      BOOST_CHECK(got == expected);
      // Broadcast: every record reaches every sink subtask.
      BOOST_CHECK_EQUAL(copies.size(), (na + nb) * sink_par);
      for (size_t i = 0; i < s.size(); ++i)
        BOOST_CHECK_LE(s.metrics(i).max_in_flight.load(), copts.credit_window);
    }
  }
}

BOOST_AUTO_TEST_CASE(records_filled_in_place_arrive_whole_and_failed_ones_not) {
  // Built in the outgoing batch on a single forward channel, in a
  // temporary on several: the same output either way.
  BOOST_TEST_MESSAGE("seed " << flow::test::test_seed());
  flow::test::test_random rnd;
  for (int round = 0; round < 20; ++round) {
    uint64_t n = rnd(0, 2000);
    uint32_t sources = rnd(1, 3);
    topology t{"filled"};
    auto src = t.source(source_spec<std::string>{
                            "filled",
                            [n](const connector_context&) {
                              return std::make_unique<filled_source>(n);
                            },
                            std::nullopt})
                   .parallelism(sources);
    // The same parallelism: a forward channel; another: rebalance.
    uint32_t maps = rnd(0, 1) ? sources : rnd(1, 3);
    collector<std::string> out;
    src.map([](std::string x) { return x; }).parallelism(maps).sink(out.sink());
    channel_options copts;
    copts.batch_size = rnd(1, 64);
    test::sim s{t, plan_options{}, copts, rnd.next()};
    BOOST_TEST_CONTEXT("round " << round << " records " << n << " sources "
                                << sources << " maps " << maps) {
      BOOST_REQUIRE_NO_THROW(s.run());
      std::vector<std::string> expected;
      for (uint64_t i = 0; i < n; ++i)
        if (i % 7 != 3) expected.push_back("r" + std::to_string(i));
      auto got = out.records();
      std::sort(expected.begin(), expected.end());
      std::sort(got.begin(), got.end());
      BOOST_CHECK(got == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(slow_sink_bounds_in_flight_batches_by_the_credit_window) {
  // 10^7 records into a sink scheduled 1000x less often than the rest:
  // the source must be held back by credit, not buffer without bound.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  constexpr uint64_t n = 10'000'000;
  topology t{"slow"};
  uint64_t seen = 0;
  uint64_t sum = 0;
  struct counting_sink final : sink_function<uint64_t> {
    counting_sink(uint64_t* seen, uint64_t* sum) : seen_(seen), sum_(sum) {}
    void write(std::vector<uint64_t>& xs) override {
      *seen_ += xs.size();
      for (auto x : xs)
        *sum_ += x;
    }
    uint64_t* seen_;
    uint64_t* sum_;
  };
  sink_spec<uint64_t> sink{"slow-sink",
                           [&](const connector_context&) {
                             return std::make_unique<counting_sink>(&seen,
                                                                    &sum);
                           },
                           1};
  t.source(generator(n, [](uint64_t i) { return i; }))
      .map([](uint64_t x) { return x + 1; })
      .filter([](uint64_t) { return true; })
      .sink(sink);
  channel_options copts;
  copts.batch_size = 1024;
  copts.credit_window = 4;
  copts.credit_return = 2;
  test::sim s{t, plan_options{}, copts, seed};
  s.set_weight("slow-sink", 1);
  BOOST_REQUIRE_NO_THROW(s.run());
  BOOST_CHECK_EQUAL(seen, n);
  BOOST_CHECK_EQUAL(sum, n * (n + 1) / 2);
  uint64_t blocked_batches = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto& m = s.metrics(i);
    BOOST_TEST_CONTEXT(m.operator_name) {
      BOOST_CHECK_LE(m.max_in_flight.load(), copts.credit_window);
      BOOST_CHECK_LE(m.max_queued_batches.load(), copts.credit_window);
      // At most what one input batch produces waits for credit.
      BOOST_CHECK_LE(m.max_pending_batches.load(), 2u);
      blocked_batches += m.max_pending_batches.load();
    }
  }
  // The scenario must actually exercise backpressure.
  BOOST_CHECK_GT(blocked_batches, 0u);
  // Messages waiting at a subtask: its credit window plus credit messages.
  BOOST_CHECK_LE(s.max_mailbox(), 2 * copts.credit_window + 2);
}

BOOST_AUTO_TEST_CASE(end_of_stream_follows_the_data_of_its_channel) {
  topology t{"eos"};
  collector<int> out;
  t.source(from_collection(std::vector<int>{1, 2, 3, 4, 5}))
      .map([](int x) { return x * 10; })
      .sink(out.sink());
  channel_options copts;
  copts.batch_size = 2;
  copts.credit_window = 1;
  copts.credit_return = 1;
  test::sim s{t, plan_options{}, copts, 7};
  s.run();
  auto got = out.records();
  BOOST_CHECK((got == std::vector<int>{10, 20, 30, 40, 50}));
}

BOOST_AUTO_TEST_CASE(plans_reject_graphs_that_cannot_run) {
  topology t{"bad"};
  collector<int> out;
  t.source(from_collection(std::vector<int>{1}))
      .parallelism(2)
      .forward()
      .map([](int x) { return x; })
      .parallelism(3)
      .sink(out.sink());
  BOOST_CHECK_THROW(physical_plan::build(t, plan_options{}),
                    std::invalid_argument);
  topology dangling{"dangling"};
  dangling.source(from_collection(std::vector<int>{1})).map([](int x) {
    return x;
  });
  BOOST_CHECK_THROW(physical_plan::build(dangling, plan_options{}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_parallelism_above_max_parallelism_is_a_config_failure) {
  // The program exits 2 for it, naming the key (the operator's
  // parallelism is code; flow.max-parallelism is what the user can change).
  topology t{"too-wide"};
  collector<int> out;
  t.source(from_collection(std::vector<int>{1}))
      .parallelism(8)
      .sink(out.sink());
  plan_options popts;
  popts.max_parallelism = 4;
  BOOST_CHECK_EXCEPTION(physical_plan::build(t, popts), config_failure,
                        [](const config_failure& e) {
                          return std::string(e.what()).find(
                                     "flow.max-parallelism = 4") !=
                                 std::string::npos;
                        });
}

#include "flow/runtime/cluster.hpp"

BOOST_AUTO_TEST_CASE(placement_puts_pipeline_slices_and_slot_groups_on_slots) {
  topology t{"placed"};
  collector<int> out;
  auto spec = out.sink();
  spec.slot_group = "sinks";
  t.source(from_collection(std::vector<int>{1}))
      .parallelism(2)
      .map([](int x) { return x; })
      .parallelism(2)
      .rebalance()
      .sink(spec);
  plan_options popts;
  popts.default_parallelism = 2;
  auto plan = physical_plan::build(t, popts);
  // Two nodes of two slots: the "default" group takes slots 0-1 (node a),
  // the sinks slots 2-3 (node b).
  auto where = runtime::place(plan, {{"a", 2}, {"b", 2}});
  for (auto& s : plan.subtasks)
    BOOST_CHECK_EQUAL(where[s.id.value()],
                      s.operator_name == "collect" ? 1u : 0u);
  // One slot per node: slice i of the default group on node i; no room for
  // the sink group.
  BOOST_CHECK_EXCEPTION(runtime::place(plan, {{"a", 1}, {"b", 1}}),
                        config_failure, [](const config_failure& e) {
                          return std::string(e.what()).find("cluster.slots") !=
                                 std::string::npos;
                        });
}

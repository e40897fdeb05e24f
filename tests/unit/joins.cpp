// Keyed state and timers, and joins, against brute-force references on
// random out-of-order input at random parallelism (sim and actor runtime).
#include "orders.hpp"
#include "recording_transport.hpp"
#include "seed.hpp"
#include "sim.hpp"

#include "flow/collection.hpp"
#include "flow/join.hpp"
#include "flow/runtime/job.hpp"
#include "flow/state.hpp"
#include "flow/versioned_join.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <tuple>

using namespace flow;
using flow::test::test_seed;

namespace {

struct rec {
  uint32_t key;
  int64_t ts;
  int64_t value;
};

std::vector<rec> random_recs(std::mt19937_64& rng, size_t n, uint32_t keys,
                             int64_t step, int64_t disorder, int64_t base) {
  std::vector<rec> xs;
  for (size_t i = 0; i < n; ++i)
    xs.push_back(rec{static_cast<uint32_t>(rng() % keys),
                     static_cast<int64_t>(i) * step +
                         static_cast<int64_t>(rng() % disorder),
                     base + static_cast<int64_t>(i)});
  return xs;
}

using triple = std::tuple<uint32_t, int64_t, int64_t>;

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

void run(std::mt19937_64& rng, topology& t, bool runtime) {
  BOOST_REQUIRE_NO_THROW(test::run_randomized(rng, t, runtime));
}

uint32_t par(std::mt19937_64& rng, uint32_t max) {
  return 1 + static_cast<uint32_t>(rng() % max);
}

/// Sums values per (key, 100 ms bucket) in map_state; an event-time timer
/// at the bucket's end emits and clears it.
struct bucket_sums final : keyed_process_function<uint32_t, rec, triple> {
  map_state<uint32_t, int64_t, int64_t> sums{*this};
  value_state<uint32_t, int64_t> seen{*this};
  void process_element(const rec& x, context& ctx) override {
    auto bucket = x.ts / 100 * 100;
    auto old = sums.get(bucket);
    sums.put(bucket, (old ? *old : 0) + x.value);
    seen.update(seen.value_or(0) + 1);
    ctx.register_event_time_timer(bucket + 99);
  }
  void on_timer(int64_t t, time_domain d, context& ctx) override {
    auto bucket = t - 99;
    ctx.emit(triple{ctx.key(), bucket, *sums.get(bucket)});
    sums.remove(bucket);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(keyed_state_and_joins)

BOOST_AUTO_TEST_CASE(keyed_process_function_state_and_event_timers) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 8; ++round) {
    auto input =
        random_recs(rng, 500 + rng() % 1000, 1 + rng() % 30, 2, 150, 0);
    collector<triple> out;
    topology t{"process"};
    t.source(from_collection(input))
        .parallelism(par(rng, 3))
        .assign_timestamps([](const rec& x) { return x.ts; }, 150)
        .key_by([](const rec& x) { return x.key; })
        .process([] { return std::make_unique<bucket_sums>(); })
        .parallelism(par(rng, 4))
        .sink(out.sink());
    run(rng, t, round % 4 == 3);
    std::map<std::pair<uint32_t, int64_t>, int64_t> expected;
    for (auto& x : input)
      expected[{x.key, x.ts / 100 * 100}] += x.value;
    std::vector<triple> want;
    for (auto& [kb, v] : expected)
      want.emplace_back(kb.first, kb.second, v);
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_CHECK(sorted(out.records()) == want);
    }
  }
}

BOOST_AUTO_TEST_CASE(processing_time_timers_fire_on_the_clock) {
  struct ping final : keyed_process_function<uint32_t, rec, triple> {
    void process_element(const rec& x, context& ctx) override {
      ctx.register_processing_time_timer(ctx.processing_time() + 10);
    }
    void on_timer(int64_t t, time_domain d, context& ctx) override {
      BOOST_CHECK(d == time_domain::processing);
      ctx.emit(triple{ctx.key(), t, 0});
    }
  };
  flow::test::recording_transport<triple> tr;
  auto key = [](const rec& x) { return x.key; };
  task_factory make = [key](const task_setup& s) {
    return std::make_unique<
        detail::keyed_process_task<uint32_t, rec, triple, decltype(key)>>(
        s, key, std::make_unique<ping>(), timestamp_fn<rec>{});
  };
  manual_clock clk{1000};
  subtask_metrics m;
  task_setup setup;
  setup.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
  subtask_core core{make, setup, {0}, 1, channel_options{}, tr, m, &clk};
  core.on_batch(0, std::make_shared<typed_batch<rec>>(
                       std::vector<rec>{{1, 0, 0}, {2, 0, 0}, {1, 0, 0}}));
  core.drain();
  BOOST_CHECK_EQUAL(core.next_wakeup(), 1010);
  clk.set(1009);
  core.advance_time();
  core.flush();
  BOOST_CHECK(tr.records.empty());
  clk.set(1010);
  core.advance_time();
  core.flush();
  // One timer per (key, time): key 1 registered 1010 twice.
  BOOST_CHECK(
      (sorted(tr.records) == std::vector<triple>{{1, 1010, 0}, {2, 1010, 0}}));
  BOOST_CHECK_EQUAL(core.next_wakeup(), max_timestamp);
}

BOOST_AUTO_TEST_CASE(window_and_interval_joins_match_brute_force) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 1};
  for (int round = 0; round < 12; ++round) {
    bool runtime = round % 4 == 3;
    auto disorder = 1 + static_cast<int64_t>(rng() % 100);
    uint32_t keys = 1 + rng() % 15;
    auto as = random_recs(rng, 200 + rng() % 600, keys, 3, disorder, 0);
    auto bs = random_recs(rng, 200 + rng() % 600, keys, 3, disorder, 100000);
    int64_t slide = 10 + static_cast<int64_t>(rng() % 40);
    int64_t size = slide * (1 + rng() % 3);
    int64_t lower = -static_cast<int64_t>(rng() % 30);
    int64_t upper = lower + static_cast<int64_t>(rng() % 40);
    BOOST_TEST_CONTEXT("round " << round << " window " << size << "/" << slide
                                << " interval [" << lower << "," << upper
                                << "]") {
      topology t{"joins"};
      auto ts = [](const rec& x) { return x.ts; };
      auto key = [](const rec& x) { return x.key; };
      auto a = t.source(from_collection(as, "a"))
                   .parallelism(par(rng, 3))
                   .assign_timestamps(ts, disorder)
                   .key_by(key);
      auto b = t.source(from_collection(bs, "b"))
                   .parallelism(par(rng, 3))
                   .assign_timestamps(ts, disorder)
                   .key_by(key);
      auto pair_of = [](const rec& x, const rec& y) {
        return std::make_pair(x.value, y.value);
      };
      collector<std::pair<int64_t, int64_t>> wj, ij;
      window_join(a, b, sliding(size, slide), pair_of)
          .parallelism(par(rng, 4))
          .sink(wj.sink("wj"));
      interval_join(a, b, lower, upper, pair_of)
          .parallelism(par(rng, 4))
          .sink(ij.sink("ij"));
      run(rng, t, runtime);
      std::vector<std::pair<int64_t, int64_t>> want_w, want_i;
      auto wstart = [&](int64_t v) {
        auto r = v % slide;
        return r < 0 ? v - r - slide : v - r;
      };
      for (auto& x : as)
        for (auto& y : bs) {
          if (x.key != y.key) continue;
          for (auto s = wstart(x.ts); s > x.ts - size; s -= slide)
            if (y.ts >= s && y.ts < s + size)
              want_w.emplace_back(x.value, y.value);
          if (y.ts >= x.ts + lower && y.ts <= x.ts + upper)
            want_i.emplace_back(x.value, y.value);
        }
      BOOST_CHECK_EQUAL(wj.size(), want_w.size());
      BOOST_CHECK(sorted(wj.records()) == sorted(want_w));
      BOOST_CHECK_EQUAL(ij.size(), want_i.size());
      BOOST_CHECK(sorted(ij.records()) == sorted(want_i));
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_table_join_uses_the_latest_value_per_key) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 2};
  for (int round = 0; round < 8; ++round) {
    uint32_t keys = 1 + rng() % 20;
    auto stream_in = random_recs(rng, 300 + rng() % 700, keys + 3, 2, 50, 0);
    // Changelog: several versions per key, the last one wins; some keys
    // have none.
    std::vector<rec> changelog;
    for (int i = 0; i < 100; ++i)
      changelog.push_back(
          rec{static_cast<uint32_t>(rng() % keys), 0, 1000000 + i});
    topology t{"table"};
    auto key = [](const rec& x) { return x.key; };
    auto s = t.source(from_collection(stream_in, "stream"))
                 .parallelism(par(rng, 3))
                 .assign_timestamps([](const rec& x) { return x.ts; }, 50)
                 .key_by(key);
    // One table source subtask: versions of a key stay in order.
    auto table = t.source(from_collection(changelog, "changelog")).key_by(key);
    collector<std::pair<int64_t, int64_t>> out;
    join_table(
        s, table,
        [](const rec& x, const rec& y) {
          return std::make_pair(x.value, y.value);
        },
        time_domain::event)
        .parallelism(par(rng, 4))
        .sink(out.sink());
    run(rng, t, round % 4 == 3);
    std::map<uint32_t, int64_t> latest;
    for (auto& y : changelog)
      latest[y.key] = y.value;
    std::vector<std::pair<int64_t, int64_t>> want;
    for (auto& x : stream_in)
      if (latest.count(x.key)) want.emplace_back(x.value, latest[x.key]);
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_CHECK(sorted(out.records()) == sorted(want));
    }
  }
}

BOOST_AUTO_TEST_CASE(versioned_join_is_deterministic_and_matches_brute_force) {
  // Orders race customer updates (both ~ the same event times), customers
  // are deleted and come back, some orders come before their customer's
  // first version, some customers never exist. Each order joins the
  // version valid at its time; left join: the rest with none. The output
  // is the same at parallelism 1, 2 and 4, batch sizes 1 and 1024, with a
  // slow sink, on the simulator and the runtime.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 7};
  constexpr int64_t disorder = 30;
  constexpr uint32_t customers = 40;
  std::vector<order> orders;
  for (int64_t i = 0; i < 3000; ++i)
    orders.push_back(order{i, static_cast<uint32_t>(rng() % (customers + 5)),
                           i + static_cast<int64_t>(rng() % disorder)});
  std::vector<customer> changelog;
  // Distinct times per version, so "the version at t" has one answer.
  for (int64_t i = 0; i < 600; ++i) {
    auto c = static_cast<uint32_t>(rng() % customers);
    std::optional<int64_t> tier;
    if (rng() % 5) tier = static_cast<int64_t>(rng() % 4);
    changelog.push_back(
        customer{c, 5 * i + static_cast<int64_t>(rng() % 3), tier});
  }
  using joined = std::pair<int64_t, int64_t>; // (order, tier or -1)
  std::vector<joined> inner_want, left_want;
  for (auto& o : orders) {
    const customer* v = nullptr;
    for (auto& c : changelog)
      if (c.id == o.customer && c.ts <= o.ts && (!v || c.ts >= v->ts)) v = &c;
    if (v && v->tier) inner_want.emplace_back(o.id, *v->tier);
    left_want.emplace_back(o.id, v && v->tier ? *v->tier : -1);
  }
  std::sort(inner_want.begin(), inner_want.end());
  BOOST_REQUIRE_GT(inner_want.size(), 1000u);
  BOOST_REQUIRE_LT(inner_want.size(), orders.size() - 100);

  struct setup {
    uint32_t par;
    size_t batch;
    bool slow_sink;
    bool runtime;
  };
  std::vector<setup> setups;
  for (uint32_t p : {1u, 2u, 4u})
    for (size_t b : {size_t{1}, size_t{1024}})
      setups.push_back({p, b, false, false});
  setups.push_back({2, 16, true, false});
  setups.push_back({2, 1024, false, true});
  setups.push_back({4, 1, false, true});
  for (auto& su : setups) {
    topology t{"versioned"};
    auto o =
        t.source(from_collection(orders, "orders"))
            .parallelism(su.par)
            .assign_timestamps([](const order& x) { return x.ts; }, disorder)
            .key_by([](const order& x) { return x.customer; });
    auto c = t.source(from_collection(changelog, "customers"))
                 .assign_timestamps([](const customer& x) { return x.ts; }, 3)
                 .key_by([](const customer& x) { return x.id; });
    collector<joined> inner, left;
    versioned_join(o, c,
                   [](const order& x, const customer& y) {
                     return joined{x.id, *y.tier};
                   })
        .parallelism(su.par)
        .sink(inner.sink("inner-sink"));
    versioned_left_join(o, c,
                        [](const order& x, const customer* y) {
                          return joined{x.id, y ? *y->tier : -1};
                        })
        .parallelism(su.par)
        .sink(left.sink("left-sink"));
    BOOST_TEST_CONTEXT("parallelism " << su.par << " batch " << su.batch
                                      << (su.slow_sink ? " slow sink" : "")
                                      << (su.runtime ? " runtime" : " sim")) {
      if (su.runtime) {
        job_options jo;
        jo.status_interval = std::chrono::nanoseconds::zero();
        jo.channels.batch_size = su.batch;
        jo.channels.watermark_interval = std::chrono::nanoseconds::zero();
        jo.channels.idle_timeout = test::test_idle_timeout();
        auto r = runtime::execute(t, jo);
        BOOST_REQUIRE_MESSAGE(r.ok, r.error);
      } else {
        channel_options ch;
        ch.batch_size = su.batch;
        ch.watermark_interval = std::chrono::nanoseconds::zero();
        ch.idle_timeout = test::test_idle_timeout();
        test::sim s{t, plan_options{}, ch, rng()};
        s.set_ms_per_step(1);
        if (su.slow_sink) {
          s.set_weight("inner-sink", 1);
          s.set_weight("left-sink", 1);
        }
        BOOST_REQUIRE_NO_THROW(s.run());
      }
      BOOST_CHECK(sorted(inner.records()) == inner_want);
      BOOST_CHECK(sorted(left.records()) == left_want);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_table_tombstone_deletes_its_key) {
  // A changelog of (key, optional value): an empty value is a tombstone.
  // The table is complete before any stream record joins (event time, the
  // table source ends first), so the final table decides.
  using entry = std::pair<uint32_t, std::optional<int64_t>>;
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 5};
  for (int round = 0; round < 4; ++round) {
    uint32_t keys = 1 + rng() % 30;
    auto stream_in = random_recs(rng, 200 + rng() % 300, keys, 2, 20, 0);
    std::vector<entry> changelog;
    for (int i = 0; i < 200; ++i) {
      auto k = static_cast<uint32_t>(rng() % keys);
      if (rng() % 3 == 0)
        changelog.emplace_back(k, std::nullopt);
      else
        changelog.emplace_back(k, 1000000 + i);
    }
    // Key 0 ends deleted whatever came before.
    changelog.emplace_back(0, std::nullopt);
    topology t{"tombstones"};
    auto s = t.source(from_collection(stream_in, "stream"))
                 .parallelism(par(rng, 3))
                 .assign_timestamps([](const rec& x) { return x.ts; }, 20)
                 .key_by([](const rec& x) { return x.key; });
    auto table = t.source(from_collection(changelog, "changelog"))
                     .key_by([](const entry& e) { return e.first; });
    collector<std::pair<int64_t, int64_t>> out;
    join_table(
        s, table,
        [](const rec& x, const entry& y) {
          return std::make_pair(x.value, *y.second);
        },
        time_domain::event)
        .parallelism(par(rng, 4))
        .sink(out.sink());
    run(rng, t, round == 3);
    std::map<uint32_t, int64_t> table_now;
    for (auto& [k, v] : changelog)
      if (v)
        table_now[k] = *v;
      else
        table_now.erase(k);
    std::vector<std::pair<int64_t, int64_t>> want;
    for (auto& x : stream_in)
      if (table_now.count(x.key)) want.emplace_back(x.value, table_now[x.key]);
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_CHECK(sorted(out.records()) == sorted(want));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

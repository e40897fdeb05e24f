// Event time and windows against brute-force references computed here, on
// random out-of-order input, at random parallelism, on the simulated
// scheduler (sim.hpp) and on the actor runtime.
#include "seed.hpp"
#include "sim.hpp"

#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/runtime/job.hpp"
#include "flow/windows.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>

using namespace flow;
using flow::test::test_seed;

namespace {

struct ev {
  uint32_t key;
  int64_t ts;
  int64_t value;
};

/// Events i = 0..n-1 with ts in [i*step, i*step + disorder): out of order
/// by less than `disorder` ms, never late with that bound.
std::vector<ev> random_events(std::mt19937_64& rng, size_t n, uint32_t keys,
                              int64_t step, int64_t disorder) {
  std::vector<ev> xs;
  for (size_t i = 0; i < n; ++i)
    xs.push_back(ev{static_cast<uint32_t>(rng() % keys),
                    static_cast<int64_t>(i) * step +
                        static_cast<int64_t>(rng() % disorder),
                    static_cast<int64_t>(rng() % 1000)});
  return xs;
}

using result = window_result<uint32_t, int64_t>;

int64_t floor_to(int64_t v, int64_t unit) {
  auto r = v % unit;
  return r < 0 ? v - r - unit : v - r;
}

/// Sum of values per (key, sliding window), by enumerating every window of
/// every record.
std::vector<result> sliding_reference(const std::vector<ev>& xs, int64_t size,
                                      int64_t slide) {
  std::map<std::pair<uint32_t, int64_t>, int64_t> sums;
  for (auto& x : xs)
    for (auto s = floor_to(x.ts, slide); s > x.ts - size; s -= slide)
      sums[{x.key, s}] += x.value;
  std::vector<result> out;
  for (auto& [kw, v] : sums)
    out.push_back(result{kw.first, window{kw.second, kw.second + size}, v});
  return out;
}

/// Sessions per key: sorted timestamps, a record joins the session if it is
/// at most `gap` after its last record.
std::vector<result> session_reference(const std::vector<ev>& xs, int64_t gap) {
  std::map<uint32_t, std::vector<std::pair<int64_t, int64_t>>> by_key;
  for (auto& x : xs)
    by_key[x.key].emplace_back(x.ts, x.value);
  std::vector<result> out;
  for (auto& [k, v] : by_key) {
    std::sort(v.begin(), v.end());
    int64_t start = v[0].first, last = v[0].first, sum = 0;
    for (auto& [ts, value] : v) {
      if (ts > last + gap) {
        out.push_back(result{k, window{start, last + gap}, sum});
        start = ts;
        sum = 0;
      }
      last = ts;
      sum += value;
    }
    out.push_back(result{k, window{start, last + gap}, sum});
  }
  return out;
}

struct value_sum {
  using accumulator = int64_t;
  using result = int64_t;
  accumulator init() const { return 0; }
  void add(accumulator& a, const ev& x) const { a += x.value; }
  void merge(accumulator& a, const accumulator& b) const { a += b; }
  result get(const accumulator& a) const { return a; }
};

struct parallelism {
  uint32_t source = 1;
  uint32_t window = 1;
  uint32_t sink = 1;
};

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// Runs `build(t, source)` to completion on the simulator or the runtime.
template <class Build>
void run_both(std::mt19937_64& rng, bool runtime, const std::vector<ev>& input,
              int64_t disorder, Build&& build) {
  topology t{"windows"};
  auto src = t.source(from_collection(input, "events"))
                 .assign_timestamps([](const ev& x) { return x.ts; }, disorder);
  build(t, src);
  BOOST_REQUIRE_NO_THROW(test::run_randomized(rng, t, runtime, 1));
}

parallelism random_parallelism(std::mt19937_64& rng) {
  return {1 + static_cast<uint32_t>(rng() % 3),
          1 + static_cast<uint32_t>(rng() % 4),
          1 + static_cast<uint32_t>(rng() % 2)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(windows)

BOOST_AUTO_TEST_CASE(
    tumbling_and_sliding_match_brute_force_at_any_parallelism) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 16; ++round) {
    bool runtime = round % 4 == 3;
    auto disorder = 1 + static_cast<int64_t>(rng() % 200);
    auto input =
        random_events(rng, 500 + rng() % 1500, 1 + rng() % 20, 3, disorder);
    int64_t slide = 5 + static_cast<int64_t>(rng() % 50);
    int64_t size = round % 2 ? slide : slide * (1 + rng() % 6);
    auto p = random_parallelism(rng);
    BOOST_TEST_CONTEXT("round " << round << " size " << size << " slide "
                                << slide << " par " << p.source << "/"
                                << p.window
                                << (runtime ? " runtime" : " sim")) {
      collector<result> agg_out, red_out;
      run_both(rng, runtime, input, disorder, [&](topology&, stream<ev> src) {
        auto keyed =
            src.parallelism(p.source).key_by([](const ev& x) { return x.key; });
        auto w = size == slide ? keyed.window(tumbling(size))
                                     .parallelism(p.window)
                                     .aggregate(value_sum{})
                               : keyed.window(sliding(size, slide))
                                     .parallelism(p.window)
                                     .aggregate(value_sum{});
        w.sink(agg_out.sink("agg"));
        // The same with reduce over the records themselves.
        keyed.window(sliding(size, slide))
            .parallelism(p.window)
            .reduce(
                [](const ev& a, const ev& b) {
                  return ev{a.key, std::max(a.ts, b.ts), a.value + b.value};
                },
                "reduce")
            .map([](const window_result<uint32_t, ev>& r) {
              return result{r.key, r.w, r.value.value};
            })
            .sink(red_out.sink("red"));
      });
      auto expected = sliding_reference(input, size, slide);
      BOOST_CHECK_EQUAL(agg_out.size(), expected.size());
      BOOST_CHECK(sorted(agg_out.records()) == expected);
      BOOST_CHECK(sorted(red_out.records()) == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_slow_or_starved_channel_never_advances_the_watermark) {
  // Two sources share the input; one runs 1000x less often than the rest
  // of the job, so its channels are silent for long stretches of (1 ms
  // per step) processing time. With flow.idle-timeout at 1 ms silence
  // must still hold the watermark back: the windows equal brute force.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 13};
  for (int round = 0; round < 6; ++round) {
    auto disorder = 1 + static_cast<int64_t>(rng() % 50);
    auto input =
        random_events(rng, 600 + rng() % 600, 1 + rng() % 8, 2, disorder);
    std::vector<ev> fast, slow;
    for (size_t i = 0; i < input.size(); ++i)
      (i % 2 ? slow : fast).push_back(input[i]);
    int64_t size = 5 + static_cast<int64_t>(rng() % 40);
    auto p = random_parallelism(rng);
    channel_options c;
    c.batch_size = 1 + rng() % 32;
    c.credit_window = 1 + static_cast<uint32_t>(rng() % 4);
    c.credit_return = 1;
    c.watermark_interval = std::chrono::nanoseconds::zero();
    c.idle_timeout = std::chrono::milliseconds(1);
    BOOST_TEST_CONTEXT("round " << round << " size " << size << " par "
                                << p.source << "/" << p.window << " batch "
                                << c.batch_size) {
      topology t{"starved"};
      collector<result> out;
      auto ts = [](const ev& x) { return x.ts; };
      auto a = t.source(from_collection(fast, "fast"))
                   .parallelism(p.source)
                   .assign_timestamps(ts, disorder);
      auto b = t.source(from_collection(slow, "slow"))
                   .parallelism(p.source)
                   .assign_timestamps(ts, disorder);
      a.union_with(b)
          .key_by([](const ev& x) { return x.key; })
          .window(tumbling(size))
          .parallelism(p.window)
          .aggregate(value_sum{})
          .sink(out.sink("sums"));
      test::sim s{t, plan_options{}, c, rng()};
      s.set_ms_per_step(1);
      s.set_weight("slow", 1);
      BOOST_REQUIRE_NO_THROW(s.run());
      BOOST_CHECK(sorted(out.records()) ==
                  sliding_reference(input, size, size));
    }
  }
}

BOOST_AUTO_TEST_CASE(timestamps_assigned_after_a_map_drive_windows_too) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 5};
  for (int round = 0; round < 6; ++round) {
    auto input = random_events(rng, 1000 + rng() % 1000, 1 + rng() % 10, 3, 80);
    int64_t size = 10 + static_cast<int64_t>(rng() % 40);
    topology t{"assigner"};
    collector<result> out;
    auto p = random_parallelism(rng);
    // No event time at the source: the map's output gets it.
    t.source(from_collection(input, "events"))
        .parallelism(p.source)
        .map([](ev x) { return std::make_pair(x, x.ts); })
        .parallelism(p.source)
        .assign_timestamps(
            [](const std::pair<ev, int64_t>& x) { return x.second; }, 80)
        .key_by([](const std::pair<ev, int64_t>& x) { return x.first.key; })
        .window(tumbling(size))
        .parallelism(p.window)
        .aggregate(
            sum([](const std::pair<ev, int64_t>& x) { return x.first.value; }))
        .sink(out.sink());
    channel_options c;
    c.batch_size = 1 + rng() % 32;
    c.watermark_interval = std::chrono::milliseconds(rng() % 3);
    test::sim s{t, plan_options{}, c, rng()};
    s.set_ms_per_step(1);
    s.run();
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_CHECK(sorted(out.records()) ==
                  sliding_reference(input, size, size));
    }
  }
}

BOOST_AUTO_TEST_CASE(sessions_match_brute_force_and_merge_across_bridges) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 1};
  for (int round = 0; round < 12; ++round) {
    bool runtime = round % 4 == 3;
    auto disorder = 1 + static_cast<int64_t>(rng() % 100);
    // Sparse keys: sessions of a few records with gaps between them.
    auto input = random_events(rng, 300 + rng() % 700, 1 + rng() % 8,
                               1 + rng() % 10, disorder);
    int64_t gap = 5 + static_cast<int64_t>(rng() % 40);
    auto p = random_parallelism(rng);
    BOOST_TEST_CONTEXT("round " << round << " gap " << gap) {
      collector<result> out;
      run_both(rng, runtime, input, disorder, [&](topology&, stream<ev> src) {
        src.parallelism(p.source)
            .key_by([](const ev& x) { return x.key; })
            .window(session(gap))
            .parallelism(p.window)
            .aggregate(value_sum{})
            .sink(out.sink());
      });
      BOOST_CHECK(sorted(out.records()) == session_reference(input, gap));
    }
  }
  // A record between two sessions merges them into one.
  std::vector<ev> bridge{
      {1, 0, 1}, {1, 4, 1}, {1, 20, 1}, {1, 24, 1}, {1, 12, 1}};
  topology t{"bridge"};
  collector<result> out;
  t.source(from_collection(bridge))
      .assign_timestamps([](const ev& x) { return x.ts; }, 100)
      .key_by([](const ev& x) { return x.key; })
      .window(session(10))
      .aggregate(value_sum{})
      .sink(out.sink());
  test::sim s{t, plan_options{}, channel_options{}, seed};
  s.run();
  BOOST_CHECK((out.records() == std::vector<result>{{1, {0, 34}, 5}}));
}

BOOST_AUTO_TEST_CASE(count_windows_and_process_functions_match_brute_force) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 2};
  for (int round = 0; round < 8; ++round) {
    bool runtime = round % 4 == 3;
    auto input = random_events(rng, 500 + rng() % 1000, 1 + rng() % 10, 3, 50);
    uint64_t size = 1 + rng() % 20;
    uint64_t slide = 1 + rng() % size;
    int64_t tsize = 10 + static_cast<int64_t>(rng() % 50);
    auto p = random_parallelism(rng);
    BOOST_TEST_CONTEXT("round " << round << " count " << size << "/" << slide) {
      collector<result> counts;
      collector<std::pair<uint32_t, std::vector<int64_t>>> full;
      run_both(rng, runtime, input, 50, [&](topology&, stream<ev> src) {
        // Source parallelism 1: per-key arrival order is the input order.
        auto keyed = src.key_by([](const ev& x) { return x.key; });
        keyed.window(counting(size, slide))
            .parallelism(p.window)
            .aggregate(value_sum{})
            .sink(counts.sink("counts"));
        keyed.window(tumbling(tsize))
            .parallelism(p.window)
            .process(
                [](const uint32_t& k, const window& w,
                   const std::vector<ev>& xs,
                   std::vector<std::pair<uint32_t, std::vector<int64_t>>>&
                       out) {
                  std::vector<int64_t> v{w.start};
                  for (auto& x : xs)
                    v.push_back(x.value);
                  std::sort(v.begin() + 1, v.end());
                  out.emplace_back(k, std::move(v));
                },
                "full")
            .sink(full.sink("full"));
      });
      std::vector<result> expected;
      std::map<uint32_t, std::vector<int64_t>> seq;
      for (auto& x : input) {
        auto& s = seq[x.key];
        s.push_back(x.value);
        if (s.size() % slide == 0) {
          int64_t sum = 0;
          auto from = s.size() > size ? s.size() - size : 0;
          for (auto i = from; i < s.size(); ++i)
            sum += s[i];
          expected.push_back(result{x.key,
                                    window{static_cast<int64_t>(from),
                                           static_cast<int64_t>(s.size())},
                                    sum});
        }
      }
      BOOST_CHECK(sorted(counts.records()) == sorted(expected));
      std::map<std::pair<uint32_t, int64_t>, std::vector<int64_t>> groups;
      for (auto& x : input)
        groups[{x.key, floor_to(x.ts, tsize)}].push_back(x.value);
      std::vector<std::pair<uint32_t, std::vector<int64_t>>> full_expected;
      for (auto& [kw, vs] : groups) {
        std::vector<int64_t> v{kw.second};
        auto sorted_vs = sorted(vs);
        v.insert(v.end(), sorted_vs.begin(), sorted_vs.end());
        full_expected.emplace_back(kw.first, v);
      }
      BOOST_CHECK(sorted(full.records()) == full_expected);
    }
  }
}

namespace {

/// A source playing a script of records and explicit watermarks.
struct scripted {
  bool is_wm;
  int64_t ts;
};

source_spec<ev> script_source(std::vector<scripted> script) {
  struct fn final : source_function<ev> {
    explicit fn(std::vector<scripted> s) : s_(std::move(s)) {}
    source_state poll(emitter<ev>& out, size_t max) override {
      for (size_t i = 0; i < max && pos_ < s_.size(); ++i, ++pos_) {
        if (s_[pos_].is_wm)
          out.emit_watermark(s_[pos_].ts);
        else
          out.emit(ev{1, s_[pos_].ts, s_[pos_].ts});
      }
      return pos_ < s_.size() ? source_state::more : source_state::done;
    }
    std::vector<scripted> s_;
    size_t pos_ = 0;
  };
  source_spec<ev> spec;
  spec.name = "script";
  spec.make = [script](const connector_context&) {
    return std::make_unique<fn>(script);
  };
  return spec;
}

} // namespace

BOOST_AUTO_TEST_CASE(late_records_update_results_or_go_to_the_late_output) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 3};
  for (int round = 0; round < 20; ++round) {
    bool runtime = round % 5 == 4;
    int64_t size = 10 + static_cast<int64_t>(rng() % 20);
    int64_t lateness = round == 0 ? 0 : static_cast<int64_t>(rng() % 40);
    std::vector<scripted> script;
    int64_t wm = -1;
    for (int i = 0; i < 400; ++i) {
      if (rng() % 5 == 0) {
        wm += static_cast<int64_t>(rng() % 10);
        script.push_back({true, wm});
      } else {
        script.push_back(
            {false,
             std::max<int64_t>(0, wm - 60 + static_cast<int64_t>(rng() % 80))});
      }
    }
    // Reference: each record against the watermark at its arrival.
    std::map<int64_t, int64_t> per_window; // start -> records so far
    std::vector<result> expected;
    std::vector<int64_t> expected_late;
    int64_t cur = min_timestamp;
    for (auto& s : script) {
      if (s.is_wm) {
        if (s.ts > cur) {
          for (auto& [start, n] : per_window)
            if (start + size - 1 > cur && start + size - 1 <= s.ts)
              expected.push_back(result{1, window{start, start + size}, n});
          cur = s.ts;
        }
        continue;
      }
      auto start = floor_to(s.ts, size);
      if (start + size - 1 + lateness <= cur) {
        expected_late.push_back(s.ts);
        continue;
      }
      auto n = ++per_window[start];
      if (start + size - 1 <= cur)
        expected.push_back(result{1, window{start, start + size}, n});
    }
    for (auto& [start, n] : per_window)
      if (start + size - 1 > cur)
        expected.push_back(result{1, window{start, start + size}, n});
    BOOST_TEST_CONTEXT("round " << round << " size " << size << " lateness "
                                << lateness) {
      topology t{"late"};
      collector<result> out;
      collector<ev> late;
      auto w = t.source(script_source(script))
                   .with_timestamps([](const ev& x) { return x.ts; })
                   .key_by([](const ev& x) { return x.key; })
                   .window(tumbling(size))
                   .allowed_lateness(lateness)
                   .with_late_output()
                   .aggregate(count());
      w.results.sink(out.sink("results"));
      w.late.sink(late.sink("late"));
      BOOST_REQUIRE_NO_THROW(test::run_randomized(rng, t, runtime));
      BOOST_CHECK(sorted(out.records()) == sorted(expected));
      std::vector<int64_t> got_late;
      for (auto& x : late.records())
        got_late.push_back(x.ts);
      BOOST_CHECK(sorted(got_late) == sorted(expected_late));
      if (round == 0) BOOST_CHECK(!expected_late.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(late_records_update_and_merge_sessions_within_lateness) {
  // gap 10, lateness 20: a late record extends a fired session, a later
  // one updates it, and one beyond the lateness goes to the late output.
  std::vector<scripted> script{{false, 0}, {false, 5}, {true, 20}, {false, 12},
                               {true, 25}, {false, 1}, {true, 50}, {false, 3}};
  std::mt19937_64 rng{test_seed()};
  for (int runtime = 0; runtime < 2; ++runtime) {
    topology t{"late-sessions"};
    collector<result> out;
    collector<ev> late;
    auto w = t.source(script_source(script))
                 .with_timestamps([](const ev& x) { return x.ts; })
                 .key_by([](const ev& x) { return x.key; })
                 .window(session(10))
                 .allowed_lateness(20)
                 .with_late_output()
                 .aggregate(count());
    w.results.sink(out.sink("results"));
    w.late.sink(late.sink("late"));
    BOOST_REQUIRE_NO_THROW(test::run_randomized(rng, t, runtime));
    BOOST_CHECK((sorted(out.records()) ==
                 std::vector<result>{
                     {1, {0, 15}, 2}, {1, {0, 22}, 3}, {1, {0, 22}, 4}}));
    BOOST_REQUIRE_EQUAL(late.size(), 1u);
    BOOST_CHECK_EQUAL(late.records()[0].ts, 3);
  }
}

namespace {

/// Emits `n` records with ts 0..n-1 (subtask 0 only), then waits until
/// `*release` turns true; subtask 1 has nothing to read and, if
/// `declare_idle`, says so (emitter::mark_idle).
source_spec<ev> held_source(int64_t n,
                            std::shared_ptr<std::atomic<bool>> release,
                            bool declare_idle) {
  struct fn final : source_function<ev> {
    fn(int64_t n, std::shared_ptr<std::atomic<bool>> r, bool idle)
        : n_(n), release_(std::move(r)), declare_idle_(idle) {}
    void open(const connector_context& ctx) override {
      if (ctx.subtask_index != 0) n_ = 0;
    }
    source_state poll(emitter<ev>& out, size_t max) override {
      for (size_t i = 0; i < max && next_ < n_; ++i, ++next_)
        out.emit(ev{1, next_, 1});
      if (next_ < n_) return source_state::more;
      if (release_->load()) return source_state::done;
      if (n_ == 0 && declare_idle_) out.mark_idle();
      return source_state::idle;
    }
    int64_t n_;
    int64_t next_ = 0;
    std::shared_ptr<std::atomic<bool>> release_;
    bool declare_idle_;
  };
  source_spec<ev> spec;
  spec.name = "held";
  spec.parallelism = 2;
  spec.make = [n, release, declare_idle](const connector_context&) {
    return std::make_unique<fn>(n, release, declare_idle);
  };
  return spec;
}

/// Sets `*flag` when the first record arrives.
sink_spec<result> flag_sink(std::shared_ptr<std::atomic<bool>> flag,
                            std::shared_ptr<std::vector<result>> seen) {
  struct fn final : sink_function<result> {
    fn(std::shared_ptr<std::atomic<bool>> f,
       std::shared_ptr<std::vector<result>> s)
        : flag_(std::move(f)), seen_(std::move(s)) {}
    void write(std::vector<result>& xs) override {
      seen_->insert(seen_->end(), xs.begin(), xs.end());
      flag_->store(true);
    }
    std::shared_ptr<std::atomic<bool>> flag_;
    std::shared_ptr<std::vector<result>> seen_;
  };
  sink_spec<result> spec;
  spec.name = "flag";
  spec.parallelism = 1;
  spec.make = [flag, seen](const connector_context&) {
    return std::make_unique<fn>(flag, seen);
  };
  return spec;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_source_declared_idle_stops_holding_windows_back) {
  for (int mode = 0; mode < 3; ++mode) {
    // 0: sim, the empty source declares itself idle; 1: sim, it does not
    // (its silence alone must stall the job); 2: runtime, declared.
    auto release = std::make_shared<std::atomic<bool>>(false);
    auto seen = std::make_shared<std::vector<result>>();
    topology t{"idle"};
    t.source(held_source(100, release, mode != 1))
        .assign_timestamps([](const ev& x) { return x.ts; }, 0)
        .key_by([](const ev& x) { return x.key; })
        .window(tumbling(10))
        .parallelism(1)
        .aggregate(count())
        .sink(flag_sink(release, seen));
    BOOST_TEST_CONTEXT("mode " << mode) {
      if (mode < 2) {
        channel_options c;
        c.watermark_interval = std::chrono::nanoseconds::zero();
        c.idle_timeout = std::chrono::milliseconds(1);
        test::sim s{t, plan_options{}, c, test_seed()};
        s.set_ms_per_step(1);
        if (mode == 0) {
          BOOST_REQUIRE_NO_THROW(s.run(200000));
        } else {
          BOOST_CHECK_THROW(s.run(200000), std::runtime_error);
          BOOST_CHECK(seen->empty());
          continue;
        }
      } else {
        job_options o;
        o.status_interval = std::chrono::nanoseconds::zero();
        o.channels.watermark_interval = std::chrono::nanoseconds::zero();
        o.channels.idle_timeout = std::chrono::milliseconds(1);
        auto r = runtime::execute(t, o);
        BOOST_REQUIRE_MESSAGE(r.ok, r.error);
      }
      // Windows before the last watermark (98) fired while source 1 idled;
      // the rest at end of input.
      std::vector<result> expected;
      for (int64_t s = 0; s < 100; s += 10)
        expected.push_back(result{1, window{s, s + 10}, 10});
      BOOST_CHECK(sorted(*seen) == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(watermarks_follow_the_data_of_their_channel) {
  // A watermark queued behind batches waiting for credit must not overtake
  // them, and consecutive ones coalesce.
  struct recording : transport {
    std::vector<std::pair<char, int64_t>> log;
    void send_batch(size_t, batch_ptr b) override {
      log.emplace_back('b', static_cast<int64_t>(b->size()));
    }
    void send_end_of_stream(size_t) override { log.emplace_back('e', 0); }
    void send_watermark(size_t, int64_t wm) override {
      log.emplace_back('w', wm);
    }
    void send_idle(size_t, bool idle) override {
      log.emplace_back(idle ? 'i' : 'a', 0);
    }
    void send_credit(size_t, uint32_t) override {}
  } tr;
  subtask_metrics m;
  outbox out{1, 1, tr, m};
  router<int> r{
      {out_edge_layout{partitioning::forward, nullptr, {0}, 128}}, out, 4};
  r.emit(1);
  r.emit_watermark(5); // closes the partial batch first
  r.emit(2);
  r.emit_watermark(7); // the batch waits for credit: queued behind it
  r.emit_watermark(9); // coalesces with 7
  r.emit_watermark(8); // not an advance
  r.emit(3);
  r.emit_idle(true); // closes the partial batch first, queued behind it
  r.emit_idle(true); // no change
  BOOST_CHECK(out.blocked());
  out.on_credit(0, 1);
  BOOST_CHECK(out.blocked());
  out.on_credit(0, 1); // the third batch, then the status behind it
  BOOST_CHECK(!out.blocked());
  r.emit(4);
  r.flush_all(); // the batch declares the subtask active first
  out.on_credit(0, 1);
  out.close();
  std::vector<std::pair<char, int64_t>> expected{{'b', 1}, {'w', 5}, {'b', 1},
                                                 {'w', 9}, {'b', 1}, {'i', 0},
                                                 {'a', 0}, {'b', 1}, {'e', 0}};
  BOOST_CHECK(tr.log == expected);
}

namespace {

/// A subtask core of three int inputs and one output, without an actor
/// system, that records the watermarks and idleness it sends.
struct three_input_core {
  struct recording : transport {
    void send_batch(size_t, batch_ptr) override {}
    void send_end_of_stream(size_t) override {}
    void send_watermark(size_t, int64_t wm) override { sent.push_back(wm); }
    void send_idle(size_t, bool idle) override { statuses.push_back(idle); }
    void send_credit(size_t, uint32_t) override {}
    void send_barrier(size_t, checkpoint_id) override {}
    std::vector<int64_t> sent;
    std::vector<bool> statuses;
  } tr;
  subtask_metrics m;
  manual_clock clk;
  subtask_core core;

  explicit three_input_core(const channel_options& c = {})
      : core{[](const task_setup& s) {
               return std::make_unique<identity_task<int>>(s);
             },
             layout(),
             {0, 0, 0},
             1,
             c,
             tr,
             m,
             &clk} {}

  static task_setup layout() {
    task_setup setup;
    setup.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
    return setup;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(subtask_watermark_is_the_minimum_over_its_inputs) {
  channel_options c;
  c.idle_timeout = std::chrono::milliseconds(1);
  three_input_core fixture{c};
  auto& core = fixture.core;
  auto& tr = fixture.tr;
  core.on_watermark(0, 10);
  core.on_watermark(1, 20);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), min_timestamp);
  core.on_watermark(2, 15);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 10);
  core.on_end_of_stream(0); // an ended input counts as +infinity
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 15);
  // Input 2 stays silent for long: silence alone never makes it idle.
  core.on_watermark(1, 30);
  fixture.clk.set(1000000);
  core.advance_time();
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 15);
  BOOST_CHECK_EQUAL(core.next_wakeup(), max_timestamp);
  // Its source declares it idle: input 1 alone decides.
  core.on_idle(2, true);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 30);
  BOOST_CHECK(tr.statuses.empty());
  // A status takes effect after the batches queued before it.
  core.on_batch(1, std::make_shared<typed_batch<int>>(std::vector<int>{1}));
  core.on_idle(1, true);
  BOOST_CHECK(!core.inputs_idle());
  core.drain();
  // Every open input idle: the highest of their watermarks, and the
  // subtask says it is idle downstream.
  BOOST_CHECK(core.inputs_idle());
  BOOST_CHECK_EQUAL(core.watermark(), 30);
  core.on_watermark(2, 25);
  core.on_watermark(1, 40);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 40);
  BOOST_CHECK((tr.statuses == std::vector<bool>{true}));
  // Input 2 active again: it counts again (the watermark never goes back).
  core.on_idle(2, false);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 40);
  BOOST_CHECK((tr.statuses == std::vector<bool>{true, false}));
  core.on_watermark(2, 45);
  core.on_idle(1, false);
  core.on_watermark(1, 50);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 45);
  // Input 2 idle: input 1 alone decides. Then input 1 ends: the idle
  // input is all that is open, and the ended one (+infinity) does not
  // count as an advance.
  core.on_idle(2, true);
  core.on_end_of_stream(1);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 50);
  BOOST_CHECK(core.inputs_idle());
  BOOST_CHECK((tr.sent == std::vector<int64_t>{10, 15, 30, 40, 45, 50}));
}

// Events a blocked input delivers after its barrier wait beside the queue
// and go back to its front once the checkpoint is aligned, ahead of what
// was queued, so the queue's sequence numbers run below where they
// started. Here input 2's three held events are more than the queue ever
// took, and input 0's held watermark then sits before the first event. The
// core must still know that nothing of input 0 is queued once it has
// processed that watermark: its next watermark applies, it is not merged
// into an event that is gone. (The sequence numbers were unsigned: they
// wrapped, the core kept input 0's last event as queued, and merged its
// later watermarks into freed memory: the watermark stayed at 10.)
BOOST_AUTO_TEST_CASE(watermarks_after_an_aligned_checkpoint_apply) {
  three_input_core fixture;
  auto& core = fixture.core;
  auto& tr = fixture.tr;
  core.on_barrier(0, checkpoint_id{1});
  core.drain();
  core.on_watermark(0, 10); // held: input 0 is blocked
  core.on_barrier(2, checkpoint_id{1});
  core.drain();
  core.on_watermark(2, 10); // held, three events
  core.on_idle(2, true);
  core.on_watermark(2, 12);
  core.on_barrier(1, checkpoint_id{1}); // aligned: the held events go back
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), min_timestamp); // input 1 has none
  core.on_watermark(1, 30);
  core.on_watermark(0, 20);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 20);
  core.on_watermark(0, 25);
  core.drain();
  BOOST_CHECK_EQUAL(core.watermark(), 25);
  BOOST_CHECK((tr.sent == std::vector<int64_t>{20, 25}));
}

BOOST_AUTO_TEST_CASE(split_watermarks_take_the_minimum_over_active_splits) {
  split_watermarks w{10, 100};
  w.add(0, 0);
  w.add(1, 0);
  w.observe(0, 500, 0);
  // Split 1 has no record yet: nothing can be said.
  BOOST_CHECK_EQUAL(w.current(0), min_timestamp);
  w.observe(1, 300, 10);
  BOOST_CHECK_EQUAL(w.current(10), 289);
  w.observe(0, 700, 60);
  // Split 1 silent far past the idle timeout, but not caught up (it lags,
  // or backpressure keeps it unread): it holds the watermark back.
  BOOST_CHECK_EQUAL(w.current(100000), 289);
  BOOST_CHECK(!w.idle(100000));
  // Caught up: idle once silent for the timeout; split 0 alone decides.
  w.caught_up(1);
  BOOST_CHECK_EQUAL(w.current(109), 289);
  BOOST_CHECK_EQUAL(w.current(110), 689);
  BOOST_CHECK(!w.idle(110));
  w.observe(1, 400, 120); // active again
  BOOST_CHECK_EQUAL(w.current(120), 389);
  // Both caught up and silent: the source is idle at the higher watermark.
  w.caught_up(0);
  w.caught_up(1);
  BOOST_CHECK(!w.idle(219));
  BOOST_CHECK(w.idle(220));
  BOOST_CHECK_EQUAL(w.current(220), 689);
  w.remove(0); // finished
  BOOST_CHECK_EQUAL(w.current(221), 389);
  // A caught-up split without any record is idle after the timeout too
  // (an empty partition never holds the job back).
  split_watermarks e{10, 5};
  e.add(0, 0);
  e.caught_up(0);
  BOOST_CHECK(!e.idle(4));
  BOOST_CHECK(e.idle(5));
  // Idleness off: never idle.
  split_watermarks off{10, 0};
  off.add(0, 0);
  off.caught_up(0);
  BOOST_CHECK(!off.idle(1000000));
}

BOOST_AUTO_TEST_CASE(processing_time_windows_count_every_record_once) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 4};
  constexpr uint64_t n = 5000;
  topology t{"processing"};
  collector<result> out;
  t.source(generator(n,
                     [](uint64_t i) {
                       return ev{uint32_t(i % 7), 0, 1};
                     }))
      .parallelism(2)
      .key_by([](const ev& x) { return x.key; })
      .window(tumbling(20).processing_time())
      .parallelism(3)
      .aggregate(count())
      .sink(out.sink());
  channel_options c;
  c.batch_size = 1 + rng() % 16;
  test::sim s{t, plan_options{}, c, rng()};
  s.set_ms_per_step(1);
  s.run();
  int64_t total = 0;
  std::set<std::pair<uint32_t, int64_t>> seen;
  for (auto& r : out.records()) {
    total += r.value;
    BOOST_CHECK_EQUAL(r.w.end - r.w.start, 20);
    BOOST_CHECK_EQUAL(r.w.start % 20, 0);
    BOOST_CHECK(seen.emplace(r.key, r.w.start).second);
  }
  BOOST_CHECK_EQUAL(total, static_cast<int64_t>(n));
  // The clock moved while the job ran: more than one window per key.
  BOOST_CHECK_GT(seen.size(), 7u);
}

BOOST_AUTO_TEST_SUITE_END()

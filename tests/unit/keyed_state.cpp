// Keyed state by key group: every keyed operator snapshots its key groups
// mid-stream at parallelism p, fresh instances at parallelism q restore
// them (each key group into the subtask that owns it at q), and the rest
// of the input gives exactly the output of an uninterrupted run.
#include "recording_transport.hpp"
#include "seed.hpp"

#include "flow/collection.hpp"
#include "flow/join.hpp"
#include "flow/rocksdb_state.hpp"
#include "flow/state.hpp"
#include "flow/topology.hpp"
#include "flow/windows.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace flow;
using flow::test::test_seed;

namespace {

constexpr uint32_t key_groups = 128;

struct rec {
  uint32_t key;
  int64_t ts;
  int64_t value;
  friend bool operator==(const rec& a, const rec& b) {
    return std::tie(a.key, a.ts, a.value) == std::tie(b.key, b.ts, b.value);
  }
  friend bool operator<(const rec& a, const rec& b) {
    return std::tie(a.key, a.ts, a.value) < std::tie(b.key, b.ts, b.value);
  }
};

} // namespace

template <>
struct flow::serde<rec> {
  static constexpr bool available = true;
  static void write(const rec& x, std::vector<char>& out) {
    serde<uint32_t>::write(x.key, out);
    serde<int64_t>::write(x.ts, out);
    serde<int64_t>::write(x.value, out);
  }
  static rec read(const char*& pos, const char* end) {
    rec x;
    x.key = serde<uint32_t>::read(pos, end);
    x.ts = serde<int64_t>::read(pos, end);
    x.value = serde<int64_t>::read(pos, end);
    return x;
  }
};

namespace {

/// What the harness feeds: a chunk of records, then the bounded
/// out-of-orderness watermark and the processing time after it.
struct step {
  std::vector<rec> records;
  int64_t watermark;
  int64_t now;
};

std::vector<step> random_steps(std::mt19937_64& rng, size_t n, uint32_t keys,
                               int64_t disorder) {
  std::vector<step> steps;
  int64_t max_ts = min_timestamp;
  int64_t now = 1000;
  size_t i = 0;
  while (i < n) {
    step s;
    auto len = 1 + rng() % 40;
    for (size_t j = 0; j < len && i < n; ++j, ++i) {
      auto ts = static_cast<int64_t>(i) * 3 +
                static_cast<int64_t>(rng() % static_cast<uint64_t>(disorder));
      s.records.push_back(rec{static_cast<uint32_t>(rng() % keys), ts,
                              static_cast<int64_t>(rng() % 100)});
      max_ts = std::max(max_ts, ts);
    }
    s.watermark = max_ts - disorder - 1;
    now += static_cast<int64_t>(rng() % 30);
    s.now = now;
    steps.push_back(std::move(s));
  }
  return steps;
}

/// Instances of one keyed operator (a node of a topology), driven the way
/// subtask_core drives tasks, with records routed by key group as hash
/// partitioning does; their output is collected.
template <class Out>
class keyed_instances {
public:
  /// `input(x)`: the input edge of the operator that record x comes on.
  /// `state`: where the instances' spilling keyed state goes (null:
  /// memory).
  keyed_instances(const node_def& op, uint32_t parallelism,
                  std::function<uint32_t(const rec&)> key,
                  std::function<size_t(const rec&)> input,
                  state_backend* state = nullptr)
      : op_(op), key_(std::move(key)), input_(std::move(input)), state_(state) {
    start(parallelism);
  }

  void run(const step& s) {
    std::map<std::pair<size_t, size_t>, std::vector<rec>> parts;
    for (auto& x : s.records)
      parts[{owner(key_group_for(key_(x), key_groups)), input_(x)}].push_back(
          x);
    for (auto& [to, xs] : parts) {
      typed_batch<rec> b{std::move(xs)};
      subtasks_[to.first]->op->process(to.second, b);
    }
    advance(s.watermark, s.now);
  }

  void finish() {
    for (auto& st : subtasks_) {
      st->op->on_watermark(max_timestamp);
      st->op->end_of_input();
      st->op->flush_all();
    }
  }

  /// Snapshots every key group, replaces the instances with `parallelism`
  /// fresh ones that restore them, and gives those the last watermark and
  /// processing time again (what their restored inputs would send). The
  /// new instances keep their spilling state in `state` (null: memory).
  /// The state is written after its instances are gone: from the maps the
  /// snapshot took of the stores in memory, from the views it took of the
  /// spilling stores.
  void rescale(uint32_t parallelism, state_backend* state) {
    auto from = subtasks_.size();
    state_ = state;
    std::vector<key_group_snapshot> groups;
    std::vector<deferred_key_groups> later;
    for (auto& st : subtasks_) {
      st->op->flush_all();
      if (auto d = st->op->snapshot_key_groups(groups))
        later.push_back(std::move(d));
    }
    // Every operator here keeps copyable state: all of it is deferred.
    BOOST_CHECK_EQUAL(later.size(), from);
    BOOST_CHECK(groups.empty());
    start(parallelism);
    for (auto& d : later)
      d(groups);
    BOOST_TEST_MESSAGE("  " << groups.size() << " key groups from " << from
                            << " to " << parallelism << " subtasks");
    std::vector<std::vector<key_group_snapshot>> parts(parallelism);
    for (auto& g : groups)
      parts[owner(g.key_group)].push_back(std::move(g));
    for (uint32_t i = 0; i < parallelism; ++i)
      subtasks_[i]->op->restore_key_groups(parts[i]);
    advance(wm_, clock_.now());
  }

  std::vector<Out> output() {
    for (auto& st : subtasks_)
      st->op->flush_all();
    auto out = done_;
    for (auto& st : subtasks_)
      out.insert(out.end(), st->out.records.begin(), st->out.records.end());
    std::sort(out.begin(), out.end());
    return out;
  }

private:
  using recording = flow::test::recording_transport<Out>;
  struct subtask {
    recording out;
    subtask_metrics metrics;
    std::unique_ptr<outbox> box;
    std::unique_ptr<flow::task> op;
  };

  uint32_t owner(uint32_t kg) const {
    return subtask_of_key_group(kg, key_groups,
                                static_cast<uint32_t>(subtasks_.size()));
  }

  void start(uint32_t parallelism) {
    for (auto& st : subtasks_)
      done_.insert(done_.end(), st->out.records.begin(), st->out.records.end());
    subtasks_.clear();
    for (uint32_t i = 0; i < parallelism; ++i) {
      auto st = std::make_unique<subtask>();
      st->box = std::make_unique<outbox>(1, 1u << 30, st->out, st->metrics);
      task_setup s;
      s.operator_name = op_.name;
      s.subtask_index = i;
      s.parallelism = parallelism;
      s.batch_size = 16;
      s.outputs = {
          out_edge_layout{partitioning::forward, nullptr, {0}, key_groups}};
      s.out = st->box.get();
      s.max_parallelism = key_groups;
      s.clock = &clock_;
      s.state = state_;
      st->op = op_.make_task(s);
      subtasks_.push_back(std::move(st));
    }
  }

  void advance(int64_t wm, int64_t now) {
    wm_ = wm;
    clock_.set(now);
    for (auto& st : subtasks_) {
      if (wm > min_timestamp) st->op->on_watermark(wm);
      if (st->op->next_timer() <= now) st->op->on_processing_time(now);
    }
  }

  const node_def& op_;
  std::function<uint32_t(const rec&)> key_;
  std::function<size_t(const rec&)> input_;
  state_backend* state_;
  manual_clock clock_{0};
  int64_t wm_ = min_timestamp;
  std::vector<std::unique_ptr<subtask>> subtasks_;
  std::vector<Out> done_;
};

uint32_t key_of(const rec& x) {
  return x.key;
}

/// A keyed stream of recs with event time, for `build` to add the operator
/// under test to.
auto keyed_recs(topology& t, int64_t disorder) {
  return t.source(from_collection(std::vector<rec>{}))
      .assign_timestamps([](const rec& x) { return x.ts; }, disorder)
      .key_by(&key_of);
}

/// Where the rescaled instances keep their spilling state before and after
/// the rescaling (null: memory; the uninterrupted run keeps it in memory),
/// and how many random inputs are run.
struct state_setup {
  state_backend* before = nullptr;
  state_backend* after = nullptr;
  int rounds = 12;
};

/// Runs the operator `build(t, disorder)` adds last to `t` on random input
/// (records with an odd value on input edge 1 when `two_inputs`),
/// uninterrupted and with a rescaling after a random step.
template <class Out, class Build>
void check_rescaling(const char* what, Build build, int64_t disorder,
                     bool two_inputs = false, state_setup state = {}) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE(what << ": seed " << seed);
  std::mt19937_64 rng{seed};
  std::function<size_t(const rec&)> input = [two_inputs](const rec& x) {
    return two_inputs ? static_cast<size_t>(x.value % 2) : 0;
  };
  topology t{what};
  build(t, disorder);
  const node_def& op = t.nodes().back();
  auto key = &key_of;
  for (int round = 0; round < state.rounds; ++round) {
    auto steps =
        random_steps(rng, 200 + rng() % 1500, 1 + rng() % 60, disorder);
    auto p = 1 + static_cast<uint32_t>(rng() % 4);
    uint32_t qs[] = {1, p, p + 1};
    auto q = qs[round % 3];
    auto cut = rng() % steps.size();
    BOOST_TEST_MESSAGE("  round " << round << ": " << steps.size()
                                  << " steps, p " << p << ", q " << q
                                  << ", snapshot after step " << cut);
    keyed_instances<Out> whole{op, p, key, input};
    keyed_instances<Out> rescaled{op, p, key, input, state.before};
    for (size_t i = 0; i < steps.size(); ++i) {
      whole.run(steps[i]);
      rescaled.run(steps[i]);
      if (i == cut) rescaled.rescale(q, state.after);
    }
    whole.finish();
    rescaled.finish();
    auto want = whole.output();
    BOOST_TEST_CONTEXT(what << " round " << round) {
      BOOST_CHECK(!want.empty());
      BOOST_CHECK(rescaled.output() == want);
    }
  }
}

using count_out = std::pair<uint32_t, int64_t>;

/// Per key: a running count in value_state, sums per 100 ms bucket in
/// map_state flushed by event-time timers, and a processing-time timer
/// that reports the count 50 ms after a key's first record.
struct counts_and_buckets final
    : keyed_process_function<uint32_t, rec,
                             std::tuple<uint32_t, int64_t, int64_t, int>> {
  using out = std::tuple<uint32_t, int64_t, int64_t, int>;
  value_state<uint32_t, int64_t> count{*this};
  map_state<uint32_t, int64_t, int64_t> sums{*this};
  void process_element(const rec& x, context& ctx) override {
    auto n = count.value_or(0);
    if (n == 0) ctx.register_processing_time_timer(ctx.processing_time() + 50);
    count.update(n + 1);
    auto bucket = x.ts / 100 * 100;
    auto old = sums.get(bucket);
    sums.put(bucket, (old ? *old : 0) + x.value);
    ctx.register_event_time_timer(bucket + 99);
  }
  void on_timer(int64_t t, time_domain d, context& ctx) override {
    if (d == time_domain::processing) {
      ctx.emit(out{ctx.key(), 0, count.value_or(0), 0});
      return;
    }
    auto bucket = t - 99;
    ctx.emit(out{ctx.key(), bucket, *sums.get(bucket), 1});
    sums.remove(bucket);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(keyed_state_by_key_group)

BOOST_AUTO_TEST_CASE(keyed_count_survives_snapshot_and_rescaling) {
  check_rescaling<count_out>(
      "count",
      [](topology& t, int64_t d) { keyed_recs(t, d).aggregate(flow::count()); },
      20);
}

BOOST_AUTO_TEST_CASE(keyed_reduce_survives_snapshot_and_rescaling) {
  check_rescaling<rec>(
      "reduce",
      [](topology& t, int64_t d) {
        keyed_recs(t, d).reduce([](const rec& acc, const rec& x) {
          return rec{acc.key, std::max(acc.ts, x.ts), acc.value + x.value};
        });
      },
      20);
}

BOOST_AUTO_TEST_CASE(keyed_process_state_and_timers_survive_rescaling) {
  check_rescaling<counts_and_buckets::out>(
      "process",
      [](topology& t, int64_t d) {
        keyed_recs(t, d).process(
            [] { return std::make_unique<counts_and_buckets>(); });
      },
      150);
}

BOOST_AUTO_TEST_CASE(tumbling_window_contents_survive_rescaling) {
  // With lateness: records behind the watermark update fired windows, and
  // cleanup timers are part of the state.
  check_rescaling<window_result<uint32_t, int64_t>>(
      "tumbling",
      [](topology& t, int64_t d) {
        keyed_recs(t, d)
            .window(tumbling(50))
            .allowed_lateness(30)
            .aggregate(flow::count());
      },
      80);
}

BOOST_AUTO_TEST_CASE(sliding_window_panes_survive_rescaling) {
  check_rescaling<window_result<uint32_t, rec>>(
      "sliding",
      [](topology& t, int64_t d) {
        keyed_recs(t, d)
            .window(sliding(60, 20))
            .reduce([](const rec& a, const rec& b) {
              return rec{a.key, std::max(a.ts, b.ts), a.value + b.value};
            });
      },
      40);
}

BOOST_AUTO_TEST_CASE(session_windows_survive_rescaling) {
  check_rescaling<window_result<uint32_t, int64_t>>(
      "session",
      [](topology& t, int64_t d) {
        keyed_recs(t, d)
            .window(session(25))
            .allowed_lateness(20)
            .aggregate(flow::sum([](const rec& x) { return x.value; }));
      },
      40);
}

BOOST_AUTO_TEST_CASE(count_windows_survive_rescaling) {
  check_rescaling<window_result<uint32_t, int64_t>>(
      "counting",
      [](topology& t, int64_t d) {
        keyed_recs(t, d).window(counting(5, 2)).aggregate(flow::count());
      },
      20);
}

BOOST_AUTO_TEST_CASE(join_buffers_and_tables_survive_rescaling) {
  auto values = [](const rec& a, const rec& b) {
    return std::tuple<int64_t, int64_t>{a.value, b.value};
  };
  using out = std::tuple<int64_t, int64_t>;
  check_rescaling<out>(
      "window-join",
      [&](topology& t, int64_t d) {
        window_join(keyed_recs(t, d), keyed_recs(t, d), tumbling(40), values);
      },
      30, true);
  check_rescaling<out>(
      "interval-join",
      [&](topology& t, int64_t d) {
        interval_join(keyed_recs(t, d), keyed_recs(t, d), -15, 10, values);
      },
      30, true);
  check_rescaling<out>(
      "table-join",
      [&](topology& t, int64_t d) {
        join_table(keyed_recs(t, d), keyed_recs(t, d), values,
                   time_domain::event);
      },
      30, true);
}

/// The rocksdb backend with a cache so small (1-8 keys per state, from the
/// seed) that nearly every record reads and writes RocksDB.
std::shared_ptr<state_backend> tiny_cache_backend() {
  std::mt19937_64 rng{test_seed()};
  state_options o;
  o.backend = "rocksdb";
  o.cache_entries = 1 + rng() % 8;
  o.memory = size_t{4} << 20;
  BOOST_TEST_MESSAGE("rocksdb backend, cache of " << o.cache_entries
                                                  << " keys per state");
  return make_state_backend(o);
}

BOOST_AUTO_TEST_CASE(spilled_state_gives_the_output_of_state_in_memory) {
  // Spilled before and after the rescaling, and moved between the
  // backends by it: checkpoints are the same bytes either way.
  auto rocks = tiny_cache_backend();
  BOOST_REQUIRE(rocks);
  std::vector<state_setup> setups = {{rocks.get(), rocks.get(), 3},
                                     {rocks.get(), nullptr, 2},
                                     {nullptr, rocks.get(), 2}};
  for (auto& setup : setups) {
    check_rescaling<count_out>(
        "spilled count",
        [](topology& t, int64_t d) {
          keyed_recs(t, d).aggregate(flow::count());
        },
        20, false, setup);
    check_rescaling<rec>(
        "spilled reduce",
        [](topology& t, int64_t d) {
          keyed_recs(t, d).reduce([](const rec& acc, const rec& x) {
            return rec{acc.key, std::max(acc.ts, x.ts), acc.value + x.value};
          });
        },
        20, false, setup);
    check_rescaling<counts_and_buckets::out>(
        "spilled process",
        [](topology& t, int64_t d) {
          keyed_recs(t, d).process(
              [] { return std::make_unique<counts_and_buckets>(); });
        },
        150, false, setup);
  }
}

BOOST_AUTO_TEST_CASE(snapshots_name_the_missing_serde_and_bad_key_groups) {
  struct opaque {
    int64_t n;
  };
  topology t{"opaque"};
  t.source(from_collection(std::vector<opaque>{}))
      .key_by([](const opaque& x) { return x.n; })
      .reduce(
          [](const opaque& a, const opaque& b) { return opaque{a.n + b.n}; });
  struct nothing final : transport {
    void send_batch(size_t, batch_ptr) override {}
    void send_end_of_stream(size_t) override {}
    void send_watermark(size_t, int64_t) override {}
    void send_idle(size_t, bool) override {}
    void send_credit(size_t, uint32_t) override {}
  } tr;
  subtask_metrics m;
  outbox box{1, 8, tr, m};
  task_setup s;
  s.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
  s.out = &box;
  auto op = t.nodes().back().make_task(s);
  std::vector<key_group_snapshot> groups;
  if (auto later = op->snapshot_key_groups(groups)) later(groups);
  BOOST_CHECK(groups.empty()); // empty: nothing to write
  typed_batch<opaque> b{{opaque{1}}};
  op->process(0, b);
  BOOST_CHECK_THROW((void)op->snapshot_key_groups(groups), std::logic_error);
  BOOST_CHECK_THROW(op->restore_key_groups({key_group_snapshot{128, {}}}),
                    std::invalid_argument);
  // Nor can its state spill: the task cannot be made with a backend.
  auto rocks = tiny_cache_backend();
  s.state = rocks.get();
  BOOST_CHECK_THROW(t.nodes().back().make_task(s), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()

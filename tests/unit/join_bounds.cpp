// Bounds on the join buffers: every record a join holds leaves it once the
// watermark passes a bound in event time, as a result or on a side output
// (late records, unjoined records), never dropped silently and never held
// until the end of input. Driven on a subtask_core directly (the buffer
// sizes are asserted on the join's own store) and on the simulator against
// brute-force references.
#include "orders.hpp"
#include "seed.hpp"
#include "sim.hpp"

#include "flow/collection.hpp"
#include "flow/join.hpp"
#include "flow/versioned_join.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <variant>

using namespace flow;
using flow::test::test_seed;

namespace {

struct rec {
  uint32_t key;
  int64_t ts;
  int64_t value;
};

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// One two-input task on a subtask_core, without actor system or
/// simulator: input channel 0 is edge 0 (the `a` side), channel 1 edge 1;
/// every output record of type R is kept, and credit is returned as soon
/// as a batch is out.
template <class R>
class direct_run {
public:
  explicit direct_run(const task_factory& make) {
    task_setup setup;
    setup.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
    core_ = std::make_unique<subtask_core>(
        make, setup, std::vector<size_t>{0, 1}, 1, channel_options{}, tr_,
        metrics_, &clock_);
  }

  template <class T>
  void send(size_t slot, std::vector<T> xs) {
    core_->on_batch(slot, std::make_shared<typed_batch<T>>(std::move(xs)));
    settle();
  }

  /// On each input that has not ended.
  void watermark(int64_t wm) {
    for (size_t slot = 0; slot < 2; ++slot)
      if (!ended_[slot]) core_->on_watermark(slot, wm);
    settle();
  }

  void end_of_stream(size_t slot) {
    ended_[slot] = true;
    core_->on_end_of_stream(slot);
    settle();
  }

  std::vector<R>& out() { return tr_.out; }

private:
  void settle() {
    do {
      core_->drain();
      core_->flush();
      auto n = tr_.batches;
      tr_.batches = 0;
      if (n == 0) break;
      core_->on_credit(0, n);
    } while (true);
  }

  struct recording final : transport {
    std::vector<R> out;
    uint32_t batches = 0;
    void send_batch(size_t, batch_ptr b) override {
      for (auto& x : records_of<R>(*b))
        out.push_back(std::move(x));
      ++batches;
    }
    void send_end_of_stream(size_t) override {}
    void send_watermark(size_t, int64_t) override {}
    void send_idle(size_t, bool) override {}
    void send_credit(size_t, uint32_t) override {}
  };

  manual_clock clock_{0};
  subtask_metrics metrics_;
  recording tr_;
  std::unique_ptr<subtask_core> core_;
  bool ended_[2] = {false, false};
};

const auto order_key = [](const order& o) { return o.customer; };
const auto customer_key = [](const customer& c) { return c.id; };
const auto tier_of = [](const order& o, const customer& c) {
  return std::make_pair(o.id, *c.tier);
};
using joined = std::pair<int64_t, int64_t>; // (order, tier)
using inner_task =
    detail::versioned_join_task<uint32_t, order, customer, joined,
                                decltype(order_key), decltype(customer_key),
                                decltype(tier_of), join_kind::inner, true>;
using inner_record = inner_task::record;

task_factory make_inner(inner_task*& made, int64_t max_wait) {
  return [&made, max_wait](const task_setup& s) {
    auto t = std::make_unique<inner_task>(
        s, 1, order_key, customer_key, tier_of,
        [](const order& o) { return o.ts; },
        [](const customer& c) { return c.ts; }, max_wait);
    made = t.get();
    return t;
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(join_bounds)

BOOST_AUTO_TEST_CASE(a_million_orders_without_customers_leave_on_the_side) {
  // 10^6 orders of 10^5 customers that never come: each order waits for
  // the watermark, then up to max_wait for a first customer version, then
  // leaves on the unjoined output. The join's buffer never holds more
  // than the orders of (watermark - max_wait, newest]: it is bounded by
  // event time, not by the input's length.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  constexpr int64_t n = 1'000'000, per_batch = 1000, disorder = 50;
  constexpr int64_t max_wait = 5000;
  inner_task* join = nullptr;
  direct_run<inner_record> run{make_inner(join, max_wait)};
  BOOST_REQUIRE(join);
  run.end_of_stream(1); // the customers' changelog is empty
  size_t most_waiting = 0, most_keys = 0;
  int64_t newest = min_timestamp;
  for (int64_t i = 0; i < n; i += per_batch) {
    std::vector<order> batch;
    for (int64_t j = i; j < i + per_batch; ++j) {
      auto ts = j + static_cast<int64_t>(rng() % disorder);
      newest = std::max(newest, ts);
      batch.push_back(order{j, static_cast<uint32_t>(rng() % 100'000), ts});
    }
    run.send(0, std::move(batch));
    run.watermark(newest - disorder);
    most_waiting = std::max(most_waiting, join->waiting());
    most_keys = std::max(most_keys, join->keys());
  }
  // Waiting: timestamps in (wm - max_wait, wm + disorder], one per ms.
  BOOST_TEST_MESSAGE("most orders waiting " << most_waiting << ", keys "
                                            << most_keys);
  BOOST_CHECK_LE(most_waiting, static_cast<size_t>(max_wait + 2 * disorder));
  BOOST_CHECK_GE(most_waiting, static_cast<size_t>(max_wait));
  BOOST_CHECK_LE(most_keys, most_waiting);
  run.end_of_stream(0);
  BOOST_CHECK_EQUAL(join->waiting(), 0u);
  BOOST_CHECK_EQUAL(join->keys(), 0u);
  auto& out = run.out();
  BOOST_REQUIRE_EQUAL(out.size(), static_cast<size_t>(n));
  std::vector<bool> seen(n);
  for (auto& r : out) {
    BOOST_REQUIRE_EQUAL(r.index(), 1u);
    seen[std::get<1>(r).record.id] = true;
  }
  BOOST_CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
}

BOOST_AUTO_TEST_CASE(an_order_waits_up_to_max_wait_for_its_customer) {
  // Customer 1 appears at 100. Orders of customer 1 at 40 and 60 wait (max
  // wait 50): the one at 60 joins, the one at 40 waited its 50 ms in vain.
  // An order behind the watermark is late: unjoined at once.
  inner_task* join = nullptr;
  direct_run<inner_record> run{make_inner(join, 50)};
  run.send(0, std::vector<order>{{1, 1, 40}, {2, 1, 60}});
  run.watermark(89);
  BOOST_CHECK(run.out().empty()); // nothing decided: 40 + 50 > 89
  run.watermark(90);
  BOOST_REQUIRE_EQUAL(run.out().size(), 1u);
  BOOST_CHECK_EQUAL(std::get<1>(run.out()[0]).record.id, 1);
  run.send(1, std::vector<customer>{{1, 100, 7}});
  run.send(0, std::vector<order>{{3, 1, 95}});
  BOOST_CHECK_EQUAL(join->waiting(), 2u);
  run.watermark(99);
  BOOST_CHECK_EQUAL(run.out().size(), 1u);
  run.watermark(100);
  BOOST_REQUIRE_EQUAL(run.out().size(), 3u);
  std::vector<joined> results;
  for (auto& r : run.out())
    if (r.index() == 0) results.push_back(std::get<0>(r));
  BOOST_CHECK((sorted(results) == std::vector<joined>{{2, 7}, {3, 7}}));
  run.send(0, std::vector<order>{{4, 1, 100}});
  BOOST_REQUIRE_EQUAL(run.out().size(), 4u);
  BOOST_CHECK_EQUAL(run.out()[3].index(), 1u);
  BOOST_CHECK_EQUAL(std::get<1>(run.out()[3]).record.id, 4);
  BOOST_CHECK_EQUAL(join->waiting(), 0u);
}

BOOST_AUTO_TEST_CASE(window_and_interval_joins_send_late_records_aside) {
  const auto key = [](const rec& x) { return x.key; };
  const auto ts = [](const rec& x) { return x.ts; };
  const auto pair_of = [](const rec& x, const rec& y) {
    return std::make_pair(x.value, y.value);
  };
  using result = std::pair<int64_t, int64_t>;
  using record = detail::join_record_t<result, rec, rec, true>;
  auto check = [](direct_run<record>& run) {
    run.send(0, std::vector<rec>{{1, 5, 10}});
    run.send(1, std::vector<rec>{{1, 7, 20}});
    run.watermark(100);
    // Behind the watermark: late on each side.
    run.send(0, std::vector<rec>{{1, 8, 11}});
    run.send(1, std::vector<rec>{{1, 6, 21}});
    run.end_of_stream(0);
    run.end_of_stream(1);
    std::vector<result> results;
    std::vector<int64_t> late_a, late_b;
    for (auto& r : run.out()) {
      if (r.index() == 0) results.push_back(std::get<0>(r));
      if (r.index() == 1) late_a.push_back(std::get<1>(r).record.value);
      if (r.index() == 2) late_b.push_back(std::get<2>(r).record.value);
    }
    BOOST_CHECK((results == std::vector<result>{{10, 20}}));
    BOOST_CHECK((late_a == std::vector<int64_t>{11}));
    BOOST_CHECK((late_b == std::vector<int64_t>{21}));
  };
  BOOST_TEST_CONTEXT("window join") {
    direct_run<record> run{[&](const task_setup& s) {
      return std::make_unique<
          detail::window_join_task<uint32_t, rec, rec, result, decltype(key),
                                   decltype(key), decltype(pair_of), true>>(
          s, 1, key, key, pair_of, sliding_windows{10, 10, 0}, ts, ts);
    }};
    check(run);
  }
  BOOST_TEST_CONTEXT("interval join") {
    direct_run<record> run{[&](const task_setup& s) {
      return std::make_unique<
          detail::interval_join_task<uint32_t, rec, rec, result, decltype(key),
                                     decltype(key), decltype(pair_of), true>>(
          s, 1, key, key, pair_of, -5, 5, ts, ts);
    }};
    check(run);
  }
}

BOOST_AUTO_TEST_CASE(late_outputs_of_window_and_interval_joins_lose_nothing) {
  // Inputs within their out-of-orderness bound, plus records far behind
  // it. Whatever the interleaving makes late comes out on the late
  // outputs; the results are exactly the brute-force join of the rest.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 12};
  constexpr int64_t disorder = 20;
  size_t late_total = 0;
  for (int round = 0; round < 6; ++round) {
    auto make = [&](int64_t base) {
      std::vector<rec> xs;
      for (int64_t i = 0; i < 600; ++i) {
        auto ts = 3 * i + static_cast<int64_t>(rng() % disorder);
        if (rng() % 20 == 0) ts -= 500; // far behind
        xs.push_back(rec{static_cast<uint32_t>(rng() % 7), ts, base + i});
      }
      return xs;
    };
    auto as = make(0), bs = make(100000);
    auto p = 1 + static_cast<uint32_t>(rng() % 3);
    topology t{"late-joins"};
    auto ts = [](const rec& x) { return x.ts; };
    auto key = [](const rec& x) { return x.key; };
    auto a = t.source(from_collection(as, "a"))
                 .assign_timestamps(ts, disorder)
                 .key_by(key);
    auto b = t.source(from_collection(bs, "b"))
                 .assign_timestamps(ts, disorder)
                 .key_by(key);
    auto pair_of = [](const rec& x, const rec& y) {
      return std::make_pair(x.value, y.value);
    };
    join_options opts;
    opts.parallelism = p;
    using result = std::pair<int64_t, int64_t>;
    collector<result> wj, ij;
    collector<rec> wla, wlb, ila, ilb;
    auto w = window_join(a, b, tumbling(30), pair_of, opts);
    w.results.sink(wj.sink("wj"));
    w.late_a.sink(wla.sink("wla"));
    w.late_b.sink(wlb.sink("wlb"));
    auto i = interval_join(a, b, -10, 10, pair_of, opts);
    i.results.sink(ij.sink("ij"));
    i.late_a.sink(ila.sink("ila"));
    i.late_b.sink(ilb.sink("ilb"));
    channel_options ch;
    ch.batch_size = 1 + rng() % 64;
    ch.watermark_interval = std::chrono::nanoseconds::zero();
    ch.idle_timeout = test::test_idle_timeout();
    test::sim s{t, plan_options{}, ch, rng()};
    s.set_ms_per_step(1);
    BOOST_REQUIRE_NO_THROW(s.run());
    auto values = [](const std::vector<rec>& xs) {
      std::vector<int64_t> v;
      for (auto& x : xs)
        v.push_back(x.value);
      std::sort(v.begin(), v.end());
      return v;
    };
    auto expected = [&](const std::vector<rec>& late_a,
                        const std::vector<rec>& late_b, bool window) {
      auto la = values(late_a), lb = values(late_b);
      std::vector<result> want;
      for (auto& x : as) {
        if (std::binary_search(la.begin(), la.end(), x.value)) continue;
        for (auto& y : bs) {
          if (x.key != y.key ||
              std::binary_search(lb.begin(), lb.end(), y.value))
            continue;
          bool match = window ? detail::floor_to(x.ts, 30, 0) ==
                                    detail::floor_to(y.ts, 30, 0)
                              : y.ts >= x.ts - 10 && y.ts <= x.ts + 10;
          if (match) want.emplace_back(x.value, y.value);
        }
      }
      std::sort(want.begin(), want.end());
      return want;
    };
    BOOST_TEST_CONTEXT("round " << round << " parallelism " << p) {
      BOOST_CHECK(sorted(wj.records()) ==
                  expected(wla.records(), wlb.records(), true));
      BOOST_CHECK(sorted(ij.records()) ==
                  expected(ila.records(), ilb.records(), false));
    }
    late_total += wla.size() + wlb.size() + ila.size() + ilb.size();
  }
  BOOST_TEST_MESSAGE(late_total << " late records in all rounds");
  BOOST_CHECK_GT(late_total, 0u);
}

BOOST_AUTO_TEST_CASE(versioned_join_with_max_wait_matches_brute_force) {
  // Orders race customer versions; some come before their customer's
  // first version (within max_wait or not), customers are deleted and come
  // back. Inner: results plus unjoined are every order once; left: one
  // output per order. Same at every parallelism and batch size.
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed + 11};
  constexpr int64_t disorder = 30, max_wait = 40;
  constexpr uint32_t customers = 60;
  std::vector<order> orders;
  for (int64_t i = 0; i < 3000; ++i)
    orders.push_back(order{i, static_cast<uint32_t>(rng() % (customers + 5)),
                           i + static_cast<int64_t>(rng() % disorder)});
  std::vector<customer> changelog;
  for (int64_t i = 0; i < 500; ++i) {
    std::optional<int64_t> tier;
    if (rng() % 5) tier = static_cast<int64_t>(rng() % 4);
    changelog.push_back(customer{static_cast<uint32_t>(rng() % customers),
                                 6 * i + static_cast<int64_t>(rng() % 4),
                                 tier});
  }
  // Reference: the version valid at the order's time, else the first one
  // after it within max_wait; a tombstone is none.
  std::vector<joined> inner_want, left_want;
  std::vector<int64_t> unjoined_want;
  size_t waited = 0;
  for (auto& o : orders) {
    const customer *at = nullptr, *after = nullptr;
    for (auto& c : changelog) {
      if (c.id != o.customer) continue;
      if (c.ts <= o.ts && (!at || c.ts >= at->ts)) at = &c;
      if (c.ts > o.ts && c.ts <= o.ts + max_wait &&
          (!after || c.ts < after->ts))
        after = &c;
    }
    const customer* v = at && at->tier ? at : nullptr;
    if (!v && after) {
      v = after->tier ? after : nullptr;
      waited += v != nullptr;
    }
    if (v)
      inner_want.emplace_back(o.id, *v->tier);
    else
      unjoined_want.push_back(o.id);
    left_want.emplace_back(o.id, v ? *v->tier : -1);
  }
  std::sort(inner_want.begin(), inner_want.end());
  BOOST_TEST_MESSAGE(inner_want.size()
                     << " joined (" << waited << " after waiting), "
                     << unjoined_want.size() << " unjoined");
  BOOST_REQUIRE_GT(waited, 20u);
  BOOST_REQUIRE_GT(unjoined_want.size(), 100u);

  for (uint32_t p : {1u, 2u, 4u})
    for (size_t batch : {size_t{1}, size_t{1024}}) {
      topology t{"max-wait"};
      auto o =
          t.source(from_collection(orders, "orders"))
              .parallelism(p)
              .assign_timestamps([](const order& x) { return x.ts; }, disorder)
              .key_by(order_key);
      auto c = t.source(from_collection(changelog, "customers"))
                   .assign_timestamps([](const customer& x) { return x.ts; }, 4)
                   .key_by(customer_key);
      versioned_join_options opts;
      opts.max_wait = max_wait;
      opts.parallelism = p;
      collector<joined> inner, left;
      collector<order> unjoined, left_late;
      auto i = versioned_join(o, c, tier_of, opts);
      i.results.sink(inner.sink("inner-sink"));
      i.unjoined.sink(unjoined.sink("unjoined-sink"));
      auto l = versioned_left_join(
          o, c,
          [](const order& x, const customer* y) {
            return joined{x.id, y ? *y->tier : -1};
          },
          opts);
      l.results.sink(left.sink("left-sink"));
      l.unjoined.sink(left_late.sink("left-late-sink"));
      channel_options ch;
      ch.batch_size = batch;
      ch.watermark_interval = std::chrono::nanoseconds::zero();
      ch.idle_timeout = test::test_idle_timeout();
      test::sim s{t, plan_options{}, ch, rng()};
      s.set_ms_per_step(1);
      BOOST_TEST_CONTEXT("parallelism " << p << " batch " << batch) {
        BOOST_REQUIRE_NO_THROW(s.run());
        BOOST_CHECK(sorted(inner.records()) == inner_want);
        std::vector<int64_t> ids;
        for (auto& x : unjoined.records())
          ids.push_back(x.id);
        BOOST_CHECK(sorted(ids) == sorted(unjoined_want));
        BOOST_CHECK(sorted(left.records()) == sorted(left_want));
        BOOST_CHECK_EQUAL(left_late.size(), 0u);
      }
    }
}

BOOST_AUTO_TEST_SUITE_END()

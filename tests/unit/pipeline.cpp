// Local pipelines on the actor runtime.
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/runtime/job.hpp"
#include "seed.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace flow;
using runtime::execute;

namespace {

job_options quiet_options() {
  job_options o;
  o.status_interval = std::chrono::nanoseconds::zero();
  return o;
}

/// A sink that records which subtask saw which record.
template <class T>
struct placement {
  struct state {
    std::mutex mtx;
    std::vector<std::pair<T, uint32_t>> seen;
  };
  std::shared_ptr<state> st = std::make_shared<state>();

  sink_spec<T> sink() const {
    struct fn final : sink_function<T> {
      explicit fn(std::shared_ptr<state> s) : st(std::move(s)) {}
      void open(const connector_context& ctx) override {
        index = ctx.subtask_index;
      }
      void write(std::vector<T>& xs) override {
        std::lock_guard<std::mutex> guard{st->mtx};
        for (auto& x : xs)
          st->seen.emplace_back(x, index);
      }
      std::shared_ptr<state> st;
      uint32_t index = 0;
    };
    auto s = st;
    return {"placement",
            [s](const connector_context&) { return std::make_unique<fn>(s); },
            std::nullopt};
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(local_pipelines)

BOOST_AUTO_TEST_CASE(parallel_chain_produces_the_expected_multiset) {
  constexpr uint64_t n = 200000;
  topology t{"chain"};
  collector<std::string> out;
  t.source(generator(n, [](uint64_t i) { return i; }))
      .parallelism(2)
      .map([](uint64_t i) { return i * 7; })
      .parallelism(3)
      .filter([](uint64_t x) { return x % 2 == 0; })
      .flat_map([](uint64_t x, emitter<std::string>& e) {
        e.emit(std::to_string(x));
        if (x % 3 == 0) e.emit("third " + std::to_string(x));
      })
      .parallelism(2)
      .sink(out.sink());
  auto opts = quiet_options();
  opts.plan.default_parallelism = 2;
  auto r = execute(t, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  std::vector<std::string> expected;
  for (uint64_t i = 0; i < n; ++i) {
    auto x = i * 7;
    if (x % 2 != 0) continue;
    expected.push_back(std::to_string(x));
    if (x % 3 == 0) expected.push_back("third " + std::to_string(x));
  }
  auto got = out.records();
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  BOOST_CHECK_EQUAL(got.size(), expected.size());
  BOOST_CHECK(got == expected);
  BOOST_CHECK_EQUAL(r.find("generator")->records_out, n);
}

BOOST_AUTO_TEST_CASE(hash_partitioning_sends_each_key_to_exactly_one_subtask) {
  topology t{"keys"};
  placement<uint64_t> where;
  auto keyed = t.source(generator(50000, [](uint64_t i) { return i % 1000; }))
                   .parallelism(3)
                   .key_by([](uint64_t x) { return x; });
  auto sink = where.sink();
  sink.parallelism = 4;
  keyed.partitioned().parallelism(4).sink(sink);
  auto r = execute(t, quiet_options());
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  std::map<uint64_t, std::set<uint32_t>> owners;
  for (auto& [key, sub] : where.st->seen)
    owners[key].insert(sub);
  BOOST_CHECK_EQUAL(where.st->seen.size(), 50000u);
  BOOST_CHECK_EQUAL(owners.size(), 1000u);
  std::set<uint32_t> used;
  for (auto& [key, subs] : owners) {
    BOOST_REQUIRE_EQUAL(subs.size(), 1u);
    auto expected = subtask_of_key_group(
        key_group_of(std::hash<uint64_t>{}(key), 128), 128, 4);
    BOOST_CHECK_EQUAL(*subs.begin(), expected);
    used.insert(*subs.begin());
  }
  BOOST_CHECK_EQUAL(used.size(), 4u);
}

BOOST_AUTO_TEST_CASE(random_parallelism_and_batch_size_give_identical_results) {
  BOOST_TEST_MESSAGE("seed " << flow::test::test_seed());
  flow::test::test_random rnd;
  using kv = std::pair<std::string, int64_t>;
  std::vector<kv> reference;
  for (int round = 0; round < 6; ++round) {
    topology t{"wordcount"};
    collector<kv> out;
    t.source(generator(20000,
                       [](uint64_t i) {
                         return "w" + std::to_string(i % 97) + " w" +
                                std::to_string(i % 13);
                       }))
        .parallelism(rnd(1, 3))
        .flat_map([](std::string line, emitter<std::string>& e) {
          auto sp = line.find(' ');
          e.emit(line.substr(0, sp));
          e.emit(line.substr(sp + 1));
        })
        .parallelism(rnd(1, 4))
        .key_by([](const std::string& w) { return w; })
        .aggregate(count())
        .parallelism(rnd(1, 4))
        .sink(out.sink());
    auto opts = quiet_options();
    opts.channels.batch_size = rnd(1, 2048);
    opts.channels.credit_window = rnd(1, 8);
    opts.channels.credit_return = rnd(1, opts.channels.credit_window);
    auto r = execute(t, opts);
    BOOST_REQUIRE_MESSAGE(r.ok, r.error);
    auto got = out.records();
    std::sort(got.begin(), got.end());
    if (round == 0)
      reference = got;
    else
      BOOST_CHECK_MESSAGE(got == reference, "round " << round << " batch "
                                                     << opts.channels.batch_size
                                                     << " differs");
  }
  BOOST_CHECK_EQUAL(reference.size(), 40000u);
}

BOOST_AUTO_TEST_CASE(a_throwing_operator_fails_the_job_with_its_name) {
  topology t{"boom"};
  collector<uint64_t> out;
  t.source(generator(100000, [](uint64_t i) { return i; }))
      .map(
          [](uint64_t i) -> uint64_t {
            if (i == 777) throw std::runtime_error("bad record 777");
            return i;
          },
          "explode")
      .parallelism(2)
      .sink(out.sink());
  auto opts = quiet_options();
  opts.plan.default_parallelism = 2;
  auto r = execute(t, opts);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_MESSAGE(r.error.find("operator 'explode' subtask ") !=
                          std::string::npos,
                      r.error);
  BOOST_CHECK_MESSAGE(r.error.find("bad record 777") != std::string::npos,
                      r.error);
}

BOOST_AUTO_TEST_CASE(slow_sink_keeps_in_flight_batches_within_the_window) {
  constexpr uint64_t n = 1'000'000;
  std::atomic<uint64_t> seen{0};
  struct slow final : sink_function<uint64_t> {
    explicit slow(std::atomic<uint64_t>* s) : seen(s) {}
    void write(std::vector<uint64_t>& xs) override {
      // Far slower per record than the source.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      seen->fetch_add(xs.size());
    }
    std::atomic<uint64_t>* seen;
  };
  topology t{"slow"};
  t.source(generator(n, [](uint64_t i) { return i; }))
      .map([](uint64_t i) { return i; })
      .sink({"slow",
             [&](const connector_context&) {
               return std::make_unique<slow>(&seen);
             },
             1});
  auto opts = quiet_options();
  opts.channels.batch_size = 1000;
  opts.channels.credit_window = 4;
  auto r = execute(t, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(seen.load(), n);
  BOOST_CHECK_LE(r.max_in_flight, 4u);
  for (auto& m : r.subtasks) {
    BOOST_CHECK_LE(m->max_queued_batches.load(), 4u);
    BOOST_CHECK_LE(m->max_pending_batches.load(), 2u);
  }
  // The source really was held back.
  BOOST_CHECK_GT(r.find("generator")->blocked_seconds, 0.0);
}

// A subtask flushes its partial batches when it runs out of work (a
// source between records): nothing waits for a batch to fill. (The flush
// interval bounds the wait of a subtask that never runs idle; its timer is
// decided and tested in subtask_driver.)
BOOST_AUTO_TEST_CASE(partial_batches_of_a_slow_source_arrive_while_it_runs) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> seen{0};
  struct counting final : sink_function<uint64_t> {
    explicit counting(std::atomic<uint64_t>* s) : seen(s) {}
    void write(std::vector<uint64_t>& xs) override {
      seen->fetch_add(xs.size());
    }
    std::atomic<uint64_t>* seen;
  };
  topology t{"trickle"};
  t.source(generator(
               unbounded, [](uint64_t i) { return i; }, "trickle", 200))
      .map([](uint64_t i) { return i; })
      .sink({"count",
             [&](const connector_context&) {
               return std::make_unique<counting>(&seen);
             },
             1});
  auto opts = quiet_options();
  opts.channels.batch_size = 100000; // never filled by 200 records/s
  opts.flush_interval = std::chrono::milliseconds(5);
  // Whether records reached the sink before the stop: no batch fills, so
  // only flushing partial batches sends them then. A graceful stop drains
  // everything, so the count at the end cannot tell.
  std::atomic<bool> arrived_before_stop{false};
  std::thread stopper{[&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (seen.load() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    arrived_before_stop = seen.load() > 0;
    stop = true;
  }};
  auto r = execute(t, opts, &stop);
  stopper.join();
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_MESSAGE(arrived_before_stop.load(),
                      "no record reached the sink within 30 s before the "
                      "stop: partial batches were not flushed");
  // Graceful stop drains: every emitted record reached the sink.
  BOOST_CHECK_EQUAL(seen.load(), r.find("trickle")->records_out);
  BOOST_CHECK_GT(seen.load(), 0u);
}

BOOST_AUTO_TEST_SUITE_END()

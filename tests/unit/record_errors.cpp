// The on-error policy (flow/record_errors.hpp) on the simulator: no actor
// system. Each job throws on known records; the output must be every
// other record, the failing ones skipped or dead-lettered exactly, and
// counted; under fail the error names the exception's type.
#include "flow/record_errors.hpp"
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/join.hpp"
#include "flow/windows.hpp"
#include "seed.hpp"
#include "sim.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

using namespace flow;
using flow::test::sim;

namespace {

/// Dead letters kept in memory, for a job whose settings have
/// `test.dead-letters` (registered below, like the Kafka connector's
/// destination). Its writer acknowledges on the second flushed() call
/// after a write, so tasks stay busy for a while as with a broker.
struct memory_dead_letters final : dead_letter_destination {
  struct writer final : dead_letter_writer {
    explicit writer(const memory_dead_letters& d) : dest(d) {}
    void write(dead_letter d) override {
      std::lock_guard<std::mutex> guard{dest.mutex};
      dest.held.push_back(std::move(d));
      pending = 2;
    }
    bool flushed() override {
      if (pending > 0 && --pending > 0) return false;
      return true;
    }
    const memory_dead_letters& dest;
    int pending = 0;
  };
  std::string key() const override { return "test.dead-letters"; }
  bool configured(const settings_map& s) const override {
    return s.count(key()) > 0;
  }
  std::unique_ptr<dead_letter_writer> open(const task_setup&) const override {
    return std::make_unique<writer>(*this);
  }
  std::vector<dead_letter> take() const {
    std::lock_guard<std::mutex> guard{mutex};
    return std::move(held);
  }
  mutable std::mutex mutex;
  mutable std::vector<dead_letter> held;
};

const auto dead_letters = std::make_shared<memory_dead_letters>();
const bool registered = register_dead_letter_destination(dead_letters);

constexpr uint64_t n_records = 5000;
/// The records every user function below throws on.
bool poison(uint64_t i) {
  return i % 700 == 13;
}
std::vector<uint64_t> poisoned() {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < n_records; ++i)
    if (poison(i)) out.push_back(i);
  return out;
}

struct random_job {
  job_options opts;
  uint32_t parallelism;
};

random_job make_options(std::mt19937_64& rng, on_error policy) {
  random_job j;
  j.opts.status_interval = std::chrono::nanoseconds::zero();
  j.opts.channels.batch_size =
      std::uniform_int_distribution<size_t>(1, 300)(rng);
  j.opts.on_error = policy;
  j.parallelism = std::uniform_int_distribution<uint32_t>(1, 4)(rng);
  if (policy == on_error::dead_letter)
    j.opts.settings["test.dead-letters"] = "on";
  return j;
}

uint64_t total(sim& s, std::atomic<uint64_t> subtask_metrics::*counter) {
  uint64_t n = 0;
  for (size_t i = 0; i < s.size(); ++i)
    n += (s.metrics(i).*counter).load();
  return n;
}

uint64_t decode(const std::string& bytes) {
  uint64_t v = 0;
  BOOST_REQUIRE_EQUAL(bytes.size(), sizeof v);
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

/// The operators under test, each throwing std::invalid_argument on the
/// poisoned records; `expected` is what the sink must get.
enum class shape {
  map_in_place,
  map_update,
  map_to_string,
  filter,
  flat_map,
  reduce
};

void build(topology& t, shape sh, uint32_t p, collector<uint64_t>& out) {
  auto src = t.source(generator(n_records, [](uint64_t i) { return i; }));
  auto check = [](uint64_t i) {
    if (poison(i)) throw std::invalid_argument("poison " + std::to_string(i));
  };
  switch (sh) {
  case shape::map_in_place:
    src.map(
           [check](uint64_t i) {
             check(i);
             return i;
           },
           "f")
        .parallelism(p)
        .sink(out.sink());
    return;
  case shape::map_update:
    // `void f(T&)`: changes the record, then throws on the poisoned ones,
    // so a dead letter must carry the record as it came in, and the
    // others arrive changed (undone by the next map).
    src.map(
           [check](uint64_t& i) {
             i += n_records;
             check(i - n_records);
           },
           "f")
        .parallelism(p)
        .map([](uint64_t i) { return i - n_records; }, "back")
        .sink(out.sink());
    return;
  case shape::map_to_string:
    src.map(
           [check](uint64_t i) {
             check(i);
             return std::to_string(i);
           },
           "f")
        .parallelism(p)
        .map([](const std::string& s) { return uint64_t{std::stoull(s)}; },
             "back")
        .sink(out.sink());
    return;
  case shape::filter:
    src.filter(
           [check](const uint64_t& i) {
             check(i);
             return true;
           },
           "f")
        .parallelism(p)
        .sink(out.sink());
    return;
  case shape::flat_map:
    src.flat_map(
           [check](uint64_t i, emitter<uint64_t>& e) {
             check(i);
             e.emit(i);
           },
           "f")
        .parallelism(p)
        .sink(out.sink());
    return;
  case shape::reduce:
    // Keys are the records themselves: each reduced value is its record.
    src.key_by([](uint64_t i) { return i; })
        .reduce([](const uint64_t& acc,
                   const uint64_t&) -> uint64_t { return acc; },
                "first")
        .map(
            [check](uint64_t i) {
              check(i);
              return i;
            },
            "f")
        .parallelism(p)
        .sink(out.sink());
    return;
  }
}

std::vector<uint64_t> survivors() {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < n_records; ++i)
    if (!poison(i)) out.push_back(i);
  return out;
}

const shape all_shapes[] = {shape::map_in_place,  shape::map_update,
                            shape::map_to_string, shape::filter,
                            shape::flat_map,      shape::reduce};

// map's in-place form is `void f(T&)`: a by-value, const& or forwarding
// parameter could not (or need not) change the record, and a result would
// be lost.
static_assert(detail::updates_in_place_v<void (*)(uint64_t&), uint64_t>);
static_assert(!detail::updates_in_place_v<void (*)(uint64_t), uint64_t>);
static_assert(!detail::updates_in_place_v<void (*)(const uint64_t&), uint64_t>);
static_assert(!detail::updates_in_place_v<int (*)(uint64_t&), uint64_t>);
const auto update_noexcept = [](uint64_t& i) noexcept { ++i; };
static_assert(detail::updates_in_place_v<decltype(update_noexcept), uint64_t>);
const auto value_noexcept = [](uint64_t i) noexcept { return i; };
static_assert(!detail::updates_in_place_v<decltype(value_noexcept), uint64_t>);
const auto update_generic = [](auto& i) { ++i; };
static_assert(detail::updates_in_place_v<decltype(update_generic), uint64_t>);
auto update_mutable = [n = uint64_t{0}](uint64_t& i) mutable { i += n++; };
static_assert(detail::updates_in_place_v<decltype(update_mutable), uint64_t>);
const auto forwarding = [](auto&&) {};
static_assert(!detail::updates_in_place_v<decltype(forwarding), uint64_t>);

} // namespace

BOOST_AUTO_TEST_SUITE(record_errors)

BOOST_AUTO_TEST_CASE(policies_parse_and_print) {
  for (auto p : {on_error::fail, on_error::dead_letter, on_error::skip})
    BOOST_CHECK(parse_on_error(to_string(p)) == p);
  BOOST_CHECK(!parse_on_error("ignore"));
  BOOST_CHECK(job_options::from({{"flow.on-error", "skip"}}).on_error ==
              on_error::skip);
  BOOST_CHECK(job_options{}.on_error == on_error::fail);
  auto bad = option_schema::global().check({{"flow.on-error", "ignore"}});
  BOOST_REQUIRE(bad);
  BOOST_TEST(bad->message().find("flow.on-error = ignore") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(skip_drops_exactly_the_failing_records) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng(seed);
  for (auto sh : all_shapes) {
    auto j = make_options(rng, on_error::skip);
    topology t{"skip"};
    collector<uint64_t> out;
    build(t, sh, j.parallelism, out);
    sim s(t, j.opts, rng());
    s.run();
    auto got = out.records();
    std::sort(got.begin(), got.end());
    BOOST_TEST(got == survivors(), "shape " << int(sh));
    BOOST_TEST(total(s, &subtask_metrics::records_skipped) ==
               poisoned().size());
    BOOST_TEST(dead_letters->take().empty());
  }
}

BOOST_AUTO_TEST_CASE(skip_keeps_the_order_of_the_others) {
  // One subtask per operator: the output is the input minus the poison,
  // in order, whatever the batch size.
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng(seed);
  for (auto sh : {shape::map_in_place, shape::map_update, shape::filter,
                  shape::flat_map}) {
    auto j = make_options(rng, on_error::skip);
    j.opts.plan.default_parallelism = 1;
    topology t{"order"};
    collector<uint64_t> out;
    build(t, sh, 1, out);
    sim s(t, j.opts, rng());
    s.run();
    BOOST_TEST(out.records() == survivors(), "shape " << int(sh));
  }
}

BOOST_AUTO_TEST_CASE(dead_letter_sends_exactly_the_failing_records) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng(seed);
  dead_letters->take();
  for (auto sh : all_shapes) {
    auto j = make_options(rng, on_error::dead_letter);
    topology t{"dead-letter"};
    collector<uint64_t> out;
    build(t, sh, j.parallelism, out);
    sim s(t, j.opts, rng());
    s.run();
    auto got = out.records();
    std::sort(got.begin(), got.end());
    BOOST_TEST(got == survivors(), "shape " << int(sh));
    auto dl = dead_letters->take();
    std::vector<uint64_t> lettered;
    for (auto& d : dl) {
      BOOST_TEST(d.operator_name == "f");
      BOOST_TEST(d.subtask_index < j.parallelism);
      BOOST_TEST(d.exception_type == "std::invalid_argument");
      BOOST_TEST(d.serialized);
      auto v = decode(d.payload); // the input record, a uint64_t
      BOOST_TEST(d.message == "poison " + std::to_string(v));
      lettered.push_back(v);
    }
    std::sort(lettered.begin(), lettered.end());
    BOOST_TEST(lettered == poisoned(), "shape " << int(sh));
    BOOST_TEST(total(s, &subtask_metrics::records_dead_lettered) ==
               poisoned().size());
    BOOST_TEST(total(s, &subtask_metrics::records_skipped) == 0u);
  }
}

BOOST_AUTO_TEST_CASE(fail_names_operator_and_exception_type) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng(seed);
  for (auto sh : all_shapes) {
    auto j = make_options(rng, on_error::fail);
    topology t{"fail"};
    collector<uint64_t> out;
    build(t, sh, j.parallelism, out);
    sim s(t, j.opts, rng());
    try {
      s.run();
      BOOST_FAIL("the job should fail");
    } catch (const std::exception& e) {
      std::string what = e.what();
      BOOST_TEST(what.find("operator 'f' subtask") != std::string::npos, what);
      BOOST_TEST(what.find("std::invalid_argument: poison") !=
                     std::string::npos,
                 what);
    }
  }
}

BOOST_AUTO_TEST_CASE(operator_policy_overrides_the_job_default) {
  // The job fails by default; the one operator that skips goes on.
  job_options opts;
  opts.status_interval = std::chrono::nanoseconds::zero();
  topology t{"override"};
  collector<uint64_t> out;
  t.source(generator(n_records, [](uint64_t i) { return i; }))
      .map(
          [](uint64_t i) {
            if (poison(i)) throw 42;
            return i;
          },
          "f")
      .on_error(on_error::skip)
      .sink(out.sink());
  sim s(t, opts, flow::test::test_seed());
  s.run();
  BOOST_TEST(out.records() == survivors());
  BOOST_TEST(total(s, &subtask_metrics::records_skipped) == poisoned().size());
}

BOOST_AUTO_TEST_CASE(window_function_failures_drop_their_window) {
  // Tumbling count windows of 10 records per key; the window function
  // throws for the windows holding a poisoned record.
  for (auto policy : {on_error::skip, on_error::dead_letter}) {
    job_options opts;
    opts.status_interval = std::chrono::nanoseconds::zero();
    opts.on_error = policy;
    opts.settings["test.dead-letters"] = "on";
    dead_letters->take();
    topology t{"windows"};
    collector<uint64_t> out;
    t.source(generator(1000, [](uint64_t i) { return i; }))
        .key_by([](uint64_t) { return 0; })
        .window(counting(10))
        .process(
            [](const int&, const window&, const std::vector<uint64_t>& xs,
               std::vector<uint64_t>& e) {
              for (auto x : xs)
                if (poison(x)) throw std::runtime_error("poisoned window");
              e.push_back(xs.front());
            },
            "win")
        .sink(out.sink());
    sim s(t, opts, flow::test::test_seed());
    s.run();
    // Windows start at 0, 10, ...: 13 and 713 are in the windows of 10
    // and 710.
    auto got = out.records();
    std::sort(got.begin(), got.end());
    std::vector<uint64_t> expected;
    for (uint64_t w = 0; w < 1000; w += 10)
      if (w != 10 && w != 710) expected.push_back(w);
    BOOST_TEST(got == expected);
    auto dl = dead_letters->take();
    if (policy == on_error::dead_letter) {
      BOOST_REQUIRE_EQUAL(dl.size(), 2u);
      BOOST_TEST(dl[0].payload.find("window [") == 0);
      BOOST_TEST(dl[0].message == "poisoned window");
    } else {
      BOOST_TEST(dl.empty());
      BOOST_TEST(total(s, &subtask_metrics::records_skipped) == 2u);
    }
  }
}

BOOST_AUTO_TEST_CASE(join_function_failures_drop_their_pair) {
  // A table of 10 keys, a stream of n_records joined with it; the join
  // function throws on the poisoned stream records.
  using kv = std::pair<uint64_t, uint64_t>;
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng(seed);
  auto j = make_options(rng, on_error::skip);
  topology t{"join"};
  auto key = [](const kv& x) { return x.first; };
  auto stream =
      t.source(generator(n_records,
                         [](uint64_t i) {
                           return kv{i % 10, i};
                         }))
          .assign_timestamps(
              [](const kv& x) { return static_cast<int64_t>(x.second); }, 0)
          .key_by(key);
  auto table = t.source(generator(
                            10,
                            [](uint64_t k) {
                              return kv{k, 100 * k};
                            },
                            "table"))
                   .key_by(key);
  collector<kv> out;
  join_table(
      stream, table,
      [](const kv& x, const kv& y) {
        if (poison(x.second)) throw std::domain_error("bad pair");
        return kv{x.second, y.second};
      },
      time_domain::event, "join")
      .parallelism(j.parallelism)
      .sink(out.sink());
  sim s(t, j.opts, rng());
  s.run();
  std::vector<kv> want;
  for (auto i : survivors())
    want.push_back({i, 100 * (i % 10)});
  auto got = out.records();
  std::sort(got.begin(), got.end());
  BOOST_CHECK(got == want);
  BOOST_TEST(total(s, &subtask_metrics::records_skipped) == poisoned().size());
}

BOOST_AUTO_TEST_CASE(sinks_apply_the_policy_to_records_they_cannot_write) {
  // A sink that cannot write odd records reports them through
  // connector_context::errors, as the Kafka sink does.
  struct picky final : sink_function<uint64_t> {
    explicit picky(std::shared_ptr<std::vector<uint64_t>> o)
        : out(std::move(o)) {}
    void open(const connector_context& ctx) override { errors = ctx.errors; }
    void write(std::vector<uint64_t>& xs) override {
      for (auto& x : xs) {
        try {
          if (x % 2) throw std::length_error("odd record");
          out->push_back(x);
        } catch (...) {
          errors->on_failure(&x);
        }
      }
    }
    std::shared_ptr<std::vector<uint64_t>> out;
    record_error_handler* errors = nullptr;
  };
  auto written = std::make_shared<std::vector<uint64_t>>();
  job_options opts;
  opts.status_interval = std::chrono::nanoseconds::zero();
  opts.settings["test.dead-letters"] = "on";
  dead_letters->take();
  topology t{"sink"};
  t.source(generator(100, [](uint64_t i) { return i; }))
      .sink(sink_spec<uint64_t>{"picky",
                                [written](const connector_context&) {
                                  return std::make_unique<picky>(written);
                                }})
      .on_error(on_error::dead_letter);
  sim s(t, opts, flow::test::test_seed());
  s.run();
  BOOST_TEST(written->size() == 50u);
  auto dl = dead_letters->take();
  BOOST_REQUIRE_EQUAL(dl.size(), 50u);
  for (auto& d : dl) {
    BOOST_TEST(d.operator_name == "picky");
    BOOST_TEST(d.exception_type == "std::length_error");
    BOOST_TEST(decode(d.payload) % 2 == 1u);
  }
}

BOOST_AUTO_TEST_CASE(dead_letter_needs_a_configured_destination) {
  topology t{"check"};
  collector<uint64_t> out;
  t.source(generator(10, [](uint64_t i) { return i; }))
      .map([](uint64_t i) { return i; }, "f")
      .on_error(on_error::dead_letter)
      .sink(out.sink());
  job_options opts;
  auto e = check_error_policies(t, opts);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->key == "test.dead-letters");
  BOOST_TEST(e->message().find("operator 'f' has on-error dead-letter") !=
             std::string::npos);
  opts.settings["test.dead-letters"] = "on";
  BOOST_TEST(!check_error_policies(t, opts));

  topology plain{"plain"};
  plain.source(generator(10, [](uint64_t i) { return i; })).sink(out.sink());
  job_options dl;
  dl.on_error = on_error::dead_letter;
  auto e2 = check_error_policies(plain, dl);
  BOOST_REQUIRE(e2);
  BOOST_TEST(e2->message().find("(flow.on-error)") != std::string::npos);
  BOOST_TEST(!check_error_policies(plain, job_options{}));
}

BOOST_AUTO_TEST_SUITE_END()

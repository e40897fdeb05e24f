// Starting offsets: earliest, latest, timestamp, committed, explicit.
#include "fixture.hpp"

#include "flow/collection.hpp"
#include "flow/run.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

constexpr int64_t base_ts = 1700000000000; // ms

/// Records "0".."n-1" with timestamps base_ts + 1000 * i, value = i + first.
std::vector<producer_record> numbered(int first, int n) {
  std::vector<producer_record> rs;
  for (int i = first; i < first + n; ++i) {
    producer_record r;
    r.key = "k" + std::to_string(i);
    r.value = std::to_string(i);
    r.timestamp = base_ts + 1000 * i;
    rs.push_back(std::move(r));
  }
  return rs;
}

std::vector<int64_t> sorted(std::vector<int64_t> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

std::vector<int64_t> range(int from, int to) {
  std::vector<int64_t> xs;
  for (int i = from; i < to; ++i)
    xs.push_back(i);
  return xs;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_start_offset, fixture)

BOOST_AUTO_TEST_CASE(a_table_source_reads_from_earliest_whatever_the_setting) {
  // kafka.start-offset = latest: the plain source reads nothing, the
  // table's changelog all of it (issue 13: a table started at the
  // committed or latest offset is empty, and every join misses).
  auto in = make_topic("table-earliest", 2);
  produce(in, numbered(0, 50));
  flow::collector<int64_t> plain, table;
  flow::topology t{"table-earliest"};
  source_options a, b;
  a.name = "plain";
  b.name = "table";
  t.source(source<int64_t>(in, a)).sink(plain.sink("p"));
  t.source(table_source<int64_t>(in, b)).sink(table.sink("t"));
  auto res =
      flow::runtime::execute(t, options(2, {{"kafka.start-offset", "latest"}}));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(plain.records().empty());
  BOOST_TEST(sorted(table.records()) == range(0, 50),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(earliest_reads_everything) {
  auto in = make_topic("earliest", 2);
  produce(in, numbered(0, 100));
  flow::collector<int64_t> c;
  flow::topology t{"earliest"};
  t.source(source<int64_t>(in)).sink(c.sink());
  auto res = flow::runtime::execute(
      t, options(2, {{"kafka.start-offset", "earliest"}}));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(sorted(c.records()) == range(0, 100),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(timestamp_starts_at_first_record_at_or_after) {
  auto in = make_topic("timestamp", 2);
  produce(in, numbered(0, 100));
  flow::collector<int64_t> c;
  flow::topology t{"timestamp"};
  t.source(source<int64_t>(in)).sink(c.sink());
  auto res = flow::runtime::execute(
      t, options(2, {{"kafka.start-offset",
                      "timestamp:" + std::to_string(base_ts + 60000 - 500)}}));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(sorted(c.records()) == range(60, 100),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(explicit_offsets_per_partition) {
  auto in = make_topic("explicit", 1);
  produce(in, numbered(0, 50));
  flow::collector<int64_t> c;
  flow::topology t{"explicit"};
  t.source(source<int64_t>(in)).sink(c.sink());
  auto res = flow::runtime::execute(
      t, options(1, {{"kafka.start-offset", "offsets:0=45"}}));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(sorted(c.records()) == range(45, 50),
             boost::test_tools::per_element());
}

// An explicit offset the topic cannot honour is a configuration error:
// the job fails at open with exit code 2, naming the option.
BOOST_AUTO_TEST_CASE(explicit_offsets_the_topic_does_not_have_exit_2) {
  auto in = make_topic("explicit-bad", 2);
  produce(in, numbered(0, 10));
  for (auto bad : {"offsets:7=0", "offsets:0=100000"}) {
    flow::topology t{"explicit-bad"};
    t.source(source<int64_t>(in)).sink(flow::collector<int64_t>{}.sink());
    auto res =
        flow::runtime::execute(t, options(2, {{"kafka.start-offset", bad}}));
    BOOST_TEST(!res.ok, bad);
    BOOST_TEST(res.bad_config, bad);
    BOOST_TEST(res.error.find("kafka.start-offset") != std::string::npos,
               res.error);
    BOOST_TEST(flow::runtime::report("explicit-bad", res) ==
               flow::exit_bad_config);
  }
}

BOOST_AUTO_TEST_CASE(latest_reads_only_new_records) {
  auto in = make_topic("latest", 2);
  produce(in, numbered(0, 100));
  flow::collector<int64_t> c;
  flow::topology t{"latest"};
  t.source(source<int64_t>(in)).sink(c.sink());
  std::atomic<bool> stop{false};
  flow::runtime::job_result res;
  std::thread job{[&] {
    res = flow::runtime::execute(t,
                                 options(2, {{"kafka.start-offset", "latest"},
                                             {"kafka.stop-at-end", "false"}}),
                                 &stop);
  }};
  // The readers resolve "latest" when they open, which the test cannot
  // see: it produces a probe to each partition (-1 to partition 0, -2 to
  // partition 1) until one of each arrived, so both readers are open
  // before the records that count are produced.
  auto has_probes = [&] {
    bool p0 = false, p1 = false;
    for (auto x : c.records()) {
      p0 = p0 || x == -1;
      p1 = p1 || x == -2;
    }
    return p0 && p1;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  {
    topic_producer writer{settings, in};
    while (!has_probes() && std::chrono::steady_clock::now() < deadline) {
      for (int32_t p = 0; p < 2; ++p) {
        producer_record r;
        r.partition = p;
        r.value = std::to_string(-1 - p);
        writer.produce(r);
      }
      writer.flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  bool opened = has_probes();
  auto new_records = [&] {
    std::vector<int64_t> xs;
    for (auto x : c.records())
      if (x >= 0) xs.push_back(x);
    return xs;
  };
  if (opened) {
    produce(in, numbered(100, 20));
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (new_records().size() < 20 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  stop = true;
  job.join();
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_REQUIRE_MESSAGE(opened, "no probe of each partition arrived within "
                                "60 s: the readers did not open");
  // Only the records produced after the readers opened, never the
  // preloaded 0..99.
  BOOST_TEST(sorted(new_records()) == range(100, 120),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(committed_resumes_after_the_last_delivered) {
  auto in = make_topic("committed-in", 2);
  auto out = make_topic("committed-out", 2);
  auto group = unique("group");
  produce(in, numbered(0, 100));
  auto run = [&] {
    flow::topology t{"committed"};
    t.source(source<int64_t>(in)).sink(sink<int64_t>(out));
    return flow::runtime::execute(
        t, options(2, {{"kafka.start-offset", "committed"},
                       {"kafka.group-id", group}}));
  };
  // No commit yet: starts at the earliest record.
  auto first = run();
  BOOST_REQUIRE_MESSAGE(first.ok, first.error);
  auto committed = adm.committed(group, in);
  int64_t total = 0;
  for (auto& [p, o] : committed)
    total += o;
  BOOST_TEST(total == 100); // the ends of both partitions
  produce(in, numbered(100, 30));
  auto second = run();
  BOOST_REQUIRE_MESSAGE(second.ok, second.error);
  std::vector<int64_t> got;
  for (auto& r : read_all(out))
    got.push_back(std::stoll(r.value));
  // Each input exactly once over both runs.
  BOOST_TEST(sorted(got) == range(0, 130), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(no_commit_when_the_job_fails) {
  auto in = make_topic("nocommit-in", 1);
  auto out = make_topic("nocommit-out", 1);
  auto group = unique("group");
  produce(in, numbered(0, 10));
  flow::topology t{"fails"};
  t.source(source<int64_t>(in))
      .map([](int64_t x) {
        if (x == 9) throw std::runtime_error("boom");
        return x;
      })
      .sink(sink<int64_t>(out));
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.start-offset", "committed"},
                                            {"kafka.group-id", group}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(adm.committed(group, in).empty());
}

BOOST_AUTO_TEST_SUITE_END()

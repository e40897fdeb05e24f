// Rescaling on restore with Kafka: examples/wordcount (Kafka lines ->
// split -> shuffle by word -> keyed running count -> Kafka) stopped with a
// savepoint (SIGTERM, flow.savepoint-on-stop) at parallelism 2, resumed
// from it at parallelism 3, stopped with a savepoint again, resumed at
// parallelism 1, and so on back to 2, with more input before each run. A stop
// with a savepoint leaves nothing after the barrier to process again, so the
// check is exact: every word's counts in the output topic are 1, 2, ..., its
// true count, each once and in order, over the three runs (nothing lost, no
// partition read twice or skipped by the new assignment, no key group
// restored twice or dropped).
#include "../unit/seed.hpp"
#include "child_process.hpp"
#include "fixture.hpp"

#include "flow/checkpoint/store.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;
namespace fs = std::filesystem;

namespace {

/// `n` lines of words from a small vocabulary; adds the counts to `counts`.
std::vector<producer_record> lines(std::mt19937_64& rng, size_t n,
                                   std::map<std::string, int64_t>& counts) {
  std::vector<producer_record> out;
  for (size_t i = 0; i < n; ++i) {
    std::string line;
    for (auto w = 1 + rng() % 5; w > 0; --w) {
      auto word = "w" + std::to_string(rng() % 97);
      ++counts[word];
      line += word + " ";
    }
    producer_record r;
    r.value = line;
    out.push_back(std::move(r));
  }
  return out;
}

/// Every count of each word in the output topic, in order.
std::map<std::string, std::vector<int64_t>>
counts_in(fixture& f, const std::string& topic) {
  std::map<std::string, std::vector<int64_t>> out;
  for (auto& r : f.read_all(topic)) {
    BOOST_REQUIRE(r.key);
    out[*r.key].push_back(std::stoll(r.value));
  }
  return out;
}

bool reached(const std::map<std::string, std::vector<int64_t>>& got,
             const std::map<std::string, int64_t>& want) {
  for (auto& [w, c] : want) {
    auto i = got.find(w);
    if (i == got.end() || i->second.empty() || i->second.back() < c)
      return false;
  }
  return true;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_rescale, fixture)

BOOST_AUTO_TEST_CASE(a_savepoint_of_parallelism_2_resumes_at_3_and_at_1) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  // 6 partitions: 2, 3 and 1 subtasks read different sets of them.
  auto lines_topic = make_topic("rescale-lines", 6);
  auto counts_topic = make_topic("rescale-counts", 3);
  auto dir = fs::temp_directory_path() / unique("flow-rescale");
  fs::remove_all(dir);
  std::map<std::string, int64_t> expected;
  std::string restore = "none";

  for (uint32_t parallelism : {2u, 3u, 1u}) {
    // Input produced before the run, and more while it runs, so that the
    // savepoint may fall in the middle of it.
    produce(lines_topic, lines(rng, 20000, expected));
    std::vector<std::string> cmd{FLOW_WORDCOUNT,
                                 "--kafka.bootstrap=" + settings.bootstrap,
                                 "--flow.parallelism=" +
                                     std::to_string(parallelism),
                                 "--flow.status-interval=0s",
                                 "--flow.checkpoint-dir=" + dir.string(),
                                 "--flow.savepoint-on-stop=true",
                                 "--flow.restore=" + restore,
                                 "--wordcount.input=" + lines_topic,
                                 "--wordcount.output=" + counts_topic};
    std::ostringstream shown;
    for (auto& a : cmd)
      shown << a << ' ';
    BOOST_TEST_MESSAGE(shown.str());
    auto written_before = read_stable(counts_topic).size();
    child job{cmd};
    produce(lines_topic, lines(rng, 5000, expected));
    // Stopped once it writes counts (so it runs, its stop handler
    // installed: a SIGTERM before that ends it with 143), then at a seeded
    // moment: the savepoint is taken wherever it stands.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (read_stable(counts_topic).size() == written_before &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    BOOST_REQUIRE_MESSAGE(read_stable(counts_topic).size() > written_before,
                          "the job wrote no counts within 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 800));
    job.signal(SIGTERM);
    BOOST_REQUIRE_EQUAL(job.wait(), 0);
    flow::checkpoint::store store{dir, 3};
    auto sp = store.latest();
    BOOST_REQUIRE(sp);
    BOOST_REQUIRE(sp->metadata.savepoint());
    BOOST_CHECK_EQUAL(sp->metadata.key_groups(), 128u);
    BOOST_TEST_MESSAGE("parallelism " << parallelism << ": savepoint "
                                      << sp->id().value() << " in "
                                      << sp->dir.string());
    restore = sp->dir.string();
  }

  // A last run, at parallelism 2 again, from the last savepoint counts
  // the rest and is stopped once every count is there.
  std::vector<std::string> cmd{FLOW_WORDCOUNT,
                               "--kafka.bootstrap=" + settings.bootstrap,
                               "--flow.parallelism=2",
                               "--flow.status-interval=0s",
                               "--flow.restore=" + restore,
                               "--wordcount.input=" + lines_topic,
                               "--wordcount.output=" + counts_topic};
  child job{cmd};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (!reached(counts_in(*this, counts_topic), expected) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  job.signal(SIGTERM);
  BOOST_CHECK_EQUAL(job.wait(), 0);

  auto got = counts_in(*this, counts_topic);
  BOOST_REQUIRE_EQUAL(got.size(), expected.size());
  size_t exact = 0;
  for (auto& [w, c] : expected) {
    std::vector<int64_t> want(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i)
      want[static_cast<size_t>(i)] = i + 1;
    BOOST_TEST_CONTEXT("word " << w) {
      BOOST_CHECK_EQUAL(got[w].size(), want.size());
      BOOST_CHECK(got[w] == want);
    }
    exact += got[w] == want;
  }
  BOOST_TEST_MESSAGE(exact << " of " << expected.size()
                           << " words counted exactly once each");
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

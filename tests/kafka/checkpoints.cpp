// Recovery from checkpoints on one node: examples/wordcount (Kafka ->
// keyed running count -> Kafka, unbounded) with checkpoints, killed with
// SIGKILL at a seeded random moment after its first complete checkpoint
// while input is being produced, then started again with the same
// command. The output is at-least-once: records after the last checkpoint
// are counted again by the restarted job, so its topic holds duplicates,
// but the last count of every word must be its true count (state neither
// lost nor counted twice).
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

/// Lines of words from a small vocabulary, and the true count per word.
struct lines_and_counts {
  std::vector<producer_record> lines;
  std::map<std::string, int64_t> counts;
};

lines_and_counts make_lines(std::mt19937_64& rng, size_t n) {
  lines_and_counts out;
  for (size_t i = 0; i < n; ++i) {
    std::string line;
    for (auto w = rng() % 6; w > 0; --w) {
      auto word = "w" + std::to_string(rng() % 61);
      ++out.counts[word];
      line += word + " ";
    }
    producer_record r;
    r.value = line;
    out.lines.push_back(std::move(r));
  }
  return out;
}

/// The last and the highest count per word in the counts topic (a word's
/// records are in one partition, in order).
struct observed {
  std::map<std::string, int64_t> last;
  std::map<std::string, int64_t> highest;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_checkpoints, fixture)

BOOST_AUTO_TEST_CASE(a_job_killed_anywhere_resumes_from_its_checkpoint) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  auto lines_topic = make_topic("checkpoint-lines", 3);
  auto counts_topic = make_topic("checkpoint-counts", 3);
  auto dir = fs::temp_directory_path() / unique("flow-checkpoints");
  fs::remove_all(dir);

  // Input in 20 slices: the first before the job starts, the others while
  // it runs, killed and restarted.
  constexpr size_t slices = 20;
  std::vector<std::vector<producer_record>> input(slices);
  std::map<std::string, int64_t> expected;
  for (auto& slice : input) {
    auto part = make_lines(rng, 5000);
    slice = std::move(part.lines);
    for (auto& [w, c] : part.counts)
      expected[w] += c;
  }
  produce(lines_topic, input[0]);

  std::vector<std::string> cmd{
      FLOW_WORDCOUNT,
      "--kafka.bootstrap=" + settings.bootstrap,
      "--flow.parallelism=2",
      "--flow.status-interval=0s",
      "--flow.checkpoint-interval=" + std::to_string(50 + rng() % 200) + "ms",
      "--flow.checkpoint-dir=" + dir.string(),
      "--wordcount.input=" + lines_topic,
      "--wordcount.output=" + counts_topic};
  std::ostringstream shown;
  for (auto& a : cmd)
    shown << a << ' ';
  BOOST_TEST_MESSAGE(shown.str());

  {
    child job{cmd};
    flow::checkpoint::store store{dir, 3};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (store.completed().empty() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    BOOST_REQUIRE_MESSAGE(!store.completed().empty(),
                          "no checkpoint completed within 60 s");
    // Killed while slices arrive: after a seeded number of them and a
    // seeded delay.
    auto kill_after = 1 + rng() % (slices - 2);
    auto delay = std::chrono::milliseconds(rng() % 400);
    for (size_t i = 1; i <= kill_after; ++i)
      produce(lines_topic, input[i]);
    std::this_thread::sleep_for(delay);
    job.signal(SIGKILL);
    BOOST_CHECK_EQUAL(job.wait(), 128 + SIGKILL);
    BOOST_TEST_MESSAGE("killed after slice " << kill_after << " + "
                                             << delay.count() << " ms; "
                                             << store.completed().size()
                                             << " checkpoints retained, latest "
                                             << store.completed().back());
    for (size_t i = kill_after + 1; i < slices; ++i)
      produce(lines_topic, input[i]);
  }

  // The same command again: it restores the latest checkpoint and goes on
  // until the counts are complete, then stops gracefully (SIGTERM).
  child job{cmd};
  auto read = [&] {
    observed o;
    for (auto& r : read_all(counts_topic)) {
      BOOST_REQUIRE(r.key);
      int64_t c = std::stoll(r.value);
      o.last[*r.key] = c;
      o.highest[*r.key] = std::max(o.highest[*r.key], c);
    }
    return o;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (read().last != expected && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  job.signal(SIGTERM);
  BOOST_CHECK_EQUAL(job.wait(), 0);
  auto got = read();
  BOOST_CHECK(got.last == expected);    // nothing lost, nothing counted twice
  BOOST_CHECK(got.highest == expected); // no count ever went past the truth
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

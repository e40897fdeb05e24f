// examples/wordcount over real topics: seeded random lines into a topic,
// the wordcount binary run with --wordcount.input/--wordcount.output, and
// the output topic's latest count per word compared with counts computed
// here from the same lines.
#include "../unit/seed.hpp"
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_wordcount, fixture)

BOOST_AUTO_TEST_CASE(counts_of_a_topic_match_a_reference_count) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  auto lines_topic = make_topic("wordcount-lines", 3);
  auto counts_topic = make_topic("wordcount-counts", 3);

  // Words of a skewed vocabulary, separated by one or two spaces; some
  // lines are empty.
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 200; ++i)
    vocabulary.push_back("w" + std::to_string(i * i % 997));
  std::map<std::string, int64_t> expected;
  uint64_t words = 0;
  std::vector<producer_record> lines;
  for (int i = 0; i < 20000; ++i) {
    std::string line;
    for (auto n = rng() % 9; n > 0; --n) {
      // Two words in three from the first seven: a skewed distribution.
      auto r = rng();
      auto& w =
          r % 3 != 0 ? vocabulary[r % 7] : vocabulary[r % vocabulary.size()];
      line += w + (rng() % 4 == 0 ? "  " : " ");
    }
    std::istringstream split{line};
    for (std::string w; split >> w;) {
      ++expected[w];
      ++words;
    }
    producer_record r;
    r.value = line;
    lines.push_back(std::move(r));
  }
  produce(lines_topic, lines);

  auto cmd =
      std::string(FLOW_WORDCOUNT) + " --kafka.bootstrap=" + settings.bootstrap +
      " --kafka.stop-at-end=true --flow.parallelism=2"
      " --flow.status-interval=0s --flow.http-port=0 --wordcount.input=" +
      lines_topic + " --wordcount.output=" + counts_topic;
  BOOST_TEST_MESSAGE(cmd);
  BOOST_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);

  // One running count per input word; a word's updates are in one
  // partition, in order: its last record holds its total.
  auto out = read_all(counts_topic);
  BOOST_CHECK_EQUAL(out.size(), words);
  std::map<std::string, int64_t> got;
  for (auto& r : out) {
    BOOST_REQUIRE(r.key);
    got[*r.key] = std::stoll(r.value);
  }
  BOOST_CHECK(got == expected);
  BOOST_TEST_MESSAGE(words << " words, " << expected.size() << " distinct");
}

BOOST_AUTO_TEST_SUITE_END()

// examples/ysb over real topics, checked from outside: seeded random ad
// events (text lines, a few malformed) and an ad -> campaign table are
// produced here, the ysb binary is run with --ysb.input/--ysb.ads/
// --ysb.output, and the window counts in the output topic are compared
// with counts computed here from the same events. The malformed lines
// must be in the dead-letter topic, and nowhere else.
#include "../unit/seed.hpp"
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_ysb, fixture)

BOOST_AUTO_TEST_CASE(window_counts_in_the_output_topic_match_a_reference) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  auto events_topic = make_topic("ysb-events", 3);
  auto ads_topic = make_topic("ysb-ads", 2);
  auto counts_topic = make_topic("ysb-counts", 2);

  // 40 ads in 7 campaigns of uneven size; ad 39 has no campaign (its views
  // join nothing and are counted nowhere).
  std::map<uint32_t, uint32_t> campaign_of;
  std::vector<producer_record> ads;
  for (uint32_t ad = 0; ad < 39; ++ad) {
    campaign_of[ad] = static_cast<uint32_t>(rng() % 7) + 100;
    producer_record r;
    r.key = std::to_string(ad);
    r.value = std::to_string(campaign_of[ad]);
    ads.push_back(std::move(r));
  }
  produce(ads_topic, ads);

  // Event time moves forward with the index and each event is up to
  // 400 ms late (inside ysb's 500 ms bound): no event is behind the
  // watermark, so every view is counted.
  constexpr int64_t window_ms = 10'000;
  const char* types[] = {"view", "click", "purchase"};
  std::map<std::pair<uint32_t, int64_t>, int64_t> expected;
  std::set<std::string> malformed;
  std::vector<producer_record> events;
  for (int64_t i = 0; i < 30000; ++i) {
    producer_record r;
    auto ad = static_cast<uint32_t>(rng() % 40);
    r.key = std::to_string(ad);
    if (i % 997 == 5) {
      r.value = "malformed-" + std::to_string(i) + ",no,fields";
      malformed.insert(r.value);
    } else {
      auto type = rng() % 3;
      auto time = 1'700'000'000'000 + i * 3 - static_cast<int64_t>(rng() % 400);
      r.value = std::to_string(rng() % 1000) + ',' + std::to_string(i % 77) +
                ',' + std::to_string(ad) + ",banner," + types[type] + ',' +
                std::to_string(time);
      if (type == 0 && campaign_of.count(ad))
        ++expected[{campaign_of[ad], time - time % window_ms}];
    }
    events.push_back(std::move(r));
  }
  produce(events_topic, events);

  auto cmd = std::string(FLOW_YSB) +
             " --kafka.bootstrap=" + settings.bootstrap +
             " --kafka.stop-at-end=true --flow.parallelism=2"
             " --flow.status-interval=0s --flow.http-port=0 --ysb.input=" +
             events_topic + " --ysb.ads=" + ads_topic +
             " --ysb.output=" + counts_topic;
  BOOST_TEST_MESSAGE(cmd);
  BOOST_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);

  std::map<std::pair<uint32_t, int64_t>, int64_t> got;
  size_t duplicates = 0;
  for (auto& r : read_all(counts_topic)) {
    uint32_t campaign = 0;
    long long start = 0, count = 0;
    BOOST_REQUIRE_EQUAL(
        std::sscanf(r.value.c_str(), "%u,%lld,%lld", &campaign, &start, &count),
        3);
    BOOST_TEST(r.key.value_or("") == std::to_string(campaign));
    if (!got.emplace(std::make_pair(campaign, start), count).second)
      ++duplicates;
  }
  BOOST_TEST(duplicates == 0u);
  BOOST_TEST(got.size() == expected.size());
  BOOST_CHECK(got == expected);

  std::set<std::string> dead;
  for (auto& r : read_all(events_topic + ".dlq"))
    dead.insert(r.value);
  BOOST_CHECK(dead == malformed);
  BOOST_TEST_MESSAGE(expected.size() << " campaign windows, "
                                     << malformed.size() << " malformed");
}

// The feed: ysb writes its generated events and ad table into new topics,
// runs the job over them and checks every window count against its
// generator (exit 1 on a difference); the output topic holds one record
// per campaign window.
BOOST_AUTO_TEST_CASE(the_feed_fills_new_topics_and_the_counts_check) {
  auto events_topic = unique("ysb-feed-events");
  auto ads_topic = unique("ysb-feed-ads");
  auto counts_topic = unique("ysb-feed-counts");
  auto cmd = std::string(FLOW_YSB) +
             " --kafka.bootstrap=" + settings.bootstrap +
             " --kafka.stop-at-end=true --flow.parallelism=2"
             " --flow.status-interval=0s --flow.http-port=0 --ysb.events=300000"
             " --ysb.campaigns=20 --ysb.feed=true --ysb.input=" +
             events_topic + " --ysb.ads=" + ads_topic +
             " --ysb.output=" + counts_topic;
  BOOST_TEST_MESSAGE(cmd);
  BOOST_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);
  // 300000 events over 3 s of event time: one 10 s window (or two) per
  // campaign.
  auto out = read_all(counts_topic);
  std::set<std::string> campaigns;
  for (auto& r : out)
    campaigns.insert(r.key.value_or(""));
  BOOST_TEST(campaigns.size() == 20u);
  BOOST_TEST(out.size() >= 20u);
  BOOST_TEST(out.size() <= 40u);
}

BOOST_AUTO_TEST_SUITE_END()

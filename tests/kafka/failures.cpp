// Failures surface as job failures naming operator and cause, in bounded
// time: broker down at start, unknown topic, a record the broker refuses.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_failures, fixture)

BOOST_AUTO_TEST_CASE(broker_down_at_start_fails_within_timeout) {
  flow::topology t{"down"};
  t.source(source<std::string>("anything")).sink(sink<std::string>("other"));
  auto opts = options(
      1, {{"kafka.bootstrap", "127.0.0.1:1"}, {"kafka.timeout-ms", "2000"}});
  auto t0 = std::chrono::steady_clock::now();
  auto res = flow::runtime::execute(t, opts);
  auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_TEST(!res.ok);
  BOOST_TEST(secs < 10.0);
  BOOST_TEST(res.error.find("broker_unreachable") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("127.0.0.1:1") != std::string::npos, res.error);
  BOOST_TEST_MESSAGE("failed after " << secs << " s: " << res.error);
}

BOOST_AUTO_TEST_CASE(unknown_topic_fails_clearly) {
  auto missing = unique("missing");
  flow::topology t{"missing"};
  t.source(source<std::string>(missing))
      .sink(sink<std::string>(missing + "-out"));
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.timeout-ms", "5000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("unknown_topic") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(missing) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(sink_to_a_missing_topic_fails_and_does_not_create_it) {
  auto in = make_topic("to-missing-in", 1);
  produce(in, std::vector<producer_record>(3));
  auto missing = unique("missing-out");
  flow::topology t{"missing-out"};
  t.source(source<std::string>(in)).sink(sink<std::string>(missing));
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.timeout-ms", "5000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("unknown_topic") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(missing) != std::string::npos, res.error);
  // The same command must fail again: nothing created the topic.
  BOOST_CHECK_THROW(adm.partitions(missing), kafka_error);
}

BOOST_AUTO_TEST_CASE(refused_record_fails_the_job_loudly) {
  // The topic takes records up to its max.message.bytes (the broker's 1
  // MiB by default); the client would be allowed to send more, but the
  // sink knows the topic's limit and, under the default on-error policy
  // (fail), fails the job naming the record's size and the topic.
  auto in = make_topic("big-in", 1);
  auto out = make_topic("big-out", 1);
  std::vector<producer_record> rs(2);
  rs[0].value = "small";
  rs[1].value = "big";
  produce(in, rs);
  flow::topology t{"refused"};
  t.source(source<std::string>(in))
      .map([](std::string s) {
        return s == "big" ? std::string(3 << 20, 'x') : s;
      })
      .sink(sink<std::string>(out));
  auto res = flow::runtime::execute(
      t,
      options(1, {{"kafka.properties", "message.max.bytes=10000000,retries=2"},
                  {"kafka.delivery-timeout-ms", "10000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("std::length_error: record of 3145728 bytes") !=
                 std::string::npos,
             res.error);
  BOOST_TEST(res.error.find(out) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(bad_setting_is_rejected_naming_the_key) {
  flow::topology t{"bad"};
  t.source(source<std::string>("x")).sink(sink<std::string>("y"));
  auto res = flow::runtime::execute(
      t, options(1, {{"kafka.start-offset", "yesterday"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("kafka.start-offset") != std::string::npos,
             res.error);
}

BOOST_AUTO_TEST_SUITE_END()

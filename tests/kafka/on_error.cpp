// The on-error policy on a real broker: a user function that throws on
// known records, under dead-letter (the dead-letter topic holds exactly
// those records, with operator, subtask, exception and source headers),
// skip (dropped and counted) and fail (the error names the exception);
// and records of 5 MB through a Kafka sink: written when the topic takes
// them, sent to the sink's on-error policy when it does not.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

constexpr int n_records = 3000;

bool poison(int i) {
  return i % 97 == 5;
}

/// The parse job: kafka::record -> its value, throwing on the poison.
flow::topology parse_job(const std::string& in, const std::string& out,
                         flow::on_error policy) {
  flow::topology t{"parse"};
  t.source(source<record>(in))
      .map(
          [](const record& r) {
            if (poison(std::stoi(r.value)))
              throw std::invalid_argument("poison " + r.value);
            return r.value;
          },
          "parse")
      .parallelism(2)
      .on_error(policy)
      .sink(sink<std::string>(out));
  return t;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_on_error, fixture)

BOOST_AUTO_TEST_CASE(throwing_function_under_dead_letter_skip_and_fail) {
  auto in = make_topic("on-error-in", 3);
  std::vector<producer_record> rs;
  std::set<std::string> good, bad;
  for (int i = 0; i < n_records; ++i) {
    producer_record r;
    r.key = "k" + std::to_string(i);
    r.value = std::to_string(i);
    (poison(i) ? bad : good).insert(r.value);
    rs.push_back(std::move(r));
  }
  produce(in, rs);
  std::map<std::string, std::pair<int32_t, int64_t>> where;
  for (auto& r : read_all(in))
    where[r.value] = {r.partition, r.offset};

  // dead-letter
  {
    auto out = make_topic("on-error-out", 2);
    auto dlq = unique("on-error-dlq");
    auto t = parse_job(in, out, flow::on_error::dead_letter);
    auto res = flow::runtime::execute(
        t, options(2, {{"kafka.dead-letter-topic", dlq}}));
    BOOST_REQUIRE_MESSAGE(res.ok, res.error);
    std::multiset<std::string> got;
    for (auto& r : read_all(out))
      got.insert(r.value);
    BOOST_TEST((got == std::multiset<std::string>(good.begin(), good.end())));
    auto letters = read_all(dlq);
    std::multiset<std::string> lettered;
    for (auto& r : letters) {
      lettered.insert(r.value);
      auto [p, o] = where.at(r.value);
      BOOST_TEST(r.header_value(dlq_operator_header).value_or("") == "parse");
      auto subtask = r.header_value(dlq_subtask_header).value_or("");
      BOOST_TEST((subtask == "0" || subtask == "1"), subtask);
      BOOST_TEST(r.header_value(dlq_exception_type_header).value_or("") ==
                 "std::invalid_argument");
      BOOST_TEST(r.header_value(dlq_exception_message_header).value_or("") ==
                 "poison " + r.value);
      BOOST_TEST(r.header_value(dlq_value_header).value_or("") == "serialized");
      BOOST_TEST(r.header_value(dlq_topic_header).value_or("") == in);
      BOOST_TEST(r.header_value(dlq_partition_header).value_or("") ==
                 std::to_string(p));
      BOOST_TEST(r.header_value(dlq_offset_header).value_or("") ==
                 std::to_string(o));
    }
    BOOST_TEST(
        (lettered == std::multiset<std::string>(bad.begin(), bad.end())));
    auto* parse = res.find("parse");
    BOOST_REQUIRE(parse);
    BOOST_TEST(parse->dead_lettered == bad.size());
    BOOST_TEST(parse->skipped == 0u);
  }
  // skip
  {
    auto out = make_topic("on-error-skip-out", 2);
    auto t = parse_job(in, out, flow::on_error::skip);
    auto res = flow::runtime::execute(t, options(2));
    BOOST_REQUIRE_MESSAGE(res.ok, res.error);
    std::multiset<std::string> got;
    for (auto& r : read_all(out))
      got.insert(r.value);
    BOOST_TEST((got == std::multiset<std::string>(good.begin(), good.end())));
    auto* parse = res.find("parse");
    BOOST_REQUIRE(parse);
    BOOST_TEST(parse->skipped == bad.size());
    BOOST_TEST(parse->dead_lettered == 0u);
  }
  // fail (the default)
  {
    auto out = make_topic("on-error-fail-out", 2);
    auto t = parse_job(in, out, flow::on_error::fail);
    auto res = flow::runtime::execute(t, options(2));
    BOOST_TEST(!res.ok);
    BOOST_TEST(res.error.find("operator 'parse' subtask") != std::string::npos,
               res.error);
    BOOST_TEST(res.error.find("std::invalid_argument: poison") !=
                   std::string::npos,
               res.error);
  }
}

// A 5 MB valid record: written whole by a sink whose topic takes 10 MB
// (the producer's message.max.bytes follows the topic's
// max.message.bytes); sent to the dead-letter topic by a sink whose topic
// takes 1 MB, the other records written, the job complete.
BOOST_AUTO_TEST_CASE(a_5_mb_valid_record_is_written_or_dead_lettered) {
  auto in = unique("big-valid-in");
  adm.create_topic(in, 1, -1, {{"max.message.bytes", "10485760"}});
  std::vector<producer_record> rs(3);
  rs[0].value = "small 1";
  rs[1].value = std::string(5 << 20, 'v');
  rs[2].value = "small 3";
  produce(in, rs, 10 << 20);
  {
    auto out = unique("big-valid-out");
    adm.create_topic(out, 1, -1, {{"max.message.bytes", "10485760"}});
    flow::topology t{"big-valid"};
    t.source(source<std::string>(in)).sink(sink<std::string>(out));
    auto res = flow::runtime::execute(t, options(1));
    BOOST_REQUIRE_MESSAGE(res.ok, res.error);
    auto got = read_all(out);
    BOOST_REQUIRE_EQUAL(got.size(), 3u);
    BOOST_TEST(got[1].value.size() == rs[1].value.size());
    BOOST_TEST((got[1].value == rs[1].value));
  }
  {
    auto out = unique("big-valid-small-out");
    adm.create_topic(out, 1, -1, {{"max.message.bytes", "1048576"}});
    auto dlq = unique("big-valid-dlq");
    flow::topology t{"big-valid-small"};
    t.source(source<std::string>(in))
        .sink(sink<std::string>(out, sink_options{"writer", {}}))
        .on_error(flow::on_error::dead_letter);
    auto res = flow::runtime::execute(
        t, options(1, {{"kafka.dead-letter-topic", dlq}}));
    BOOST_REQUIRE_MESSAGE(res.ok, res.error);
    auto got = read_all(out);
    BOOST_REQUIRE_EQUAL(got.size(), 2u);
    BOOST_TEST(got[0].value == "small 1");
    BOOST_TEST(got[1].value == "small 3");
    auto letters = read_all(dlq);
    BOOST_REQUIRE_EQUAL(letters.size(), 1u);
    BOOST_TEST(letters[0].value.size() == rs[1].value.size());
    BOOST_TEST(letters[0].header_value(dlq_operator_header).value_or("") ==
               "writer");
    BOOST_TEST(
        letters[0].header_value(dlq_exception_type_header).value_or("") ==
        "std::length_error");
    auto* writer = res.find("writer");
    BOOST_REQUIRE(writer);
    BOOST_TEST(writer->dead_lettered == 1u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

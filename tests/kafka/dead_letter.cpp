// 1% corrupt records: the dead-letter topic holds exactly the corrupt ones,
// with headers naming source topic, partition, offset and the error; every
// valid record arrives.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include "flow/kafka/dead_letter_queue.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <thread>
#include <vector>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

/// Runs each piece of work on a thread of its own; joins them when
/// destroyed.
struct thread_executor final : flow::blocking_executor {
  std::vector<std::thread> threads;
  void run(std::function<void()> work) override {
    threads.emplace_back(std::move(work));
  }
  ~thread_executor() override {
    for (auto& t : threads)
      t.join();
  }
};

/// Undeserializable records of source partition 0, "bad-<offset>".
struct bad_records {
  std::deque<std::string> values; // the views point into it
  record_view operator()(int64_t offset) {
    values.push_back("bad-" + std::to_string(offset));
    record_view v;
    v.value = values.back();
    v.partition = 0;
    v.offset = offset;
    return v;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_dead_letter, fixture)

BOOST_AUTO_TEST_CASE(corrupt_records_go_to_dlq_with_headers) {
  constexpr int n = 20000;
  auto in = make_topic("dlq-in", 3);
  auto out = make_topic("dlq-out", 2);
  std::vector<producer_record> rs;
  std::vector<int64_t> expected;
  std::vector<std::string> corrupt;
  for (int i = 0; i < n; ++i) {
    producer_record r;
    r.key = "k" + std::to_string(i);
    if (i % 100 == 37) {
      r.value = "corrupt-" + std::to_string(i);
      corrupt.push_back(r.value);
    } else {
      r.value = std::to_string(i);
      expected.push_back(2 * i);
    }
    rs.push_back(std::move(r));
  }
  produce(in, rs);
  // Where each input record landed, to check the DLQ headers.
  std::map<std::string, std::pair<int32_t, int64_t>> where;
  for (auto& r : read_all(in))
    where[r.value] = {r.partition, r.offset};

  flow::topology t{"dlq"};
  t.source(source<int64_t>(in))
      .map([](int64_t x) { return 2 * x; })
      .sink(sink<int64_t>(out));
  auto before = counters().dead_lettered.load();
  auto res = flow::runtime::execute(t, options(2));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(counters().dead_lettered.load() - before == corrupt.size());

  std::vector<int64_t> got;
  for (auto& r : read_all(out))
    got.push_back(std::stoll(r.value));
  std::sort(got.begin(), got.end());
  BOOST_TEST(got == expected, boost::test_tools::per_element());

  auto dlq = read_all(in + ".dlq");
  BOOST_REQUIRE_EQUAL(dlq.size(), corrupt.size());
  std::vector<std::string> dlq_values;
  for (auto& r : dlq) {
    dlq_values.push_back(r.value);
    auto [p, o] = where.at(r.value);
    BOOST_TEST(r.header_value(dlq_topic_header).value_or("") == in);
    BOOST_TEST(r.header_value(dlq_partition_header).value_or("") ==
               std::to_string(p));
    BOOST_TEST(r.header_value(dlq_offset_header).value_or("") ==
               std::to_string(o));
    BOOST_TEST(
        r.header_value(dlq_error_header).value_or("").find("not a number") !=
        std::string::npos);
    BOOST_TEST(r.key.value_or("") == "k" + r.value.substr(8));
  }
  std::sort(dlq_values.begin(), dlq_values.end());
  std::sort(corrupt.begin(), corrupt.end());
  BOOST_TEST(dlq_values == corrupt, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(fail_on_bad_record_fails_the_job) {
  auto in = make_topic("bad-in", 1);
  auto out = make_topic("bad-out", 1);
  std::vector<producer_record> rs(3);
  rs[0].value = "1";
  rs[1].value = "two";
  rs[2].value = "3";
  produce(in, rs);
  flow::topology t{"strict"};
  t.source(source<int64_t>(in)).sink(sink<int64_t>(out));
  auto res = flow::runtime::execute(
      t, options(1, {{"kafka.fail-on-bad-record", "true"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("bad_record") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(in + "[0]@1") != std::string::npos, res.error);
}

// A 5 MB undecodable record (its topic allows 10 MB; the broker's default
// is 1 MB) goes whole to the dead-letter topic, which libflow creates big
// enough, and the job completes.
BOOST_AUTO_TEST_CASE(a_5_mb_undecodable_record_goes_whole_to_the_dlq) {
  auto in = unique("dlq-big-in");
  adm.create_topic(in, 1, -1, {{"max.message.bytes", "10485760"}});
  auto out = make_topic("dlq-big-out", 1);
  std::vector<producer_record> rs(3);
  rs[0].value = "1";
  rs[1].value = std::string(5 << 20, 'x');
  rs[2].value = "3";
  produce(in, rs, 10 << 20);
  flow::topology t{"dlq-big"};
  t.source(source<int64_t>(in)).sink(sink<int64_t>(out));
  auto res = flow::runtime::execute(t, options(1));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST(read_all(out).size() == 2u);
  auto dlq = read_all(in + ".dlq");
  BOOST_REQUIRE_EQUAL(dlq.size(), 1u);
  BOOST_TEST(dlq[0].value.size() == rs[1].value.size());
  BOOST_TEST(dlq[0].value == rs[1].value);
  BOOST_TEST(!dlq[0].header_value(dlq_truncated_header));
}

BOOST_AUTO_TEST_CASE(a_dead_letter_the_topic_refuses_fails_the_job) {
  // in.dlq made beforehand with the broker's default record limit (1 MB):
  // the 2 MiB dead letter cannot be written there, and is not dropped.
  auto in = unique("dlq-refused-in");
  adm.create_topic(in, 1, -1, {{"max.message.bytes", "10485760"}});
  adm.create_topic(in + ".dlq", 1);
  auto out = make_topic("dlq-refused-out", 1);
  std::vector<producer_record> rs(3);
  rs[0].value = "1";
  rs[1].value = std::string(2 << 20, 'x');
  rs[2].value = "3";
  produce(in, rs, 10 << 20);
  flow::topology t{"dlq-refused"};
  t.source(source<int64_t>(in)).sink(sink<int64_t>(out));
  auto res = flow::runtime::execute(t, options(1));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find(in + ".dlq") != std::string::npos, res.error);
  BOOST_TEST(read_all(in + ".dlq").empty());
}

// kafka.delivery = exactly-once: a subtask's dead-letter producer is
// transactional, so a newer instance of the same subtask fences an older
// one (a zombie): what the zombie had not committed is aborted, never
// visible, and it can commit nothing more; the newer instance skips what
// was committed and writes the rest once. (Without the executor, opening
// and commits run inline.)
BOOST_AUTO_TEST_CASE(exactly_once_dead_letters_fence_an_older_instance) {
  auto topic = unique("dlq-fence");
  auto in = make_topic("dlq-fence-in", 1);
  auto s = settings;
  s.delivery = delivery_guarantee::exactly_once;
  s.group_id = unique("dlq-fence-group");
  dead_letter_source source{in, "source", 0};
  bad_records bad;

  dead_letter_queue zombie{s, topic, nullptr, source};
  zombie.add(bad(1), in, "bad");
  zombie.add(bad(2), in, "bad");
  BOOST_REQUIRE(zombie.flushed()); // committed
  zombie.add(bad(3), in, "bad");   // in an open transaction
  zombie.accepting();

  dead_letter_queue next{s, topic, nullptr, source}; // fences the zombie
  next.add(bad(2), in, "bad");
  next.add(bad(3), in, "bad");
  next.add(bad(4), in, "bad");
  BOOST_REQUIRE(next.flushed());
  BOOST_CHECK_EQUAL(next.repeated(), 1u);
  BOOST_CHECK_THROW(
      {
        zombie.add(bad(5), in, "bad");
        for (int i = 0; i < 100 && !zombie.flushed(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      },
      kafka_error);

  std::vector<std::string> got;
  for (auto& r : read_all(topic))
    got.push_back(r.value);
  std::vector<std::string> want{"bad-1", "bad-2", "bad-3", "bad-4"};
  BOOST_TEST(got == want, boost::test_tools::per_element());
}

// A newer instance learns what an older one committed from the markers
// the older one's transactions committed, not from a read of the topic: a
// read_committed read ends at the last stable offset, which a transaction
// another subtask has open holds back, and missed what the older instance
// had committed after that transaction began (25 source dead letters
// written twice in the cluster chaos test; this test: 2). Nor does it wait
// for that transaction.
BOOST_AUTO_TEST_CASE(exactly_once_dead_letters_see_commits_behind_an_open_txn) {
  auto topic = unique("dlq-behind-open");
  adm.create_topic(topic, 1, -1);
  auto in = make_topic("dlq-behind-open-in", 2);
  auto s = settings;
  s.delivery = delivery_guarantee::exactly_once;
  s.group_id = unique("dlq-behind-open-group");
  bad_records bad;

  // Subtask 0's older instance (it opens at once: the topic is empty).
  dead_letter_source source{in, "source", 0};
  auto earlier = std::make_unique<dead_letter_queue>(s, topic, nullptr, source);
  // Subtask 1 has a transaction open, its record in the log.
  topic_producer other{
      s, topic, 1,
      topic_producer::transactional{
          dead_letter_transactional_id(s.group_id, "source", 1),
          s.transaction_timeout_ms}};
  other.begin_transaction();
  producer_record open_record;
  open_record.value = "other-open";
  other.enqueue(std::move(open_record));
  for (int i = 0; i < 200 && other.delivered() < 1; ++i) {
    other.service();
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  BOOST_REQUIRE_EQUAL(other.delivered(), 1u);

  // Subtask 0 commits two dead letters behind it, then is replaced.
  earlier->add(bad(1), in, "bad");
  earlier->add(bad(2), in, "bad");
  BOOST_REQUIRE(earlier->flushed());
  earlier.reset();
  thread_executor ex;
  dead_letter_queue next{s, topic, &ex, source};
  bool opened = false;
  for (int i = 0; i < 600 && !opened; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    opened = next.accepting();
  }
  BOOST_REQUIRE(opened);
  next.add(bad(1), in, "bad");
  next.add(bad(2), in, "bad");
  next.add(bad(3), in, "bad");
  bool committed = false;
  for (int i = 0; i < 600 && !(committed = next.flushed()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_REQUIRE(committed);
  BOOST_CHECK_EQUAL(next.repeated(), 2u);

  other.commit_transaction();
  std::vector<std::string> got;
  for (auto& r : read_all(topic))
    got.push_back(r.value);
  std::vector<std::string> want{"other-open", "bad-1", "bad-2", "bad-3"};
  BOOST_TEST(got == want, boost::test_tools::per_element());
}

// After a change of parallelism, another subtask index may have
// dead-lettered a source partition before: its markers count too.
BOOST_AUTO_TEST_CASE(exactly_once_dead_letters_see_another_subtasks_markers) {
  auto topic = unique("dlq-rescaled");
  auto in = make_topic("dlq-rescaled-in", 2);
  auto s = settings;
  s.delivery = delivery_guarantee::exactly_once;
  s.group_id = unique("dlq-rescaled-group");
  bad_records bad;
  {
    // Subtask 1 of an earlier parallelism had partition 0.
    dead_letter_queue before{s, topic, nullptr,
                             dead_letter_source{in, "source", 1}};
    before.add(bad(1), in, "bad");
    before.add(bad(2), in, "bad");
    BOOST_REQUIRE(before.flushed());
  }
  dead_letter_queue after{s, topic, nullptr,
                          dead_letter_source{in, "source", 0}};
  after.add(bad(2), in, "bad");
  after.add(bad(3), in, "bad");
  BOOST_REQUIRE(after.flushed());
  BOOST_CHECK_EQUAL(after.repeated(), 1u);
  std::vector<std::string> got;
  for (auto& r : read_all(topic))
    got.push_back(r.value);
  std::vector<std::string> want{"bad-1", "bad-2", "bad-3"};
  BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

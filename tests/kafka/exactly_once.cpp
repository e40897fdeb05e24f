// The transactional producer of the exactly-once sink against the real
// broker: a transaction carries its records and its marker (the marker
// group's committed offset) together; a newer instance with the same
// transactional.id fences the older one, whose transaction then fails and
// writes nothing visible.
#include "fixture.hpp"

#include "flow/kafka/exactly_once_writer.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

std::vector<producer_record> values(const std::string& prefix, int n) {
  std::vector<producer_record> out;
  for (int i = 0; i < n; ++i) {
    producer_record r;
    r.key = "k" + std::to_string(i % 3);
    r.value = prefix + std::to_string(i);
    out.push_back(std::move(r));
  }
  return out;
}

/// publish_transaction of `batches`, in order.
void publish(topic_producer& p,
             std::initializer_list<const std::vector<producer_record>*> batches,
             const std::string& group, int64_t marker) {
  p.publish_transaction(
      [&] {
        for (auto* b : batches)
          for (auto& r : *b)
            p.produce(r);
      },
      group, marker);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_exactly_once, fixture)

BOOST_AUTO_TEST_CASE(a_transaction_commits_records_and_marker_together) {
  auto topic = make_topic("eos-marker", 2);
  auto id = exactly_once_writer::transactional_id(unique("g"), "sink", 0);
  topic_producer p{settings, topic, 1, {id, 30000}};
  auto first = values("a", 10);
  auto second = values("b", 5);
  publish(p, {&first}, id, 7);
  BOOST_CHECK_EQUAL(adm.committed(id, topic).at(0), 7);
  publish(p, {&second, &first}, id, 9);
  BOOST_CHECK_EQUAL(adm.committed(id, topic).at(0), 9);
  auto got = read_all(topic);
  BOOST_CHECK_EQUAL(got.size(), 25u);
}

BOOST_AUTO_TEST_CASE(a_newer_instance_fences_the_zombie) {
  auto topic = make_topic("eos-fence", 1);
  auto id = exactly_once_writer::transactional_id(unique("g"), "sink", 1);
  topic_producer zombie{settings, topic, 1, {id, 30000}};
  auto before = values("old", 4);
  publish(zombie, {&before}, id, 1);
  topic_producer successor{settings, topic, 1, {id, 30000}};
  auto late = values("zombie", 6);
  BOOST_CHECK_THROW(publish(zombie, {&late}, id, 2), kafka_error);
  auto mine = values("new", 3);
  publish(successor, {&mine}, id, 2);
  BOOST_CHECK_EQUAL(adm.committed(id, topic).at(0), 2);
  size_t old_n = 0, new_n = 0, zombie_n = 0;
  for (auto& r : read_all(topic)) {
    old_n += r.value.rfind("old", 0) == 0;
    new_n += r.value.rfind("new", 0) == 0;
    zombie_n += r.value.rfind("zombie", 0) == 0;
  }
  BOOST_CHECK_EQUAL(old_n, 4u);
  BOOST_CHECK_EQUAL(new_n, 3u);
  BOOST_CHECK_EQUAL(zombie_n, 0u); // nothing of the fenced instance visible
}

BOOST_AUTO_TEST_CASE(a_bounded_job_publishes_all_of_its_output_at_its_end) {
  // A bounded exactly-once job (kafka.stop-at-end) whose checkpoint
  // interval is longer than it runs: no periodic checkpoint completes, so
  // all its output reaches read_committed consumers through the final
  // checkpoint, taken once every subtask has ended (the sinks' last
  // epochs in it), and committed before the job ends. The same command
  // again restores that checkpoint and adds nothing.
  auto in = make_topic("eos-bounded-in", 4);
  auto out = make_topic("eos-bounded-out", 3);
  constexpr int n = 20000;
  std::vector<producer_record> input;
  for (int i = 0; i < n; ++i) {
    producer_record r;
    r.key = "k" + std::to_string(i % 97);
    r.value = std::to_string(i);
    input.push_back(std::move(r));
  }
  produce(in, input);
  auto dir =
      std::filesystem::temp_directory_path() / unique("flow-eos-bounded");
  // The checkpoint options in the settings too: the sink's checks read
  // them there.
  auto group = unique("eos-bounded");
  auto opts = options(2, {{"kafka.delivery", "exactly-once"},
                          {"kafka.group-id", group},
                          {"flow.checkpoint-interval", "50s"},
                          {"flow.checkpoint-dir", dir.string()}});
  opts.checkpoints.interval = std::chrono::seconds(50);
  opts.checkpoints.dir = dir.string();
  auto run = [&] {
    flow::topology t{"eos-bounded"};
    t.source(source<std::string>(in))
        .rebalance()
        .map([](const std::string& v) { return v + "!"; })
        .sink(sink<std::string>(out));
    return flow::runtime::execute(t, opts);
  };
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST_INFO("run " << round + 1);
    auto res = run();
    BOOST_REQUIRE_MESSAGE(res.ok, res.error);
    BOOST_CHECK_EQUAL(res.checkpoints.completed, 1u); // the final one
    // A commit returns before the transaction's markers are in the
    // partitions, so a read_committed consumer may not see it yet; a new
    // instance of each sink subtask's transactional id waits for them.
    for (uint32_t i = 0; i < 2; ++i) {
      auto id = exactly_once_writer::transactional_id(group, out, i);
      topic_producer settle{settings, out, 1, {id, 30000}};
    }
    std::map<int, int> seen;
    for (auto& r : read_all(out)) {
      BOOST_REQUIRE_EQUAL(r.value.back(), '!');
      ++seen[std::stoi(r.value.substr(0, r.value.size() - 1))];
    }
    BOOST_REQUIRE_EQUAL(seen.size(), static_cast<size_t>(n));
    for (auto& [v, count] : seen)
      BOOST_REQUIRE_MESSAGE(count == 1, v << " published " << count << "x");
  }
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

// The transactional producer of the exactly-once sink against the real
// broker: a transaction carries its records and its marker (the marker
// group's committed offset) together; a newer instance with the same
// transactional.id fences the older one, whose transaction then fails and
// writes nothing visible.
#include "fixture.hpp"

#include "flow/kafka/exactly_once_writer.hpp"

#include <boost/test/unit_test.hpp>

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

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_exactly_once, fixture)

BOOST_AUTO_TEST_CASE(a_transaction_commits_records_and_marker_together) {
  auto topic = make_topic("eos-marker", 2);
  auto id = exactly_once_writer::transactional_id(unique("g"), "sink", 0);
  topic_producer p{settings, topic, 1, {id, 30000}};
  auto first = values("a", 10);
  auto second = values("b", 5);
  p.publish_transaction({&first}, id, 7);
  BOOST_CHECK_EQUAL(adm.committed(id, topic).at(0), 7);
  p.publish_transaction({&second, &first}, id, 9);
  BOOST_CHECK_EQUAL(adm.committed(id, topic).at(0), 9);
  auto got = read_all(topic);
  BOOST_CHECK_EQUAL(got.size(), 25u);
}

BOOST_AUTO_TEST_CASE(a_newer_instance_fences_the_zombie) {
  auto topic = make_topic("eos-fence", 1);
  auto id = exactly_once_writer::transactional_id(unique("g"), "sink", 1);
  topic_producer zombie{settings, topic, 1, {id, 30000}};
  auto before = values("old", 4);
  zombie.publish_transaction({&before}, id, 1);
  topic_producer successor{settings, topic, 1, {id, 30000}};
  auto late = values("zombie", 6);
  BOOST_CHECK_THROW(zombie.publish_transaction({&late}, id, 2), kafka_error);
  auto mine = values("new", 3);
  successor.publish_transaction({&mine}, id, 2);
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

BOOST_AUTO_TEST_SUITE_END()

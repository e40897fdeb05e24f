// What travels between the nodes of a cluster (flow/runtime/messages.hpp)
// arrives whole: a restore carries every part of a subtask's state, event
// time included (a worker that restored without it would start at the
// lowest watermark, and its results could differ from a single node's).
#include "flow/runtime/messages.hpp"

#include <boost/test/unit_test.hpp>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <vector>

using namespace flow;

BOOST_AUTO_TEST_SUITE(messages)

BOOST_AUTO_TEST_CASE(a_subtask_restore_crosses_the_wire_whole) {
  subtask_restore r;
  r.id = checkpoint_id{42};
  r.key_groups = {{7, {'k', 'g'}}};
  r.positions = {{"3", 1234}};
  r.operator_state = "sink epochs";
  r.dead_letters = "held dead letters";
  r.event_time = {1000, 990, true};
  r.inputs = {{980, false}, {970, true}};

  std::vector<char> buf;
  caf::binary_serializer out{nullptr, buf};
  BOOST_REQUIRE(!out(r));
  subtask_restore back;
  caf::binary_deserializer in{nullptr, buf};
  BOOST_REQUIRE(!in(back));

  BOOST_CHECK_EQUAL(back.id.value(), 42u);
  BOOST_REQUIRE_EQUAL(back.key_groups.size(), 1u);
  BOOST_CHECK_EQUAL(back.key_groups[0].key_group, 7u);
  BOOST_CHECK((back.key_groups[0].bytes == std::vector<char>{'k', 'g'}));
  BOOST_REQUIRE_EQUAL(back.positions.size(), 1u);
  BOOST_CHECK_EQUAL(back.positions[0].split, "3");
  BOOST_CHECK_EQUAL(back.positions[0].position, 1234);
  BOOST_CHECK_EQUAL(back.operator_state, "sink epochs");
  BOOST_CHECK_EQUAL(back.dead_letters, "held dead letters");
  BOOST_CHECK_EQUAL(back.event_time.watermark, 1000);
  BOOST_CHECK_EQUAL(back.event_time.output_watermark, 990);
  BOOST_CHECK(back.event_time.output_idle);
  BOOST_REQUIRE_EQUAL(back.inputs.size(), 2u);
  BOOST_CHECK_EQUAL(back.inputs[0].watermark, 980);
  BOOST_CHECK(!back.inputs[0].idle);
  BOOST_CHECK_EQUAL(back.inputs[1].watermark, 970);
  BOOST_CHECK(back.inputs[1].idle);
}

BOOST_AUTO_TEST_SUITE_END()

#include "flow/runtime/allocator.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>

#ifdef FLOW_WITH_MIMALLOC
#include <mimalloc.h>
#endif

BOOST_AUTO_TEST_SUITE(allocator)

BOOST_AUTO_TEST_CASE(the_decommit_delay_is_set_unless_the_user_chose_one) {
  using flow::runtime::allocator_decommit_delay;
  BOOST_TEST(allocator_decommit_delay(nullptr).value() ==
             flow::runtime::allocator_decommit_delay_ms);
  BOOST_TEST(allocator_decommit_delay("").value() ==
             flow::runtime::allocator_decommit_delay_ms);
  BOOST_TEST(!allocator_decommit_delay("25").has_value());
  // Longer than a job's turn: pages freed by one batch are still committed
  // when the next batch allocates them (see allocator.hpp).
  BOOST_TEST(flow::runtime::allocator_decommit_delay_ms >= 100);
}

#ifdef FLOW_WITH_MIMALLOC
BOOST_AUTO_TEST_CASE(tune_allocator_sets_mimallocs_decommit_delay) {
  flow::runtime::tune_allocator();
  auto expected = flow::runtime::allocator_decommit_delay(
      std::getenv("MIMALLOC_DECOMMIT_DELAY"));
  if (expected)
    BOOST_TEST(mi_option_get(mi_option_decommit_delay) == *expected);
}
#endif

BOOST_AUTO_TEST_SUITE_END()

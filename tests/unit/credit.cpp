#include "flow/credit.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using namespace flow;

BOOST_AUTO_TEST_SUITE(credit)

BOOST_AUTO_TEST_CASE(sender_never_exceeds_its_window) {
  credit_sender s{3};
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(s.can_send());
    s.on_send();
  }
  BOOST_CHECK(!s.can_send());
  BOOST_CHECK_EQUAL(s.in_flight(), 3u);
  BOOST_CHECK_THROW(s.on_send(), std::logic_error);
  s.on_credit(2);
  BOOST_CHECK_EQUAL(s.available(), 2u);
  BOOST_CHECK_EQUAL(s.max_in_flight(), 3u);
}

BOOST_AUTO_TEST_CASE(sender_rejects_more_credit_than_in_flight) {
  credit_sender s{2};
  s.on_send();
  BOOST_CHECK_THROW(s.on_credit(2), std::logic_error);
  BOOST_CHECK_THROW(credit_sender{0}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(receiver_returns_credit_after_processing) {
  credit_receiver r{4, 2};
  r.on_receive();
  r.on_receive();
  r.on_receive();
  // More input queued: hold back until the threshold.
  BOOST_CHECK_EQUAL(r.on_processed(false), 0u);
  BOOST_CHECK_EQUAL(r.on_processed(false), 2u);
  // Queue ran empty: return everything held.
  BOOST_CHECK_EQUAL(r.on_processed(true), 1u);
  BOOST_CHECK_EQUAL(r.held(), 0u);
  BOOST_CHECK_EQUAL(r.queued(), 0u);
}

BOOST_AUTO_TEST_CASE(receiver_detects_a_sender_over_its_window) {
  credit_receiver r{2, 1};
  r.on_receive();
  r.on_receive();
  BOOST_CHECK_THROW(r.on_receive(), std::logic_error);
  // Processed but not yet returned credit still counts against the window.
  credit_receiver held{2, 2};
  held.on_receive();
  held.on_receive();
  BOOST_CHECK_EQUAL(held.on_processed(false), 0u);
  BOOST_CHECK_THROW(held.on_receive(), std::logic_error);
  BOOST_CHECK_EQUAL(held.release(), 1u);
  BOOST_CHECK_NO_THROW(held.on_receive());
}

BOOST_AUTO_TEST_SUITE_END()

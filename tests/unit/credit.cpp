#include "flow/credit.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
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

BOOST_AUTO_TEST_CASE(
    a_shrunken_window_parks_credit_and_a_grown_one_returns_it) {
  credit_receiver r{8, 2};
  for (int i = 0; i < 8; ++i)
    r.on_receive();
  r.set_effective_window(3);
  // Five processed batches park their credit: the sender ends with 3.
  for (int i = 0; i < 5; ++i)
    BOOST_CHECK_EQUAL(r.on_processed(false), 0u);
  BOOST_CHECK_EQUAL(r.effective_window(), 3u);
  // The next ones return credit again, in groups of the threshold.
  BOOST_CHECK_EQUAL(r.on_processed(false), 0u);
  BOOST_CHECK_EQUAL(r.on_processed(false), 2u);
  BOOST_CHECK_EQUAL(r.on_processed(true), 1u);
  // 3 credits out, 5 parked: a fourth batch would exceed the window.
  for (int i = 0; i < 3; ++i)
    r.on_receive();
  BOOST_CHECK_THROW(r.on_receive(), std::logic_error);
  // Growing unparks: returned with the next processed batch.
  r.set_effective_window(6);
  BOOST_CHECK_EQUAL(r.effective_window(), 6u);
  BOOST_CHECK_EQUAL(r.on_processed(false), 4u);
  // Clamped to [1, the original window].
  r.set_effective_window(0);
  r.on_processed(true);
  r.on_processed(true);
  BOOST_CHECK_EQUAL(r.effective_window(), 4u);
  r.set_effective_window(100);
  BOOST_CHECK_EQUAL(r.effective_window(), 8u);
}

BOOST_AUTO_TEST_CASE(a_window_of_one_returns_its_credit_below_the_threshold) {
  credit_receiver r{4, 4};
  r.on_receive();
  r.on_receive();
  r.set_effective_window(1);
  BOOST_CHECK_EQUAL(r.on_processed(false), 0u); // parked
  BOOST_CHECK_EQUAL(r.effective_window(), 3u);
  r.on_receive();
  BOOST_CHECK_EQUAL(r.on_processed(false), 0u); // parked
  BOOST_CHECK_EQUAL(r.effective_window(), 2u);
  BOOST_CHECK_EQUAL(r.on_processed(false), 0u); // parked: window 1 now
  r.on_receive();
  // More input queued elsewhere, threshold 4: still returned, or the sender
  // would wait for credit that never comes while this subtask is busy.
  BOOST_CHECK_EQUAL(r.on_processed(false), 1u);
}

BOOST_AUTO_TEST_CASE(debloater_sizes_the_window_to_the_processing_rate) {
  credit_debloater d{8, 200, 100};
  // Full window until a period has passed.
  BOOST_CHECK_EQUAL(d.on_processed(0), 8u);
  BOOST_CHECK_EQUAL(d.on_processed(50), 8u);
  // 10 batches/s for a second: 2 batches in 200 ms.
  for (int64_t t = 100; t <= 1000; t += 100)
    d.on_processed(t);
  BOOST_CHECK_CLOSE(d.batches_per_s(), 10.0, 1.0);
  BOOST_CHECK_EQUAL(d.window(), 2u);
  // A fast receiver (1000 batches/s) gets the full window back.
  for (int64_t t = 1001; t <= 2000; ++t)
    d.on_processed(t);
  BOOST_CHECK_EQUAL(d.window(), 8u);
  // A second-long gap, then slow again: never below one batch.
  for (int64_t t = 3000; t <= 13000; t += 1000)
    d.on_processed(t);
  BOOST_CHECK_EQUAL(d.window(), 1u);
}

BOOST_AUTO_TEST_CASE(debloating_bounds_the_queue_of_a_slow_receiver) {
  // A sender with unlimited input, a receiver processing one batch per
  // 50 ms of (virtual) time, target 200 ms: after warm-up at most
  // 20/s * 0.2 s = 4 batches wait at the receiver instead of the window
  // of 16.
  for (bool debloat : {false, true}) {
    credit_sender s{16};
    credit_receiver r{16, 2};
    credit_debloater d{16, 200, 100};
    uint32_t max_queued_late = 0;
    for (int64_t t = 0; t < 5000; t += 50) {
      while (s.can_send()) {
        s.on_send();
        r.on_receive();
      }
      if (t > 1000) max_queued_late = std::max(max_queued_late, r.queued());
      if (debloat) r.set_effective_window(d.on_processed(t));
      if (auto n = r.on_processed(false)) s.on_credit(n);
    }
    BOOST_TEST_CONTEXT("debloat " << debloat) {
      if (debloat)
        BOOST_CHECK_LE(max_queued_late, 4u);
      else
        BOOST_CHECK_GE(max_queued_late, 14u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// How the Kafka connector cuts a wait for the cluster into slices
// (detail::wait_in_slices): a stopped job notices within the slice under
// way, so an admin wait, whose request is sent once, keeps every slice
// short; a metadata wait, which asks again each slice, doubles them.
// No broker: the attempts are stand-ins that record the slice they get.
#include "rdkafka.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

using namespace flow::kafka::detail;

namespace {

/// The slices wait_in_slices hands, in a wait of `timeout_ms`, to an
/// attempt that answers nothing for `pending_calls` calls, then answers.
std::vector<int> slices_until_answer(slicing how, int pending_calls,
                                     int64_t timeout_ms) {
  std::vector<int> slices;
  wait_in_slices(
      timeout_ms, how,
      [&](int ms) {
        slices.push_back(ms);
        return static_cast<int>(slices.size()) > pending_calls;
      },
      [](bool answered) { return !answered; });
  return slices;
}

/// A timeout far longer than the slices, so that none is cut short by it,
/// however slow the machine.
constexpr int64_t long_wait_ms = 600000;

} // namespace

BOOST_AUTO_TEST_SUITE(kafka_wait)

BOOST_AUTO_TEST_CASE(a_request_sent_once_is_polled_in_short_slices) {
  auto slices = slices_until_answer(slicing::fixed, 3, long_wait_ms);
  std::vector<int> want(4, static_cast<int>(first_wait_slice_ms));
  BOOST_CHECK_EQUAL_COLLECTIONS(slices.begin(), slices.end(), want.begin(),
                                want.end());
}

BOOST_AUTO_TEST_CASE(a_request_sent_again_each_slice_doubles_them) {
  auto slices = slices_until_answer(slicing::doubling, 2, long_wait_ms);
  auto first = static_cast<int>(first_wait_slice_ms);
  std::vector<int> want{first, 2 * first, 4 * first};
  BOOST_CHECK_EQUAL_COLLECTIONS(slices.begin(), slices.end(), want.begin(),
                                want.end());
}

BOOST_AUTO_TEST_CASE(the_wait_ends_at_its_timeout) {
  // No answer ever comes: the wait ends at its timeout alone.
  auto slices = slices_until_answer(slicing::fixed, 1000000, 600);
  // However late the sleeps wake, no slice exceeds a short one, and the
  // slices fit in the 600 ms: each begins after the one before ended, and
  // is at most what is left (at least 1 ms: twice at the deadline).
  BOOST_REQUIRE(!slices.empty());
  int total = 0;
  for (auto ms : slices) {
    BOOST_CHECK_LE(ms, static_cast<int>(first_wait_slice_ms));
    total += ms;
  }
  BOOST_CHECK_LE(total, 602);
}

BOOST_AUTO_TEST_SUITE_END()

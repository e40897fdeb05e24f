#include "flow/batch.hpp"

#include <boost/test/unit_test.hpp>

using namespace flow;

namespace {

template <class T>
std::vector<T> round_trip(std::vector<T> xs) {
  typed_batch<T> b{std::move(xs)};
  std::vector<char> bytes;
  b.serialize(bytes);
  wire_batch w{std::move(bytes)};
  BOOST_CHECK_EQUAL(w.size(), b.size());
  return records_of<T>(w);
}

struct opaque {
  int x;
};

} // namespace

BOOST_AUTO_TEST_SUITE(serde_tests)

BOOST_AUTO_TEST_CASE(batches_survive_the_wire_form) {
  std::vector<std::string> words{"", "a", std::string(300, 'x'), "ü"};
  BOOST_CHECK(round_trip(words) == words);
  std::vector<int64_t> nums{0, -1, INT64_MAX, INT64_MIN};
  BOOST_CHECK(round_trip(nums) == nums);
  std::vector<std::pair<std::string, int64_t>> kvs{{"k", 1}, {"", -7}};
  BOOST_CHECK(round_trip(kvs) == kvs);
  BOOST_CHECK(round_trip(std::vector<double>{}).empty());
}

BOOST_AUTO_TEST_CASE(malformed_or_unserializable_batches_fail_loudly) {
  typed_batch<std::string> b{{"hello", "world"}};
  std::vector<char> bytes;
  b.serialize(bytes);
  bytes.pop_back();
  wire_batch truncated{bytes};
  BOOST_CHECK_THROW(records_of<std::string>(truncated), serde_error);
  typed_batch<opaque> o{{opaque{1}}};
  std::vector<char> out;
  BOOST_CHECK_THROW(o.serialize(out), serde_error);
}

BOOST_AUTO_TEST_SUITE_END()

#include "flow/batch.hpp"
#include "flow/changelog.hpp"

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
  // A changelog entry keeps key, value or its absence (a tombstone), time.
  using entry = changelog_entry<uint64_t, std::string>;
  auto back = round_trip(
      std::vector<entry>{{7, "v", 1700000000000}, {7, std::nullopt, -5}});
  BOOST_REQUIRE_EQUAL(back.size(), 2u);
  BOOST_CHECK(back[0].key == 7 && back[0].value == "v" &&
              back[0].timestamp == 1700000000000);
  BOOST_CHECK(back[1].key == 7 && !back[1].value && back[1].timestamp == -5);
  BOOST_CHECK(changelog_traits<entry>::is_delete(back[1]));
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

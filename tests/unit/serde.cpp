#include "flow/batch.hpp"
#include "flow/changelog.hpp"
#include "flow/versioned_join.hpp"

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

BOOST_AUTO_TEST_CASE(side_outputs_cross_nodes) {
  // What a join or window with side outputs sends to its selectors: a
  // variant of a result and wrapped records, the same type twice too.
  using record = std::variant<std::pair<int64_t, int64_t>, late_record<int64_t>,
                              late_record<int64_t>>;
  auto back = round_trip(std::vector<record>{
      record{std::in_place_index<0>, std::make_pair(int64_t{1}, int64_t{2})},
      record{std::in_place_index<2>, late_record<int64_t>{-3}},
      record{std::in_place_index<1>, late_record<int64_t>{4}}});
  BOOST_REQUIRE_EQUAL(back.size(), 3u);
  BOOST_CHECK(std::get<0>(back[0]) == std::make_pair(int64_t{1}, int64_t{2}));
  BOOST_CHECK_EQUAL(back[1].index(), 2u);
  BOOST_CHECK_EQUAL(std::get<2>(back[1]).record, -3);
  BOOST_CHECK_EQUAL(std::get<1>(back[2]).record, 4);
  using unjoined = std::variant<std::string, unjoined_record<std::string>>;
  auto u = round_trip(std::vector<unjoined>{
      unjoined{std::in_place_index<1>, unjoined_record<std::string>{"o"}}});
  BOOST_CHECK_EQUAL(std::get<1>(u.at(0)).record, "o");
  // An alternative index the type does not have is malformed input.
  std::vector<char> bytes{2};
  const char* pos = bytes.data();
  BOOST_CHECK_THROW(serde<unjoined>::read(pos, pos + bytes.size()),
                    serde_error);
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

// The Kafka connector's record serialization without a broker: the
// serializers' in-place form (what the sink uses for every record) writes
// exactly what their by-value form returns, whatever the record before
// held, and reuses its buffers; a consumed record's headers are parsed
// only when looked at.
#include "flow/examples/enrich.pb.h"
#include "flow/kafka/serde.hpp"

#include "seed.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <random>
#include <string>

using namespace flow::kafka;
using flow::examples::Order;

namespace {

Order random_order(std::mt19937_64& rng) {
  Order o;
  o.set_id(rng());
  o.set_customer_id(rng() % 1000);
  o.set_amount_cents(static_cast<int64_t>(rng() % 100000));
  // From empty to well past the small-string buffer, so that buffers must
  // grow and shrink.
  o.set_item(std::string(rng() % 200, static_cast<char>('a' + rng() % 26)));
  return o;
}

void check_same(const producer_record& a, const producer_record& b) {
  BOOST_CHECK(a.key == b.key);
  BOOST_CHECK(a.value == b.value);
  BOOST_CHECK_EQUAL(a.tombstone, b.tombstone);
  BOOST_CHECK(a.partition == b.partition);
  BOOST_CHECK(a.timestamp == b.timestamp);
  BOOST_CHECK(a.headers == b.headers);
}

/// A record as another serializer may have left it.
producer_record leftover() {
  producer_record r;
  r.key = std::string(300, 'k');
  r.value = std::string(500, 'v');
  r.tombstone = true;
  r.partition = 3;
  r.timestamp = 42;
  r.headers.push_back(header{"h", "v"});
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(kafka_serde)

BOOST_AUTO_TEST_CASE(keyed_by_in_place_writes_what_by_value_returns) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  auto serialize = keyed_by<Order>(
      [](const Order& o) { return "c" + std::to_string(o.customer_id()); });
  auto reused = leftover();
  for (int i = 0; i < 500; ++i) {
    auto o = random_order(rng);
    serialize(o, reused);
    auto fresh = serialize(o);
    check_same(reused, fresh);
    Order back;
    BOOST_REQUIRE(back.ParseFromString(reused.value));
    BOOST_CHECK_EQUAL(back.item(), o.item());
    BOOST_CHECK_EQUAL(*reused.key, "c" + std::to_string(o.customer_id()));
  }
}

BOOST_AUTO_TEST_CASE(keyed_by_takes_a_member_function_as_the_key) {
  auto by_member = keyed_by<Order>(&Order::item);
  auto by_lambda = keyed_by<Order>([](const Order& o) { return o.item(); });
  Order o;
  o.set_item("a key longer than the small-string buffer");
  o.set_id(7);
  auto r = by_member(o);
  check_same(r, by_lambda(o));
  BOOST_CHECK_EQUAL(*r.key, o.item());
}

BOOST_AUTO_TEST_CASE(default_deserializer_into_reads_what_by_value_returns) {
  auto seed = flow::test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  default_deserializer<Order> deserialize;
  for (int i = 0; i < 200; ++i) {
    auto bytes = random_order(rng).SerializeAsString();
    record_view v;
    v.value = bytes;
    Order into;
    deserialize(v, into);
    BOOST_CHECK_EQUAL(into.SerializeAsString(),
                      deserialize(v).SerializeAsString());
  }
  std::string garbage = "\xff\xff\xff";
  record_view bad;
  bad.value = garbage;
  Order into;
  BOOST_CHECK_THROW(deserialize(bad, into), deserialize_error);
}

BOOST_AUTO_TEST_CASE(default_serializer_in_place_writes_what_by_value_returns) {
  auto seed = flow::test::test_seed();
  std::mt19937_64 rng{seed};
  default_serializer<Order> proto;
  default_serializer<std::string> text;
  auto reused = leftover();
  for (int i = 0; i < 200; ++i) {
    auto o = random_order(rng);
    proto(o, reused);
    check_same(reused, proto(o));
    BOOST_CHECK(!reused.key);
    text(o.item(), reused);
    check_same(reused, text(o.item()));
  }
}

BOOST_AUTO_TEST_CASE(in_place_serialization_reuses_the_value_buffer) {
  auto serialize = keyed_by<Order>([](const Order& o) { return o.item(); });
  Order o;
  o.set_item(std::string(100, 'x'));
  // The largest record first: the buffers grow to it once.
  o.set_id(UINT64_MAX);
  producer_record r;
  serialize(o, r);
  const char* value = r.value.data();
  const char* key = r.key->data();
  for (int i = 0; i < 100; ++i) {
    o.set_id(static_cast<uint64_t>(i));
    serialize(o, r);
    BOOST_CHECK(r.value.data() == value);
    BOOST_CHECK(r.key->data() == key);
  }
}

BOOST_AUTO_TEST_CASE(headers_are_parsed_on_first_use_only) {
  static int parses = 0;
  parses = 0;
  auto parse = [](const void* message,
                  std::vector<header_views::value_type>& out) {
    ++parses;
    auto* text = static_cast<const std::string*>(message);
    out.emplace_back("name", *text);
  };
  std::string value = "v1";
  record_view v;
  v.headers = header_views(parse, &value);
  auto copy = v; // as the consumer's vector of views holds them
  BOOST_CHECK_EQUAL(parses, 0);
  BOOST_REQUIRE_EQUAL(v.headers.size(), 1u);
  BOOST_CHECK_EQUAL(v.headers[0].second, "v1");
  for (auto& [k, val] : v.headers)
    BOOST_CHECK_EQUAL(k, "name");
  BOOST_CHECK_EQUAL(parses, 1);
  v.headers.emplace_back("extra", "x");
  BOOST_CHECK_EQUAL(v.headers.size(), 2u);
  BOOST_CHECK_EQUAL(parses, 1);
  auto r = copy.to_record();
  BOOST_CHECK_EQUAL(parses, 2);
  BOOST_REQUIRE_EQUAL(r.headers.size(), 1u);
  BOOST_CHECK(r.headers[0] == (header{"name", "v1"}));
  BOOST_CHECK(record_view{}.headers.empty());
}

BOOST_AUTO_TEST_CASE(keyed_records_without_a_usable_key_are_undecodable) {
  // A keyed or changelog source's record without a key, or with one that
  // does not decode, is a deserialize_error: the source dead-letters it
  // like an undecodable value (kafka_dead_letter) instead of failing.
  record_view keyless;
  keyless.value = "1";
  BOOST_CHECK_THROW(
      (default_deserializer<std::pair<std::string, int64_t>>{}(keyless)),
      deserialize_error);
  BOOST_CHECK_THROW(
      (default_deserializer<flow::changelog_entry<std::string, int64_t>>{}(
          keyless)),
      deserialize_error);
  record_view bad_key = keyless;
  bad_key.key = "x";
  BOOST_CHECK_THROW(
      (default_deserializer<std::pair<int64_t, int64_t>>{}(bad_key)),
      deserialize_error);
  BOOST_CHECK_THROW(
      (default_deserializer<flow::changelog_entry<int64_t, int64_t>>{}(
          bad_key)),
      deserialize_error);
  record_view good = keyless;
  good.key = "7";
  auto kv = default_deserializer<std::pair<int64_t, int64_t>>{}(good);
  BOOST_CHECK_EQUAL(kv.first, 7);
  BOOST_CHECK_EQUAL(kv.second, 1);
}

BOOST_AUTO_TEST_SUITE_END()

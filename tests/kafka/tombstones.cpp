// Tombstones (null values): "no value" to sources that can hold it, a
// delete for join_table, skipped (counted) by the others; never parsed as
// an empty message. A non-null value that cannot be parsed still goes to
// the dead-letter topic.
#include "fixture.hpp"

#include "flow/collection.hpp"
#include "flow/join.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <optional>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

/// k0 = "1", k1 = tombstone, k2 = "" (empty, not null), k3 = "x" (no
/// number), k4 = tombstone.
std::vector<producer_record> mixed() {
  std::vector<producer_record> rs(5);
  for (size_t i = 0; i < rs.size(); ++i)
    rs[i].key = "k" + std::to_string(i);
  rs[0].value = "1";
  rs[1].tombstone = true;
  rs[2].value = "";
  rs[3].value = "x";
  rs[4].tombstone = true;
  return rs;
}

source_options named(std::string name) {
  source_options o;
  o.name = std::move(name);
  return o;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_tombstones, fixture)

BOOST_AUTO_TEST_CASE(sources_see_no_value_or_skip_tombstones) {
  auto in = make_topic("tombstones", 1);
  produce(in, mixed());

  using entry = std::pair<std::string, std::optional<std::string>>;
  flow::collector<record> records;
  flow::collector<entry> entries;
  flow::collector<std::string> strings;
  flow::collector<int64_t> numbers;
  flow::topology t{"tombstones"};
  t.source(source<record>(in, named("records"))).sink(records.sink("r"));
  t.source(source<entry>(in, named("entries"))).sink(entries.sink("e"));
  t.source(source<std::string>(in, named("strings"))).sink(strings.sink("s"));
  t.source(source<int64_t>(in, named("numbers"))).sink(numbers.sink("n"));
  auto skipped = counters().tombstones_skipped.load();
  auto dead = counters().dead_lettered.load();
  auto res = flow::runtime::execute(t, options(1));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);

  auto rs = records.records();
  BOOST_REQUIRE_EQUAL(rs.size(), 5u);
  std::vector<bool> flags;
  for (auto& r : rs)
    flags.push_back(r.tombstone);
  BOOST_TEST((flags == std::vector<bool>{false, true, false, false, true}));
  BOOST_TEST((entries.records() == std::vector<entry>{{"k0", "1"},
                                                      {"k1", std::nullopt},
                                                      {"k2", ""},
                                                      {"k3", "x"},
                                                      {"k4", std::nullopt}}));
  // Strings: the empty value is one, the tombstones are not.
  BOOST_TEST((strings.records() == std::vector<std::string>{"1", "", "x"}));
  // Numbers: "" and "x" cannot be parsed: dead letters; tombstones are
  // skipped, not dead letters.
  BOOST_TEST((numbers.records() == std::vector<int64_t>{1}));
  BOOST_TEST(counters().dead_lettered.load() - dead == 2u);
  BOOST_TEST(counters().tombstones_skipped.load() - skipped == 4u);
  auto dlq = read_all(in + ".dlq");
  BOOST_REQUIRE_EQUAL(dlq.size(), 2u);
  BOOST_TEST(!dlq[0].tombstone);
  BOOST_TEST(dlq[1].value == "x");
}

BOOST_AUTO_TEST_CASE(a_tombstone_deletes_from_a_join_table) {
  // The table topic: customers c1..c3, then c2 deleted. Orders of every
  // customer join after the table is loaded (event time, bounded table
  // source: it ends first); c2's order finds nothing.
  auto customers = make_topic("tomb-customers", 2);
  std::vector<producer_record> cs;
  for (auto c : {"c1", "c2", "c3"}) {
    producer_record r;
    r.key = c;
    r.value = std::string("name-") + c;
    cs.push_back(r);
  }
  producer_record del;
  del.key = "c2";
  del.tombstone = true;
  cs.push_back(del);
  produce(customers, cs);

  using customer = std::pair<std::string, std::optional<std::string>>;
  using order = std::pair<int64_t, std::string>; // (id, customer)
  std::vector<order> orders{{1, "c1"}, {2, "c2"}, {3, "c3"}, {4, "c4"}};
  flow::collector<std::pair<int64_t, std::string>> out;
  flow::topology t{"tomb-join"};
  auto o = t.source(flow::from_collection(orders, "orders"))
               .assign_timestamps([](const order& x) { return x.first; }, 0)
               .key_by([](const order& x) { return x.second; });
  auto table =
      t.source(source<customer>(customers)).key_by([](const customer& c) {
        return c.first;
      });
  flow::join_table(
      o, table,
      [](const order& x, const customer& c) {
        return std::make_pair(x.first, *c.second);
      },
      flow::time_domain::event)
      .sink(out.sink());
  auto res = flow::runtime::execute(t, options(2));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  auto got = out.records();
  std::sort(got.begin(), got.end());
  BOOST_TEST((got == std::vector<std::pair<int64_t, std::string>>{
                         {1, "name-c1"}, {3, "name-c3"}}));
}

BOOST_AUTO_TEST_CASE(changelog_entries_carry_deletes_and_their_time) {
  // A sink of changelog_entry writes key, value or a tombstone, and the
  // entry's time as the record's timestamp; a source of it reads all three
  // back (what a versioned join's table side needs).
  using entry = flow::changelog_entry<std::string, std::string>;
  auto topic = make_topic("changelog-entries", 1);
  std::vector<entry> in{{"a", "1", 1700000000000},
                        {"b", std::nullopt, 1700000000005},
                        {"a", std::nullopt, 1700000000009}};
  flow::topology w{"write-entries"};
  w.source(flow::from_collection(in, "entries")).sink(sink<entry>(topic));
  auto res = flow::runtime::execute(w, options(1));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  auto raw = read_all(topic);
  BOOST_REQUIRE_EQUAL(raw.size(), 3u);
  BOOST_TEST(!raw[0].tombstone);
  BOOST_TEST(raw[1].tombstone);
  BOOST_TEST(raw[2].tombstone);
  BOOST_TEST(raw[1].timestamp == 1700000000005);

  flow::collector<entry> out;
  flow::topology r{"read-entries"};
  r.source(source<entry>(topic)).sink(out.sink());
  res = flow::runtime::execute(r, options(1));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  auto back = out.records();
  BOOST_REQUIRE_EQUAL(back.size(), 3u);
  for (size_t i = 0; i < in.size(); ++i) {
    BOOST_TEST(back[i].key == in[i].key);
    BOOST_TEST((back[i].value == in[i].value));
    BOOST_TEST(back[i].timestamp == in[i].timestamp);
  }
}

BOOST_AUTO_TEST_SUITE_END()

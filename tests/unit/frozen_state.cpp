// Keyed state in memory frozen for a checkpoint (keyed_store::freeze): the
// snapshot is written later, on any thread, and is the state as it was,
// whatever the store did since; the store copies a key group the snapshot
// holds before it changes it, and takes back one the snapshot let go.
#include "seed.hpp"

#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace flow;

namespace {

constexpr uint32_t groups = 128;
using store = keyed_store<std::string, int64_t>;
/// Key group -> key -> value.
using contents = std::map<uint32_t, std::map<std::string, int64_t>>;

uint32_t group_of(const std::string& k) { return key_group_for(k, groups); }

contents decode(const std::vector<key_group_snapshot>& snapshot) {
  contents all;
  for (auto& g : snapshot) {
    const char* pos = g.bytes.data();
    const char* end = pos + g.bytes.size();
    auto& entries = all[g.key_group];
    for (auto& [k, v] : serde<store::map_type>::read(pos, end))
      entries.emplace(k, v);
    BOOST_CHECK(pos == end);
    BOOST_CHECK(!entries.empty());
  }
  BOOST_CHECK_EQUAL(all.size(), snapshot.size());
  return all;
}

/// What `s` holds now, read without freezing it.
contents contents_of(const store& s) {
  contents all;
  for (uint32_t kg = 0; kg < groups; ++kg)
    for (auto& [k, v] : s.key_group(kg))
      all[kg].emplace(k, v);
  return all;
}

/// A store whose snapshots are frozen, and a twin that is never frozen;
/// changed alike.
struct frozen_and_twin {
  std::unique_ptr<store> frozen = std::make_unique<store>(groups);
  store twin{groups};
  key_group_states states{groups};
  frozen_and_twin() { states.add(*frozen); }

  /// A batch of random adds, overwrites through find(), erases.
  void change(std::mt19937_64& rng) {
    for (int i = 0, n = 1 + static_cast<int>(rng() % 300); i < n; ++i) {
      auto k = "k" + std::to_string(rng() % 3000);
      auto kg = group_of(k);
      auto what = rng();
      if (what % 4 == 0) {
        frozen->erase(kg, k);
        twin.erase(kg, k);
      } else if (what % 4 == 1) {
        if (auto v = frozen->find(kg, k)) *v = static_cast<int64_t>(what);
        if (auto v = twin.find(kg, k)) *v = static_cast<int64_t>(what);
      } else {
        frozen->get_or_create(kg, k) += static_cast<int64_t>(what % 1000);
        twin.get_or_create(kg, k) += static_cast<int64_t>(what % 1000);
      }
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(frozen_state_in_memory)

BOOST_AUTO_TEST_CASE(a_snapshot_writes_the_state_as_it_was_later) {
  auto seed = flow::test::test_seed();
  std::mt19937_64 rng{seed};
  BOOST_TEST_MESSAGE("seed " << seed);
  frozen_and_twin p;
  for (int i = 0; i < 20; ++i)
    p.change(rng);

  // Two snapshots before either is written: the second shares the key
  // groups the first holds and the store has not changed since.
  std::vector<key_group_snapshot> first, second;
  auto first_later = p.states.snapshot(first);
  BOOST_REQUIRE(first_later);
  BOOST_CHECK(first.empty());
  auto first_wanted = contents_of(p.twin);
  BOOST_REQUIRE(!first_wanted.empty());
  for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i)
    p.change(rng);
  auto second_later = p.states.snapshot(second);
  BOOST_REQUIRE(second_later);
  auto second_wanted = contents_of(p.twin);

  // The first written on another thread while the store changes.
  std::thread writer{[&] { first_later(first); }};
  for (int i = 0; i < 30; ++i)
    p.change(rng);
  writer.join();
  BOOST_CHECK(decode(first) == first_wanted);
  second_later(second);
  BOOST_CHECK(decode(second) == second_wanted);
  BOOST_CHECK(contents_of(*p.frozen) == contents_of(p.twin));

  // Taken, then the store destroyed before it is written.
  std::vector<key_group_snapshot> last;
  auto last_later = p.states.snapshot(last);
  BOOST_REQUIRE(last_later);
  auto last_wanted = contents_of(p.twin);
  p.frozen.reset();
  last_later(last);
  BOOST_CHECK(decode(last) == last_wanted);
  BOOST_CHECK(last_wanted != first_wanted); // 30 batches changed something
}

BOOST_AUTO_TEST_CASE(a_key_group_is_copied_only_while_a_snapshot_holds_it) {
  store s{groups};
  key_group_states states{groups};
  states.add(s);
  std::string k = "key";
  auto kg = group_of(k);
  s.get_or_create(kg, k) = 1;
  auto* before = s.find(kg, k);

  // Written and dropped before the store touches the key group: the store
  // takes its map back, entries where they were.
  std::vector<key_group_snapshot> out;
  auto later = states.snapshot(out);
  BOOST_REQUIRE(later);
  later(out);
  later = nullptr;
  BOOST_CHECK_EQUAL(s.find(kg, k), before);

  // Held: the store changes a copy, the snapshot keeps its value.
  out.clear();
  later = states.snapshot(out);
  BOOST_REQUIRE(later);
  auto* copy = s.find(kg, k);
  BOOST_CHECK_NE(copy, before);
  *copy = 2;
  later(out);
  BOOST_CHECK(decode(out) == (contents{{kg, {{k, 1}}}}));
  BOOST_CHECK_EQUAL(*s.find(kg, k), 2);
}

BOOST_AUTO_TEST_SUITE_END()

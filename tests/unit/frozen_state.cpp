// Keyed state in memory frozen for a checkpoint (keyed_store::freeze): the
// snapshot is written later, on another thread, and is the state as it
// was, whatever the store did since. Each key group is serialized once: by
// the snapshot's writer, or by the store before it changes the key group;
// either side waits while the other writes it.
#include "seed.hpp"

#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace flow;

namespace {

constexpr uint32_t groups = 128;
using store = keyed_store<std::string, int64_t>;
/// Key group -> key -> value.
using contents = std::map<uint32_t, std::map<std::string, int64_t>>;

uint32_t group_of(const std::string& k) {
  return key_group_for(k, groups);
}

/// A value whose serialization is counted and, once armed, waits for the
/// test or throws: a writer held in the middle of a key group.
struct gated {
  int64_t n = 0;
};
struct gate {
  static inline std::atomic<int> writes{0};
  static inline std::atomic<bool> armed{false};
  static inline std::atomic<bool> entered{false};
  static inline std::atomic<bool> open{false};
  static inline std::atomic<bool> fail{false};
  static void reset() {
    writes = 0;
    armed = entered = open = fail = false;
  }
};

} // namespace

template <>
struct flow::serde<gated> {
  static constexpr bool available = true;
  static void write(const gated& x, std::vector<char>& out) {
    ++gate::writes;
    if (gate::fail.exchange(false)) throw std::runtime_error("no memory");
    if (gate::armed.exchange(false)) {
      gate::entered = true;
      while (!gate::open)
        std::this_thread::yield();
    }
    serde<int64_t>::write(x.n, out);
  }
  static gated read(const char*& pos, const char* end) {
    return {serde<int64_t>::read(pos, end)};
  }
};

namespace {

using gated_store = keyed_store<std::string, gated>;

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

/// The value of the only entry of a gated_store's snapshot.
int64_t only_value(const std::vector<key_group_snapshot>& snapshot) {
  BOOST_REQUIRE_EQUAL(snapshot.size(), 1u);
  auto& bytes = snapshot[0].bytes;
  const char* pos = bytes.data();
  auto m = serde<gated_store::map_type>::read(pos, pos + bytes.size());
  BOOST_REQUIRE_EQUAL(m.size(), 1u);
  return m.begin()->second.n;
}

/// A gated_store holding one key, its value 1; snapshot() takes a snapshot
/// into `out`, which `later` writes.
struct one_key {
  gated_store s{groups};
  key_group_states states{groups};
  std::string k = "key";
  uint32_t kg = group_of(k);
  std::vector<key_group_snapshot> out;
  deferred_key_groups later;
  one_key() {
    gate::reset();
    states.add(s);
    s.get_or_create(kg, k).n = 1;
  }
  gated& value() { return *s.find(kg, k); }
  void snapshot() {
    out.clear();
    later = states.snapshot(out);
    BOOST_REQUIRE(later);
  }
};

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

  // Written on another thread while the store changes: both sides claim
  // key groups, in whatever order the threads run.
  contents first_wanted;
  for (int round = 0; round < 20; ++round) {
    std::vector<key_group_snapshot> out;
    auto later = p.states.snapshot(out);
    BOOST_REQUIRE(later);
    BOOST_CHECK(out.empty());
    auto wanted = contents_of(p.twin);
    BOOST_REQUIRE(!wanted.empty());
    if (round == 0) first_wanted = wanted;
    std::thread writer{[&] { later(out); }};
    for (int i = 0, n = static_cast<int>(rng() % 8); i < n; ++i)
      p.change(rng);
    writer.join();
    BOOST_CHECK(decode(out) == wanted);
    BOOST_CHECK(contents_of(*p.frozen) == contents_of(p.twin));
  }

  // A second snapshot before the first is written: the store writes what
  // the first still holds, then lends the maps again.
  std::vector<key_group_snapshot> first, second;
  auto first_later = p.states.snapshot(first);
  auto first_wanted_now = contents_of(p.twin);
  p.change(rng);
  auto second_later = p.states.snapshot(second);
  auto second_wanted = contents_of(p.twin);
  std::thread writer{[&] { second_later(second); }};
  p.change(rng);
  writer.join();
  first_later(first);
  BOOST_CHECK(decode(first) == first_wanted_now);
  BOOST_CHECK(decode(second) == second_wanted);
  // Each once.
  BOOST_CHECK_THROW(first_later(first), std::logic_error);

  // Taken, then the store destroyed before it is written.
  std::vector<key_group_snapshot> last;
  auto last_later = p.states.snapshot(last);
  BOOST_REQUIRE(last_later);
  auto last_wanted = contents_of(p.twin);
  p.frozen.reset();
  last_later(last);
  BOOST_CHECK(decode(last) == last_wanted);
  BOOST_CHECK(last_wanted != first_wanted); // the batches changed something
}

BOOST_FIXTURE_TEST_CASE(the_store_writes_a_key_group_it_changes_first,
                        one_key) {
  auto* before = &value();

  // Written and dropped: the store takes its map back, entries where they
  // were; the key group was serialized once.
  snapshot();
  later(out);
  later = nullptr;
  BOOST_CHECK_EQUAL(&value(), before);
  BOOST_CHECK_EQUAL(gate::writes, 1);

  // Not written yet: the store writes the key group, takes the map back
  // (no copy) and changes it; the writer hands over what the store wrote.
  snapshot();
  BOOST_CHECK_EQUAL(&value(), before);
  BOOST_CHECK_EQUAL(gate::writes, 2);
  value().n = 2;
  later(out);
  BOOST_CHECK_EQUAL(gate::writes, 2);
  BOOST_CHECK_EQUAL(only_value(out), 1);
  BOOST_CHECK_EQUAL(value().n, 2);

  // Dropped unwritten (a checkpoint abandoned): nothing to write.
  snapshot();
  later = nullptr;
  value().n = 3;
  BOOST_CHECK_EQUAL(gate::writes, 2);
}

BOOST_FIXTURE_TEST_CASE(the_store_waits_for_a_key_group_the_writer_is_writing,
                        one_key) {
  auto* before = &value();
  snapshot();
  gate::armed = true;
  std::thread writer{[&] { later(out); }};
  while (!gate::entered)
    std::this_thread::yield();
  std::atomic<bool> changed{false};
  std::thread subtask{[&] {
    value().n = 2;
    changed = true;
  }};
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_CHECK(!changed); // still waiting for the writer
  gate::open = true;
  writer.join();
  subtask.join();
  BOOST_CHECK_EQUAL(only_value(out), 1);
  BOOST_CHECK_EQUAL(&value(), before); // taken back, not copied
  BOOST_CHECK_EQUAL(value().n, 2);
  BOOST_CHECK_EQUAL(gate::writes, 1);
}

BOOST_FIXTURE_TEST_CASE(the_writer_waits_for_a_key_group_the_store_is_writing,
                        one_key) {
  snapshot();
  gate::armed = true;
  std::thread subtask{[&] { value().n = 2; }};
  while (!gate::entered)
    std::this_thread::yield();
  std::atomic<bool> written{false};
  std::thread writer{[&] {
    later(out);
    written = true;
  }};
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_CHECK(!written); // still waiting for the store
  gate::open = true;
  subtask.join();
  writer.join();
  BOOST_CHECK_EQUAL(only_value(out), 1);
  BOOST_CHECK_EQUAL(value().n, 2);
  BOOST_CHECK_EQUAL(gate::writes, 1);
}

BOOST_FIXTURE_TEST_CASE(a_key_group_the_store_failed_to_write_is_still_lent,
                        one_key) {
  snapshot();
  gate::fail = true;
  BOOST_CHECK_THROW(value(), std::runtime_error);
  later(out); // the writer writes it, without waiting
  BOOST_CHECK_EQUAL(only_value(out), 1);
  value().n = 2;
  BOOST_CHECK_EQUAL(value().n, 2);
}

BOOST_AUTO_TEST_SUITE_END()

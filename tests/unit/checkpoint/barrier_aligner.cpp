#include "flow/checkpoint/barrier_aligner.hpp"

#include "../seed.hpp"

#include <boost/test/unit_test.hpp>

#include <deque>
#include <map>
#include <random>
#include <stdexcept>

using namespace flow;
using namespace flow::checkpoint;
using flow::test::test_seed;
using verdict = barrier_aligner::verdict;

BOOST_AUTO_TEST_SUITE(checkpoint_barrier_aligner)

BOOST_AUTO_TEST_CASE(one_input_aligns_at_once) {
  barrier_aligner a{1};
  auto o = a.on_barrier(0, checkpoint_id{1}, 100);
  BOOST_CHECK(o.what == verdict::aligned);
  BOOST_CHECK_EQUAL(o.alignment_ms, 0);
  BOOST_CHECK(!a.blocked(0));
  BOOST_CHECK(!a.aligning());
}

BOOST_AUTO_TEST_CASE(blocks_each_input_until_all_delivered_the_barrier) {
  barrier_aligner a{3};
  BOOST_CHECK(a.on_barrier(1, checkpoint_id{1}, 100).what == verdict::blocked);
  BOOST_CHECK(a.blocked(1));
  BOOST_CHECK(!a.blocked(0));
  BOOST_CHECK_EQUAL(*a.aligning(), checkpoint_id{1});
  BOOST_CHECK(a.on_barrier(0, checkpoint_id{1}, 110).what == verdict::blocked);
  BOOST_CHECK_THROW(a.on_barrier(0, checkpoint_id{1}, 115), std::logic_error);
  auto o = a.on_barrier(2, checkpoint_id{1}, 125);
  BOOST_CHECK(o.what == verdict::aligned);
  BOOST_CHECK_EQUAL(o.alignment_ms, 25);
  BOOST_CHECK(!o.aborted);
  for (size_t i = 0; i < 3; ++i)
    BOOST_CHECK(!a.blocked(i));
  BOOST_CHECK(!a.aligning());
  // A barrier of a taken checkpoint is stale.
  BOOST_CHECK(a.on_barrier(0, checkpoint_id{1}, 130).what == verdict::stale);
}

BOOST_AUTO_TEST_CASE(ended_inputs_count_as_aligned) {
  barrier_aligner a{3};
  a.on_end_of_input(2, 0);
  BOOST_CHECK(a.on_barrier(0, checkpoint_id{1}, 0).what == verdict::blocked);
  BOOST_CHECK(a.on_barrier(1, checkpoint_id{1}, 5).what == verdict::aligned);
  // An input ending while the others wait completes the alignment.
  barrier_aligner b{3};
  b.on_barrier(0, checkpoint_id{4}, 10);
  b.on_barrier(1, checkpoint_id{4}, 12);
  auto o = b.on_end_of_input(2, 17);
  BOOST_CHECK(o.what == verdict::aligned);
  BOOST_CHECK_EQUAL(o.alignment_ms, 7);
  BOOST_CHECK_THROW(b.on_end_of_input(2, 20), std::logic_error);
  BOOST_CHECK_THROW(b.on_barrier(2, checkpoint_id{5}, 20), std::logic_error);
  BOOST_CHECK(b.on_end_of_input(0, 20).what == verdict::stale);
}

BOOST_AUTO_TEST_CASE(a_newer_barrier_aborts_the_older_checkpoint) {
  barrier_aligner a{3};
  a.on_barrier(0, checkpoint_id{1}, 0);
  auto o = a.on_barrier(1, checkpoint_id{2}, 10);
  BOOST_CHECK(o.what == verdict::blocked);
  BOOST_REQUIRE(o.aborted);
  BOOST_CHECK_EQUAL(*o.aborted, checkpoint_id{1});
  BOOST_CHECK(!a.blocked(0));
  BOOST_CHECK(a.blocked(1));
  BOOST_CHECK(a.on_barrier(2, checkpoint_id{1}, 11).what == verdict::stale);
  BOOST_CHECK(a.on_barrier(0, checkpoint_id{2}, 12).what == verdict::blocked);
  o = a.on_barrier(2, checkpoint_id{2}, 13);
  BOOST_CHECK(o.what == verdict::aligned);
  BOOST_CHECK_EQUAL(o.alignment_ms, 3);
  // The newer barrier can complete an alignment by itself (one open input).
  barrier_aligner b{2};
  b.on_end_of_input(1, 0);
  BOOST_CHECK(b.on_barrier(0, checkpoint_id{3}, 0).what == verdict::aligned);
}

BOOST_AUTO_TEST_CASE(a_cancelled_checkpoint_unblocks) {
  barrier_aligner a{2};
  a.on_barrier(0, checkpoint_id{6}, 0);
  BOOST_CHECK(!a.cancel(checkpoint_id{5}));
  BOOST_CHECK(a.blocked(0));
  BOOST_CHECK(a.cancel(checkpoint_id{6}));
  BOOST_CHECK(!a.blocked(0));
  BOOST_CHECK(a.on_barrier(1, checkpoint_id{6}, 1).what == verdict::stale);
}

// Random channels of records and barriers, consumed in random order with
// blocked inputs held back as the host does. Checkpoint n aligns exactly
// once iff every channel either carries barrier n or carries no newer
// barrier (it ends, which counts as aligned); then the records processed
// before the snapshot are exactly those before barrier n on the channels
// that carry it plus all records of those that end first. A channel that
// skips n (aborted upstream) but carries a newer barrier aborts n.
BOOST_AUTO_TEST_CASE(
    randomized_alignment_accounts_exactly_the_records_before_the_barrier) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 500; ++round) {
    size_t inputs = 1 + rng() % 5;
    uint64_t checkpoints = 1 + rng() % 8;
    // Events: a record (0) or barrier n (> 0).
    std::vector<std::deque<uint64_t>> channels(inputs);
    for (auto& ch : channels) {
      for (uint64_t n = 1; n <= checkpoints; ++n) {
        for (auto r = rng() % 6; r > 0; --r)
          ch.push_back(0);
        if (rng() % 10 != 0) ch.push_back(n);
      }
      for (auto r = rng() % 4; r > 0; --r)
        ch.push_back(0);
      if (rng() % 4 == 0) ch.resize(rng() % (ch.size() + 1));
    }
    std::map<uint64_t, uint64_t> expected; // checkpoint -> records before
    for (uint64_t n = 1; n <= checkpoints; ++n) {
      bool aligns = false;
      uint64_t before = 0;
      for (auto& ch : channels) {
        uint64_t records = 0;
        bool carries = false, newer = false;
        for (auto ev : ch) {
          if (ev == n) carries = true;
          if (ev > n && !carries) newer = true;
          if (ev == 0 && !carries) ++records;
        }
        if (newer) {
          aligns = false;
          break;
        }
        aligns = aligns || carries;
        before += records;
      }
      if (aligns) expected[n] = before;
    }
    barrier_aligner a{inputs};
    uint64_t processed = 0;
    std::map<uint64_t, uint64_t> snapshots;
    std::map<uint64_t, int> aligned_count;
    std::vector<bool> ended(inputs);
    int64_t now = 0;
    for (;;) {
      std::vector<size_t> ready;
      for (size_t c = 0; c < inputs; ++c)
        if (!a.blocked(c) && !ended[c]) ready.push_back(c);
      if (ready.empty()) break;
      auto c = ready[rng() % ready.size()];
      ++now;
      barrier_aligner::outcome o;
      if (channels[c].empty()) {
        ended[c] = true;
        o = a.on_end_of_input(c, now);
      } else {
        auto ev = channels[c].front();
        channels[c].pop_front();
        if (ev == 0) {
          ++processed;
          continue;
        }
        o = a.on_barrier(c, checkpoint_id{ev}, now);
      }
      if (o.what == verdict::aligned) {
        auto n = a.latest().value();
        snapshots[n] = processed;
        ++aligned_count[n];
      }
    }
    for (size_t c = 0; c < inputs; ++c)
      BOOST_REQUIRE(channels[c].empty());
    for (uint64_t n = 1; n <= checkpoints; ++n) {
      BOOST_TEST_INFO("round " << round << " checkpoint " << n);
      if (expected.count(n)) {
        BOOST_REQUIRE_EQUAL(aligned_count[n], 1);
        BOOST_REQUIRE_EQUAL(snapshots[n], expected[n]);
      } else {
        BOOST_REQUIRE_EQUAL(aligned_count[n], 0);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

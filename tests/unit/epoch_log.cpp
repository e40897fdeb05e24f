// The exactly-once Kafka sink's decisions (flow::kafka::epoch_log), free of
// a broker: which records a completed checkpoint publishes, with which
// marker, and which restored records an earlier run committed already.
// The last case drives the whole protocol through seeded random crashes.
#include "flow/kafka/epoch_log.hpp"
#include "flow/kafka/error.hpp"

#include "seed.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

using namespace flow;
using namespace flow::kafka;

namespace {

producer_record rec(const std::string& v) {
  producer_record r;
  r.value = v;
  return r;
}

std::vector<std::string> values(const publication& p) {
  std::vector<std::string> out;
  for (auto& e : p.epochs)
    for (auto& r : e.decode())
      out.push_back(r.value);
  return out;
}

using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(kafka_epoch_log)

BOOST_AUTO_TEST_CASE(state_round_trips_every_field_of_a_record) {
  epoch_log log{1 << 20, "limit"};
  producer_record full;
  full.key = std::string("k\0y", 3);
  full.value = "value";
  full.partition = 3;
  full.timestamp = 1700000000000;
  full.headers = {{"h1", "v1"}, {"h2", ""}};
  producer_record tomb;
  tomb.key = "gone";
  tomb.tombstone = true;
  log.append(std::move(full));
  log.close(checkpoint_id{4});
  log.append(std::move(tomb));
  log.close(checkpoint_id{5});
  log.append(rec("open")); // not in the state: after the last barrier

  epoch_log back{1 << 20, "limit"};
  back.restore(log.encode().flatten());
  BOOST_REQUIRE_EQUAL(back.closed().size(), 2u);
  auto a = back.closed()[0].decode().at(0);
  BOOST_CHECK_EQUAL(back.closed()[0].id.value(), 4u);
  BOOST_CHECK(a.key == std::string("k\0y", 3));
  BOOST_CHECK_EQUAL(a.value, "value");
  BOOST_CHECK(a.partition == 3);
  BOOST_CHECK(a.timestamp == 1700000000000);
  BOOST_CHECK(a.headers == (std::vector<header>{{"h1", "v1"}, {"h2", ""}}));
  BOOST_CHECK(!a.tombstone);
  auto b = back.closed()[1].decode().at(0);
  BOOST_CHECK(b.tombstone);
  BOOST_CHECK(!b.partition && !b.timestamp);
  BOOST_CHECK_EQUAL(back.open_records(), 0u);
  BOOST_CHECK_EQUAL(back.bytes(), log.bytes() - 4);

  BOOST_CHECK_THROW(back.restore("nonsense"), std::invalid_argument);
  auto cut = log.encode().flatten();
  cut.pop_back();
  BOOST_CHECK_THROW(back.restore(cut), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(
    a_completed_checkpoint_publishes_its_epochs_and_earlier_ones) {
  epoch_log log{1 << 20, "limit"};
  log.append(rec("a"));
  log.close(checkpoint_id{1});
  log.append(rec("b"));
  log.close(checkpoint_id{2});
  log.append(rec("c"));
  log.close(checkpoint_id{3});
  log.append(rec("d"));
  BOOST_CHECK(!log.publishable(checkpoint_id{0}));
  auto p = log.publishable(checkpoint_id{2});
  BOOST_REQUIRE(p);
  BOOST_CHECK(values(*p) == (strings{"a", "b"}));
  BOOST_CHECK_EQUAL(p->marker, 2);
  // Until confirmed the epochs stay in the state (the transaction may fail).
  BOOST_CHECK_EQUAL(log.closed().size(), 3u);
  log.confirm(*p);
  BOOST_REQUIRE_EQUAL(log.closed().size(), 1u);
  BOOST_CHECK_EQUAL(log.closed()[0].id.value(), 3u);
  BOOST_CHECK_THROW(log.close(checkpoint_id{3}), std::logic_error);
}

BOOST_AUTO_TEST_CASE(
    restored_epochs_the_marker_covers_are_not_published_again) {
  epoch_log first{1 << 20, "limit"};
  first.append(rec("a"));
  first.close(checkpoint_id{3});
  first.append(rec("b"));
  first.close(checkpoint_id{4});
  auto state = first.encode().flatten();

  // Crashed after committing epoch 3 (marker 3), before 4 was published.
  epoch_log second{1 << 20, "limit"};
  second.restore(state);
  BOOST_CHECK_EQUAL(second.reconcile(3, checkpoint_id{4}), 1u);
  auto p = second.publishable(checkpoint_id{4});
  BOOST_REQUIRE(p);
  BOOST_CHECK(values(*p) == strings{"b"});
  BOOST_CHECK_EQUAL(p->marker, 4);

  // Crashed after committing both: nothing again.
  epoch_log third{1 << 20, "limit"};
  third.restore(state);
  BOOST_CHECK_EQUAL(third.reconcile(4, checkpoint_id{4}), 2u);
  BOOST_CHECK(!third.publishable(checkpoint_id{4}));

  // Crashed before committing anything (no marker yet).
  epoch_log fourth{1 << 20, "limit"};
  fourth.restore(state);
  BOOST_CHECK_EQUAL(fourth.reconcile(-1, checkpoint_id{4}), 0u);
  BOOST_CHECK(values(*fourth.publishable(checkpoint_id{4})) ==
              (strings{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(a_new_lineage_marks_above_what_earlier_runs_committed) {
  // A fresh start (flow.restore=none, a new directory) where an earlier
  // job committed up to marker 57: checkpoint ids begin at 1 again.
  epoch_log log{1 << 20, "limit"};
  log.reconcile(57, checkpoint_id{0});
  BOOST_CHECK_EQUAL(log.base(), 57);
  log.append(rec("x"));
  log.close(checkpoint_id{1});
  BOOST_CHECK_EQUAL(log.publishable(checkpoint_id{1})->marker, 58);
  // ... and base is part of the state.
  epoch_log back{1 << 20, "limit"};
  back.restore(log.encode().flatten());
  BOOST_CHECK_EQUAL(back.reconcile(57, checkpoint_id{1}), 0u);
  BOOST_CHECK_EQUAL(back.publishable(checkpoint_id{1})->marker, 58);

  // An older checkpoint (2) restored after later ones were committed
  // (marker 10): its epochs are committed; new markers go above 10.
  epoch_log old{1 << 20, "limit"};
  old.append(rec("y"));
  old.close(checkpoint_id{2});
  auto st = old.encode().flatten();
  epoch_log again{1 << 20, "limit"};
  again.restore(st);
  BOOST_CHECK_EQUAL(again.reconcile(10, checkpoint_id{2}), 1u);
  again.append(rec("z"));
  again.close(checkpoint_id{3});
  BOOST_CHECK_EQUAL(again.publishable(checkpoint_id{3})->marker, 11);
}

BOOST_AUTO_TEST_CASE(
    records_taken_early_and_the_rest_after_the_barrier_are_all_once) {
  // exactly_once_writer passes the open epoch's records into the open
  // transaction as they come, as far as the producer's queue takes them
  // (take_open), and the rest of the epoch after its barrier, from where
  // that stopped (epoch::for_each from the offset): every record once, in
  // order, whole (key or none, tombstone, value, partition, timestamp,
  // headers), whatever the producer declined when.
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 100; ++round) {
    // Small chunks, so that the offers stop and go on across them.
    // Or large ones, so that the runs stop at run_records.
    auto chunk_bytes =
        rng() % 2 ? 32 + rng() % 200 : epoch_log::default_chunk_bytes;
    epoch_log log{1 << 24, "limit", chunk_bytes};
    std::vector<producer_record> sent, got;
    epoch_position taken;
    auto n = rng() % 3000;
    // Each record as offered, whole.
    auto note = [&](const record_run::entry& r) {
      producer_record p;
      if (r.key) p.key = std::string(*r.key);
      p.tombstone = r.value.data() == nullptr;
      p.value = std::string(r.value);
      p.partition = r.partition;
      p.timestamp = r.timestamp;
      p.headers = r.headers;
      got.push_back(std::move(p));
    };
    auto check_run = [&](const record_run& run) {
      BOOST_REQUIRE(!run.records.empty());
      BOOST_REQUIRE_LE(run.records.size(), epoch_log::run_records);
    };
    for (size_t i = 0; i < n; ++i) {
      auto r = rec(std::to_string(i));
      if (rng() % 5 == 0) r.key = "k" + std::to_string(i % 7);
      if (rng() % 9 == 0) r.headers = {{"h", std::to_string(i)}};
      if (rng() % 11 == 0) r.partition = static_cast<int32_t>(i % 3);
      if (rng() % 13 == 0) r.timestamp = static_cast<int64_t>(1000 + i);
      if (rng() % 17 == 0) {
        r.tombstone = true;
        r.value.clear();
      }
      sent.push_back(r);
      log.append(std::move(r));
      if (rng() % 40 == 0) {
        // records the producer's queue takes now
        auto room = rng() % 2 ? rng() % 5 : rng() % 2000;
        taken = log.take_open(taken, [&](const record_run& run) {
          check_run(run);
          auto k = std::min<size_t>(room, run.records.size());
          for (size_t j = 0; j < k; ++j)
            note(run.records[j]);
          room -= k;
          return k;
        });
      }
    }
    log.close(checkpoint_id{1});
    BOOST_REQUIRE_EQUAL(log.closed().size(), 1u);
    log.closed()[0].for_each(
        [&](const record_run& run) {
          check_run(run);
          for (auto& r : run.records)
            note(r);
        },
        taken);
    BOOST_REQUIRE_EQUAL(got.size(), n);
    for (size_t i = 0; i < n; ++i) {
      auto& g = got[i];
      auto& e = sent[i];
      BOOST_REQUIRE(g.key == e.key);
      BOOST_REQUIRE_EQUAL(g.tombstone, e.tombstone);
      BOOST_REQUIRE_EQUAL(g.value, e.value);
      BOOST_REQUIRE(g.partition == e.partition);
      BOOST_REQUIRE(g.timestamp == e.timestamp);
      BOOST_REQUIRE(g.headers == e.headers);
    }
  }
}

BOOST_AUTO_TEST_CASE(records_never_move_and_never_span_two_chunks) {
  // A producer sends values from where the log put them, also while the
  // epoch still fills: a chunk must never grow (and move) once a record is
  // in it, and each record lies in one chunk, the one its offer names.
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  const size_t chunk = 64 + rng() % 256;
  epoch_log log{1 << 24, "limit", chunk};
  struct seen {
    std::string_view value;
    std::shared_ptr<const std::string> buffer;
    const char* buffer_data;
    std::string expected;
  };
  std::vector<seen> offered;
  epoch_position taken;
  strings expected;
  auto offer = [&](const record_run& run) {
    for (auto& r : run.records)
      offered.push_back(
          {r.value, run.buffer, run.buffer->data(), expected[offered.size()]});
    return run.records.size();
  };
  for (size_t i = 0; i < 500; ++i) {
    // Some larger than a chunk: they get one of their own.
    auto size = rng() % 8 == 0 ? chunk + rng() % chunk : rng() % (chunk / 2);
    auto v = std::to_string(i) + std::string(size, 'a' + i % 26);
    expected.push_back(v);
    log.append(rec(v));
    if (rng() % 3 == 0) taken = log.take_open(taken, offer);
  }
  log.close(checkpoint_id{1});
  log.closed()[0].for_each([&](const record_run& run) { offer(run); }, taken);
  BOOST_REQUIRE_EQUAL(offered.size(), expected.size());
  BOOST_CHECK_GT(log.closed()[0].chunks.size(), 10u);
  for (auto& o : offered) {
    BOOST_REQUIRE(o.buffer->data() == o.buffer_data); // never moved
    BOOST_REQUIRE(o.value.data() >= o.buffer->data() &&
                  o.value.data() + o.value.size() <=
                      o.buffer->data() + o.buffer->size());
    BOOST_REQUIRE_EQUAL(o.value, o.expected);
  }
  // Chunks are the checkpoint's pieces: the state restores the same epoch.
  epoch_log back{1 << 24, "limit"};
  back.restore(log.encode().flatten());
  strings restored;
  for (auto& r : back.closed()[0].decode())
    restored.push_back(r.value);
  BOOST_CHECK(restored == expected);
}

BOOST_AUTO_TEST_CASE(an_epochs_chunk_is_filled_again_once_nothing_holds_it) {
  // A published epoch's chunk comes back when the last holder (here the
  // publication) lets go, and a later epoch fills it: no fresh pages per
  // interval. A chunk still held is never reused.
  epoch_log log{1 << 20, "limit"};
  auto fill = [&](size_t n) {
    for (size_t i = 0; i < n; ++i)
      log.append(rec(std::string(100, 'x')));
  };
  fill(100);
  log.close(checkpoint_id{1});
  BOOST_REQUIRE_EQUAL(log.closed().back().chunks.size(), 1u);
  auto first = log.closed().back().chunks[0];
  const char* first_bytes = first->data();
  auto p = log.publishable(checkpoint_id{1});
  BOOST_REQUIRE(p);
  log.confirm(*p);
  fill(90);
  log.close(checkpoint_id{2}); // epoch 1 is still held (first, p)
  BOOST_CHECK(log.closed().back().chunks[0]->data() != first_bytes);
  p.reset();
  first.reset(); // epoch 1's buffer is free now
  log.confirm(*log.publishable(checkpoint_id{2}));
  fill(80);
  log.close(checkpoint_id{3});
  // Epoch 1's chunk is free now: epoch 3 (its first record came after)
  // fills it.
  BOOST_CHECK(log.closed().back().chunks[0]->data() == first_bytes);
  fill(70);
  log.close(checkpoint_id{4});
  auto four = log.closed().back().decode();
  BOOST_REQUIRE_EQUAL(four.size(), 70u);
  BOOST_CHECK_EQUAL(four.back().value, std::string(100, 'x'));
}

BOOST_AUTO_TEST_CASE(epoch_buffers_keep_a_few_large_enough_ones) {
  epoch_buffers buffers;
  std::vector<const char*> given;
  for (size_t i = 0; i <= epoch_buffers::kept; ++i) {
    auto b = std::make_unique<std::string>(1000, 'y');
    given.push_back(b->data());
    buffers.give_back(std::move(b)); // the last is one too many: freed
  }
  auto big = buffers.take(5000); // none is large enough
  BOOST_CHECK(big.empty() && big.capacity() >= 5000);
  for (size_t i = 0; i < epoch_buffers::kept; ++i) {
    auto b = buffers.take(500);
    BOOST_CHECK(b.empty());
    BOOST_CHECK(std::find(given.begin(), given.end(), b.data()) != given.end());
  }
  BOOST_CHECK(std::find(given.begin(), given.end(), buffers.take(500).data()) ==
              given.end());
}

BOOST_AUTO_TEST_CASE(more_than_the_limit_fails_naming_the_option) {
  epoch_log log{10, "kafka.exactly-once-buffer-bytes"};
  log.append(rec("12345"));
  log.close(checkpoint_id{1});
  log.append(rec("12345"));
  try {
    log.append(rec("1"));
    BOOST_FAIL("no error past the limit");
  } catch (const kafka_error& e) {
    BOOST_CHECK_NE(
        std::string(e.what()).find("kafka.exactly-once-buffer-bytes = 10"),
        std::string::npos);
  }
  log.confirm(*log.publishable(checkpoint_id{1}));
  log.append(rec("12345")); // room again once epoch 1 is committed
}

BOOST_AUTO_TEST_CASE(random_crashes_never_lose_or_repeat_a_record) {
  // The protocol of exactly_once_writer against a model of the broker
  // (transactions are atomic: records and marker together) and of the
  // checkpoint store: records 0..n-1 in order, barriers at random, each
  // checkpoint completes or not, the process crashes at random moments:
  // before a publication, "during" it (not committed), after its commit
  // but before the sink confirmed it. Each run restores the latest
  // complete checkpoint and replays the input from its position.
  auto seed = test::test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  int total_crashes = 0;
  for (int round = 0; round < 200; ++round) {
    BOOST_TEST_INFO("round " << round);
    const uint64_t n = 200 + rng() % 800;
    std::vector<std::string> output; // committed, in order
    int64_t marker = -1;
    struct checkpoint {
      uint64_t id = 0;
      uint64_t position = 0; // next input record
      std::string state;
    };
    std::optional<checkpoint> latest;
    uint64_t next_id = 1;
    int crashes = 0;
    bool done = false;
    while (!done) {
      epoch_log log{1 << 24, "limit"};
      uint64_t pos = 0;
      checkpoint_id restored{0};
      if (latest) {
        log.restore(latest->state);
        pos = latest->position;
        restored = checkpoint_id{latest->id};
        next_id = latest->id + 1;
      }
      log.reconcile(marker, restored);
      checkpoint_id completed = restored;
      auto publish = [&]() -> bool { // false: crashed
        auto p = log.publishable(completed);
        if (!p) return true;
        auto fate = rng() % 20;
        if (fate == 0) return false; // before or during: nothing committed
        for (auto& v : values(*p))
          output.push_back(v);
        marker = p->marker;
        if (fate == 1) return false; // committed, not confirmed
        log.confirm(*p);
        return true;
      };
      bool crashed = !publish();
      while (!crashed) {
        if (pos == n && log.closed().empty() && log.open_records() == 0) {
          done = true;
          break;
        }
        auto step = rng() % 10;
        if (step < 6 && pos < n) {
          log.append(rec(std::to_string(pos++)));
        } else if (step < 8 || pos == n) {
          checkpoint_id id{next_id++};
          log.close(id);
          if (rng() % 4) { // complete (else aborted: never restored)
            latest = checkpoint{id.value(), pos, log.encode().flatten()};
            completed = id;
            crashed = !publish();
          }
        } else if (rng() % 8 == 0) {
          crashed = true; // kill -9 anywhere
        }
      }
      crashes += crashed;
    }
    BOOST_REQUIRE_EQUAL(output.size(), n);
    for (uint64_t i = 0; i < n; ++i)
      BOOST_REQUIRE_EQUAL(output[i], std::to_string(i));
    total_crashes += crashes;
  }
  BOOST_TEST_MESSAGE(total_crashes << " crashes in 200 rounds");
  BOOST_REQUIRE_GT(total_crashes, 200);
}

BOOST_AUTO_TEST_SUITE_END()

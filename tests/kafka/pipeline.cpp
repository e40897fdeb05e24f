// Kafka -> map -> Kafka with 10^6 records: the output multiset equals the
// expected one exactly (no loss, no duplicate) and the order per key holds.
// The producer's partitioning, and its batches through a full queue.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <map>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_pipeline, fixture)

BOOST_AUTO_TEST_CASE(million_records_exact_and_ordered_per_key) {
  constexpr uint64_t n = 1000000;
  constexpr uint64_t keys = 1000;
  auto in = make_topic("in", 4);
  auto out = make_topic("out", 4);
  {
    auto t0 = std::chrono::steady_clock::now();
    topic_producer w{settings, in};
    for (uint64_t i = 0; i < n; ++i) {
      // Value "<key>:<sequence within key>".
      auto k = "k" + std::to_string(i % keys);
      std::string_view kv{k};
      auto v = k + ":" + std::to_string(i / keys);
      w.produce(v, &kv, {});
      if (i % 10000 == 0) w.poll();
    }
    w.flush();
    BOOST_TEST_MESSAGE("produced " << n << " in "
                                   << std::chrono::duration<double>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count()
                                   << " s");
  }

  flow::topology t{"kafka-map-kafka"};
  using kv = std::pair<std::string, std::string>;
  t.source(source<kv>(in))
      .map([](kv x) {
        x.second += "!";
        return x;
      })
      .sink(sink<kv>(out));
  auto res = flow::runtime::execute(t, options(2));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  BOOST_TEST_MESSAGE("job: " << res.seconds << " s, "
                             << static_cast<uint64_t>(n / res.seconds)
                             << " records/s");

  auto got = read_all(out);
  BOOST_REQUIRE_EQUAL(got.size(), n);
  // Every (key, sequence) exactly once, in order per key, one partition
  // per key (murmur2).
  key_sequences check;
  for (auto& r : got) {
    check.add(r);
    if (r.value.back() != '!') ++check.bad;
  }
  BOOST_TEST(check.bad == 0u);
  BOOST_TEST(check.last.size() == keys);
  for (auto& [k, seq] : check.last)
    BOOST_TEST(seq == static_cast<int64_t>(n / keys - 1));
}

BOOST_AUTO_TEST_CASE(murmur2_partitioning_matches_java_client) {
  // Reference partitions of the Java client's DefaultPartitioner
  // (toPositive(murmur2(key)) % 4) for these keys.
  auto out = make_topic("murmur", 4);
  std::vector<producer_record> rs;
  for (auto k : {"a", "b", "customer-42", "hello"}) {
    producer_record r;
    r.key = k;
    r.value = k;
    rs.push_back(r);
  }
  produce(out, rs);
  std::map<std::string, int32_t> got;
  for (auto& r : read_all(out))
    got[*r.key] = r.partition;
  BOOST_TEST(got.size() == 4u);
  // Computed with the Java client's Utils.murmur2 (same as librdkafka's
  // murmur2_random for non-null keys).
  auto murmur2 = [](const std::string& data) {
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    auto len = static_cast<uint32_t>(data.size());
    uint32_t h = seed ^ len;
    size_t i = 0;
    for (; i + 4 <= data.size(); i += 4) {
      uint32_t k = static_cast<uint8_t>(data[i]) |
                   static_cast<uint8_t>(data[i + 1]) << 8 |
                   static_cast<uint8_t>(data[i + 2]) << 16 |
                   static_cast<uint32_t>(static_cast<uint8_t>(data[i + 3]))
                       << 24;
      k *= m;
      k ^= k >> r;
      k *= m;
      h *= m;
      h ^= k;
    }
    switch (data.size() % 4) {
    case 3:
      h ^= static_cast<uint32_t>(static_cast<uint8_t>(data[i + 2])) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(static_cast<uint8_t>(data[i + 1])) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint8_t>(data[i]);
      h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<int32_t>((h & 0x7fffffff) % 4);
  };
  for (auto& [k, p] : got)
    BOOST_TEST(p == murmur2(k), "key " << k);
}

// The sink's path: a batch goes to librdkafka in one call, records with
// headers or a timestamp one at a time in between, and what its queue has
// no room for is held and sent later, in order. With room for 100
// messages, a batch of 2,500 must be held from the 101st record on (in
// the middle of a call: records 98-100 go together), and records enqueued
// while some are held must queue behind them, even once there is room
// again.
BOOST_AUTO_TEST_CASE(batches_through_a_full_producer_queue_keep_their_order) {
  constexpr int n = 5000;
  constexpr int keys = 50;
  auto out = make_topic("batches", 4);
  auto s = settings;
  s.properties.emplace_back("queue.buffering.max.messages", "100");
  topic_producer w{s, out};
  mixed_records mixed{keys};
  std::vector<producer_record> batch;
  for (int i = 0; i < n / 2; ++i)
    batch.push_back(mixed.make(i));
  w.enqueue(batch, batch.size());
  BOOST_TEST(w.holding()); // no delivery report served: no room after 100
  BOOST_TEST(w.in_flight() == 100u);
  // Room again (the reports served, the held records not passed on)...
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (w.in_flight() != 0 && std::chrono::steady_clock::now() < deadline) {
    w.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  BOOST_REQUIRE(w.in_flight() == 0u);
  BOOST_TEST(w.holding());
  // ... but the second half must queue behind the held part of the first.
  batch.clear();
  for (int i = n / 2; i < n; ++i)
    batch.push_back(mixed.make(i));
  // Fewer than the vector holds: the rest is not sent.
  batch.push_back(mixed.make(n));
  w.enqueue(batch, batch.size() - 1);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!w.flushed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  BOOST_REQUIRE(w.flushed());
  BOOST_TEST(w.delivered() == static_cast<uint64_t>(n));

  auto got = read_all(out);
  BOOST_REQUIRE_EQUAL(got.size(), static_cast<size_t>(n));
  BOOST_TEST(mixed.wrong(got, n) == 0u);
}

// The sink holding records (a producer queue of 100 messages) and reusing
// its batch's records after that, some of them too large to keep: every
// record arrives once, in order per key, its value intact.
BOOST_AUTO_TEST_CASE(a_sink_through_a_small_producer_queue_loses_nothing) {
  constexpr uint64_t n = 20000;
  constexpr uint64_t keys = 200;
  auto in = make_topic("small-queue-in", 4);
  auto out = make_topic("small-queue-out", 4);
  std::vector<producer_record> rs(n);
  for (uint64_t i = 0; i < n; ++i) {
    rs[i].key = "k" + std::to_string(i % keys);
    rs[i].value = *rs[i].key + ":" + std::to_string(i / keys);
  }
  produce(in, rs);
  flow::topology t{"small-queue"};
  using kv = std::pair<std::string, std::string>;
  // Every 13th record of a key grows beyond what the sink keeps reusing.
  auto padded = [](const std::string& v) {
    return std::stoll(v.substr(v.find(':') + 1)) % 13 == 0;
  };
  t.source(source<kv>(in))
      .map([padded](kv x) {
        if (padded(x.second)) x.second += std::string(10000, '.');
        return x;
      })
      .sink(sink<kv>(out));
  auto res = flow::runtime::execute(
      t,
      options(2, {{"kafka.properties", "queue.buffering.max.messages=100"}}));
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  auto got = read_all(out);
  BOOST_REQUIRE_EQUAL(got.size(), n);
  key_sequences check;
  for (auto& r : got) {
    auto [key, seq] = check.add(r);
    auto expected = key + ":" + std::to_string(seq);
    if (padded(expected)) expected += std::string(10000, '.');
    if (r.value != expected) ++check.bad;
  }
  BOOST_TEST(check.bad == 0u);
  BOOST_TEST(check.last.size() == keys);
}

BOOST_AUTO_TEST_SUITE_END()

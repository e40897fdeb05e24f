// The reader's prefetch queue: small enough to fill again and again, it
// is refilled by waking librdkafka's fetcher (a seek to the next offsets),
// and the records of the old position that still arrive are skipped: every
// partition is read exactly once, in order. And the reader tells its source
// subtask when records arrive in the empty queue.
#include "fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;

BOOST_FIXTURE_TEST_SUITE(kafka_prefetch, fixture)

BOOST_AUTO_TEST_CASE(refilled_queue_reads_each_offset_once) {
  constexpr int partitions = 4;
  constexpr int n = 200000;
  auto in = make_topic("prefetch", partitions);
  {
    topic_producer w{settings, in};
    std::string value(100, 'x');
    for (int i = 0; i < n; ++i) {
      producer_record r;
      r.partition = i % partitions;
      r.value = value;
      w.produce(r);
      if (i % 10000 == 0) w.poll();
    }
    w.flush();
  }
  auto s = settings;
  s.stop_at_end = true;
  s.start = start_offset{};
  // A 256 KiB queue filled by 64 KiB partition fetches: about 1000
  // records per refill.
  s.properties.emplace_back("queued.max.messages.kbytes", "256");
  s.properties.emplace_back("max.partition.fetch.bytes", "65536");
  subtask_consumer r{s, in, 0, 1};
  std::map<int32_t, int64_t> next; // partition -> expected offset
  size_t read = 0;
  bool in_order = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!r.finished() && std::chrono::steady_clock::now() < deadline) {
    // Small fetches, like a source with little credit, so that the queue
    // fills while it is read.
    for (auto& v : r.fetch(100)) {
      in_order = in_order && v.offset == next[v.partition];
      next[v.partition] = v.offset + 1;
      ++read;
    }
  }
  BOOST_REQUIRE(r.finished());
  BOOST_TEST(in_order);
  BOOST_TEST(read == size_t(n));
  for (int32_t p = 0; p < partitions; ++p)
    BOOST_TEST(next[p] == n / partitions);
  BOOST_TEST_MESSAGE("fetcher woken " << r.fetcher_wakeups() << "x");
  BOOST_TEST(r.fetcher_wakeups() > 0);
}

BOOST_AUTO_TEST_CASE(wakeup_called_when_records_arrive) {
  // The source subtask sleeps while the queue is empty and relies on this
  // call to poll again as soon as input is there.
  auto in = make_topic("wakeup", 2);
  auto s = settings;
  s.start = start_offset{};
  subtask_consumer r{s, in, 0, 1};
  std::atomic<int> wakes{0};
  BOOST_REQUIRE(r.set_wakeup([&] { ++wakes; }));
  BOOST_TEST(r.fetch(100).empty());
  std::vector<producer_record> rs(10);
  for (auto& x : rs)
    x.value = "v";
  produce(in, rs);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (wakes == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  BOOST_TEST(wakes > 0);
  size_t read = 0;
  while (read < rs.size() && std::chrono::steady_clock::now() < deadline)
    read += r.fetch(100).size();
  BOOST_TEST(read == rs.size());
}

BOOST_AUTO_TEST_SUITE_END()

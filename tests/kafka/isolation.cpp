// Kafka endpoints never block a shared scheduler thread: on one actor
// system with a single scheduler thread, a job whose Kafka sink is stuck on
// a dead broker (or whose source cannot reach its cluster) does not hold
// up an unrelated job. The dead broker is the embedded mock cluster's,
// taken down in-process (the suite's real broker must stay up for the
// other tests); with a blocking connector the only scheduler thread would
// spin in the sink and the other job would not finish.
#include "fixture.hpp"

#include "flow/runtime/job_host.hpp"

#include "flow/collection.hpp"
#include "flow/generator.hpp"

#include <caf/all.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

using namespace flow::kafka;
using namespace flow::kafka::test;
using namespace std::chrono_literals;

namespace {

/// An actor system with one scheduler thread, for several jobs.
struct one_thread_system {
  static caf::actor_system_config config() {
    caf::actor_system_config cfg;
    flow::job_options opts;
    opts.threads = 1;
    flow::runtime::configure_scheduler(cfg, opts);
    return cfg;
  }
  caf::actor_system_config cfg = config();
  caf::actor_system sys{cfg};
};

/// 100000 records through a map into a collector: no Kafka at all.
struct unrelated_job {
  static constexpr uint64_t n = 100000;
  unrelated_job() {
    t.source(flow::generator(
                 n, [](uint64_t i) { return i; }, "count-up"))
        .map([](uint64_t x) { return x * 2; })
        .sink(out.sink());
  }
  flow::topology t{"unrelated"};
  flow::collector<uint64_t> out;
};

/// 20000 numbers per second, without end, counted in `emitted`, into the
/// Kafka topic `topic`.
flow::topology numbers_into(const std::string& name, const std::string& topic,
                            std::atomic<uint64_t>& emitted) {
  flow::topology t{name};
  t.source(flow::generator(
               flow::unbounded,
               [&emitted](uint64_t i) {
                 emitted.fetch_add(1, std::memory_order_relaxed);
                 return std::to_string(i);
               },
               "numbers", 20000))
      .sink(sink<std::string>(topic));
  return t;
}

/// Waits (up to 30 s) until `emitted` reaches `n`.
void await_emitted(const std::atomic<uint64_t>& emitted, uint64_t n) {
  for (int i = 0; i < 300 && emitted.load() < n; ++i)
    std::this_thread::sleep_for(100ms);
  BOOST_REQUIRE_GE(emitted.load(), n);
}

/// Runs `job` on `sys` on another thread.
std::future<flow::runtime::job_result>
start(caf::actor_system& sys, const flow::topology& t,
      const flow::job_options& opts, const std::atomic<bool>* stop = nullptr) {
  return std::async(std::launch::async, [&sys, &t, opts, stop] {
    return flow::runtime::execute(sys, t, opts, stop);
  });
}

/// Takes the embedded broker down for its lifetime.
struct broker_down {
  broker_down() { embedded_cluster::instance().set_available(false); }
  ~broker_down() { up(); }
  void up() {
    if (down_) embedded_cluster::instance().set_available(true);
    down_ = false;
  }
  bool down_ = true;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_isolation, fixture)

BOOST_AUTO_TEST_CASE(sink_stuck_on_a_dead_broker_does_not_stall_another_job) {
  one_thread_system node;
  auto topic = unique("dead-broker-out");
  std::atomic<uint64_t> emitted{0};
  auto stuck = numbers_into("stuck", topic, emitted);
  // A small producer queue fills within a second once the broker is gone;
  // deliveries may take until the broker is back. (The embedded cluster
  // keeps about 5 MiB per partition: the rate keeps the topic far below.)
  auto opts =
      options(1, {{"kafka.bootstrap", "embedded"},
                  {"kafka.delivery-timeout-ms", "300000"},
                  {"kafka.properties", "queue.buffering.max.messages=2000"}});
  opts.threads = 1;
  std::atomic<bool> stop{false};
  auto stuck_job = start(node.sys, stuck, opts, &stop);
  await_emitted(emitted, 20000);

  std::optional<broker_down> down;
  down.emplace();
  // Stuck: the sink holds its records and withholds credit, so the
  // generator stops (it would emit 20000 records per second).
  uint64_t before = 0;
  for (int i = 0; i < 100; ++i) {
    before = emitted.load();
    std::this_thread::sleep_for(500ms);
    if (emitted.load() == before) break;
  }
  BOOST_REQUIRE_EQUAL(emitted.load(), before);
  BOOST_TEST_MESSAGE("Kafka job stuck after " << before << " records");

  unrelated_job other;
  auto t0 = std::chrono::steady_clock::now();
  auto other_job = start(node.sys, other.t, options(1));
  bool other_done = other_job.wait_for(60s) == std::future_status::ready;
  auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_CHECK_MESSAGE(other_done, "the unrelated job did not finish");
  // The Kafka job was stuck all along, not finished or recovered.
  BOOST_CHECK_EQUAL(emitted.load(), before);
  BOOST_CHECK(stuck_job.wait_for(0s) == std::future_status::timeout);

  // The broker comes back: the stuck job goes on, stops gracefully and has
  // written every record it generated, in order. Records may be written
  // twice: the sink is at-least-once, and the embedded cluster checks
  // producer sequences only for transactional producers, so librdkafka's
  // retries of batches in flight when the broker went down can land again
  // (a real broker drops them: the producer is idempotent).
  down.reset();
  stop = true;
  auto res = stuck_job.get();
  BOOST_REQUIRE_MESSAGE(res.ok, res.error);
  if (other_done) {
    auto o = other_job.get();
    BOOST_REQUIRE_MESSAGE(o.ok, o.error);
    BOOST_TEST(other.out.size() == unrelated_job::n);
    BOOST_TEST_MESSAGE("unrelated job finished in " << secs << " s");
  }
  auto total = emitted.load();
  client_settings s;
  s.bootstrap = "embedded";
  s.stop_at_end = true;
  subtask_consumer r{s, topic, 0, 1};
  uint64_t next = 0; // the first record not seen yet
  uint64_t written_again = 0;
  while (!r.finished())
    for (auto& v : r.fetch(10000, 100)) {
      auto n = std::stoull(std::string(v.value));
      if (n == next) {
        ++next;
        continue;
      }
      // Never one ahead of the next record (none lost, none reordered).
      BOOST_REQUIRE_MESSAGE(n < next, "record " << n << " before " << next);
      ++written_again;
    }
  BOOST_TEST(next == total);
  BOOST_TEST_MESSAGE(written_again << " records written twice");
  if (!other_done) other_job.wait();
}

BOOST_AUTO_TEST_CASE(
    a_broker_gone_longer_than_the_delivery_timeout_fails_the_job) {
  // Records the broker never acknowledges are not dropped: once
  // kafka.delivery-timeout-ms has passed, the job fails naming them.
  auto topic = unique("gone-broker-out");
  std::atomic<uint64_t> emitted{0};
  auto t = numbers_into("gone", topic, emitted);
  auto opts = options(1, {{"kafka.bootstrap", "embedded"},
                          {"kafka.delivery-timeout-ms", "3000"}});
  std::atomic<bool> stop{false};
  one_thread_system node;
  auto job = start(node.sys, t, opts, &stop);
  await_emitted(emitted, 20000);
  broker_down down; // for good
  auto res = job.get();
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("delivery_failed") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(topic) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(
    source_opening_on_a_dead_broker_does_not_stall_another_job) {
  one_thread_system node;
  flow::topology unreachable{"unreachable"};
  unreachable.source(source<std::string>("anything"))
      .sink(flow::collector<std::string>{}.sink());
  // The source waits 20 s for its cluster, a hundred times what the
  // unrelated job takes: a connector that waited on the only scheduler
  // thread would hold that job back until the source failed.
  auto opts = options(
      1, {{"kafka.bootstrap", "127.0.0.1:1"}, {"kafka.timeout-ms", "20000"}});
  auto t0 = std::chrono::steady_clock::now();
  auto kafka_job = start(node.sys, unreachable, opts);
  std::this_thread::sleep_for(200ms); // it is opening now
  unrelated_job other;
  auto o = flow::runtime::execute(node.sys, other.t, options(1));
  auto other_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_REQUIRE_MESSAGE(o.ok, o.error);
  BOOST_TEST(other.out.size() == unrelated_job::n);
  // Done while the Kafka source still waits for its cluster.
  BOOST_TEST((kafka_job.wait_for(0s) == std::future_status::timeout));
  auto res = kafka_job.get();
  auto kafka_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_TEST_MESSAGE("unrelated job done after "
                     << other_secs << " s, Kafka job failed after "
                     << kafka_secs << " s");
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("broker_unreachable") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("within 20000 ms") != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(
    a_job_stopped_while_its_source_waits_lets_its_process_end) {
  // The source waits up to 5 minutes for a cluster that is not there, and
  // the job is stopped meanwhile (as by SIGTERM). The job ends at once;
  // its actor system, which waits for every actor (the executor's that
  // waits for the cluster too), ends within a slice of that wait instead
  // of the whole of it.
  auto opts = options(
      1, {{"kafka.bootstrap", "127.0.0.1:1"}, {"kafka.timeout-ms", "300000"}});
  auto node_done = std::async(std::launch::async, [opts] {
    one_thread_system node;
    flow::topology t{"stopped-while-opening"};
    t.source(source<std::string>("anything"))
        .sink(flow::collector<std::string>{}.sink());
    std::atomic<bool> stop{false};
    auto job = start(node.sys, t, opts, &stop);
    std::this_thread::sleep_for(500ms); // it is opening now
    stop = true;
    return job.get();
  });
  BOOST_REQUIRE_MESSAGE(node_done.wait_for(100s) == std::future_status::ready,
                        "the actor system still waits for the source");
  auto res = node_done.get();
  BOOST_TEST(res.ok, res.error);
}

BOOST_AUTO_TEST_SUITE_END()

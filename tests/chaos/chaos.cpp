// Fault-injection harness: a Kafka -> shuffle -> keyed state -> Kafka job
// (sequence_job.cpp) run as a child process over sequence-numbered keyed
// records (8 partitions), crashed again and again, each time started again
// with the same command; then a verifier with its own read_committed
// consumer reports per key what was lost, duplicated or out of order.
//
// Exactly-once: kill -9 at seeded random moments; the crash hooks between
// a checkpoint's completion and its commit and during the commit
// (LIBFLOW_FAULT, flow/fault.hpp); a broker restart mid-stream
// (LIBFLOW_KAFKA_RESTART_CMD: scripts/test restarts the broker of a
// three-broker cluster that is the transaction coordinator then,
// scripts/kafka-cluster restart-node coordinator; the job may fail loudly
// and is run again).
// Required: nothing lost, nothing duplicated, every key in order, the
// keyed state exact (count = seq + 1 in every output record), and every
// bad input record exactly once in the dead-letter topic: those the
// source cannot parse, and those a user function throws on.
// At-least-once through the same harness: nothing lost; the duplicates are
// counted and printed.
//
// Size: LIBFLOW_CHAOS_RECORDS records (default 10^6, as the issue asks;
// both cases took 29 s on two shared cores) and LIBFLOW_CHAOS_KILLS kill -9
// (default 10; the at-least-once case takes a third).
//
// Cluster (exactly-once): the same job on a coordinator and two workers of
// one slot each; a worker kill -9'd mid-stream and started again with the
// same command; then a worker frozen (SIGSTOP) past the failure timeout,
// replaced by a spare, and resumed: the zombie's transactional producer is
// fenced by its successor's, so nothing it still holds becomes visible,
// and it stops (it lost the coordinator).
#define BOOST_TEST_MODULE flow_chaos
#include <boost/test/unit_test.hpp>

#include "../kafka/child_process.hpp"
#include "../kafka/fixture.hpp"
#include "../unit/seed.hpp"

#include "flow/checkpoint/store.hpp"
#include "flow/fault.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>

using namespace flow::kafka;
using namespace flow::kafka::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int32_t partitions = 8;
constexpr size_t keys = 240;
constexpr size_t slices = 40;

size_t env_size(const char* name, size_t fallback) {
  if (auto v = std::getenv(name); v && *v) return std::stoul(v);
  return fallback;
}

/// What the verifier found, over all keys.
struct verdict {
  size_t records = 0;
  size_t lost = 0;
  size_t duplicated = 0;
  size_t out_of_order = 0;
  /// Records whose count is not seq + 1 (keyed state lost or repeated).
  size_t bad_state = 0;
  /// Keys with any of the above.
  std::vector<std::string> bad_keys;
  /// Bad input records in the dead-letter topic, missing, repeated.
  size_t dead_letters = 0;
  size_t dead_letters_lost = 0;
  size_t dead_letters_duplicated = 0;
  /// Of dead_letters: those of a user function (flow.operator header),
  /// and how many of the repeats.
  size_t operator_dead_letters = 0;
  size_t operator_dead_letters_duplicated = 0;
};

std::ostream& operator<<(std::ostream& os, const verdict& v) {
  os << v.records << " records: " << v.lost << " lost, " << v.duplicated
     << " duplicated, " << v.out_of_order << " out of order, " << v.bad_state
     << " with a wrong count; dead letters: " << v.dead_letters << " ("
     << v.operator_dead_letters << " of a user function), "
     << v.dead_letters_lost << " lost, " << v.dead_letters_duplicated
     << " duplicated (" << v.operator_dead_letters_duplicated
     << " of a user function)";
  if (!v.bad_keys.empty()) {
    os << "; keys:";
    for (size_t i = 0; i < v.bad_keys.size() && i < 10; ++i)
      os << ' ' << v.bad_keys[i];
  }
  return os;
}

/// The harness: topics, input, the job's command, and the verifier.
struct harness : fixture {
  explicit harness(const std::string& delivery)
      : rng(flow::test::test_seed()),
        total(env_size("LIBFLOW_CHAOS_RECORDS", 1000000)),
        in(make_topic("chaos-in", partitions)),
        out(make_topic("chaos-out", partitions)),
        dir(fs::temp_directory_path() / unique("flow-chaos")) {
    BOOST_TEST_MESSAGE("seed " << flow::test::test_seed() << ", " << total
                               << " records, " << delivery);
    fs::remove_all(dir);
    cmd = {FLOW_CHAOS_JOB,
           "--kafka.bootstrap=" + settings.bootstrap,
           "--kafka.delivery=" + delivery,
           "--kafka.group-id=" + unique("chaos"),
           "--kafka.timeout-ms=30000",
           "--flow.parallelism=2",
           "--flow.status-interval=0s",
           "--flow.http-port=0",
           "--flow.checkpoint-interval=" + std::to_string(100 + rng() % 200) +
               "ms",
           "--flow.checkpoint-dir=" + dir.string(),
           "--flow.on-error=dead-letter",
           "--kafka.dead-letter-topic=" + in + ".dlq",
           "--chaos.input=" + in,
           "--chaos.output=" + out};
    std::ostringstream shown;
    for (auto& a : cmd)
      shown << a << ' ';
    BOOST_TEST_MESSAGE(shown.str());
    // Key k's records are numbered 0, 1, ... in the order they are
    // produced; keys interleave.
    for (size_t i = 0; i < total; ++i) {
      producer_record r;
      auto key = i % keys;
      r.key = "k" + std::to_string(key);
      r.value = std::to_string(i / keys);
      input.push_back(std::move(r));
      if (i % 997 == 500) {
        producer_record bad;
        bad.key = "bad";
        bad.value = "x" + std::to_string(i);
        input.push_back(std::move(bad));
      }
      if (i % 1009 == 700) {
        producer_record poison;
        poison.key = "poison";
        poison.value = "-" + std::to_string(i + 1);
        input.push_back(std::move(poison));
      }
    }
  }
  ~harness() { fs::remove_all(dir); }

  /// Input records produced so far.
  size_t loaded() const {
    auto per = (input.size() + slices - 1) / slices;
    return std::min(input.size(), next_slice * per);
  }

  /// Produces the next slice of the input, if any is left.
  void load_slice() {
    if (next_slice == slices) return;
    auto from = loaded();
    ++next_slice;
    produce(in, {input.begin() + static_cast<long>(from),
                 input.begin() + static_cast<long>(loaded())});
  }
  void load_all() {
    while (next_slice < slices)
      load_slice();
  }

  /// Reads the output (read_committed) and checks it per key against the
  /// input produced so far: `complete` asks for all of it.
  verdict verify(bool complete) {
    std::map<std::string, int64_t> expected;
    std::map<std::string, int> bad_expected;
    for (size_t i = 0; i < (complete ? loaded() : 0); ++i) {
      auto& r = input[i];
      if (*r.key == "bad" || *r.key == "poison")
        bad_expected[r.value] = 0;
      else
        expected[*r.key] = std::stoll(r.value) + 1;
    }
    struct per_key {
      std::map<int64_t, int> seen;
      int64_t highest = -1;
    };
    std::map<std::string, per_key> got;
    verdict v;
    std::map<std::string, bool> bad;
    for (auto& r : read_all(out)) {
      ++v.records;
      std::istringstream value(r.value);
      int64_t seq = -1;
      int64_t count = -1;
      value >> seq >> count;
      auto& k = got[*r.key];
      if (k.seen[seq]++ > 0) {
        ++v.duplicated;
        bad[*r.key] = true;
      } else if (seq < k.highest) {
        ++v.out_of_order;
        bad[*r.key] = true;
      }
      k.highest = std::max(k.highest, seq);
      if (count != seq + 1) {
        ++v.bad_state;
        bad[*r.key] = true;
      }
    }
    for (auto& [key, n] : expected) {
      auto& k = got[key];
      for (int64_t s = 0; s < n; ++s)
        if (!k.seen.count(s)) {
          ++v.lost;
          bad[key] = true;
        }
    }
    for (auto& [key, b] : bad)
      v.bad_keys.push_back(key);
    // Every bad record once in the dead-letter topic.
    // A user function's dead letter names the record in its exception's
    // message; the source's holds the record's value.
    for (auto& r : read_all(in + ".dlq")) {
      const std::string* named = &r.value;
      for (auto& hd : r.headers)
        if (hd.key == dlq_exception_message_header) named = &hd.value;
      if (auto it = bad_expected.find(*named); it != bad_expected.end())
        ++it->second;
    }
    for (auto& [value, n] : bad_expected) {
      v.dead_letters += n > 0;
      if (value[0] == '-') {
        v.operator_dead_letters += n > 0;
        v.operator_dead_letters_duplicated += n > 1 ? n - 1 : 0;
      }
      v.dead_letters_lost += n == 0;
      v.dead_letters_duplicated += n > 1 ? n - 1 : 0;
    }
    return v;
  }

  /// Distinct output records so far (progress).
  size_t distinct_output() {
    std::map<std::string, std::map<int64_t, bool>> seen;
    size_t n = 0;
    for (auto& r : read_stable(out)) {
      int64_t seq = std::stoll(r.value);
      if (!seen[*r.key][seq]) {
        seen[*r.key][seq] = true;
        ++n;
      }
    }
    return n;
  }

  /// Waits until the job has completed a checkpoint since `before`
  /// checkpoints were there, or `limit` passed.
  void wait_for_checkpoint(size_t before, std::chrono::seconds limit) {
    flow::checkpoint::store store{dir, 3};
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto done = store.completed();
      if (!done.empty() && done.back().value() > before) return;
      std::this_thread::sleep_for(20ms);
    }
  }
  uint64_t latest_checkpoint() {
    flow::checkpoint::store store{dir, 3};
    auto done = store.completed();
    return done.empty() ? 0 : done.back().value();
  }

  /// One run killed with SIGKILL at a seeded moment while input arrives.
  void kill_once(int n) {
    auto before = latest_checkpoint();
    child job{cmd};
    wait_for_checkpoint(before, 60s);
    auto slices_now = 1 + rng() % 3;
    for (size_t i = 0; i < slices_now; ++i)
      load_slice();
    auto delay = std::chrono::milliseconds(rng() % 600);
    std::this_thread::sleep_for(delay);
    job.signal(SIGKILL);
    auto rc = job.wait();
    BOOST_TEST_MESSAGE("kill " << n << ": after checkpoint "
                               << latest_checkpoint() << " + " << delay.count()
                               << " ms (exit " << rc << ")");
  }

  /// One run that ends at the crash hook `point`, reached for the
  /// `nth` time in the process; input arrives until it does.
  void crash_at(std::string_view point, int nth) {
    std::string fault =
        "LIBFLOW_FAULT=" + std::string(point) + ":" + std::to_string(nth);
    child job{cmd, {fault}};
    auto deadline = std::chrono::steady_clock::now() + 90s;
    int rc = -1;
    while ((rc = job.poll()) < 0 &&
           std::chrono::steady_clock::now() < deadline) {
      load_slice();
      std::this_thread::sleep_for(100ms);
    }
    BOOST_TEST_MESSAGE(fault << ": exit " << rc << " after checkpoint "
                             << latest_checkpoint());
    BOOST_REQUIRE_EQUAL(rc, flow::fault_exit_code);
  }

  /// A broker restart (keeping its data) while the job runs; the job may
  /// ride it out or fail loudly (exit 1): it is then run again.
  void broker_restart() {
    auto restart = std::getenv("LIBFLOW_KAFKA_RESTART_CMD");
    if (!restart || !*restart) {
      BOOST_TEST_MESSAGE("broker restart skipped: LIBFLOW_KAFKA_RESTART_CMD "
                         "is not set");
      return;
    }
    auto before = latest_checkpoint();
    child job{cmd};
    wait_for_checkpoint(before, 60s);
    load_slice();
    BOOST_REQUIRE_EQUAL(std::system(restart), 0);
    load_slice();
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 1000));
    int rc = job.poll();
    if (rc < 0) {
      job.signal(SIGKILL);
      rc = job.wait();
    }
    BOOST_TEST_MESSAGE("broker restarted mid-stream; the job "
                       << (rc == 1 ? "failed loudly (exit 1)" : "ran on")
                       << ", run again");
    BOOST_CHECK(rc == 1 || rc == 128 + SIGKILL);
  }

  /// The same command once more, until the whole input is in the output;
  /// then a graceful stop.
  void run_to_the_end() {
    load_all();
    child job{cmd};
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (distinct_output() < total &&
           std::chrono::steady_clock::now() < deadline) {
      BOOST_REQUIRE_EQUAL(job.poll(), -1);
      std::this_thread::sleep_for(500ms);
    }
    job.signal(SIGTERM);
    BOOST_CHECK_EQUAL(job.wait(), 0);
  }

  /// The job on a cluster: a coordinator without slots (it takes the
  /// checkpoints and holds the job options) and workers of one slot each
  /// on `port`.
  std::vector<std::string> coordinator_cmd(uint16_t port) const {
    auto c = cmd;
    for (std::string flag :
         {"--cluster.role=coordinator", "--cluster.slots=0",
          "--cluster.workers=2", "--cluster.connect-timeout=60",
          "--cluster.recovery-timeout=60s"})
      c.push_back(flag);
    c.push_back("--cluster.coordinator-port=" + std::to_string(port));
    return c;
  }
  /// A worker sets no job option, only those that shape the topology.
  std::vector<std::string> worker_cmd(uint16_t port,
                                      const std::string& name) const {
    return {FLOW_CHAOS_JOB,
            "--cluster.role=worker",
            "--cluster.name=" + name,
            "--cluster.slots=1",
            "--cluster.connect-timeout=60",
            "--cluster.coordinator-port=" + std::to_string(port),
            "--flow.http-port=0",
            "--chaos.input=" + in,
            "--chaos.output=" + out};
  }

  /// Waits until every input record produced is in the output, or
  /// `limit` passed, while `alive` holds.
  template <class Alive>
  void wait_for_output(std::chrono::seconds limit, Alive alive) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (distinct_output() < total &&
           std::chrono::steady_clock::now() < deadline) {
      BOOST_REQUIRE(alive());
      std::this_thread::sleep_for(500ms);
    }
  }

  std::mt19937_64 rng;
  size_t total;
  std::string in;
  std::string out;
  fs::path dir;
  std::vector<std::string> cmd;
  std::vector<producer_record> input;
  size_t next_slice = 0;
};

/// A TCP port on loopback nothing listens on now.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// The exactly-once verdict: every record once, in order per key, with
/// its exact keyed count; every bad record once in the dead-letter topic.
void check_exactly_once(const verdict& v, size_t total) {
  BOOST_CHECK_EQUAL(v.lost, 0u);
  BOOST_CHECK_EQUAL(v.duplicated, 0u);
  BOOST_CHECK_EQUAL(v.out_of_order, 0u);
  BOOST_CHECK_EQUAL(v.bad_state, 0u);
  BOOST_CHECK_EQUAL(v.records, total);
  BOOST_CHECK_GT(v.dead_letters, 0u);
  BOOST_CHECK_GT(v.operator_dead_letters, 0u);
  BOOST_CHECK_EQUAL(v.dead_letters_lost, 0u);
  BOOST_CHECK_EQUAL(v.dead_letters_duplicated, 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(chaos)

BOOST_AUTO_TEST_CASE(
    exactly_once_survives_every_fault_without_loss_or_duplicates) {
  harness h{"exactly-once"};
  h.load_slice();
  auto kills = static_cast<int>(env_size("LIBFLOW_CHAOS_KILLS", 10));
  for (int i = 1; i <= kills; ++i) {
    h.kill_once(i);
    if (i == kills / 3)
      h.crash_at(flow::fault_after_checkpoint_before_commit,
                 1 + static_cast<int>(h.rng() % 3));
    if (i == 2 * kills / 3)
      h.crash_at(flow::fault_during_commit, 1 + static_cast<int>(h.rng() % 3));
  }
  if (kills < 3) {
    h.crash_at(flow::fault_after_checkpoint_before_commit, 2);
    h.crash_at(flow::fault_during_commit, 2);
  }
  h.broker_restart();
  h.run_to_the_end();
  auto v = h.verify(true);
  BOOST_TEST_MESSAGE("exactly-once: " << v);
  check_exactly_once(v, h.total);
}

BOOST_AUTO_TEST_CASE(exactly_once_survives_cluster_worker_faults) {
  harness h{"exactly-once"};
  h.load_slice();
  auto port = free_port();
  child coordinator{h.coordinator_cmd(port)};
  child worker_1{h.worker_cmd(port, "worker-1")};
  auto worker_2 = std::make_unique<child>(h.worker_cmd(port, "worker-2"));
  auto running = [&] { return coordinator.poll() == -1; };

  // A worker killed mid-stream and started again with the same command.
  h.wait_for_checkpoint(0, 60s);
  for (int i = 0; i < 2; ++i)
    h.load_slice();
  auto delay = std::chrono::milliseconds(h.rng() % 600);
  std::this_thread::sleep_for(delay);
  auto before = h.latest_checkpoint();
  worker_2->signal(SIGKILL);
  worker_2->wait();
  worker_2 = std::make_unique<child>(h.worker_cmd(port, "worker-2"));
  BOOST_TEST_MESSAGE("worker-2 killed after checkpoint "
                     << before << " + " << delay.count()
                     << " ms and started again");
  h.load_slice();
  h.wait_for_checkpoint(before, 60s);
  BOOST_REQUIRE(running());
  BOOST_REQUIRE_GT(h.latest_checkpoint(), before);

  // A worker frozen past the failure timeout (5 s without a heartbeat),
  // replaced by a spare, then resumed: a zombie.
  h.load_slice();
  worker_1.signal(SIGSTOP);
  before = h.latest_checkpoint();
  std::this_thread::sleep_for(7s);
  child spare{h.worker_cmd(port, "worker-3")};
  h.load_slice();
  h.wait_for_checkpoint(before, 60s);
  BOOST_REQUIRE(running());
  BOOST_REQUIRE_GT(h.latest_checkpoint(), before);
  BOOST_TEST_MESSAGE("worker-1 frozen, replaced by worker-3 (checkpoint "
                     << h.latest_checkpoint() << "), resumed");
  worker_1.signal(SIGCONT);
  int zombie = -1;
  for (int i = 0; i < 300 && (zombie = worker_1.poll()) < 0; ++i)
    std::this_thread::sleep_for(100ms);
  // It lost the coordinator: it stops, with an error.
  BOOST_CHECK_EQUAL(zombie, 1);

  h.load_all();
  h.wait_for_output(120s, running);
  coordinator.signal(SIGTERM);
  BOOST_CHECK_EQUAL(coordinator.wait(), 0);
  auto v = h.verify(true);
  BOOST_TEST_MESSAGE("exactly-once in a cluster: " << v);
  // The zombie's dead letters too: its dead-letter producers are
  // transactional and fenced by their replacements (before the fix, an
  // idempotent producer's queued dead letters reached the topic after the
  // new run's deduplicating read: 4 of 1003, 10 of 301 twice).
  check_exactly_once(v, h.total);
}

BOOST_AUTO_TEST_CASE(at_least_once_loses_nothing_and_counts_its_duplicates) {
  harness h{"at-least-once"};
  h.load_slice();
  auto kills = std::max<int>(
      1, static_cast<int>(env_size("LIBFLOW_CHAOS_KILLS", 10) / 3));
  for (int i = 1; i <= kills; ++i)
    h.kill_once(i);
  h.run_to_the_end();
  auto v = h.verify(true);
  BOOST_TEST_MESSAGE("at-least-once: " << v);
  BOOST_CHECK_EQUAL(v.lost, 0u);
  BOOST_CHECK_EQUAL(v.bad_state, 0u);
  BOOST_CHECK_EQUAL(v.dead_letters_lost, 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// The HTTP endpoints of a Kafka job: /metrics scraped while the job reads a
// topic shows consumer lag per partition, counters that grow, lag falling to
// 0 once the input is consumed, the job's checkpoints (also in
// /api/v1/checkpoints), and passes `promtool check metrics`.
#include "fixture.hpp"

#include "flow/runtime/http_server.hpp"

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <unistd.h>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

/// Sum of the samples of metric `name` whose labels contain `filter`
/// (e.g. `operator="map"`); -1 if there is none.
double sum_of(const std::string& text, const std::string& name,
              const std::string& filter = "") {
  std::istringstream in{text};
  std::string line;
  double sum = 0;
  bool any = false;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    if (!filter.empty() && line.find(filter) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
    any = true;
  }
  return any ? sum : -1;
}

/// Runs `promtool check metrics` on `text`; returns its exit status and
/// output.
std::pair<int, std::string> promtool_check(const std::string& text) {
  char path[] = "/tmp/flow-metrics-XXXXXX";
  int fd = mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::write(fd, text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()));
  ::close(fd);
  auto cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  std::string out;
  auto* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int status = ::pclose(p);
  std::remove(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_observe, fixture)

BOOST_AUTO_TEST_CASE(scraped_metrics_show_lag_falling_and_counters_growing) {
  constexpr int n = 3000;
  auto in = make_topic("observe-in", 2);
  auto out = make_topic("observe-out", 2);
  std::vector<producer_record> rs(n);
  for (int i = 0; i < n; ++i)
    rs[static_cast<size_t>(i)].value = std::to_string(i);
  produce(in, rs);

  // The map holds its first record until the test saw the lag: the source
  // stops on credit, so the lag cannot be read down before the first scrape.
  auto gate = std::make_shared<std::atomic<bool>>(false);
  flow::topology t{"observed"};
  source_options so;
  so.stop_at_end = false; // runs until stopped
  t.source(source<std::string>(in, so))
      .map(
          [gate](std::string s) {
            while (!gate->load())
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return s;
          },
          "map")
      .sink(sink<std::string>(out));
  auto opts = options(1);
  opts.channels.batch_size = 16;
  opts.channels.credit_window = 2;
  opts.channels.credit_return = 1;
  opts.source_poll_records = 100;
  opts.threads = 3;
  auto checkpoint_dir = std::filesystem::temp_directory_path() /
                        ("flow-observe-" + std::to_string(::getpid()));
  std::filesystem::remove_all(checkpoint_dir);
  opts.checkpoints.dir = checkpoint_dir.string();
  opts.checkpoints.interval = std::chrono::milliseconds(100);
  flow::observe::job_view view{"observed", "node-a", "standalone"};
  flow::runtime::http_server server{view, "127.0.0.1", 0,
                                    std::chrono::milliseconds(100)};
  std::atomic<bool> stop{false};
  flow::runtime::job_result result;
  std::thread runner{
      [&] { result = flow::runtime::execute(t, opts, &stop, &view); }};
  httplib::Client cli{"127.0.0.1", server.port()};
  auto scrape = [&] {
    auto r = cli.Get("/metrics");
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->status, 200);
    return r->body;
  };
  auto wait_for = [&](auto done, const char* what) {
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      text = scrape();
      if (done(text)) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop = true;
    gate->store(true);
    runner.join();
    BOOST_FAIL(std::string("timed out waiting for ") + what + ":\n" + text);
    return text;
  };
  auto lag = [&](const std::string& text) {
    return sum_of(text, "flow_kafka_consumer_lag", "topic=\"" + in + "\"");
  };
  auto first = wait_for([&](auto& x) { return lag(x) > 0; }, "consumer lag");
  gate->store(true);
  // Lag 0 on both partitions: each has been read, so its end is known.
  auto second = wait_for(
      [&](auto& x) {
        return lag(x) == 0 &&
               sum_of(x, "flow_kafka_consumer_lag", "partition=\"0\"") == 0 &&
               sum_of(x, "flow_kafka_consumer_lag", "partition=\"1\"") == 0 &&
               sum_of(x, "flow_records_in_total", "operator=\"" + out + "\"") ==
                   n &&
               sum_of(x, "flow_checkpoints_total", "result=\"completed\"") >= 1;
      },
      "all records written, lag 0 on both partitions, a checkpoint");
  auto checkpoints = cli.Get("/api/v1/checkpoints");
  stop = true;
  runner.join();
  std::filesystem::remove_all(checkpoint_dir);
  BOOST_REQUIRE(checkpoints);
  auto listed = nlohmann::json::parse(checkpoints->body);
  BOOST_TEST_MESSAGE("/api/v1/checkpoints: " << listed.dump());
  BOOST_TEST(listed["completed"].get<int>() >= 1);
  BOOST_REQUIRE(!listed["checkpoints"].empty());
  // A stateless job's parts have no file (its positions are in the
  // metadata): a completed checkpoint of 0 bytes.
  bool listed_complete = false;
  for (auto& c : listed["checkpoints"])
    listed_complete = listed_complete || (c["status"] == "completed" &&
                                          c["size_bytes"].get<int64_t>() >= 0 &&
                                          c["triggered_ms"].get<int64_t>() > 0);
  BOOST_TEST(listed_complete);
  BOOST_REQUIRE_MESSAGE(result.ok, result.error);
  BOOST_TEST_MESSAGE("first scrape:\n" << first);
  BOOST_TEST_MESSAGE("last scrape:\n" << second);

  // A partition's lag shows once librdkafka knows its end (its first
  // fetch response): the first scrape may show one partition only.
  BOOST_TEST(lag(first) <= n);
  // Counters grow between the scrapes.
  for (auto name : {"flow_records_in_total", "flow_records_out_total",
                    "flow_batches_out_total"})
    BOOST_TEST(sum_of(second, name) > sum_of(first, name), name);
  BOOST_TEST(
      sum_of(second, "flow_records_out_total", "operator=\"" + in + "\"") == n);
  BOOST_TEST(sum_of(second, "flow_kafka_producer_queue_messages") >= 0);
  BOOST_TEST(sum_of(second, "process_resident_memory_bytes") > 0);
  BOOST_TEST(sum_of(second, "flow_checkpoint_last_size_bytes") >= 0);
  BOOST_TEST(sum_of(second, "flow_checkpoint_last_duration_seconds") >= 0);
  BOOST_TEST(read_all(out).size() == static_cast<size_t>(n));

  for (auto& text : {first, second}) {
    auto [rc, msg] = promtool_check(text);
    BOOST_TEST(rc == 0, "promtool check metrics: " << msg);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// The HTTP endpoints' model and exposition (job_view, Prometheus text, JSON
// API), the server on loopback, the job runtime feeding a view, and JSON
// log lines.
#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/log.hpp"
#include "flow/observe/exposition.hpp"
#include "flow/runtime/http_server.hpp"
#include "flow/runtime/job.hpp"

#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace flow;
using observe::job_view;

namespace {

/// numbers (x2) -> double (x2) -> out (x1): a real topology and plan.
struct demo_job {
  topology t{"demo"};
  collector<uint64_t> out;
  physical_plan plan;
  std::vector<std::shared_ptr<subtask_metrics>> metrics;

  demo_job() {
    t.source(generator(
                 10, [](uint64_t i) { return i; }, "numbers"))
        .parallelism(2)
        .map([](uint64_t x) { return 2 * x; }, "double")
        .parallelism(2)
        .sink(out.sink("out"));
    plan_options po;
    plan = physical_plan::build(t, po);
    for (size_t i = 0; i < plan.subtasks.size(); ++i)
      metrics.push_back(std::make_shared<subtask_metrics>());
  }

  subtask_metrics& of(const std::string& op, uint32_t index) {
    for (auto& s : plan.subtasks)
      if (s.operator_name == op && s.index == index)
        return *metrics[s.id.value()];
    throw std::logic_error("no subtask " + op);
  }
};

std::string series(const std::string& name, const std::string& op,
                   uint32_t subtask, const std::string& node = "node-a") {
  return name + "{job=\"demo\",operator=\"" + op + "\",subtask=\"" +
         std::to_string(subtask) + "\",node=\"" + node + "\"}";
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

/// Sends `request` on a fresh connection to 127.0.0.1:`port` and returns
/// what the server answers before it closes or 2 s pass.
std::string raw_exchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < request.size()) {
    auto n =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break; // the server may close before reading it all
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_endpoints)

BOOST_AUTO_TEST_CASE(snapshot_rates_backpressure_and_prometheus_text) {
  demo_job job;
  job_view view{"demo", "node-a", "standalone"};
  view.set_plan(job.plan, {});
  view.set_local(job.metrics);
  view.set_status(observe::job_status::running);
  auto& mapper = job.of("double", 1);
  mapper.records_in = 1000;
  mapper.records_out = 1000;
  view.sample(10'000, {});
  mapper.records_in = 1500;
  mapper.records_out = 1600;
  mapper.blocked_ns = 750'000'000; // 0.75 s of the 2 s interval
  mapper.queued_batches = 3;
  mapper.watermark = 12'000 - 2'500;
  auto s = view.sample(12'000, {4096, 1.5});

  BOOST_TEST(s->interval_ms == 2000);
  BOOST_TEST(s->ready());
  const observe::subtask_view* v = nullptr;
  for (auto& x : s->subtasks)
    if (x.operator_name == "double" && x.index == 1) v = &x;
  BOOST_REQUIRE(v);
  BOOST_TEST(v->records_in_per_s == 250.0);
  BOOST_TEST(v->records_out_per_s == 300.0);
  BOOST_TEST(v->backpressure == 0.375);

  auto text = observe::prometheus_text(*s);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(
      has_line(text, series("flow_records_in_total", "double", 1) + " 1500"));
  BOOST_TEST(
      has_line(text, series("flow_records_out_total", "double", 1) + " 1600"));
  BOOST_TEST(
      has_line(text, series("flow_credit_blocked_seconds_total", "double", 1) +
                         " 0.75"));
  BOOST_TEST(has_line(text, series("flow_queued_batches", "double", 1) + " 3"));
  BOOST_TEST(has_line(text, series("flow_watermark_lag_seconds", "double", 1) +
                                " 2.5"));
  BOOST_TEST(has_line(text, series("flow_records_in_total", "out", 0) + " 0"));
  BOOST_TEST(has_line(
      text,
      "process_resident_memory_bytes{job=\"demo\",node=\"node-a\"} 4096"));
  BOOST_TEST(has_line(text, "flow_job_ready{job=\"demo\",node=\"node-a\"} 1"));
  BOOST_TEST(has_line(
      text, "flow_checkpoints_total{job=\"demo\",result=\"completed\"} 0"));
  // No watermark yet: no watermark series for the other subtasks.
  BOOST_TEST(text.find(series("flow_watermark_lag_seconds", "double", 0)) ==
             std::string::npos);
  BOOST_TEST(text.find("# TYPE flow_records_in_total counter") !=
             std::string::npos);

  auto j = observe::job_json(*s);
  BOOST_TEST(j["status"] == "running");
  BOOST_TEST(j["operators"].size() == 3u);
  BOOST_TEST(j["operators"][1]["name"] == "double");
  BOOST_TEST(j["operators"][1]["records_out_per_s"] == 300.0);
  BOOST_TEST(j["operators"][1]["backpressure"] == 0.375);
  BOOST_TEST(j["operators"][1]["watermark_lag_ms"] == 2500);
  BOOST_TEST(j["operators"][1]["placement"].size() == 2u);
  BOOST_TEST(j["edges"].size() == 2u);
  BOOST_TEST(j["edges"][0]["from"] == "numbers");
  BOOST_TEST(j["edges"][0]["to"] == "double");
  BOOST_TEST(j["edges"][0]["partitioning"] == "forward");
  BOOST_TEST(j["edges"][1]["partitioning"] == "rebalance");

  auto r = observe::rates_json(*s, view.rates());
  BOOST_TEST(r["points"].size() == 2u);
  BOOST_TEST(r["points"][1]["out"][1] == 300.0);
  BOOST_TEST(r["operators"][1] == "double");
  BOOST_TEST(r["kinds"][0] == "source");
  BOOST_TEST(r["kinds"][2] == "sink");
}

BOOST_AUTO_TEST_CASE(rate_points_have_a_value_for_every_operator) {
  // The HTTP sampler starts before the plan is known: those samples must
  // not become chart points without values (the UI's lines break on them).
  demo_job job;
  job_view view{"demo", "node-a", "standalone"};
  view.sample(1'000, {});
  view.sample(2'000, {});
  BOOST_TEST(view.rates().empty());
  view.set_plan(job.plan, {});
  view.set_local(job.metrics);
  for (int64_t t = 3'000; t <= 6'000; t += 1'000)
    view.sample(t, {});
  auto points = view.rates();
  BOOST_TEST(points.size() == 4u);
  for (auto& p : points) {
    BOOST_TEST(p.records_in_per_s.size() == 3u);
    BOOST_TEST(p.records_out_per_s.size() == 3u);
  }
  // A new plan starts a new history.
  view.set_plan(job.plan, {});
  BOOST_TEST(view.rates().empty());
}

BOOST_AUTO_TEST_CASE(connector_gauges_and_checkpoints_reach_the_endpoints) {
  demo_job job;
  job_view view{"demo", "node-a", "standalone"};
  view.set_plan(job.plan, {});
  view.set_local(job.metrics);
  auto& source = job.of("numbers", 0).connector;
  source.partition_lags({{"in", 0, 42}, {"in", 2, 0}, {"in", 4, -1}});
  source.dead_lettered = 3;
  job.of("out", 0).connector.producer_queue = 17;
  job.of("out", 0).records_skipped = 4;
  job.of("out", 0).records_dead_lettered = 2;
  view.record_checkpoint({1, 1000, 120, 4096, 15, true, ""});
  view.record_checkpoint({2, 2000, 50, 0, 0, false, "timeout"});
  view.count_restart();
  auto s = view.sample(5000, {});
  auto text = observe::prometheus_text(*s);
  auto lag = [&](int p) {
    return "flow_kafka_consumer_lag{job=\"demo\",operator=\"numbers\","
           "subtask=\"0\",node=\"node-a\",topic=\"in\",partition=\"" +
           std::to_string(p) + "\"}";
  };
  BOOST_TEST(has_line(text, lag(0) + " 42"));
  BOOST_TEST(has_line(text, lag(2) + " 0"));
  BOOST_TEST(text.find(lag(4)) == std::string::npos); // end unknown
  BOOST_TEST(has_line(
      text, series("flow_dead_lettered_records_total", "numbers", 0) + " 3"));
  BOOST_TEST(has_line(
      text, series("flow_kafka_producer_queue_messages", "out", 0) + " 17"));
  // on-error: records a sink (or operator) skipped or dead-lettered.
  BOOST_TEST(
      has_line(text, series("flow_records_skipped_total", "out", 0) + " 4"));
  BOOST_TEST(has_line(
      text, series("flow_dead_lettered_records_total", "out", 0) + " 2"));
  BOOST_TEST(has_line(
      text, "flow_checkpoints_total{job=\"demo\",result=\"completed\"} 1"));
  BOOST_TEST(has_line(
      text, "flow_checkpoints_total{job=\"demo\",result=\"failed\"} 1"));
  BOOST_TEST(has_line(
      text, "flow_checkpoint_last_duration_seconds{job=\"demo\"} 0.12"));
  BOOST_TEST(
      has_line(text, "flow_checkpoint_last_size_bytes{job=\"demo\"} 4096"));
  BOOST_TEST(has_line(text, "flow_restarts_total{job=\"demo\"} 1"));
  BOOST_TEST(has_line(text, "flow_job_ready{job=\"demo\",node=\"node-a\"} 0"));

  auto c = observe::checkpoints_json(*s);
  BOOST_TEST(c["completed"] == 1);
  BOOST_TEST(c["failed"] == 1);
  BOOST_TEST(c["checkpoints"].size() == 2u);
  BOOST_TEST(c["checkpoints"][1]["failure"] == "timeout");
  auto j = observe::job_json(*s);
  BOOST_TEST(j["operators"][0]["subtasks"][0]["consumer_lag"].size() == 3u);
  BOOST_TEST(j["operators"][2]["subtasks"][0]["producer_queue"] == 17);
}

BOOST_AUTO_TEST_CASE(reports_from_other_nodes_and_label_escaping) {
  topology t{"demo"};
  collector<uint64_t> out;
  t.source(generator(
               10, [](uint64_t i) { return i; }, "say \"hi\"\\"))
      .sink(out.sink("out"));
  auto plan = physical_plan::build(t, {});
  job_view view{"demo", "coordinator", "coordinator"};
  view.set_plan(plan, {"worker-1", "worker-2"});
  subtask_sample a;
  a.records_out = 100;
  view.on_report(0, a, 1000);
  a.records_out = 400;
  a.blocked_ns = 500'000'000;
  view.on_report(0, a, 2000);
  view.on_node("worker-1", {1 << 20, 2.5}, 1900);
  auto s = view.sample(2500, {});
  BOOST_TEST(s->subtasks[0].known);
  BOOST_TEST(!s->subtasks[1].known); // worker-2 has not reported yet
  BOOST_TEST(s->subtasks[0].records_out_per_s == 300.0);
  BOOST_TEST(s->subtasks[0].backpressure == 0.5);
  BOOST_REQUIRE(s->nodes.size() == 3u);
  BOOST_TEST(s->nodes[1].name == "worker-1");
  BOOST_TEST(s->nodes[1].last_report_age_ms == 600);
  BOOST_TEST(s->nodes[1].subtasks == 1u);
  BOOST_TEST(s->nodes[2].last_report_age_ms == -1);
  auto text = observe::prometheus_text(*s);
  BOOST_TEST(text.find("operator=\"say \\\"hi\\\"\\\\\",subtask=\"0\","
                       "node=\"worker-1\"} 400") != std::string::npos);
  BOOST_TEST(text.find("node=\"worker-2\"") == std::string::npos);
  BOOST_TEST(has_line(text, "process_cpu_seconds_total{job=\"demo\","
                            "node=\"worker-1\"} 2.5"));
}

BOOST_AUTO_TEST_CASE(http_endpoints_on_loopback) {
  demo_job job;
  job_view view{"demo", "node-a", "standalone"};
  view.set_plan(job.plan, {});
  view.set_local(job.metrics);
  job.of("double", 0).records_in = 7;
  runtime::http_server server{view, "127.0.0.1", 0,
                              std::chrono::milliseconds(20)};
  BOOST_REQUIRE(server.port() > 0);
  httplib::Client cli{"127.0.0.1", server.port()};
  cli.set_read_timeout(5, 0);

  auto health = cli.Get("/healthz");
  BOOST_REQUIRE(health);
  BOOST_TEST(health->status == 200);
  auto ready = cli.Get("/readyz");
  BOOST_REQUIRE(ready);
  BOOST_TEST(ready->status == 503);
  BOOST_TEST(ready->body.find("deploying") != std::string::npos);
  view.set_status(observe::job_status::running);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    ready = cli.Get("/readyz");
    BOOST_REQUIRE(ready);
    if (ready->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  BOOST_TEST(ready->status == 200);

  auto metrics = cli.Get("/metrics");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->status == 200);
  BOOST_TEST(metrics->get_header_value("Content-Type") ==
             observe::prometheus_content_type);
  BOOST_TEST(has_line(metrics->body,
                      series("flow_records_in_total", "double", 0) + " 7"));
  auto api = cli.Get("/api/v1/job");
  BOOST_REQUIRE(api);
  auto j = nlohmann::json::parse(api->body);
  BOOST_TEST(j["job"] == "demo");
  BOOST_TEST(j["operators"].size() == 3u);
  auto rates = cli.Get("/api/v1/rates");
  BOOST_REQUIRE(rates);
  BOOST_TEST(nlohmann::json::parse(rates->body)["operators"].size() == 3u);
  auto ckpts = cli.Get("/api/v1/checkpoints");
  BOOST_REQUIRE(ckpts);
  BOOST_TEST(nlohmann::json::parse(ckpts->body)["checkpoints"].empty());
  auto ui = cli.Get("/");
  BOOST_REQUIRE(ui);
  BOOST_TEST(ui->status == 200);
  BOOST_TEST(ui->body.find("<svg id=\"graph\"") != std::string::npos);
  BOOST_TEST(ui->body.find("http://") == ui->body.find("http://www.w3.org"));

  // Bad input: clear 4xx answers.
  auto unknown = cli.Get("/nope");
  BOOST_REQUIRE(unknown);
  BOOST_TEST(unknown->status == 404);
  BOOST_TEST(unknown->body.find("no endpoint /nope") != std::string::npos);
  auto post = cli.Post("/metrics", "x", "text/plain");
  BOOST_REQUIRE(post);
  BOOST_TEST(post->status == 405);
  auto garbage = raw_exchange(server.port(), "GARBAGE\r\n\r\n");
  BOOST_TEST(garbage.rfind("HTTP/1.1 400", 0) == 0, garbage);
  std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                     std::string(64 * 1024, 'a') + "\r\n\r\n";
  auto big = raw_exchange(server.port(), huge);
  BOOST_TEST((big.rfind("HTTP/1.1 4", 0) == 0 || big.empty()),
             big.substr(0, 80));
  auto long_uri =
      raw_exchange(server.port(), "GET /" + std::string(20000, 'a') +
                                      " HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(long_uri.rfind("HTTP/1.1 414", 0) == 0, long_uri.substr(0, 80));
  // Still serving afterwards.
  auto again = cli.Get("/healthz");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->status == 200);
}

BOOST_AUTO_TEST_CASE(a_running_job_feeds_its_view) {
  // numbers -> square -> slow sink: the square operator waits for credit.
  topology t{"slow"};
  struct slow_sink final : sink_function<uint64_t> {
    void write(std::vector<uint64_t>&) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  t.source(generator(
               unbounded, [](uint64_t i) { return i; }, "numbers"))
      .map([](uint64_t x) { return x * x; }, "square")
      .sink({"slow",
             [](const connector_context&) {
               return std::make_unique<slow_sink>();
             },
             std::nullopt});
  job_options opts;
  opts.status_interval = std::chrono::milliseconds(100);
  opts.channels.batch_size = 64;
  opts.channels.credit_window = 2;
  opts.channels.credit_return = 1;
  opts.threads = 2;
  job_view view{"slow", "node-a", "standalone"};
  std::atomic<bool> stop{false};
  runtime::job_result result;
  std::thread runner{[&] { result = runtime::execute(t, opts, &stop, &view); }};
  bool seen = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t now = 0;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    now += 200;
    auto s = view.sample(now, {});
    if (!s->ready()) continue;
    bool all_moving = true;
    double square_backpressure = 0;
    for (auto& v : s->subtasks) {
      all_moving = all_moving && v.known &&
                   (v.records_in_per_s > 0 || v.records_out_per_s > 0);
      if (v.operator_name == "square") square_backpressure = v.backpressure;
    }
    seen = all_moving && square_backpressure > 0.5;
  }
  stop = true;
  runner.join();
  BOOST_TEST(seen);
  BOOST_TEST(result.ok);
  BOOST_TEST(to_string(view.sample(now + 200, {})->status) == "finished");
}

BOOST_AUTO_TEST_CASE(json_log_lines_escape_the_message) {
  auto formatter = json_log_formatter();
  spdlog::details::log_msg msg{"flow/test", spdlog::level::warn,
                               "said \"no\"\nthen\tleft \\"};
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  std::string line(out.data(), out.size());
  BOOST_TEST(line.back() == '\n');
  BOOST_TEST(std::count(line.begin(), line.end(), '\n') == 1);
  auto j = nlohmann::json::parse(line);
  BOOST_TEST(j["level"] == "warning");
  BOOST_TEST(j["logger"] == "flow/test");
  BOOST_TEST(j["msg"] == "said \"no\"\nthen\tleft \\");
  BOOST_TEST(j["time"].get<std::string>().size() == 24u); // ...T..:..:...mmmZ
}

BOOST_AUTO_TEST_SUITE_END()

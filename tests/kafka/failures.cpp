// Failures surface as job failures naming operator and cause, in bounded
// time: broker down at start, unknown topic, a record the broker refuses.
// A client's close, which can wait for a dead cluster, happens off the
// subtask's thread.
#include "fixture.hpp"

#include "../unit/checkpoint/held_epochs.hpp"

#include <boost/test/unit_test.hpp>

#include "flow/collection.hpp"
#include "flow/generator.hpp"
#include "flow/kafka/dead_letter_queue.hpp"
#include "flow/kafka/embedded_cluster.hpp"
#include "flow/kafka/subtask_consumer.hpp"
#include "flow/kafka/topic_producer.hpp"
#include "flow/outbox.hpp"
#include "flow/router.hpp"

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>

using namespace flow::kafka;
using namespace flow::kafka::test;

namespace {

/// Runs blocking work only when the test says so.
struct queued_executor final : flow::blocking_executor {
  void run(std::function<void()> work) override {
    queued.push_back(std::move(work));
  }
  void run_all() {
    while (!queued.empty()) {
      auto w = std::move(queued.front());
      queued.pop_front();
      w();
    }
  }
  std::deque<std::function<void()>> queued;
};

/// Creates `topic` on the embedded cluster with `n` records "0".."n-1".
void produce_embedded(const std::string& topic, int n) {
  embedded_cluster::instance().ensure_topic(topic, 1);
  client_settings s;
  s.bootstrap = "embedded";
  topic_producer p{s, topic, 1};
  producer_record r;
  for (int i = 0; i < n; ++i) {
    r.value = std::to_string(i);
    p.produce(r);
  }
  p.flush();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(kafka_failures, fixture)

BOOST_AUTO_TEST_CASE(broker_down_at_start_fails_within_timeout) {
  flow::topology t{"down"};
  t.source(source<std::string>("anything")).sink(sink<std::string>("other"));
  auto opts = options(
      1, {{"kafka.bootstrap", "127.0.0.1:1"}, {"kafka.timeout-ms", "2000"}});
  auto t0 = std::chrono::steady_clock::now();
  auto res = flow::runtime::execute(t, opts);
  auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // It failed, after the configured wait (not librdkafka's own, minutes:
  // the bound is 30 times the wait, for a busy machine).
  BOOST_TEST(!res.ok);
  BOOST_TEST(secs < 60.0);
  BOOST_TEST(res.error.find("broker_unreachable") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("127.0.0.1:1") != std::string::npos, res.error);
  BOOST_TEST(res.error.find("within 2000 ms") != std::string::npos, res.error);
  // Why: librdkafka says so only in its log and error callback.
  BOOST_TEST(res.error.find("Connection refused") != std::string::npos,
             res.error);
  BOOST_TEST_MESSAGE("failed after " << secs << " s: " << res.error);
}

BOOST_AUTO_TEST_CASE(a_failed_handshake_is_named_with_its_setting) {
  // SASL against the broker's plaintext listener: the broker answers, the
  // handshake fails, and no request of the job's is ever answered. The
  // error says why, and where security is set. (The wait is long enough
  // for the handshake on a busy machine: a connection that is not set up
  // within half of it fails as a timeout instead.)
  auto in = make_topic("handshake-in", 1);
  flow::topology t{"handshake"};
  t.source(source<std::string>(in)).sink(flow::collector<std::string>{}.sink());
  auto res = flow::runtime::execute(
      t, options(1, {{"kafka.timeout-ms", "10000"},
                     {"kafka.properties",
                      "security.protocol=sasl_plaintext,sasl.mechanism=PLAIN,"
                      "sasl.username=u,sasl.password=p"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("broker_unreachable") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("SASL PLAIN mechanism handshake failed") !=
                 std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("security settings: kafka.properties") !=
                 std::string::npos,
             res.error);
}

BOOST_AUTO_TEST_CASE(unknown_topic_fails_clearly) {
  auto missing = unique("missing");
  flow::topology t{"missing"};
  t.source(source<std::string>(missing))
      .sink(sink<std::string>(missing + "-out"));
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.timeout-ms", "5000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("unknown_topic") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(missing) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(a_topic_the_cluster_refuses_is_not_called_missing) {
  // TOPIC_AUTHORIZATION_FAILED (ACLs deny the client), made by the
  // embedded cluster: the job fails saying so, not "does not exist".
  auto refused = unique("refused");
  embedded_cluster::instance().ensure_topic(refused, 1);
  embedded_cluster::instance().refuse_topic(refused, true);
  flow::topology t{"refused"};
  t.source(source<std::string>(refused))
      .sink(flow::collector<std::string>{}.sink());
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.bootstrap", "embedded"},
                                            {"kafka.timeout-ms", "5000"}}));
  embedded_cluster::instance().refuse_topic(refused, false);
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("not_authorized") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(refused) != std::string::npos, res.error);
  BOOST_TEST(res.error.find("does not exist") == std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(a_topic_refused_while_the_job_reads_it_fails_the_job) {
  // The embedded broker answers the source's first fetch with
  // TOPIC_AUTHORIZATION_FAILED, as a broker whose ACLs changed while the
  // job ran. librdkafka would back off and fetch again (and get the
  // records: the answer is given once); the job fails, naming it.
  auto in = unique("refused-fetch");
  produce_embedded(in, 10);
  flow::topology t{"refused-fetch"};
  flow::collector<std::string> out;
  t.source(source<std::string>(in)).sink(out.sink());
  embedded_cluster::instance().answer_next_fetch_not_authorized(true);
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.bootstrap", "embedded"}}));
  embedded_cluster::instance().answer_next_fetch_not_authorized(false);
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("kafka not_authorized: consume " + in + "[0]") !=
                 std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("Topic authorization failed") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("ACLs") != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(a_refused_offset_commit_fails_the_job) {
  // A bounded job without checkpoints commits its sources' offsets to
  // kafka.group-id once every sink has flushed. The embedded broker
  // refuses the commit (GROUP_AUTHORIZATION_FAILED): the output is
  // complete, but the next run would read every record again, so the job
  // fails saying so instead of exiting 0.
  auto in = unique("commit-in");
  auto out = unique("commit-out");
  auto group = unique("commit-group");
  produce_embedded(in, 10);
  embedded_cluster::instance().ensure_topic(out, 1);
  flow::topology t{"refused-commit"};
  t.source(source<std::string>(in)).sink(sink<std::string>(out));
  embedded_cluster::instance().refuse_offset_commits(true);
  auto res = flow::runtime::execute(
      t,
      options(1, {{"kafka.bootstrap", "embedded"}, {"kafka.group-id", group}}));
  embedded_cluster::instance().refuse_offset_commits(false);
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("offset_commit_failed") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find(group) != std::string::npos, res.error);
  BOOST_TEST(res.error.find("Group authorization failed (the output is "
                            "complete; the next run reads these records "
                            "again)") != std::string::npos,
             res.error);
  // Nothing lost: the output is all there.
  client_settings s;
  s.bootstrap = "embedded";
  s.stop_at_end = true;
  subtask_consumer r{s, out, 0, 1};
  size_t n = 0;
  while (!r.finished())
    n += r.fetch(100, 100).size();
  BOOST_TEST(n == 10u);

  // With checkpoints the next run resumes from them: the group's offsets
  // are for lag tools, and the same refusal leaves the job's result alone.
  auto dir = "/tmp/" + unique("commit-ckpt");
  flow::topology t2{"refused-commit-checkpointed"};
  t2.source(source<std::string>(in)).sink(sink<std::string>(out));
  embedded_cluster::instance().refuse_offset_commits(true);
  auto res2 = flow::runtime::execute(
      t2, options(1, {{"kafka.bootstrap", "embedded"},
                      {"kafka.group-id", unique("commit-group")},
                      {"flow.checkpoint-interval", "100ms"},
                      {"flow.checkpoint-dir", dir}}));
  embedded_cluster::instance().refuse_offset_commits(false);
  std::filesystem::remove_all(dir);
  BOOST_TEST(res2.ok, res2.error);
}

BOOST_AUTO_TEST_CASE(a_fatal_producer_error_fails_the_job) {
  // The embedded broker answers the sink's first produce request with
  // OUT_OF_ORDER_SEQUENCE_NUMBER: the idempotent producer cannot tell what
  // the broker holds, librdkafka raises a fatal error, and the job fails
  // naming it instead of retrying or going on with a gap.
  auto out = unique("fatal-out");
  embedded_cluster::instance().ensure_topic(out, 1);
  flow::topology t{"fatal"};
  t.source(flow::generator(
               1000, [](uint64_t i) { return std::to_string(i); }, "numbers"))
      .sink(sink<std::string>(out));
  embedded_cluster::instance().answer_next_produce_out_of_sequence(true);
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.bootstrap", "embedded"}}));
  // Not for a later test's producer, if this one never produced.
  embedded_cluster::instance().answer_next_produce_out_of_sequence(false);
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("kafka fatal: fatal producer error") !=
                 std::string::npos,
             res.error);
  BOOST_TEST(res.error.find("sequence desynchronization") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find(out) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(sink_to_a_missing_topic_fails_and_does_not_create_it) {
  auto in = make_topic("to-missing-in", 1);
  produce(in, std::vector<producer_record>(3));
  auto missing = unique("missing-out");
  flow::topology t{"missing-out"};
  t.source(source<std::string>(in)).sink(sink<std::string>(missing));
  auto res =
      flow::runtime::execute(t, options(1, {{"kafka.timeout-ms", "5000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("unknown_topic") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(missing) != std::string::npos, res.error);
  // The same command must fail again: nothing created the topic.
  BOOST_CHECK_THROW(adm.partitions(missing), kafka_error);
}

BOOST_AUTO_TEST_CASE(refused_record_fails_the_job_loudly) {
  // The topic takes records up to its max.message.bytes (the broker's 1
  // MiB by default); the client would be allowed to send more, but the
  // sink knows the topic's limit and, under the default on-error policy
  // (fail), fails the job naming the record's size and the topic.
  auto in = make_topic("big-in", 1);
  auto out = make_topic("big-out", 1);
  std::vector<producer_record> rs(2);
  rs[0].value = "small";
  rs[1].value = "big";
  produce(in, rs);
  flow::topology t{"refused"};
  t.source(source<std::string>(in))
      .map([](std::string s) {
        return s == "big" ? std::string(3 << 20, 'x') : s;
      })
      .sink(sink<std::string>(out));
  auto res = flow::runtime::execute(
      t,
      options(1, {{"kafka.properties", "message.max.bytes=10000000,retries=2"},
                  {"kafka.delivery-timeout-ms", "10000"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("std::length_error: record of 3145728 bytes") !=
                 std::string::npos,
             res.error);
  BOOST_TEST(res.error.find(out) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(a_record_for_a_missing_partition_fails_the_job) {
  // librdkafka refuses it as the sink passes the batch on (the refusal is
  // not a full queue, so nothing is held): the job fails naming the error
  // and the topic.
  auto out = make_topic("no-such-partition", 2);
  flow::topology t{"no-such-partition"};
  t.source(flow::generator(
               100, [](uint64_t i) { return std::to_string(i); }, "numbers"))
      .sink(sink<std::string>(out, [](const std::string& v) {
        producer_record r;
        r.value = v;
        if (v == "42") r.partition = 7;
        return r;
      }));
  auto res = flow::runtime::execute(t, options(1));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("Unknown partition") != std::string::npos,
             res.error);
  BOOST_TEST(res.error.find(out) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_CASE(bad_setting_is_rejected_naming_the_key) {
  flow::topology t{"bad"};
  t.source(source<std::string>("x")).sink(sink<std::string>("y"));
  auto res = flow::runtime::execute(
      t, options(1, {{"kafka.start-offset", "yesterday"}}));
  BOOST_TEST(!res.ok);
  BOOST_TEST(res.error.find("kafka.start-offset") != std::string::npos,
             res.error);
}

// A Kafka client's close and destroy join librdkafka's threads and, with
// the cluster gone, can wait for it (librdkafka 2.0.2 can hang there). A
// subtask's thread is shared with other subtasks: sources, sinks and
// dead-letter queues hand their clients to the executor instead. A queued
// executor shows it: the client is still alive after its owner is gone,
// until the queued work runs.
BOOST_AUTO_TEST_CASE(connectors_release_their_clients_on_the_executor) {
  auto topic = make_topic("released", 1);
  auto opts = options(1, {{"kafka.stop-at-end", "false"}});
  queued_executor ex;
  flow::connector_context ctx;
  ctx.operator_name = "released";
  ctx.settings = &opts.settings;
  ctx.executor = &ex;

  auto sink_fn = sink<int64_t>(topic).make(ctx);
  sink_fn->open(ctx);
  BOOST_REQUIRE_EQUAL(ex.queued.size(), 1u); // opening the producer
  ex.run_all();
  sink_fn->resume(); // takes the producer
  BOOST_REQUIRE(!sink_fn->busy());
  sink_fn.reset();
  BOOST_TEST(ex.queued.size() == 1u); // the producer's release
  ex.run_all();

  auto source_fn = source<int64_t>(topic).make(ctx);
  source_fn->open(ctx);
  flow::test::silent_transport tr;
  flow::subtask_metrics m;
  flow::outbox box{1, 8, tr, m};
  flow::router<int64_t> r{
      {flow::out_edge_layout{flow::partitioning::forward, nullptr, {0}, 128}},
      box,
      16};
  flow::emitter<int64_t> out{r};
  source_fn->poll(out, 16); // starts opening the consumer
  BOOST_REQUIRE_EQUAL(ex.queued.size(), 1u);
  ex.run_all();
  source_fn->poll(out, 16); // takes it
  BOOST_REQUIRE(ex.queued.empty());
  source_fn.reset();
  BOOST_TEST(ex.queued.size() == 1u); // the consumer's release
  ex.run_all();

  auto dlq = std::make_unique<dead_letter_queue>(settings, topic, &ex);
  bool open = false;
  for (int i = 0; i < 10 && !open; ++i) {
    ex.run_all();
    open = dlq->accepting();
  }
  BOOST_REQUIRE(open);
  BOOST_REQUIRE(ex.queued.empty());
  dlq.reset();
  BOOST_TEST(ex.queued.size() == 1u); // the producer's release
  ex.run_all();
}

BOOST_AUTO_TEST_SUITE_END()

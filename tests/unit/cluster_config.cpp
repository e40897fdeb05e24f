// The job configuration of a cluster: which settings are the job's, and
// when a worker's own settings disagree with the coordinator's.
#include "flow/runtime/cluster.hpp"
#include "flow/runtime/node_config.hpp"

#include <boost/test/unit_test.hpp>

using flow::settings_map;
using flow::runtime::differing_job_settings;
using flow::runtime::job_settings;
using flow::runtime::node_config;

BOOST_AUTO_TEST_SUITE(cluster_config)

BOOST_AUTO_TEST_CASE(job_settings_leave_out_what_belongs_to_the_node) {
  settings_map all{{"flow.parallelism", "4"},
                   {"flow.log-level", "debug"},
                   {"flow.threads", "2"},
                   {"flow.scheduler", "stealing"},
                   {"kafka.bootstrap", "127.0.0.1:9092"},
                   {"wordcount.input", "lines"},
                   {"cluster.role", "coordinator"},
                   {"openssl.key", "node.key"},
                   {"middleman.heartbeat-interval", "1000000000ns"},
                   {"config-file", "x.conf"}};
  settings_map expected{{"flow.parallelism", "4"},
                        {"kafka.bootstrap", "127.0.0.1:9092"},
                        {"wordcount.input", "lines"}};
  BOOST_CHECK(job_settings(all) == expected);
}

BOOST_AUTO_TEST_CASE(a_node_config_holds_only_what_was_configured) {
  // A worker that configures nothing but its cluster options has no job
  // settings, so it agrees with any coordinator.
  node_config worker;
  BOOST_REQUIRE(worker.load({"--cluster.role=worker", "--cluster.slots=2",
                             "--flow.log-level=warn"}) ==
                node_config::outcome::ok);
  BOOST_CHECK(job_settings(worker.options().settings).empty());
  node_config coordinator;
  BOOST_REQUIRE(
      coordinator.load({"--cluster.role=coordinator", "--cluster.workers=2",
                        "--flow.parallelism=4"}) == node_config::outcome::ok);
  auto job = job_settings(coordinator.options().settings);
  BOOST_CHECK_EQUAL(job.size(), 1u);
  BOOST_CHECK_EQUAL(job.at("flow.parallelism"), "4");
  BOOST_CHECK(differing_job_settings(job, {}).empty());
}

BOOST_AUTO_TEST_CASE(a_worker_agrees_when_it_sets_what_the_coordinator_sets) {
  settings_map coordinator{{"flow.parallelism", "4"},
                           {"kafka.bootstrap", "127.0.0.1:9092"}};
  BOOST_CHECK(differing_job_settings(coordinator, {}).empty());
  BOOST_CHECK(
      differing_job_settings(coordinator, {{"flow.parallelism", "4"}}).empty());
  BOOST_CHECK(differing_job_settings(coordinator, coordinator).empty());
}

BOOST_AUTO_TEST_CASE(differences_name_the_key_and_both_values) {
  settings_map coordinator{{"flow.parallelism", "4"},
                           {"kafka.bootstrap", "127.0.0.1:9092"}};
  settings_map worker{{"flow.parallelism", "4"},
                      {"kafka.bootstrap", "embedded"},
                      {"kafka.stop-at-end", "true"}};
  auto d = differing_job_settings(coordinator, worker);
  BOOST_REQUIRE_EQUAL(d.size(), 2u);
  BOOST_CHECK_EQUAL(d[0], "kafka.bootstrap = \"embedded\" here, "
                          "\"127.0.0.1:9092\" on the coordinator");
  BOOST_CHECK_EQUAL(d[1], "kafka.stop-at-end = \"true\" here, unset on the "
                          "coordinator");
}

BOOST_AUTO_TEST_SUITE_END()

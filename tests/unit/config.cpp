#include "flow/runtime/node_config.hpp"

#include <boost/test/unit_test.hpp>

using flow::runtime::node_config;

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(cli_values_reach_the_job_options) {
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--flow.parallelism=3", "--flow.batch-size=64",
                          "--flow.flush-interval=2ms"}) ==
                node_config::outcome::ok);
  BOOST_CHECK_EQUAL(cfg.options().plan.default_parallelism, 3u);
  BOOST_CHECK_EQUAL(cfg.options().channels.batch_size, 64u);
  BOOST_CHECK(cfg.options().flush_interval == std::chrono::milliseconds(2));
  BOOST_CHECK_EQUAL(cfg.options().settings.at("flow.parallelism"), "3");
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_key_and_the_expectation) {
  struct bad_case {
    std::vector<std::string> args;
    std::string key;
  };
  std::vector<bad_case> cases{
      {{"--flow.batch-size=0"}, "flow.batch-size"},
      {{"--flow.credit-window=2000"}, "flow.credit-window"},
      {{"--flow.credit-window=2", "--flow.credit-return=3"},
       "flow.credit-return"},
      {{"--flow.parallelism=abc"}, "flow.parallelism"},
      {{"--flow.log-level=loud"}, "flow.log-level"},
      {{"--flow.no-such-key=1"}, "flow.no-such-key"},
      {{"stray"}, "stray"},
  };
  for (auto& c : cases) {
    node_config cfg;
    BOOST_TEST_CONTEXT(c.args.back()) {
      BOOST_CHECK(cfg.load(c.args) == node_config::outcome::error);
      BOOST_CHECK_MESSAGE(cfg.message().find(c.key) != std::string::npos,
                          cfg.message());
      BOOST_CHECK_MESSAGE(cfg.message().find("expected") != std::string::npos,
                          cfg.message());
    }
  }
}

BOOST_AUTO_TEST_CASE(boolean_options_take_true_and_false) {
  node_config off;
  BOOST_CHECK(off.load({"--cluster.tls=false"}) == node_config::outcome::ok);
  BOOST_CHECK(!off.cluster().tls);
  node_config on;
  // On, but without certificate files: refused, naming the key.
  BOOST_CHECK(on.load({"--cluster.tls=true"}) == node_config::outcome::error);
  BOOST_CHECK_MESSAGE(on.message().find("cluster.tls") != std::string::npos,
                      on.message());
  node_config bad;
  BOOST_CHECK(bad.load({"--cluster.tls=maybe"}) == node_config::outcome::error);
  BOOST_CHECK_MESSAGE(bad.message().find("cluster.tls") != std::string::npos,
                      bad.message());
}

BOOST_AUTO_TEST_CASE(help_lists_every_flow_option) {
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--help"}) == node_config::outcome::help);
  for (auto key : {"flow.parallelism", "flow.batch-size", "flow.credit-window",
                   "flow.flush-interval", "flow.log-level"})
    BOOST_CHECK_MESSAGE(cfg.message().find(key) != std::string::npos, key);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(defaults_file_lists_every_option_with_its_default) {
  // conf/libflow.conf must match node_config: same keys, same defaults.
  node_config from_file;
  BOOST_REQUIRE(from_file.load({std::string("--config-file=") +
                                FLOW_SOURCE_DIR + "/conf/libflow.conf"}) ==
                node_config::outcome::ok);
  node_config defaults;
  BOOST_REQUIRE(defaults.load({}) == node_config::outcome::ok);
  auto& a = from_file.options().settings;
  for (auto& [key, value] : defaults.options().settings)
    if (key.rfind("flow.", 0) == 0)
      BOOST_CHECK_MESSAGE(a.count(key) == 1 && a.at(key) == value,
                          key << ": default " << value << " not in the file");
  auto help = defaults.help();
  for (auto& [key, value] : a)
    BOOST_CHECK_MESSAGE(help.find("--" + key + "=") != std::string::npos,
                        key << " in conf/libflow.conf is no option");
}

#include "flow/job_options.hpp"
#include "flow/option.hpp"
#include "flow/runtime/job_host.hpp"
#include "flow/runtime/node_config.hpp"

#ifdef FLOW_TEST_KAFKA
#include "flow/kafka/options.hpp"
#endif

#include <boost/test/unit_test.hpp>

#include <caf/actor_system_config.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <sched.h>

using flow::runtime::node_config;

namespace {

/// A job's own option, as a program declares one.
const flow::option<int64_t> test_rows{
    "config-test.rows", 10, "Rows the test job makes.", flow::in_range(1, 100)};
const flow::option<std::string> test_mode{"config-test.mode", "fast",
                                          "How the test job runs.",
                                          flow::one_of({"fast", "slow"})};
const flow::option<std::string> test_needed{
    "config-test.needed", flow::no_default,
    "Set only by the test of required options."};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

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

BOOST_AUTO_TEST_CASE(checkpoint_options_reach_the_job_options) {
  node_config off;
  BOOST_REQUIRE(off.load({}) == node_config::outcome::ok);
  BOOST_CHECK(!off.options().checkpoints.enabled());
  BOOST_CHECK_EQUAL(off.options().checkpoints.restore, "latest");
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--flow.checkpoint-interval=250ms",
                          "--flow.checkpoint-dir=/tmp/cp",
                          "--flow.checkpoints-retained=5",
                          "--flow.restore=none"}) == node_config::outcome::ok);
  auto& cp = cfg.options().checkpoints;
  BOOST_CHECK(cp.enabled());
  BOOST_CHECK(cp.interval == std::chrono::milliseconds(250));
  BOOST_CHECK_EQUAL(cp.dir, "/tmp/cp");
  BOOST_CHECK_EQUAL(cp.retained, 5u);
  BOOST_CHECK_EQUAL(cp.restore, "none");
}

BOOST_AUTO_TEST_CASE(state_options_reach_the_job_options) {
  node_config memory;
  BOOST_REQUIRE(memory.load({}) == node_config::outcome::ok);
  BOOST_CHECK_EQUAL(memory.options().state.backend, "memory");
  node_config cfg;
  BOOST_REQUIRE(
      cfg.load({"--flow.state-backend=rocksdb", "--flow.state-dir=/tmp/st",
                "--flow.state-cache-entries=7",
                "--flow.state-memory=16777216"}) == node_config::outcome::ok);
  auto& st = cfg.options().state;
  BOOST_CHECK_EQUAL(st.backend, "rocksdb");
  BOOST_CHECK_EQUAL(st.dir, "/tmp/st");
  BOOST_CHECK_EQUAL(st.cache_entries, 7u);
  BOOST_CHECK_EQUAL(st.memory, size_t{16} << 20);
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
      {{"--flow.checkpoints-retained=0"}, "flow.checkpoints-retained"},
      {{"--flow.checkpoint-timeout=0s"}, "flow.checkpoint-timeout"},
      {{"--flow.checkpoint-interval=1s"}, "flow.checkpoint-dir"},
      {{"--flow.savepoint-on-stop=true"}, "flow.checkpoint-dir"},
      {{"--cluster.role=boss"}, "cluster.role"},
      {{"--cluster.role=worker", "--cluster.slots=0"}, "cluster.slots"},
      {{"--cluster.role=coordinator", "--cluster.workers=0",
        "--cluster.slots=0"},
       "cluster.workers"},
      {{"--flow.state-backend=disk"}, "flow.state-backend"},
      {{"--flow.state-cache-entries=0"}, "flow.state-cache-entries"},
      {{"--flow.state-memory=1000"}, "flow.state-memory"},
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

BOOST_AUTO_TEST_CASE(values_are_reported_as_given) {
  struct bad_case {
    std::vector<std::string> args;
    std::string shown;
  };
  // The old node_config read into narrower fields first and reported
  // --flow.credit-window=2000 as 1025.
  std::vector<bad_case> cases{
      {{"--flow.credit-window=2000"}, "flow.credit-window = 2000 "},
      {{"--flow.parallelism=99999999999"}, "flow.parallelism = 99999999999 "},
      {{"--flow.threads=-1"}, "flow.threads = -1 "},
      {{"--flow.flush-interval=90s"}, "flow.flush-interval = 90s "},
      {{"--flow.flush-interval=0s"}, "flow.flush-interval = 0s "},
      {{"--flow.flush-interval=5"}, "flow.flush-interval = 5 "},
      {{"--flow.scheduler=fifo"}, "flow.scheduler = fifo "},
      {{"--cluster.port=70000"}, "cluster.port = 70000 "},
      {{std::string("--config-file=") + FLOW_SOURCE_DIR +
        "/tests/unit/data/bad.conf"},
       "flow.credit-window = 0 "},
  };
  for (auto& c : cases) {
    node_config cfg;
    BOOST_TEST_CONTEXT(c.args.back()) {
      BOOST_CHECK(cfg.load(c.args) == node_config::outcome::error);
      BOOST_CHECK_MESSAGE(contains(cfg.message(), c.shown), cfg.message());
    }
  }
  node_config from_file;
  from_file.load({std::string("--config-file=") + FLOW_SOURCE_DIR +
                  "/tests/unit/data/bad.conf"});
  BOOST_CHECK_MESSAGE(contains(from_file.message(), "bad.conf"),
                      from_file.message());
}

BOOST_AUTO_TEST_CASE(expected_values_come_from_the_schema) {
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--flow.batch-size=0"}) ==
                node_config::outcome::error);
  BOOST_CHECK_EQUAL(cfg.message(),
                    "invalid config: flow.batch-size = 0 (expected an integer "
                    "in [1, 1048576]) [command line]");
  node_config dur;
  BOOST_REQUIRE(dur.load({"--flow.flush-interval=2min"}) ==
                node_config::outcome::error);
  BOOST_CHECK_MESSAGE(contains(dur.message(), "a duration in (0, 1min]"),
                      dur.message());
}

BOOST_AUTO_TEST_CASE(durations_read_and_render_alike) {
  using namespace std::chrono;
  for (auto d : {nanoseconds(0), nanoseconds(7), nanoseconds(milliseconds(5)),
                 nanoseconds(seconds(90)), nanoseconds(minutes(2)),
                 nanoseconds(hours(3)), nanoseconds(microseconds(1500))})
    BOOST_CHECK(flow::parse_duration(flow::format_duration(d)) == d);
  BOOST_CHECK_EQUAL(flow::format_duration(milliseconds(5)), "5ms");
  BOOST_CHECK_EQUAL(flow::format_duration(seconds(120)), "2min");
  BOOST_CHECK(!flow::parse_duration("5"));
  BOOST_CHECK(!flow::parse_duration("ms"));
  BOOST_CHECK(!flow::parse_duration("5 ms"));
  BOOST_CHECK(!flow::parse_duration("99999999999h"));
}

BOOST_AUTO_TEST_CASE(scheduler_threads_are_the_cpus_the_process_may_use) {
  flow::job_options o;
  o.threads = 3;
  BOOST_CHECK_EQUAL(flow::scheduler_threads(o), 3u);
  o.threads = 0;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  BOOST_REQUIRE_EQUAL(sched_getaffinity(0, sizeof(mask), &mask), 0);
  BOOST_CHECK_EQUAL(flow::scheduler_threads(o),
                    static_cast<size_t>(CPU_COUNT(&mask)));
  // As under `taskset -c N`: a thread that may run on one CPU only.
  size_t pinned = 0;
  bool pinning_failed = false;
  std::thread t{[&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &mask)) {
        CPU_SET(cpu, &one);
        break;
      }
    pinning_failed = sched_setaffinity(0, sizeof(one), &one) != 0;
    pinned = flow::scheduler_threads(o);
  }};
  t.join();
  BOOST_REQUIRE(!pinning_failed);
  BOOST_CHECK_EQUAL(pinned, 1u);
  // The actor system gets that number, never CAF's max(cores, 4)...
  caf::actor_system_config cfg;
  flow::runtime::configure_scheduler(cfg, o);
  BOOST_CHECK_EQUAL(caf::get_or(cfg, "scheduler.max-threads", size_t{0}),
                    flow::scheduler_threads(o));
  // ...unless the node set CAF's own scheduler.max-threads; flow.threads
  // wins over that.
  caf::actor_system_config own;
  own.set("scheduler.max-threads", size_t{7});
  flow::runtime::configure_scheduler(own, o);
  BOOST_CHECK_EQUAL(caf::get_or(own, "scheduler.max-threads", size_t{0}), 7u);
  o.threads = 3;
  flow::runtime::configure_scheduler(own, o);
  BOOST_CHECK_EQUAL(caf::get_or(own, "scheduler.max-threads", size_t{0}), 3u);
}

BOOST_AUTO_TEST_CASE(a_job_option_is_listed_by_help_and_parsed) {
  node_config help;
  BOOST_REQUIRE(help.load({"--help"}) == node_config::outcome::help);
  BOOST_CHECK_MESSAGE(contains(help.message(), "--config-test.rows=10\n"),
                      help.message());
  BOOST_CHECK(contains(help.message(), "Rows the test job makes."));
  BOOST_CHECK(contains(help.message(), "An integer in [1, 100]."));
  node_config unset;
  BOOST_REQUIRE(unset.load({}) == node_config::outcome::ok);
  BOOST_CHECK_EQUAL(test_rows.get(unset.options().settings), 10);
  BOOST_CHECK_EQUAL(test_mode.get(unset.options().settings), "fast");
  node_config set;
  BOOST_REQUIRE(
      set.load({"--config-test.rows=42", "--config-test.mode=slow"}) ==
      node_config::outcome::ok);
  BOOST_CHECK_EQUAL(test_rows.get(set.options().settings), 42);
  BOOST_CHECK_EQUAL(test_mode.get(set.options().settings), "slow");
}

BOOST_AUTO_TEST_CASE(a_bad_job_option_names_key_value_and_expectation) {
  node_config range;
  BOOST_REQUIRE(range.load({"--config-test.rows=500"}) ==
                node_config::outcome::error);
  BOOST_CHECK_MESSAGE(contains(range.message(), "config-test.rows = 500 "
                                                "(expected an integer in "
                                                "[1, 100])"),
                      range.message());
  node_config choice;
  BOOST_REQUIRE(choice.load({"--config-test.mode=\"medium\""}) ==
                node_config::outcome::error);
  BOOST_CHECK_MESSAGE(contains(choice.message(), "config-test.mode = medium "
                                                 "(expected fast or slow)"),
                      choice.message());
}

BOOST_AUTO_TEST_CASE(required_options_are_named_when_missing) {
  auto& schema = flow::option_schema::global();
  schema.require(test_needed.key(), "the required-options test");
  auto missing = schema.check_required({});
  BOOST_REQUIRE(missing);
  BOOST_CHECK_EQUAL(missing->key, "config-test.needed");
  BOOST_CHECK_MESSAGE(contains(missing->message(), "the required-options test"),
                      missing->message());
  BOOST_CHECK(!schema.check_required({{"config-test.needed", "x"}}));
}

BOOST_AUTO_TEST_CASE(an_option_is_declared_once) {
  BOOST_CHECK_THROW((flow::option<int64_t>{"config-test.rows", 1, "again"}),
                    std::logic_error);
  // A default that fails its own bounds is a programming error too.
  BOOST_CHECK_THROW((flow::option<int64_t>{"config-test.other", 0, "bad",
                                           flow::in_range(1, 2)}),
                    std::logic_error);
}

BOOST_AUTO_TEST_CASE(
    a_duration_below_its_resolution_is_refused_not_turned_off) {
  // Used in whole milliseconds, where 0 means off: 500us would be
  // truncated to 0 and turn checkpoints (the debloater, idleness) off.
  for (auto key : {"flow.checkpoint-interval", "flow.credit-debloat-target",
                   "flow.idle-timeout"}) {
    node_config tiny;
    BOOST_REQUIRE(tiny.load({std::string("--") + key + "=500us"}) ==
                  node_config::outcome::error);
    BOOST_CHECK_MESSAGE(
        contains(tiny.message(), std::string(key) + " = 500us ") &&
            contains(tiny.message(), "0s for off, or a duration in [1ms, "),
        tiny.message());
    for (auto ok : {"0s", "1ms"}) {
      node_config fine;
      // A checkpoint interval > 0 needs a directory (not made at load).
      BOOST_CHECK_MESSAGE(fine.load({std::string("--") + key + "=" + ok,
                                     "--flow.checkpoint-dir=unused-dir"}) ==
                              node_config::outcome::ok,
                          key << " = " << ok << ": " << fine.message());
    }
  }
}

#ifdef FLOW_TEST_KAFKA
BOOST_AUTO_TEST_CASE(kafka_options_are_checked_by_the_schema) {
  using flow::kafka::client_settings;
  BOOST_CHECK_EXCEPTION(client_settings::from(nullptr), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return contains(e.what(),
                                          "kafka.bootstrap = (unset)");
                        });
  flow::settings_map bad{{"kafka.bootstrap", "embedded"},
                         {"kafka.linger-ms", "-1"}};
  BOOST_CHECK_EXCEPTION(client_settings::from(&bad), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return contains(e.what(), "kafka.linger-ms = -1 ");
                        });
  // librdkafka would refuse the producer when a sink opens (exit 1, in
  // its own words): the schema names the key and the job exits 2.
  for (auto [args, key] :
       {std::pair{std::vector<std::string>{"--kafka.delivery-timeout-ms=1"},
                  "kafka.delivery-timeout-ms = 1 "},
        std::pair{std::vector<std::string>{"--kafka.linger-ms=5000",
                                           "--kafka.delivery-timeout-ms=5000"},
                  "kafka.delivery-timeout-ms = 5000 "},
        std::pair{std::vector<std::string>{
                      "--kafka.linger-ms=5000", "--kafka.delivery=exactly-once",
                      "--kafka.group-id=g", "--flow.checkpoint-interval=1s",
                      "--flow.checkpoint-dir=/tmp/x",
                      "--kafka.transaction-timeout-ms="
                      "2000"},
                  "kafka.transaction-timeout-ms = 2000 "}}) {
    node_config timeouts;
    BOOST_REQUIRE(timeouts.load(args) == node_config::outcome::error);
    BOOST_CHECK_MESSAGE(contains(timeouts.message(), key) &&
                            contains(timeouts.message(), "kafka.linger-ms"),
                        timeouts.message());
  }
  node_config linger_ok;
  BOOST_CHECK(
      linger_ok.load({"--kafka.bootstrap=embedded", "--kafka.linger-ms=5",
                      "--kafka.delivery-timeout-ms=6"}) ==
      node_config::outcome::ok);
  flow::settings_map ok{{"kafka.bootstrap", "127.0.0.1:9092"},
                        {"kafka.stop-at-end", "true"},
                        {"kafka.start-offset", "offsets:0=5,1=7"},
                        {"kafka.properties", "[\"compression.type=lz4\"]"}};
  auto s = client_settings::from(&ok);
  BOOST_CHECK_EQUAL(s.bootstrap, "127.0.0.1:9092");
  BOOST_CHECK(s.stop_at_end);
  BOOST_CHECK_EQUAL(s.start.offsets.at(1), 7);
  BOOST_REQUIRE_EQUAL(s.properties.size(), 1u);
  BOOST_CHECK_EQUAL(s.properties[0].second, "lz4");
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--kafka.start-offset=yesterday"}) ==
                node_config::outcome::error);
  BOOST_CHECK_MESSAGE(contains(cfg.message(), "kafka.start-offset = yesterday"),
                      cfg.message());
  node_config flag;
  BOOST_REQUIRE(
      flag.load({"--kafka.bootstrap=embedded", "--kafka.stop-at-end=true"}) ==
      node_config::outcome::ok);
  BOOST_CHECK(client_settings::from(&flag.options().settings).stop_at_end);
}
#endif

BOOST_AUTO_TEST_CASE(help_lists_every_flow_option) {
  node_config cfg;
  BOOST_REQUIRE(cfg.load({"--help"}) == node_config::outcome::help);
  for (auto key : {"flow.parallelism", "flow.batch-size", "flow.credit-window",
                   "flow.flush-interval", "flow.log-level"})
    BOOST_CHECK_MESSAGE(cfg.message().find(key) != std::string::npos, key);
}

BOOST_AUTO_TEST_CASE(only_loopback_addresses_count_as_loopback) {
  using flow::runtime::is_loopback;
  for (auto h : {"127.0.0.1", "127.1.2.3", "::1", "localhost"})
    BOOST_TEST(is_loopback(h), h);
  for (auto h : {"0.0.0.0", "", "10.0.0.1", "128.0.0.1", "::",
                 "::ffff:127.0.0.1", "127.0.0.1.example", "localhost.example"})
    BOOST_TEST(!is_loopback(h), h);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(defaults_file_lists_every_option_with_its_default) {
  // conf/libflow.conf, read as a config file, sets every option of the
  // flow and cluster groups that has a default, to that default.
  node_config from_file;
  BOOST_REQUIRE(from_file.load({std::string("--config-file=") +
                                FLOW_SOURCE_DIR + "/conf/libflow.conf"}) ==
                node_config::outcome::ok);
  auto& a = from_file.options().settings;
  auto& schema = flow::option_schema::global();
  for (auto& spec : schema.specs())
    if ((spec.group() == "flow" || spec.group() == "cluster") &&
        spec.default_text)
      BOOST_CHECK_MESSAGE(
          a.count(spec.key) == 1 && a.at(spec.key) == *spec.default_text,
          spec.key << ": default " << *spec.default_text << " not in the file");
  for (auto& [key, value] : a)
    BOOST_CHECK_MESSAGE(schema.find(key), key << " in conf/libflow.conf is no "
                                                 "option");
}

BOOST_AUTO_TEST_CASE(example_configs_set_only_what_differs_from_the_default) {
  // The examples' config files set an option only where the example needs
  // another value than the default: a default written there as a literal
  // would silently stop being one when the default changes. (Read line by
  // line: node_config would refuse the examples' own options, which only
  // their programs declare.)
  auto& schema = flow::option_schema::global();
  for (auto file :
       {"enrich.conf", "wordcount.conf", "ysb.conf", "cluster/coordinator.conf",
        "cluster/worker-1.conf", "cluster/worker-2.conf"}) {
    std::ifstream in{std::string(FLOW_SOURCE_DIR) + "/conf/" + file};
    BOOST_REQUIRE_MESSAGE(in, file);
    std::string group, line;
    int options_set = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == ';') continue;
      if (line[0] == '[') {
        group = line.substr(1, line.find(']') - 1);
        continue;
      }
      auto eq = line.find(" = ");
      BOOST_REQUIRE_MESSAGE(eq != std::string::npos, file << ": " << line);
      auto value = line.substr(eq + 3);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      auto spec = schema.find(group + "." + line.substr(0, eq));
      if (!spec || !spec->default_text) continue; // the example's own
      ++options_set;
      BOOST_CHECK_MESSAGE(value != *spec->default_text,
                          "conf/" << file << " sets " << spec->key
                                  << " to its default, " << value);
    }
    BOOST_TEST_MESSAGE(file << ": " << options_set << " options set");
  }
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// Checks that `path` holds `generated` between `begin` and `end` (the
/// whole file if `begin` is empty); with FLOW_UPDATE_OPTION_DOCS=1 set,
/// writes it there instead.
void check_generated(const std::string& path, const std::string& begin,
                     const std::string& end, const std::string& generated) {
  auto text = read_file(path);
  size_t from = 0, to = text.size();
  if (!begin.empty()) {
    from = text.find(begin);
    BOOST_REQUIRE_MESSAGE(from != std::string::npos,
                          path << " lacks " << begin);
    from += begin.size();
    to = text.find(end, from);
    BOOST_REQUIRE_MESSAGE(to != std::string::npos, path << " lacks " << end);
  }
  auto current = text.substr(from, to - from);
  if (current == generated) return;
  if (auto update = std::getenv("FLOW_UPDATE_OPTION_DOCS");
      update && std::string(update) == "1") {
    std::ofstream{path} << text.substr(0, from) << generated << text.substr(to);
    BOOST_TEST_MESSAGE("updated " << path);
    return;
  }
  BOOST_ERROR(path << " differs from the option schema; run "
                      "FLOW_UPDATE_OPTION_DOCS=1 build/tests/flow_unit_tests "
                      "-t option_docs, then review the diff. Expected:\n"
                   << generated);
}

/// The rows of `keys` (space-separated), in that order, as the schema's
/// table of their group has them, under its header.
std::string rows_of(const std::string& keys) {
  auto& schema = flow::option_schema::global();
  std::istringstream in(keys);
  std::string out;
  for (std::string key; in >> key;) {
    auto table = schema.markdown_table(key.substr(0, key.find('.')));
    if (out.empty())
      out = table.substr(0, table.find('\n', table.find('\n') + 1) + 1);
    auto row = table.find("| `" + key + "` |");
    BOOST_REQUIRE_MESSAGE(row != std::string::npos, key << " is no option");
    out += table.substr(row, table.find('\n', row) + 1 - row);
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(option_docs)

// conf/libflow.conf and the README's option tables are generated from the
// option schema: a changed option fails here until they are regenerated.
BOOST_AUTO_TEST_CASE(defaults_file_is_generated_from_the_schema) {
  auto& schema = flow::option_schema::global();
  check_generated(
      std::string(FLOW_SOURCE_DIR) + "/conf/libflow.conf", "", "",
      "; libflow node configuration: every option with its default.\n"
      "; Format: CAF config file (INI style, `;` comments). Pass it with\n"
      "; --config-file=conf/libflow.conf; every key is also a command-line "
      "flag\n"
      "; (--flow.parallelism=4), and the command line wins. --help lists "
      "them.\n"
      "; A bad value names the key, the value and the expected form, and the\n"
      "; node exits 2 before doing any work.\n"
      "; Generated from the option schema (README: \"Adding an option\").\n" +
          schema.config_file({"flow", "cluster"}));
}

BOOST_AUTO_TEST_CASE(readme_tables_are_generated_from_the_schema) {
  auto& schema = flow::option_schema::global();
  auto readme = std::string(FLOW_SOURCE_DIR) + "/README.md";
  for (auto group : {"flow", "cluster"})
    check_generated(readme, std::string("<!-- options ") + group + " -->\n",
                    "<!-- end options -->", schema.markdown_table(group));
  // Tables of a few options beside the text about them: a line
  // <!-- options-of KEY KEY ... -->.
  const std::string marker = "<!-- options-of ";
  auto text = read_file(readme);
  for (auto line = text.find("\n" + marker); line != std::string::npos;
       line = text.find("\n" + marker, line + 1)) {
    auto at = line + 1;
    auto keys = text.substr(at + marker.size(),
                            text.find(" -->", at) - at - marker.size());
    check_generated(readme, marker + keys + " -->\n", "<!-- end options -->",
                    rows_of(keys));
    text = read_file(readme); // it may have been updated
  }
#ifdef FLOW_TEST_KAFKA
  check_generated(std::string(FLOW_SOURCE_DIR) + "/connectors/kafka/README.md",
                  "<!-- options kafka -->\n", "<!-- end options -->",
                  schema.markdown_table("kafka"));
#endif
}

BOOST_AUTO_TEST_SUITE_END()

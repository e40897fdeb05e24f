#include "flow/checkpoint/restart_strategy.hpp"

#include <boost/test/unit_test.hpp>

using namespace flow::checkpoint;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(checkpoint_restart_strategy)

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_the_cap_then_gives_up) {
  options o;
  o.restart_attempts = 5;
  o.restart_backoff = 1000ms;
  o.restart_backoff_max = 5000ms;
  restart_strategy r{o};
  std::vector<std::chrono::milliseconds> delays;
  while (auto d = r.on_failure())
    delays.push_back(*d);
  BOOST_CHECK((delays == std::vector<std::chrono::milliseconds>{
                             1000ms, 2000ms, 4000ms, 5000ms, 5000ms}));
  BOOST_CHECK(!r.on_failure());
  BOOST_CHECK_EQUAL(r.restarts(), 5u);
}

BOOST_AUTO_TEST_CASE(a_completed_checkpoint_starts_over) {
  options o;
  o.restart_attempts = 2;
  o.restart_backoff = 100ms;
  restart_strategy r{o};
  BOOST_CHECK(*r.on_failure() == 100ms);
  BOOST_CHECK(*r.on_failure() == 200ms);
  r.on_checkpoint_completed();
  BOOST_CHECK(*r.on_failure() == 100ms);
  BOOST_CHECK(*r.on_failure() == 200ms);
  BOOST_CHECK(!r.on_failure());
  BOOST_CHECK_EQUAL(r.restarts(), 4u);
}

BOOST_AUTO_TEST_CASE(zero_attempts_never_restart) {
  options o;
  o.restart_attempts = 0;
  restart_strategy r{o};
  BOOST_CHECK(!r.on_failure());
}

BOOST_AUTO_TEST_CASE(bad_options_name_the_key_and_value) {
  options o;
  o.retained = 0;
  auto err = validate(o);
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(err->key, "flow.checkpoints-retained");
  BOOST_CHECK_EQUAL(err->value, "0");
  o = options{};
  o.restart_backoff = 2000ms;
  o.restart_backoff_max = 1000ms;
  err = validate(o);
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(err->key, "flow.restart-backoff-max");
  BOOST_CHECK_EQUAL(err->value, "1000ms");
  o = options{};
  o.timeout = 0ms;
  BOOST_CHECK_EQUAL(validate(o)->key, "flow.checkpoint-timeout");
  BOOST_CHECK(!validate(options{}));
}

BOOST_AUTO_TEST_SUITE_END()

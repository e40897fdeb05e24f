#include "flow/checkpoint/coordinator.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using namespace flow;
using namespace flow::checkpoint;
using namespace std::chrono_literals;

namespace {

struct fixture {
  manual_clock clk{1'000'000};
  checkpoint::options opts;
  std::vector<pb::Metadata> completed;
  std::vector<std::pair<trigger, std::string>> aborted;

  fixture() {
    opts.interval = 1000ms;
    opts.timeout = 5000ms;
  }

  coordinator make(size_t subtasks, checkpoint_id last = {}) {
    std::vector<subtask_id> ids;
    for (uint32_t i = 0; i < subtasks; ++i)
      ids.push_back(subtask_id{10 + i});
    coordinator c{"job", ids, opts, clk, last};
    c.on_complete([this](const pb::Metadata& md) { completed.push_back(md); });
    c.on_abort([this](const trigger& t, const std::string& cause) {
      aborted.emplace_back(t, cause);
    });
    return c;
  }
};

pb::Part part(uint32_t sub, uint64_t size, int64_t alignment_ms) {
  pb::Part p;
  p.set_subtask_index(sub);
  p.set_size_bytes(size);
  p.set_alignment_ms(alignment_ms);
  return p;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(checkpoint_coordinator, fixture)

BOOST_AUTO_TEST_CASE(triggers_every_interval_and_completes_when_all_acked) {
  auto c = make(3);
  BOOST_CHECK_EQUAL(c.next_wakeup(), clk.now() + 1000);
  clk.advance(999);
  BOOST_CHECK(!c.poll());
  clk.advance(1);
  auto t = c.poll();
  BOOST_REQUIRE(t);
  BOOST_CHECK_EQUAL(t->id, checkpoint_id{1});
  BOOST_CHECK(!t->savepoint);
  BOOST_CHECK_EQUAL(t->time_ms, 1'001'000);
  BOOST_CHECK(!c.poll());
  clk.advance(20);
  BOOST_CHECK(!c.on_ack(t->id, subtask_id{12}, part(2, 300, 4)));
  BOOST_CHECK(!c.on_ack(t->id, subtask_id{10}, part(0, 100, 1)));
  clk.advance(10);
  auto md = c.on_ack(t->id, subtask_id{11}, part(1, 200, 9));
  BOOST_REQUIRE(md);
  BOOST_CHECK_EQUAL(md->checkpoint_id(), 1u);
  BOOST_CHECK_EQUAL(md->job_name(), "job");
  BOOST_REQUIRE_EQUAL(md->parts_size(), 3);
  for (int i = 0; i < 3; ++i)
    BOOST_CHECK_EQUAL(md->parts(i).subtask_index(), static_cast<uint32_t>(i));
  BOOST_CHECK(completed.empty());
  // Writing the metadata takes a while; no second checkpoint meanwhile.
  clk.advance(2000);
  BOOST_CHECK(!c.poll());
  c.on_committed(t->id);
  BOOST_REQUIRE_EQUAL(completed.size(), 1u);
  BOOST_CHECK_EQUAL(completed[0].checkpoint_id(), 1u);
  auto& s = c.stats();
  BOOST_REQUIRE(s.last_completed);
  BOOST_CHECK_EQUAL(s.last_completed->id, checkpoint_id{1});
  BOOST_CHECK_EQUAL(s.last_completed->duration_ms, 2030);
  BOOST_CHECK_EQUAL(s.last_completed->size_bytes, 600u);
  BOOST_CHECK_EQUAL(s.last_completed->alignment_ms, 9);
  BOOST_CHECK_EQUAL(s.completed, 1u);
  // Overdue: the next one starts at once.
  auto t2 = c.poll();
  BOOST_REQUIRE(t2);
  BOOST_CHECK_EQUAL(t2->id, checkpoint_id{2});
}

BOOST_AUTO_TEST_CASE(a_timeout_aborts_and_the_next_checkpoint_still_runs) {
  auto c = make(2);
  clk.advance(1000);
  auto t = c.poll();
  BOOST_REQUIRE(t);
  c.on_ack(t->id, subtask_id{10}, part(0, 1, 0));
  BOOST_CHECK_EQUAL(c.next_wakeup(), t->time_ms + 5000);
  clk.advance(4999);
  BOOST_CHECK(!c.poll());
  BOOST_CHECK(aborted.empty());
  clk.advance(1);
  // Aborted, and the overdue checkpoint 2 triggers in the same poll.
  auto t2 = c.poll();
  BOOST_REQUIRE_EQUAL(aborted.size(), 1u);
  BOOST_CHECK_EQUAL(aborted[0].first.id, checkpoint_id{1});
  BOOST_CHECK_NE(aborted[0].second.find("timed out"), std::string::npos);
  BOOST_CHECK_NE(aborted[0].second.find("1 of 2"), std::string::npos);
  BOOST_REQUIRE(t2);
  BOOST_CHECK_EQUAL(t2->id, checkpoint_id{2});
  // A late acknowledgement of the aborted one changes nothing.
  BOOST_CHECK(!c.on_ack(t->id, subtask_id{11}, part(1, 1, 0)));
  BOOST_CHECK(!c.on_ack(t2->id, subtask_id{10}, part(0, 1, 0)));
  BOOST_REQUIRE(c.on_ack(t2->id, subtask_id{11}, part(1, 1, 0)));
  c.on_committed(t2->id);
  BOOST_CHECK_EQUAL(c.stats().failed, 1u);
  BOOST_CHECK_EQUAL(*c.stats().last_failed, checkpoint_id{1});
  BOOST_CHECK_EQUAL(c.stats().completed, 1u);
  BOOST_REQUIRE_EQUAL(completed.size(), 1u);
  BOOST_CHECK_EQUAL(completed[0].checkpoint_id(), 2u);
}

BOOST_AUTO_TEST_CASE(a_declined_part_or_failed_metadata_aborts) {
  auto c = make(2);
  clk.advance(1000);
  auto t = c.poll();
  c.on_decline(t->id, subtask_id{11}, "/ckpt/chk-1/op1-1.part: No space left");
  BOOST_REQUIRE_EQUAL(aborted.size(), 1u);
  BOOST_CHECK_NE(aborted[0].second.find("No space left"), std::string::npos);
  BOOST_CHECK(!c.in_flight());
  BOOST_CHECK(!c.poll());
  clk.advance(1000);
  auto t2 = c.poll();
  BOOST_REQUIRE(t2);
  c.on_ack(t2->id, subtask_id{10}, part(0, 1, 0));
  BOOST_REQUIRE(c.on_ack(t2->id, subtask_id{11}, part(1, 1, 0)));
  c.on_commit_failed(t2->id,
                     "/ckpt/chk-2/_metadata.tmp: Read-only file system");
  BOOST_REQUIRE_EQUAL(aborted.size(), 2u);
  BOOST_CHECK_NE(aborted[1].second.find("Read-only"), std::string::npos);
  BOOST_CHECK_THROW(c.on_committed(t2->id), std::logic_error);
  BOOST_CHECK(completed.empty());
  BOOST_CHECK_EQUAL(c.stats().failed, 2u);
  clk.advance(1000);
  BOOST_CHECK_EQUAL(c.poll()->id, checkpoint_id{3});
}

BOOST_AUTO_TEST_CASE(protocol_violations_throw) {
  auto c = make(2);
  clk.advance(1000);
  auto t = c.poll();
  c.on_ack(t->id, subtask_id{10}, part(0, 1, 0));
  BOOST_CHECK_THROW(c.on_ack(t->id, subtask_id{10}, part(0, 1, 0)),
                    std::logic_error);
  BOOST_CHECK_THROW(c.on_ack(t->id, subtask_id{99}, part(0, 1, 0)),
                    std::logic_error);
  std::vector<subtask_id> twice{subtask_id{1}, subtask_id{1}};
  BOOST_CHECK_THROW((coordinator{"job", twice, opts, clk}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(ids_continue_after_the_restored_checkpoint) {
  auto c = make(1, checkpoint_id{41});
  clk.advance(1000);
  BOOST_CHECK_EQUAL(c.poll()->id, checkpoint_id{42});
}

BOOST_AUTO_TEST_CASE(a_savepoint_triggers_as_soon_as_nothing_is_in_flight) {
  opts.interval = 0ms;
  auto c = make(1);
  BOOST_CHECK_EQUAL(c.next_wakeup(), max_timestamp);
  clk.advance(100'000);
  BOOST_CHECK(!c.poll());
  c.request_savepoint();
  BOOST_CHECK_EQUAL(c.next_wakeup(), clk.now());
  auto t = c.poll();
  BOOST_REQUIRE(t);
  BOOST_CHECK(t->savepoint);
  auto md = c.on_ack(t->id, subtask_id{10}, part(0, 5, 0));
  BOOST_REQUIRE(md);
  BOOST_CHECK(md->savepoint());
  c.on_committed(t->id);
  BOOST_CHECK(c.stats().last_completed->savepoint);
  BOOST_CHECK(!c.poll());
}

BOOST_AUTO_TEST_CASE(once_every_subtask_ended_the_final_checkpoint_starts) {
  opts.interval = 3'600'000ms;
  auto c = make(2);
  clk.advance(3'600'000);
  auto regular = c.poll();
  BOOST_REQUIRE(regular);
  BOOST_CHECK(!regular->final);
  c.on_ended(subtask_id{10});
  c.on_ended(subtask_id{10});
  c.on_ended(subtask_id{11});
  BOOST_CHECK_THROW(c.on_ended(subtask_id{12}), std::logic_error);
  BOOST_CHECK(!c.poll()); // after the one in flight, which is not final
  BOOST_REQUIRE(!c.on_ack(regular->id, subtask_id{10}, part(0, 1, 0)));
  BOOST_REQUIRE(c.on_ack(regular->id, subtask_id{11}, part(1, 1, 0)));
  c.on_committed(regular->id);
  BOOST_CHECK(!c.final_complete());
  BOOST_CHECK_EQUAL(c.next_wakeup(), clk.now()); // not an hour later
  auto last = c.poll();
  BOOST_REQUIRE(last);
  BOOST_CHECK(last->final);
  BOOST_REQUIRE(!c.on_ack(last->id, subtask_id{10}, part(0, 1, 0)));
  BOOST_REQUIRE(c.on_ack(last->id, subtask_id{11}, part(1, 1, 0)));
  c.on_committed(last->id);
  BOOST_CHECK(c.final_complete());
  BOOST_CHECK(c.failure().empty());
  BOOST_CHECK_EQUAL(c.next_wakeup(), max_timestamp);
  clk.advance(10'000'000);
  BOOST_CHECK(!c.poll()); // nothing after the final one
}

BOOST_AUTO_TEST_CASE(
    an_aborted_final_checkpoint_is_retried_then_fails_the_job) {
  auto c = make(1);
  c.on_ended(subtask_id{10});
  for (uint32_t attempt = 1; attempt <= coordinator::final_attempts;
       ++attempt) {
    BOOST_CHECK(c.failure().empty());
    auto t = c.poll();
    BOOST_REQUIRE(t);
    BOOST_CHECK(t->final);
    c.on_decline(t->id, subtask_id{10}, "disk full");
  }
  BOOST_CHECK_NE(c.failure().find("final checkpoint was aborted 3 times"),
                 std::string::npos);
  BOOST_CHECK_NE(c.failure().find("disk full"), std::string::npos);
  BOOST_CHECK(!c.poll());
  BOOST_CHECK(!c.final_complete());
}

BOOST_AUTO_TEST_SUITE_END()

// A sink's own state in checkpoints (sink_function::snapshot_state,
// restore, checkpoint_complete) through subtask_core and the part files,
// without an actor system: a sink that makes each epoch's records visible
// only when its checkpoint completes, as the exactly-once Kafka sink does.
// And a source whose checkpoint waits for its own writes
// (source_function::prepare_checkpoint: the Kafka source's dead letters).
#include "flow/checkpoint/parts.hpp"
#include "flow/connector.hpp"
#include "flow/subtask_core.hpp"
#include "flow/watermark.hpp"
#include "held_epochs.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <sstream>
#include <vector>

using namespace flow;

namespace {

using flow::test::silent_transport;
using epochs = flow::test::epochs<int>;
using flow::test::encode;
const auto decode = flow::test::decode<int>;

/// Holds what it is written until the checkpoint that follows it
/// completes: the epochs not yet published are its state.
struct epoch_sink final : sink_function<int> {
  void write(std::vector<int>& xs) override {
    open.insert(open.end(), xs.begin(), xs.end());
  }
  byte_chain snapshot_state(checkpoint_id id) override {
    pending[id.value()] = std::exchange(open, {});
    return encode(pending);
  }
  void restore(checkpoint_id id, const std::string& state) override {
    restored_from = id.value();
    pending = decode(state);
  }
  void checkpoint_complete(checkpoint_id id) override {
    completions.push_back(id.value());
    for (auto it = pending.begin();
         it != pending.end() && it->first <= id.value(); it = pending.erase(it))
      published.insert(published.end(), it->second.begin(), it->second.end());
  }
  std::vector<int> open;
  epochs pending;
  std::vector<int> published;
  std::vector<uint64_t> completions;
  uint64_t restored_from = 0;
};

batch_ptr batch_of(std::vector<int> xs) {
  return std::make_shared<typed_batch<int>>(std::move(xs));
}

struct sink_subtask {
  explicit sink_subtask(const subtask_restore* from = nullptr) {
    task_factory make = [this](const task_setup& s) {
      auto fn = std::make_unique<epoch_sink>();
      sink = fn.get();
      return std::make_unique<sink_task<int>>(s, std::move(fn));
    };
    core = std::make_unique<subtask_core>(make, task_setup{},
                                          std::vector<size_t>{0}, 0,
                                          channel_options{}, tr, metrics);
    if (from) core->restore(*from);
  }
  silent_transport tr;
  subtask_metrics metrics;
  epoch_sink* sink = nullptr;
  std::unique_ptr<subtask_core> core;
};

} // namespace

BOOST_AUTO_TEST_SUITE(sink_state)

BOOST_AUTO_TEST_CASE(
    the_state_at_a_barrier_holds_exactly_the_records_before_it) {
  sink_subtask s;
  s.core->on_batch(0, batch_of({1, 2}));
  s.core->on_barrier(0, checkpoint_id{1});
  s.core->on_batch(0, batch_of({3}));
  s.core->on_barrier(0, checkpoint_id{2});
  s.core->on_batch(0, batch_of({4}));
  s.core->drain();
  auto snaps = s.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 2u);
  BOOST_CHECK(decode(snaps[0].operator_state.flatten()) ==
              (epochs{{1, {1, 2}}}));
  BOOST_CHECK(decode(snaps[1].operator_state.flatten()) ==
              (epochs{{1, {1, 2}}, {2, {3}}}));
  BOOST_CHECK(s.sink->open == std::vector<int>{4});
  BOOST_CHECK(s.sink->published.empty());

  s.core->checkpoint_complete(checkpoint_id{1}, {});
  BOOST_CHECK(s.sink->published == (std::vector<int>{1, 2}));
  s.core->checkpoint_complete(checkpoint_id{2}, {});
  BOOST_CHECK(s.sink->published == (std::vector<int>{1, 2, 3}));
  BOOST_CHECK(s.sink->completions == (std::vector<uint64_t>{1, 2}));
}

BOOST_AUTO_TEST_CASE(
    a_restored_sink_gets_its_state_back_through_the_part_file) {
  sink_subtask first;
  first.core->on_batch(0, batch_of({1, 2}));
  first.core->on_barrier(0, checkpoint_id{7});
  first.core->on_batch(0, batch_of({3}));
  first.core->drain();
  auto snaps = first.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
  // The process dies before checkpoint 7's completion reaches the sink:
  // the epoch survives in the part.
  auto part =
      checkpoint::decode_state(checkpoint::encode_state(snaps[0]).flatten());
  subtask_restore r{
      checkpoint_id{7}, part.key_groups, {}, part.operator_state, {}, {}, {}};
  sink_subtask second{&r};
  BOOST_CHECK_EQUAL(second.sink->restored_from, 7u);
  second.core->checkpoint_complete(checkpoint_id{7}, {});
  BOOST_CHECK(second.sink->published == (std::vector<int>{1, 2}));
}

BOOST_AUTO_TEST_CASE(
    a_sink_held_at_its_end_snapshots_its_last_epoch_and_publishes_it) {
  // A job with checkpoints ends with a final one (FLIP-147): the sink,
  // whose input ended after checkpoint 1, stays until released, takes
  // part in checkpoint 2 without a barrier, and publishes on completion.
  sink_subtask s;
  s.core->hold_at_end();
  s.core->on_batch(0, batch_of({1, 2}));
  s.core->on_barrier(0, checkpoint_id{1});
  s.core->on_batch(0, batch_of({3}));
  s.core->on_end_of_stream(0);
  s.core->drain();
  BOOST_CHECK(s.core->ended());
  BOOST_CHECK(!s.core->finished());
  BOOST_CHECK(!s.core->snapshot_at_end(checkpoint_id{1})); // had its barrier
  BOOST_CHECK(s.core->snapshot_at_end(checkpoint_id{2}));
  BOOST_CHECK(!s.core->snapshot_at_end(checkpoint_id{2})); // once
  auto snaps = s.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 2u);
  BOOST_CHECK_EQUAL(snaps[1].id.value(), 2u);
  BOOST_CHECK(decode(snaps[1].operator_state.flatten()) ==
              (epochs{{1, {1, 2}}, {2, {3}}}));
  s.core->checkpoint_complete(checkpoint_id{2}, {});
  BOOST_CHECK(s.sink->published == (std::vector<int>{1, 2, 3}));
  BOOST_CHECK(!s.core->finished());
  s.core->release();
  BOOST_CHECK(s.core->finished());
}

BOOST_AUTO_TEST_CASE(a_sink_not_held_finishes_at_its_end) {
  sink_subtask s;
  s.core->on_batch(0, batch_of({1}));
  s.core->on_end_of_stream(0);
  s.core->drain();
  BOOST_CHECK(!s.core->ended());
  BOOST_CHECK(s.core->finished());
  BOOST_CHECK(!s.core->snapshot_at_end(checkpoint_id{1}));
  BOOST_CHECK(s.core->take_snapshots().empty());
  s.core->checkpoint_complete(checkpoint_id{1}, {});
  BOOST_CHECK(s.sink->completions.empty());
}

BOOST_AUTO_TEST_CASE(a_sink_without_state_leaves_the_part_empty) {
  struct plain_sink final : sink_function<int> {
    void write(std::vector<int>&) override {}
  };
  silent_transport tr;
  subtask_metrics metrics;
  task_factory make = [](const task_setup& s) {
    return std::make_unique<sink_task<int>>(s, std::make_unique<plain_sink>());
  };
  subtask_core core{make, task_setup{}, {0}, 0, channel_options{}, tr, metrics};
  core.on_batch(0, batch_of({1}));
  core.on_barrier(0, checkpoint_id{1});
  core.drain();
  auto snaps = core.take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
  BOOST_CHECK(snaps[0].operator_state.empty());
}

BOOST_AUTO_TEST_CASE(
    a_source_checkpoint_waits_until_its_own_writes_are_durable) {
  struct writing_source final : source_function<int> {
    source_state poll(emitter<int>&, size_t) override {
      ++polls;
      return source_state::idle;
    }
    std::vector<source_position> positions() const override {
      return {{"", 7}};
    }
    void prepare_checkpoint() override {
      ++prepared;
      pending = true;
    }
    bool busy() const override { return pending; }
    int polls = 0;
    int prepared = 0;
    bool pending = false;
  };
  silent_transport tr;
  subtask_metrics metrics;
  writing_source* src = nullptr;
  task_factory make = [&](const task_setup& s) {
    auto fn = std::make_unique<writing_source>();
    src = fn.get();
    return std::make_unique<event_time_source_task<int>>(s, std::move(fn),
                                                         nullptr);
  };
  subtask_core core{make, task_setup{}, {}, 0, channel_options{}, tr, metrics};
  BOOST_REQUIRE(core.inject_barrier(checkpoint_id{1}));
  BOOST_CHECK_EQUAL(src->prepared, 1);
  core.poll_source(10);
  BOOST_CHECK(core.take_snapshots().empty()); // not acknowledged yet
  BOOST_CHECK_EQUAL(src->polls, 1);           // polled as usual meanwhile
  src->pending = false;
  core.poll_source(10);
  auto snaps = core.take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
  BOOST_CHECK(snaps[0].positions == (std::vector<source_position>{{"", 7}}));
}

BOOST_AUTO_TEST_SUITE_END()

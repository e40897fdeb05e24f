// Dead letters that wait for a checkpoint (a checkpointed
// dead_letter_destination, as the Kafka connector's with kafka.delivery =
// exactly-once) through subtask_core and the part files, without an actor
// system: an operator's dead letters between barriers n-1 and n are part
// of checkpoint n and published only when it completes; a restart from a
// checkpoint publishes what it held and, replaying the records after it,
// dead-letters them once more into a new epoch - so the published dead
// letters hold every failed record exactly once, whatever the crash.
#include "flow/checkpoint/parts.hpp"
#include "flow/operators.hpp"
#include "flow/record_errors.hpp"
#include "flow/subtask_core.hpp"
#include "held_epochs.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

using namespace flow;

namespace {

using flow::test::silent_transport;
using epochs = flow::test::epochs<std::string>;
using flow::test::encode;
const auto decode = flow::test::decode<std::string>;

/// Published dead letters (their messages), in memory, for settings with
/// `test.checkpointed-dead-letters`. A writer holds each epoch until its
/// checkpoint completes; its publication is "in flight" until the next
/// flushed() call, so the task is busy meanwhile, as with a broker. A
/// restored writer publishes what the restored checkpoint held on its
/// first flushed() (that checkpoint is complete).
struct checkpointed_memory final : dead_letter_destination {
  struct writer final : dead_letter_writer {
    explicit writer(checkpointed_memory& d) : dest(d) {}
    void write(dead_letter d) override { open.push_back(d.message); }
    bool flushed() override {
      if (in_flight_up_to == 0) return true;
      for (auto it = pending.begin();
           it != pending.end() && it->first <= in_flight_up_to;
           it = pending.erase(it))
        dest.published.insert(dest.published.end(), it->second.begin(),
                              it->second.end());
      in_flight_up_to = 0;
      return false;
    }
    std::string snapshot(checkpoint_id id) override {
      pending[id.value()] = std::exchange(open, {});
      return encode(pending);
    }
    void restore(checkpoint_id id, const std::string& state) override {
      pending = decode(state);
      in_flight_up_to = id.value();
    }
    void checkpoint_complete(checkpoint_id id) override {
      in_flight_up_to = id.value();
    }
    checkpointed_memory& dest;
    std::vector<std::string> open;
    epochs pending;
    uint64_t in_flight_up_to = 0;
  };
  std::string key() const override { return "test.checkpointed-dead-letters"; }
  bool configured(const settings_map& s) const override {
    return s.count(key()) > 0;
  }
  bool checkpointed(const settings_map&) const override { return true; }
  std::unique_ptr<dead_letter_writer> open(const task_setup&) const override {
    ++opened;
    return std::make_unique<writer>(const_cast<checkpointed_memory&>(*this));
  }
  std::vector<std::string> published;
  mutable int opened = 0;
};

const auto destination = std::make_shared<checkpointed_memory>();
const bool registered = register_dead_letter_destination(destination);

/// A map subtask that throws on negative numbers, under dead-letter.
struct map_subtask {
  explicit map_subtask(const subtask_restore* from = nullptr) {
    settings["test.checkpointed-dead-letters"] = "on";
    task_setup setup;
    setup.operator_name = "checked";
    setup.settings = &settings;
    setup.on_error = on_error::dead_letter;
    setup.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
    auto check = [](int x) {
      if (x < 0) throw std::domain_error(std::to_string(x));
      return x;
    };
    task_factory make = [check](const task_setup& s) {
      return std::make_unique<map_task<int, int, decltype(check)>>(s, check);
    };
    core = std::make_unique<subtask_core>(make, setup, std::vector<size_t>{0},
                                          1, channel_options{}, tr, metrics);
    if (from) core->restore(*from);
  }
  void send(std::vector<int> xs) {
    core->on_batch(0, std::make_shared<typed_batch<int>>(std::move(xs)));
    core->drain();
  }
  void barrier(uint64_t id) {
    core->on_barrier(0, checkpoint_id{id});
    core->drain();
  }
  settings_map settings;
  silent_transport tr;
  subtask_metrics metrics;
  std::unique_ptr<subtask_core> core;
};

subtask_restore restore_of(const subtask_snapshot& snap) {
  auto part =
      checkpoint::decode_state(checkpoint::encode_state(snap).flatten());
  subtask_restore r;
  r.id = snap.id;
  r.key_groups = part.key_groups;
  r.operator_state = part.operator_state;
  r.dead_letters = part.dead_letters;
  return r;
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dead_letter_state)

BOOST_AUTO_TEST_CASE(dead_letters_wait_for_the_checkpoint_after_them) {
  destination->published.clear();
  map_subtask s;
  s.send({1, -1, 2, -2});
  s.barrier(1);
  s.send({3, -3});
  s.barrier(2);
  s.send({-4});
  auto snaps = s.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 2u);
  BOOST_CHECK(decode(snaps[0].dead_letters) == (epochs{{1, {"-1", "-2"}}}));
  BOOST_CHECK(decode(snaps[1].dead_letters) ==
              (epochs{{1, {"-1", "-2"}}, {2, {"-3"}}}));
  BOOST_CHECK(destination->published.empty());

  s.core->checkpoint_complete(checkpoint_id{1}, {});
  // Busy while the publication is in flight: no input meanwhile.
  s.send({-5});
  BOOST_CHECK(destination->published == (std::vector<std::string>{"-1", "-2"}));
  s.core->checkpoint_complete(checkpoint_id{2}, {});
  s.core->drain();
  BOOST_CHECK(destination->published ==
              (std::vector<std::string>{"-1", "-2", "-3"}));
  s.barrier(3);
  s.core->checkpoint_complete(checkpoint_id{3}, {});
  s.core->drain();
  BOOST_CHECK(destination->published ==
              (std::vector<std::string>{"-1", "-2", "-3", "-4", "-5"}));
}

BOOST_AUTO_TEST_CASE(a_restart_publishes_each_dead_letter_once) {
  // The first run takes checkpoint 1, dead-letters -2 after it and dies
  // before checkpoint 1's completion reaches it. The second run restores
  // checkpoint 1 (complete: the job wrote its metadata) and replays the
  // input after it, so -2 fails again.
  destination->published.clear();
  auto opened = destination->opened;
  map_subtask first;
  first.send({1, -1});
  first.barrier(1);
  first.send({2, -2});
  auto snaps = first.core->take_snapshots();
  BOOST_REQUIRE_EQUAL(snaps.size(), 1u);
  BOOST_CHECK(destination->published.empty());

  auto r = restore_of(snaps[0]);
  map_subtask second{&r};
  BOOST_CHECK_EQUAL(destination->opened, opened + 2); // reopened to publish
  second.core->drain();
  BOOST_CHECK(destination->published == (std::vector<std::string>{"-1"}));
  second.send({2, -2});
  second.barrier(2);
  second.core->checkpoint_complete(checkpoint_id{2}, {});
  second.core->drain();
  BOOST_CHECK(sorted(destination->published) ==
              (std::vector<std::string>{"-1", "-2"}));
}

BOOST_AUTO_TEST_CASE(a_restore_opens_the_writer_even_with_nothing_held) {
  // The run before may have left dead letters in an open transaction
  // after the checkpoint: opening the writer settles it at once.
  auto opened = destination->opened;
  subtask_restore r;
  r.id = checkpoint_id{3};
  map_subtask s{&r};
  BOOST_CHECK_EQUAL(destination->opened, opened + 1);
  s.core->drain();
  s.send({1});
  BOOST_CHECK_EQUAL(s.core->queued(), 0u); // not busy: the input went on
}

BOOST_AUTO_TEST_CASE(a_subtask_held_at_its_end_publishes_before_finishing) {
  destination->published.clear();
  map_subtask s;
  s.core->hold_at_end();
  s.send({-1});
  s.core->on_end_of_stream(0);
  s.core->drain();
  BOOST_CHECK(s.core->ended());
  BOOST_CHECK(s.core->snapshot_at_end(checkpoint_id{1}));
  s.core->checkpoint_complete(checkpoint_id{1}, {});
  s.core->release();
  // The publication is in flight: not finished yet.
  BOOST_CHECK(!s.core->finished());
  s.core->drain();
  BOOST_CHECK(s.core->finished());
  BOOST_CHECK(destination->published == (std::vector<std::string>{"-1"}));
}

BOOST_AUTO_TEST_CASE(without_a_checkpointed_destination_a_restore_is_refused) {
  // Checkpoint 1 holds dead letters; the next run lacks the setting.
  map_subtask first;
  first.send({-1});
  first.barrier(1);
  auto r = restore_of(first.core->take_snapshots().at(0));
  settings_map none;
  task_setup setup;
  setup.operator_name = "checked";
  setup.settings = &none;
  setup.outputs = {out_edge_layout{partitioning::forward, nullptr, {0}, 128}};
  auto id = [](int x) { return x; };
  task_factory make = [id](const task_setup& s) {
    return std::make_unique<map_task<int, int, decltype(id)>>(s, id);
  };
  silent_transport tr;
  subtask_metrics metrics;
  subtask_core core{make, setup,  std::vector<size_t>{0}, 1, channel_options{},
                    tr,   metrics};
  BOOST_CHECK_EXCEPTION(
      core.restore(r), config_failure, [](const config_failure& e) {
        return std::string(e.what()).find("restores dead letters") !=
               std::string::npos;
      });
}

BOOST_AUTO_TEST_SUITE_END()

// Checkpoint barriers through the production protocol (subtask_core,
// subtask_driver) on the seeded simulator: random graphs, parallelism,
// credit windows, batch sizes and barrier times.

#include "../seed.hpp"
#include "../sim.hpp"

#include "flow/collection.hpp"
#include "flow/emitting_task.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <random>

using namespace flow;
using flow::test::test_seed;

namespace {

/// (source subtask, sequence number)
using rec = std::pair<uint32_t, uint64_t>;

/// Records emitted so far by each source subtask, as the test reads them.
struct emitted_counts {
  std::map<std::pair<std::string, uint32_t>, uint64_t> n;
};

/// Emits `count` numbered records, a few per poll.
class numbered_source final : public source_function<rec> {
public:
  numbered_source(std::shared_ptr<emitted_counts> seen, uint64_t count)
      : seen_(std::move(seen)), count_(count) {}
  void open(const connector_context& c) override {
    key_ = {c.operator_name, c.subtask_index};
  }
  source_state poll(emitter<rec>& out, size_t max_records) override {
    for (size_t i = 0; i < max_records && next_ < count_; ++i, ++next_) {
      out.emit(rec{key_.second, next_});
      seen_->n[key_] = next_ + 1;
    }
    return next_ < count_ ? source_state::more : source_state::done;
  }

private:
  std::shared_ptr<emitted_counts> seen_;
  uint64_t count_;
  uint64_t next_ = 0;
  std::pair<std::string, uint32_t> key_;
};

/// Passes records on and counts them: its state is the count.
class counting_task final : public emitting_task<rec> {
public:
  using emitting_task<rec>::emitting_task;
  void process(size_t, batch_base& b) override {
    auto& xs = records_of<rec>(b);
    count_ += xs.size();
    router_.emit_batch(std::move(xs));
  }
  deferred_key_groups
  snapshot_key_groups(std::vector<key_group_snapshot>& out) const override {
    key_group_snapshot s;
    s.bytes.resize(sizeof count_);
    std::memcpy(s.bytes.data(), &count_, sizeof count_);
    out.push_back(std::move(s));
    return nullptr;
  }

private:
  uint64_t count_ = 0;
};

uint64_t count_of(const subtask_snapshot& s) {
  uint64_t n = 0;
  BOOST_REQUIRE_EQUAL(s.key_groups.size(), 1u);
  std::memcpy(&n, s.key_groups[0].bytes.data(), sizeof n);
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_barriers)

BOOST_AUTO_TEST_CASE(
    every_subtask_snapshots_each_checkpoint_once_with_exactly_the_records_before_it) {
  auto seed = test_seed();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937_64 rng{seed};
  size_t checked = 0;
  for (int round = 0; round < 60; ++round) {
    BOOST_TEST_INFO("round " << round);
    auto emitted = std::make_shared<emitted_counts>();
    topology t{"barriers"};
    auto source = [&](const std::string& name) {
      uint64_t count = 50 + rng() % 3000;
      source_spec<rec> spec;
      spec.name = name;
      spec.make = [emitted, count](const connector_context&) {
        return std::make_unique<numbered_source>(emitted, count);
      };
      spec.parallelism = 1 + static_cast<uint32_t>(rng() % 3);
      return t.source(spec);
    };
    auto s = source("src-a");
    if (rng() % 2) s = s.union_with(source("src-b"));
    std::vector<std::string> layers;
    uint32_t parallelism = 0;
    for (auto n = 1 + rng() % 3; n > 0; --n) {
      auto name = "count-" + std::to_string(layers.size());
      layers.push_back(name);
      auto p = 1 + static_cast<uint32_t>(rng() % 4);
      auto in = (p == parallelism && rng() % 2) ? s.forward() : s.rebalance();
      s = in.template add<rec>(name, [](const task_setup& ts) {
              return std::make_unique<counting_task>(ts);
            }).parallelism(p);
      parallelism = p;
    }
    collector<rec> out;
    s.sink(out.sink());

    channel_options c;
    c.batch_size = 1 + rng() % 32;
    c.credit_window = 1 + static_cast<uint32_t>(rng() % 4);
    c.credit_return = 1;
    job_options o;
    o.channels = c;
    o.source_poll_records = 1 + rng() % 64;
    test::sim sim{t, o, rng()};
    std::vector<uint64_t> at;
    for (auto k = 1 + rng() % 6; k > 0; --k)
      at.push_back(rng() % 400);
    std::sort(at.begin(), at.end());
    sim.trigger_checkpoints(at);
    // checkpoint -> records each source subtask emitted before its barrier
    std::map<uint64_t, std::map<size_t, uint64_t>> before;
    sim.on_snapshot([&](size_t id, const subtask_snapshot& snap) {
      auto& sp = sim.plan().subtasks[id];
      if (sp.kind == node_kind::source)
        before[snap.id.value()][id] = emitted->n[{sp.operator_name, sp.index}];
    });
    sim.run();

    size_t sources = 0;
    for (auto& sp : sim.plan().subtasks)
      sources += sp.kind == node_kind::source;
    for (uint64_t n = 1; n <= at.size(); ++n) {
      BOOST_TEST_INFO("checkpoint " << n);
      // Complete only if every source injected it (none had ended).
      if (before[n].size() != sources) continue;
      ++checked;
      uint64_t expected = 0;
      for (auto& [id, e] : before[n])
        expected += e;
      std::map<std::string, uint64_t> layer_total;
      for (auto& sp : sim.plan().subtasks) {
        size_t taken = 0;
        for (auto& snap : sim.snapshots(sp.id.value())) {
          if (snap.id.value() != n) continue;
          ++taken;
          if (sp.kind == node_kind::operation)
            layer_total[sp.operator_name] += count_of(snap);
        }
        BOOST_REQUIRE_EQUAL(taken, 1u);
      }
      for (auto& l : layers)
        BOOST_REQUIRE_EQUAL(layer_total[l], expected);
    }
    // No subtask snapshots a checkpoint twice or out of order.
    for (size_t id = 0; id < sim.size(); ++id) {
      auto& snaps = sim.snapshots(id);
      for (size_t i = 1; i < snaps.size(); ++i)
        BOOST_REQUIRE(snaps[i - 1].id < snaps[i].id);
    }
    uint64_t total = 0;
    for (auto& [key, e] : emitted->n)
      total += e;
    BOOST_REQUIRE_EQUAL(out.records().size(), total);
  }
  // Most rounds trigger checkpoints while the sources still run.
  BOOST_TEST_MESSAGE(checked << " checkpoints checked");
  BOOST_REQUIRE_GT(checked, 30u);
}

BOOST_AUTO_TEST_SUITE_END()

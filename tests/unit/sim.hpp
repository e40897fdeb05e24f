#pragma once

// A deterministic, seeded scheduler that runs subtask_cores without an
// actor system: messages go through per-receiver FIFO queues, and the
// scheduler picks which subtask runs next at random, with weights (a weight
// of 1 against 1000 makes a subtask 1000x slower).

#include "flow/metrics.hpp"
#include "flow/plan.hpp"
#include "flow/runtime/job.hpp"
#include "flow/subtask_core.hpp"

#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

namespace flow::test {

class sim {
public:
  sim(const topology& t, const plan_options& popts, channel_options copts,
      uint64_t seed)
      : plan_(physical_plan::build(t, popts)), rng_(seed) {
    for (auto& s : plan_.subtasks) {
      auto n = std::make_unique<node>();
      n->owner = this;
      n->id = s.id.value();
      n->metrics = std::make_unique<subtask_metrics>();
      task_setup setup;
      setup.operator_name = s.operator_name;
      setup.subtask_index = s.index;
      setup.parallelism = s.parallelism;
      setup.outputs = s.out_edges;
      setup.settings = &settings_;
      setup.max_parallelism = popts.max_parallelism;
      n->core = std::make_unique<subtask_core>(
          t.nodes()[s.node.value()].make_task, setup, s.input_edges,
          s.outputs.size(), copts, *n, *n->metrics, &clock_);
      n->runnable = n->core->is_source();
      nodes_.push_back(std::move(n));
    }
    weights_.assign(nodes_.size(), 1000);
  }

  /// Relative chance of subtasks of operator `name` to run.
  void set_weight(const std::string& name, unsigned w) {
    for (auto& s : plan_.subtasks)
      if (s.operator_name == name) weights_[s.id.value()] = w;
  }

  /// Runs until every subtask finished; throws if nothing can run any more
  /// (a deadlock) or after `max_steps`.
  uint64_t run(uint64_t max_steps = 1ull << 40) {
    uint64_t steps = 0;
    std::vector<size_t> ready;
    std::vector<unsigned> w;
    while (true) {
      ready.clear();
      w.clear();
      bool all_finished = true;
      for (auto& n : nodes_) {
        if (!n->finished) all_finished = false;
        if (!n->finished && (n->runnable || !n->mailbox.empty() ||
                             n->core->next_wakeup() <= clock_.now())) {
          ready.push_back(n->id);
          w.push_back(weights_[n->id]);
        }
      }
      if (all_finished) return steps;
      if (ready.empty()) {
        // Nothing to deliver: let time pass to the earliest wake-up (a
        // timer, an idle input), if any.
        int64_t wake = max_timestamp;
        size_t who = 0;
        for (auto& n : nodes_)
          if (!n->finished && n->core->next_wakeup() < wake) {
            wake = n->core->next_wakeup();
            who = n->id;
          }
        if (wake == max_timestamp)
          throw std::runtime_error("deadlock: no subtask can make progress");
        if (wake > clock_.now()) clock_.set(wake);
        step(*nodes_[who]);
        continue;
      }
      if (++steps > max_steps) throw std::runtime_error("step limit reached");
      std::discrete_distribution<size_t> pick(w.begin(), w.end());
      step(*nodes_[ready[pick(rng_)]]);
    }
  }

  /// Processing time: advances by `ms_per_step` every step (0: stands
  /// still unless a test moves it).
  manual_clock& clock() { return clock_; }
  void set_ms_per_step(int64_t ms) { ms_per_step_ = ms; }

  const physical_plan& plan() const { return plan_; }
  subtask_metrics& metrics(size_t id) { return *nodes_[id]->metrics; }
  size_t size() const { return nodes_.size(); }
  /// Most messages ever waiting in one subtask's mailbox.
  size_t max_mailbox() const { return max_mailbox_; }

private:
  struct message {
    enum kind_t { batch, eos, credit, watermark } kind;
    size_t slot;
    batch_ptr b;
    uint32_t n = 0;
    int64_t wm = 0;
  };

  struct node : transport {
    sim* owner = nullptr;
    size_t id = 0;
    std::unique_ptr<subtask_metrics> metrics;
    std::unique_ptr<subtask_core> core;
    std::deque<message> mailbox;
    bool runnable = false; // a source that wants to be polled
    bool finished = false;

    void send_batch(size_t out_slot, batch_ptr b) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::batch, ch.to_slot, std::move(b)});
    }
    void send_end_of_stream(size_t out_slot) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::eos, ch.to_slot, nullptr});
    }
    void send_watermark(size_t out_slot, int64_t wm) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(),
                     {message::watermark, ch.to_slot, nullptr, 0, wm});
    }
    void send_credit(size_t in_slot, uint32_t n) override {
      auto& ch = owner->channel_in(id, in_slot);
      owner->deliver(ch.from.value(),
                     {message::credit, ch.from_slot, nullptr, n});
    }
  };

  const channel_plan& channel_out(size_t id, size_t slot) {
    return plan_.channels[plan_.subtasks[id].outputs[slot].value()];
  }
  const channel_plan& channel_in(size_t id, size_t slot) {
    return plan_.channels[plan_.subtasks[id].inputs[slot].value()];
  }

  void deliver(size_t to, message m) {
    auto& mb = nodes_[to]->mailbox;
    mb.push_back(std::move(m));
    max_mailbox_ = std::max(max_mailbox_, mb.size());
  }

  void step(node& n) {
    clock_.advance(ms_per_step_);
    if (n.core->next_wakeup() <= clock_.now()) n.core->advance_time();
    if (!n.mailbox.empty()) {
      auto m = std::move(n.mailbox.front());
      n.mailbox.pop_front();
      switch (m.kind) {
      case message::batch:
        n.core->on_batch(m.slot, std::move(m.b));
        break;
      case message::eos:
        n.core->on_end_of_stream(m.slot);
        break;
      case message::watermark:
        n.core->on_watermark(m.slot, m.wm);
        break;
      case message::credit:
        n.core->on_credit(m.slot, m.n);
        if (n.core->is_source()) n.runnable = true;
        break;
      }
    }
    if (n.core->is_source()) {
      if (n.runnable) {
        auto r = n.core->poll_source(256);
        n.runnable = r == step_result::more || r == step_result::idle;
      }
    } else {
      n.core->drain();
    }
    // A flush timer would fire eventually; here whenever input ran dry.
    if (n.mailbox.empty() && !n.runnable && !n.core->finished())
      n.core->flush();
    n.finished = n.core->finished();
  }

  settings_map settings_;
  manual_clock clock_;
  int64_t ms_per_step_ = 0;
  physical_plan plan_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<node>> nodes_;
  std::vector<unsigned> weights_;
  size_t max_mailbox_ = 0;
};

/// Runs `t` to completion with a random batch size (and credit window on
/// the simulator), either on the actor runtime or on the simulator, whose
/// processing time advances `ms_per_step` per step.
inline void run_randomized(std::mt19937_64& rng, const topology& t,
                           bool on_runtime, int64_t ms_per_step = 0) {
  if (on_runtime) {
    job_options o;
    o.status_interval = std::chrono::nanoseconds::zero();
    o.channels.batch_size = 1 + rng() % 64;
    o.channels.watermark_interval = std::chrono::nanoseconds::zero();
    auto r = runtime::execute(t, o);
    if (!r.ok) throw std::runtime_error(r.error);
  } else {
    channel_options c;
    c.batch_size = 1 + rng() % 32;
    c.credit_window = 1 + static_cast<uint32_t>(rng() % 4);
    c.credit_return = 1;
    c.watermark_interval = std::chrono::nanoseconds::zero();
    sim s{t, plan_options{}, c, rng()};
    s.set_ms_per_step(ms_per_step);
    s.run();
  }
}

} // namespace flow::test

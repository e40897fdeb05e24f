#pragma once

// A deterministic, seeded host for subtask_drivers, without an actor
// system: the production policy (subtask_driver) decides when subtasks
// poll, flush and fire timers; the simulator only delivers messages, as
// CAF may:
// - messages of one lane (a sender, at one priority) arrive in order, the
//   lanes of a receiver interleave at random (credit goes at high priority,
//   so it may overtake data from the same peer);
// - a subtask keeps every message until its wiring (start) arrives;
// - delayed messages (polls, timers) arrive once the virtual clock reaches
//   them; the clock advances `ms_per_step` per step, and jumps to the next
//   delayed message when nothing else can run;
// - checkpoints triggered at given steps reach every running source
//   subtask at that step; the snapshots the drivers report are kept;
// - the scheduler picks the subtask that runs next at random, with weights
//   (a weight of 1 against 1000 makes a subtask 1000x slower).

#include "flow/metrics.hpp"
#include "flow/plan.hpp"
#include "flow/runtime/job.hpp"
#include "flow/subtask_driver.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <stdexcept>
#include <vector>

namespace flow::test {

class sim {
public:
  sim(const topology& t, const job_options& opts, uint64_t seed)
      : opts_(opts), plan_(physical_plan::build(t, opts.plan)), rng_(seed) {
    for (auto& s : plan_.subtasks) {
      auto n = std::make_unique<node>();
      n->owner = this;
      n->id = s.id.value();
      n->metrics = std::make_unique<subtask_metrics>();
      n->make = t.nodes()[s.node.value()].make_task;
      node* self = n.get();
      n->driver = std::make_unique<subtask_driver>(
          s, n->make, opts_, *n, *n->metrics, clock_,
          [self] { return self->mailbox.empty(); });
      nodes_.push_back(std::move(n));
    }
    weights_.assign(nodes_.size(), 1000);
  }

  sim(const topology& t, const plan_options& popts, channel_options copts,
      uint64_t seed)
      : sim(t, options_of(popts, copts), seed) {}

  sim(const sim&) = delete;
  sim& operator=(const sim&) = delete;

  /// Relative chance of subtasks of operator `name` to run.
  void set_weight(const std::string& name, unsigned w) {
    for (auto& s : plan_.subtasks)
      if (s.operator_name == name) weights_[s.id.value()] = w;
  }

  /// Runs until every subtask finished; throws if one fails (with its
  /// message), if nothing can run any more (a deadlock) or after
  /// `max_steps`.
  uint64_t run(uint64_t max_steps = 1ull << 40) {
    uint64_t steps = 0;
    std::vector<size_t> ready;
    std::vector<unsigned> w;
    while (true) {
      release_due();
      trigger_due(steps);
      ready.clear();
      w.clear();
      bool all_finished = true;
      for (auto& n : nodes_) {
        if (n->finished) continue;
        all_finished = false;
        if (!n->started || !n->mailbox.empty()) {
          ready.push_back(n->id);
          w.push_back(weights_[n->id]);
        }
      }
      if (all_finished) return steps;
      if (ready.empty()) {
        // Nothing to deliver: let time pass to the next delayed message.
        if (delayed_.empty())
          throw std::runtime_error("deadlock: no subtask can make progress");
        clock_.set(std::max(clock_.now(), delayed_.top().due));
        continue;
      }
      if (++steps > max_steps) throw std::runtime_error("step limit reached");
      clock_.advance(ms_per_step_);
      std::discrete_distribution<size_t> pick(w.begin(), w.end());
      step(*nodes_[ready[pick(rng_)]]);
    }
  }

  /// Triggers checkpoints 1, 2, ... at the given steps (ascending).
  void trigger_checkpoints(std::vector<uint64_t> at_steps) {
    trigger_steps_ = std::move(at_steps);
  }
  /// Subtask i starts from `r[i]` (a restored checkpoint, as
  /// checkpoint::redistribute splits it); call before run().
  void restore(std::vector<subtask_restore> r) { restores_ = std::move(r); }
  /// Called with every snapshot a subtask reports, as it reports it.
  void on_snapshot(std::function<void(size_t, const subtask_snapshot&)> f) {
    on_snapshot_ = std::move(f);
  }
  /// The snapshots subtask `id` reported, in order.
  const std::vector<subtask_snapshot>& snapshots(size_t id) const {
    return nodes_[id]->snapshots;
  }

  /// Processing time: advances by `ms_per_step` every step (0: stands
  /// still while any subtask can run).
  manual_clock& clock() { return clock_; }
  void set_ms_per_step(int64_t ms) { ms_per_step_ = ms; }

  const physical_plan& plan() const { return plan_; }
  subtask_metrics& metrics(size_t id) { return *nodes_[id]->metrics; }
  size_t size() const { return nodes_.size(); }
  /// Most messages from other subtasks ever waiting in one mailbox.
  size_t max_mailbox() const { return max_mailbox_; }

private:
  static job_options options_of(const plan_options& popts,
                                const channel_options& copts) {
    job_options o;
    o.plan = popts;
    o.channels = copts;
    return o;
  }

  struct message {
    enum kind_t {
      batch,
      eos,
      watermark,
      status,
      barrier,
      credit,
      poll,
      wake,
      timer,
      trigger
    } kind;
    /// Messages of one lane arrive in order.
    size_t lane = 0;
    size_t slot = 0;
    batch_ptr b;
    /// credit: batches; poll: generation; status: 1 if idle; barrier,
    /// trigger: checkpoint.
    uint64_t n = 0;
    int64_t wm = 0;
  };

  /// Lanes of a receiver: two per peer subtask (data; credit at high
  /// priority), then its own polls, its timers, its wake-ups and the job's
  /// checkpoint triggers.
  size_t data_lane(size_t from) const { return 2 * from; }
  size_t credit_lane(size_t from) const { return 2 * from + 1; }
  size_t poll_lane() const { return 2 * nodes_.size(); }
  size_t timer_lane() const { return poll_lane() + 1; }
  size_t wake_lane() const { return poll_lane() + 2; }
  size_t job_lane() const { return poll_lane() + 3; }

  struct node : transport {
    sim* owner = nullptr;
    size_t id = 0;
    task_factory make;
    std::unique_ptr<subtask_metrics> metrics;
    std::unique_ptr<subtask_driver> driver;
    std::deque<message> mailbox;
    bool started = false;
    bool finished = false;
    std::vector<subtask_snapshot> snapshots;

    void send_batch(size_t out_slot, batch_ptr b) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::batch, owner->data_lane(id),
                                     ch.to_slot, std::move(b)});
    }
    void send_end_of_stream(size_t out_slot) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(),
                     {message::eos, owner->data_lane(id), ch.to_slot, nullptr});
    }
    void send_watermark(size_t out_slot, int64_t wm) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::watermark, owner->data_lane(id),
                                     ch.to_slot, nullptr, 0, wm});
    }
    void send_barrier(size_t out_slot, checkpoint_id cp) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::barrier, owner->data_lane(id),
                                     ch.to_slot, nullptr, cp.value()});
    }
    void send_idle(size_t out_slot, bool idle) override {
      auto& ch = owner->channel_out(id, out_slot);
      owner->deliver(ch.to.value(), {message::status, owner->data_lane(id),
                                     ch.to_slot, nullptr, idle ? 1u : 0u});
    }
    void send_credit(size_t in_slot, uint32_t n) override {
      auto& ch = owner->channel_in(id, in_slot);
      owner->deliver(ch.from.value(), {message::credit, owner->credit_lane(id),
                                       ch.from_slot, nullptr, n});
    }
  };

  struct delayed_message {
    int64_t due;
    uint64_t seq; // FIFO among messages due at the same time
    size_t to;
    message m;
    bool operator>(const delayed_message& o) const {
      return due != o.due ? due > o.due : seq > o.seq;
    }
  };

  const channel_plan& channel_out(size_t id, size_t slot) {
    return plan_.channels[plan_.subtasks[id].outputs[slot].value()];
  }
  const channel_plan& channel_in(size_t id, size_t slot) {
    return plan_.channels[plan_.subtasks[id].inputs[slot].value()];
  }

  void deliver(size_t to, message m) {
    auto& n = *nodes_[to];
    if (n.finished) return; // as CAF drops messages to a dead actor
    n.mailbox.push_back(std::move(m));
    size_t from_peers = 0;
    for (auto& x : n.mailbox)
      from_peers += x.lane < poll_lane();
    max_mailbox_ = std::max(max_mailbox_, from_peers);
  }

  void deliver_after(size_t to, std::chrono::nanoseconds delay, message m) {
    // The virtual clock counts whole milliseconds.
    auto ms = static_cast<int64_t>(
        std::ceil(std::chrono::duration<double, std::milli>(delay).count()));
    delayed_.push({clock_.now() + ms, next_seq_++, to, std::move(m)});
  }

  void release_due() {
    while (!delayed_.empty() && delayed_.top().due <= clock_.now()) {
      auto d = delayed_.top();
      delayed_.pop();
      deliver(d.to, std::move(d.m));
    }
  }

  /// Delivers the checkpoint triggers due at step `step`.
  void trigger_due(uint64_t step) {
    while (next_trigger_ < trigger_steps_.size() &&
           trigger_steps_[next_trigger_] <= step) {
      uint64_t id = ++next_trigger_;
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (plan_.subtasks[i].kind == node_kind::source)
          deliver(i, {message::trigger, job_lane(), 0, nullptr, id});
    }
  }

  /// Takes a random message among the first of each lane.
  message take(node& n) {
    heads_.clear();
    lanes_.clear();
    for (size_t i = 0; i < n.mailbox.size(); ++i) {
      auto lane = n.mailbox[i].lane;
      if (std::find(lanes_.begin(), lanes_.end(), lane) != lanes_.end())
        continue;
      lanes_.push_back(lane);
      heads_.push_back(i);
    }
    auto i = heads_[std::uniform_int_distribution<size_t>{0, heads_.size() -
                                                                 1}(rng_)];
    auto m = std::move(n.mailbox[i]);
    n.mailbox.erase(n.mailbox.begin() + static_cast<ptrdiff_t>(i));
    return m;
  }

  void step(node& n) {
    driver_action a;
    auto& d = *n.driver;
    if (!n.started) {
      n.started = true;
      node* self = &n;
      a = d.start(
          [this, self] {
            deliver(self->id, {message::wake, wake_lane(), 0, nullptr});
          },
          nullptr, restores_.empty() ? nullptr : &restores_[n.id]);
    } else {
      auto m = take(n);
      switch (m.kind) {
      case message::batch:
        a = d.on_batch(m.slot, std::move(m.b));
        break;
      case message::eos:
        a = d.on_end_of_stream(m.slot);
        break;
      case message::watermark:
        a = d.on_watermark(m.slot, m.wm);
        break;
      case message::barrier:
        a = d.on_barrier(m.slot, checkpoint_id{m.n});
        break;
      case message::status:
        a = d.on_idle(m.slot, m.n != 0);
        break;
      case message::credit:
        a = d.on_credit(m.slot, static_cast<uint32_t>(m.n));
        break;
      case message::trigger:
        a = d.on_trigger(checkpoint_id{m.n});
        break;
      case message::poll:
        a = d.on_poll(m.n);
        break;
      case message::wake:
        a = d.on_wakeup();
        break;
      case message::timer:
        a = d.on_timer();
        break;
      }
    }
    carry_out(n, std::move(a));
  }

  /// What the actor adapter does with an action, on the simulator.
  void carry_out(node& n, driver_action a) {
    message poll{message::poll, poll_lane(), 0, nullptr, a.poll_generation};
    switch (a.poll) {
    case poll_request::now:
      deliver(n.id, std::move(poll));
      break;
    case poll_request::later:
      deliver_after(n.id, a.poll_delay, std::move(poll));
      break;
    case poll_request::none:
      break;
    }
    for (auto& s : a.snapshots) {
      // As the subtask actor's executor would, here at once: after the
      // subtask went on past its barrier within the step.
      s.write_key_groups();
      if (on_snapshot_) on_snapshot_(n.id, s);
      n.snapshots.push_back(std::move(s));
    }
    if (a.timer)
      deliver_after(n.id, *a.timer, {message::timer, timer_lane(), 0, nullptr});
    switch (a.report) {
    case subtask_report::finished:
      n.finished = true;
      n.mailbox.clear();
      break;
    case subtask_report::failed:
      throw std::runtime_error(a.error);
    case subtask_report::none:
      break;
    }
  }

  job_options opts_;
  manual_clock clock_;
  int64_t ms_per_step_ = 0;
  physical_plan plan_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<node>> nodes_;
  std::vector<unsigned> weights_;
  std::priority_queue<delayed_message, std::vector<delayed_message>,
                      std::greater<delayed_message>>
      delayed_;
  uint64_t next_seq_ = 0;
  /// Scratch space of take().
  std::vector<size_t> heads_;
  std::vector<size_t> lanes_;
  size_t max_mailbox_ = 0;
  std::vector<uint64_t> trigger_steps_;
  size_t next_trigger_ = 0;
  std::function<void(size_t, const subtask_snapshot&)> on_snapshot_;
  std::vector<subtask_restore> restores_;
};

/// flow.idle-timeout of randomized runs: FLOW_TEST_IDLE_TIMEOUT_MS if set
/// (tests/system/results_under_load.sh sets it), else 1 ms. Results must
/// not depend on it: only caught-up sources are ever idle.
inline std::chrono::milliseconds test_idle_timeout() {
  const char* v = std::getenv("FLOW_TEST_IDLE_TIMEOUT_MS");
  return std::chrono::milliseconds(v ? std::atoll(v) : 1);
}

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
    o.channels.idle_timeout = test_idle_timeout();
    auto r = runtime::execute(t, o);
    if (!r.ok) throw std::runtime_error(r.error);
  } else {
    channel_options c;
    c.batch_size = 1 + rng() % 32;
    c.credit_window = 1 + static_cast<uint32_t>(rng() % 4);
    c.credit_return = 1;
    c.watermark_interval = std::chrono::nanoseconds::zero();
    c.idle_timeout = test_idle_timeout();
    sim s{t, plan_options{}, c, rng()};
    s.set_ms_per_step(ms_per_step);
    s.run();
  }
}

} // namespace flow::test

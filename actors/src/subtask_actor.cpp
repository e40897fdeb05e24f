#include "flow/runtime/subtask_actor.hpp"

#include "flow/log.hpp"
#include "flow/runtime/messages.hpp"
#include "flow/subtask_core.hpp"

#include <algorithm>
#include <optional>

namespace flow::runtime {

namespace {

/// Delivers a subtask's messages as CAF messages to its peers.
class actor_transport final : public transport {
public:
  explicit actor_transport(caf::event_based_actor* self) : self_(self) {}

  void send_batch(size_t out_slot, batch_ptr b) override {
    self_->send(wires_.downstream[out_slot], batch_atom::value,
                wires_.downstream_slots[out_slot], std::move(b));
  }

  void send_end_of_stream(size_t out_slot) override {
    self_->send(wires_.downstream[out_slot], eos_atom::value,
                wires_.downstream_slots[out_slot]);
  }

  void send_watermark(size_t out_slot, int64_t wm) override {
    self_->send(wires_.downstream[out_slot], watermark_atom::value,
                wires_.downstream_slots[out_slot], wm);
  }

  void send_credit(size_t in_slot, uint32_t n) override {
    self_->send<caf::message_priority::high>(wires_.upstream[in_slot],
                                             credit_atom::value,
                                             wires_.upstream_slots[in_slot], n);
  }

  wiring wires_;

private:
  caf::event_based_actor* self_;
};

struct subtask_state {
  static inline const char* name = "flow-subtask";
  std::string label; // "operator[index]"
  subtask_spec spec;
  std::unique_ptr<actor_transport> transport;
  std::unique_ptr<subtask_core> core;
  bool poll_scheduled = false;
  bool flush_armed = false;
  /// Generation of the pending poll message (see poll_atom).
  uint64_t poll_generation = 0;
  /// An idle source waits for its retry poll, or for a wake-up.
  bool idle = false;
  /// The source sends wake-ups: idle retries are a fallback only.
  bool wakes = false;
};

/// How long an idle source waits before it polls again: sources that wake
/// the subtask when input arrives are retried only as a fallback (idle
/// timeouts and watermark intervals still advance).
constexpr auto idle_retry = std::chrono::milliseconds(1);
constexpr auto idle_retry_with_wakeups = std::chrono::milliseconds(10);

using subtask_actor = caf::stateful_actor<subtask_state>;

/// Runs the core as far as it goes and arranges for what comes next
/// (another poll, a flush timer, or reporting completion). User-function
/// exceptions end the job here, with the subtask named.
template <class Event>
void drive(subtask_actor* self, Event&& event) {
  auto& st = self->state;
  if (!st.core) return; // finished or failed already
  try {
    event(*st.core);
    if (st.core->is_source()) {
      if (!st.poll_scheduled) {
        switch (st.core->poll_source(st.spec.options.source_poll_records)) {
        case step_result::more:
          st.poll_scheduled = true;
          self->send(self, poll_atom::value, st.poll_generation);
          break;
        case step_result::idle:
          // Nothing to read now: what was read goes out (see below).
          if (st.core->has_buffered()) st.core->flush();
          st.poll_scheduled = true;
          st.idle = true;
          self->delayed_send(self,
                             st.wakes ? idle_retry_with_wakeups : idle_retry,
                             poll_atom::value, st.poll_generation);
          break;
        default:
          break;
        }
      }
    } else {
      st.core->drain();
      // Natural batching: with nothing else in the mailbox, partial
      // batches leave now instead of at the flush timer, so at low load a
      // record crosses each hop at once; under load the mailbox is rarely
      // empty and batches fill up.
      if (st.core->has_buffered() && self->mailbox().empty()) st.core->flush();
    }
    if (st.core->finished()) {
      auto totals = totals_of(*st.spec.metrics);
      self->send(st.spec.job, done_atom::value, st.spec.plan.id.value(),
                 totals);
      st.core.reset();
      self->quit();
      return;
    }
    if (!st.flush_armed) {
      // One timer serves the flush interval and the core's clock wake-ups
      // (processing-time timers, idle inputs), the latter to within one
      // flush interval.
      auto interval = std::chrono::duration_cast<caf::timespan>(
          st.spec.options.flush_interval);
      std::optional<caf::timespan> delay;
      if (st.core->has_buffered()) delay = interval;
      auto wake = st.core->next_wakeup();
      if (wake != max_timestamp) {
        caf::timespan in = std::chrono::milliseconds(
            std::max<int64_t>(1, wake - clock::system().now()));
        in = std::min(in, interval);
        delay = delay ? std::min(*delay, in) : in;
      }
      if (delay) {
        st.flush_armed = true;
        self->delayed_send(self, *delay, flush_atom::value);
      }
    }
  } catch (const std::exception& e) {
    auto msg = "operator '" + st.spec.plan.operator_name + "' subtask " +
               std::to_string(st.spec.plan.index) + "/" +
               std::to_string(st.spec.plan.parallelism) +
               " failed: " + e.what();
    self->send(st.spec.job, failed_atom::value, st.spec.plan.id.value(), msg);
    st.core.reset();
    self->quit(caf::make_error(caf::sec::runtime_error, msg));
  }
}

/// The behavior once wired: channel events and timers.
caf::behavior running(subtask_actor* self) {
  return {
      [=](batch_atom, uint32_t in_slot, batch_ptr& b) {
        drive(self,
              [&](subtask_core& c) { c.on_batch(in_slot, std::move(b)); });
      },
      [=](eos_atom, uint32_t in_slot) {
        drive(self, [&](subtask_core& c) { c.on_end_of_stream(in_slot); });
      },
      [=](watermark_atom, uint32_t in_slot, int64_t wm) {
        drive(self, [&](subtask_core& c) { c.on_watermark(in_slot, wm); });
      },
      [=](credit_atom, uint32_t out_slot, uint32_t n) {
        drive(self, [&](subtask_core& c) { c.on_credit(out_slot, n); });
      },
      [=](poll_atom, uint64_t generation) {
        auto& st = self->state;
        if (generation != st.poll_generation) return; // a wake-up came first
        st.poll_scheduled = false;
        st.idle = false;
        drive(self, [](subtask_core&) {});
      },
      [=](wake_atom) {
        auto& st = self->state;
        if (!st.idle) return; // busy: it polls again anyway
        ++st.poll_generation; // the pending idle retry is stale now
        st.poll_scheduled = false;
        st.idle = false;
        drive(self, [](subtask_core&) {});
      },
      [=](flush_atom) {
        self->state.flush_armed = false;
        drive(self, [](subtask_core& c) {
          c.flush();
          c.advance_time();
        });
      },
      [=](report_atom) {
        // Counters for the job's status line and HTTP endpoints (which may
        // be on another node).
        auto& st = self->state;
        self->send(st.spec.job, report_atom::value, st.spec.plan.id.value(),
                   totals_of(*st.spec.metrics),
                   st.spec.metrics->blocked.load());
        self->delayed_send(self,
                           std::chrono::duration_cast<caf::timespan>(
                               report_interval(st.spec.options)),
                           report_atom::value);
      },
      [=](stop_atom) {
        drive(self, [](subtask_core& c) { c.request_stop(); });
      },
  };
}

/// Until its wiring arrives, a subtask keeps every other message in its
/// mailbox (peers may be wired, and send, before it is).
caf::behavior subtask_behavior(subtask_actor* self, subtask_spec spec) {
  self->set_default_handler(caf::skip);
  auto& st = self->state;
  st.label =
      spec.plan.operator_name + "[" + std::to_string(spec.plan.index) + "]";
  st.spec = std::move(spec);
  st.spec.metrics->operator_name = st.spec.plan.operator_name;
  st.spec.metrics->subtask_index = st.spec.plan.index;
  st.transport = std::make_unique<actor_transport>(self);
  return {
      [=](wire_atom, wiring& w) {
        auto& st = self->state;
        st.transport->wires_ = std::move(w);
        try {
          task_setup setup;
          setup.operator_name = st.spec.plan.operator_name;
          setup.subtask_index = st.spec.plan.index;
          setup.parallelism = st.spec.plan.parallelism;
          setup.outputs = st.spec.plan.out_edges;
          setup.settings = &st.spec.options.settings;
          setup.max_parallelism = st.spec.options.plan.max_parallelism;
          st.core = std::make_unique<subtask_core>(
              st.spec.make_task, std::move(setup), st.spec.plan.input_edges,
              st.spec.plan.outputs.size(), st.spec.options.channels,
              *st.transport, *st.spec.metrics);
        } catch (const std::exception& e) {
          auto msg = "operator '" + st.spec.plan.operator_name + "' subtask " +
                     std::to_string(st.spec.plan.index) +
                     " failed to open: " + e.what();
          self->send(st.spec.job, failed_atom::value, st.spec.plan.id.value(),
                     msg);
          self->quit(caf::make_error(caf::sec::runtime_error, msg));
          return;
        }
        if (st.core->is_source()) {
          // Called on a connector's thread: only a weak reference, so that
          // the callback keeps nothing alive.
          caf::weak_actor_ptr weak{self->ctrl()};
          st.wakes = st.core->set_wakeup([weak] {
            if (auto me = caf::actor_cast<caf::actor>(weak))
              caf::anon_send(me, wake_atom::value);
          });
        }
        self->set_default_handler(caf::print_and_drop);
        self->become(running(self));
        self->delayed_send(self,
                           std::chrono::duration_cast<caf::timespan>(
                               report_interval(st.spec.options)),
                           report_atom::value);
        drive(self, [](subtask_core&) {});
      },
  };
}

} // namespace

caf::actor spawn_subtask(caf::actor_system& sys, subtask_spec spec) {
  return sys.spawn(subtask_behavior, std::move(spec));
}

} // namespace flow::runtime

#include "flow/runtime/subtask_actor.hpp"

#include "flow/checkpoint/parts.hpp"
#include "flow/runtime/detached_executor.hpp"
#include "flow/runtime/messages.hpp"
#include "flow/subtask_driver.hpp"

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

  void send_idle(size_t out_slot, bool idle) override {
    self_->send(wires_.downstream[out_slot], idle_atom::value,
                wires_.downstream_slots[out_slot], idle);
  }

  void send_barrier(size_t out_slot, checkpoint_id id) override {
    self_->send(wires_.downstream[out_slot], barrier_atom::value,
                wires_.downstream_slots[out_slot], id.value());
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

/// The actor only hosts the subtask: the subtask_driver decides, the actor
/// turns messages into driver events and driver actions into messages.
struct subtask_state {
  static inline const char* name = "flow-subtask";
  subtask_spec spec;
  std::unique_ptr<actor_transport> transport;
  /// Before the driver: the connectors use it until they are destroyed.
  std::unique_ptr<detached_executor> executor;
  std::optional<subtask_driver> driver;
};

using subtask_actor = caf::stateful_actor<subtask_state>;

/// Writes the parts of checkpoints the subtask took on its executor (never
/// on this thread) and acknowledges each to the job, or declines it.
void write_parts(subtask_actor* self, std::vector<subtask_snapshot>& snaps) {
  auto& st = self->state;
  for (auto& snap : snaps) {
    // Keyed state is written (from the maps the subtask froze, spilled
    // state through a view of its store), and everything encoded, on the
    // executor too: the state may be large (an exactly-once sink's is an
    // interval of its output).
    st.executor->run([store = st.spec.checkpoints, job = st.spec.job,
                      plan = st.spec.plan, snap = std::move(snap)]() mutable {
      auto sub = plan.id.value();
      auto id = snap.id;
      auto decline = [&](const std::string& why) {
        caf::anon_send(job, cp_decline_atom::value, sub, id.value(), why);
      };
      if (!store) return decline("no checkpoint directory");
      // Whatever fails here (reading spilled state, memory for a large
      // part) declines the checkpoint, which otherwise would wait for its
      // timeout.
      try {
        snap.write_key_groups();
        auto part = checkpoint::describe(plan, snap);
        auto bytes = checkpoint::encode_state(std::move(snap));
        auto written = store->write_part(id, false, part, bytes.pieces());
        if (written)
          caf::anon_send(job, cp_ack_atom::value, sub, id.value(),
                         written->SerializeAsString());
        else
          decline(written.error().message());
      } catch (const std::exception& e) {
        decline(std::string("writing the part: ") + e.what());
      }
    });
  }
}

/// Carries out what the driver asked for.
void act(subtask_actor* self, driver_action a) {
  auto& st = self->state;
  if (!a.snapshots.empty()) write_parts(self, a.snapshots);
  if (a.ended)
    self->send(st.spec.job, ended_atom::value, st.spec.plan.id.value());
  switch (a.poll) {
  case poll_request::now:
    self->send(self, poll_atom::value, a.poll_generation);
    break;
  case poll_request::later:
    self->delayed_send(self, a.poll_delay, poll_atom::value, a.poll_generation);
    break;
  case poll_request::none:
    break;
  }
  if (a.timer) self->delayed_send(self, *a.timer, flush_atom::value);
  switch (a.report) {
  case subtask_report::finished:
    self->send(st.spec.job, done_atom::value, st.spec.plan.id.value(),
               totals_of(*st.spec.metrics));
    self->quit();
    break;
  case subtask_report::failed:
    if (a.bad_config)
      self->send(st.spec.job, config_failed_atom::value,
                 st.spec.plan.id.value(), a.error);
    else
      self->send(st.spec.job, failed_atom::value, st.spec.plan.id.value(),
                 a.error);
    self->quit(caf::make_error(caf::sec::runtime_error, std::move(a.error)));
    break;
  case subtask_report::none:
    break;
  }
}

/// The behavior once wired: channel events and timers.
caf::behavior running(subtask_actor* self) {
  auto& d = *self->state.driver;
  return {
      [=, &d](batch_atom, uint32_t in_slot, batch_ptr& b) {
        act(self, d.on_batch(in_slot, std::move(b)));
      },
      [=, &d](eos_atom, uint32_t in_slot) {
        act(self, d.on_end_of_stream(in_slot));
      },
      [=, &d](watermark_atom, uint32_t in_slot, int64_t wm) {
        act(self, d.on_watermark(in_slot, wm));
      },
      [=, &d](idle_atom, uint32_t in_slot, bool idle) {
        act(self, d.on_idle(in_slot, idle));
      },
      [=, &d](credit_atom, uint32_t out_slot, uint32_t n) {
        act(self, d.on_credit(out_slot, n));
      },
      [=, &d](barrier_atom, uint32_t in_slot, uint64_t id) {
        act(self, d.on_barrier(in_slot, checkpoint_id{id}));
      },
      [=, &d](cp_trigger_atom, uint64_t id) {
        act(self, d.on_trigger(checkpoint_id{id}));
      },
      [=, &d](cp_stop_atom, uint64_t id) {
        act(self, d.on_trigger(checkpoint_id{id}));
        act(self, d.on_stop());
      },
      [=, &d](cp_abort_atom, uint64_t id) {
        act(self, d.on_abort_checkpoint(checkpoint_id{id}));
      },
      [=, &d](cp_done_atom, uint64_t id, const std::string& part) {
        checkpoint::pb::Part p;
        if (p.ParseFromString(part))
          act(self, d.on_checkpoint_complete(checkpoint_id{id},
                                             checkpoint::positions_of(p)));
      },
      [=, &d](poll_atom, uint64_t generation) {
        act(self, d.on_poll(generation));
      },
      [=, &d](wake_atom) { act(self, d.on_wakeup()); },
      [=, &d](flush_atom) { act(self, d.on_timer()); },
      [=, &d](stop_atom) { act(self, d.on_stop()); },
      [=, &d](cp_end_atom, uint64_t id) {
        act(self, d.on_end_checkpoint(checkpoint_id{id}));
      },
      [=, &d](release_atom) { act(self, d.on_release()); },
      [=](report_atom) {
        auto interval = report_interval(self->state.spec.options);
        // Counters for the job's status line and HTTP endpoints (which may
        // be on another node).
        auto& st = self->state;
        self->send(st.spec.job, report_atom::value, st.spec.plan.id.value(),
                   totals_of(*st.spec.metrics),
                   st.spec.metrics->blocked.load());
        self->delayed_send(self,
                           std::chrono::duration_cast<caf::timespan>(interval),
                           report_atom::value);
      },
  };
}

/// Until its wiring arrives, a subtask keeps every other message in its
/// mailbox (peers may be wired, and send, before it is).
caf::behavior subtask_behavior(subtask_actor* self, subtask_spec spec) {
  self->set_default_handler(caf::skip);
  auto& st = self->state;
  st.spec = std::move(spec);
  st.spec.metrics->operator_name = st.spec.plan.operator_name;
  st.spec.metrics->subtask_index = st.spec.plan.index;
  st.transport = std::make_unique<actor_transport>(self);
  st.executor = std::make_unique<detached_executor>(
      self->system(), caf::weak_actor_ptr{self->ctrl()});
  st.driver.emplace(st.spec.plan, st.spec.make_task, st.spec.options,
                    *st.transport, *st.spec.metrics, clock::system(),
                    [self] { return self->mailbox().empty(); });
  return {
      [=](wire_atom, wiring& w) {
        auto& st = self->state;
        st.transport->wires_ = std::move(w);
        // Called on a connector's thread: only a weak reference, so that
        // the callback keeps nothing alive.
        caf::weak_actor_ptr weak{self->ctrl()};
        auto first = st.driver->start(
            [weak] {
              if (auto me = caf::actor_cast<caf::actor>(weak))
                caf::anon_send(me, wake_atom::value);
            },
            st.executor.get(), st.spec.restore ? &*st.spec.restore : nullptr,
            st.spec.state.get());
        st.spec.restore.reset(); // the task has it now
        if (st.driver->state() == driver_state::running) {
          self->set_default_handler(caf::print_and_drop);
          self->become(running(self));
          if (auto interval = report_interval(st.spec.options);
              interval.count() > 0)
            self->delayed_send(
                self, std::chrono::duration_cast<caf::timespan>(interval),
                report_atom::value);
        }
        act(self, std::move(first));
      },
  };
}

} // namespace

caf::actor spawn_subtask(caf::actor_system& sys, subtask_spec spec) {
  return sys.spawn(subtask_behavior, std::move(spec));
}

} // namespace flow::runtime

#include "flow/runtime/job_host.hpp"

#include "flow/checkpoint/restart_strategy.hpp"

#include "flow/log.hpp"
#include "flow/plan.hpp"
#include "flow/rocksdb_state.hpp"
#include "flow/run.hpp"
#include "flow/runtime/allocator.hpp"
#include "flow/runtime/job_checkpoints.hpp"
#include "flow/runtime/messages.hpp"
#include "flow/runtime/subtask_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

namespace flow::runtime {

const operator_summary* job_result::find(const std::string& name) const {
  for (auto& o : operators)
    if (o.name == name) return &o;
  return nullptr;
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Per-operator totals; a subtask's figures come from its final report if
/// it sent one, else from its live counters (if it runs in this process).
std::vector<operator_summary>
summarize(const physical_plan& plan,
          const std::vector<std::shared_ptr<subtask_metrics>>& live,
          const std::vector<std::optional<subtask_totals>>& reported) {
  std::vector<operator_summary> out;
  std::map<uint32_t, size_t> index;
  for (auto& s : plan.subtasks) {
    auto [it, added] = index.emplace(s.node.value(), out.size());
    if (added) {
      operator_summary o;
      o.name = s.operator_name;
      o.parallelism = s.parallelism;
      out.push_back(o);
    }
    auto id = s.id.value();
    subtask_totals t;
    if (reported[id])
      t = *reported[id];
    else if (live[id])
      t = totals_of(*live[id]);
    auto& o = out[it->second];
    o.records_in += t.records_in;
    o.records_out += t.records_out;
    o.blocked_seconds += t.blocked_ns / 1e9;
    o.max_in_flight = std::max(o.max_in_flight, t.max_in_flight);
    o.max_queued_batches = std::max(o.max_queued_batches, t.max_queued_batches);
    o.skipped += t.skipped;
    o.dead_lettered += t.dead_lettered;
  }
  return out;
}

/// One line: records/s per operator since the last line, and who waits for
/// credit (live counters here, the latest reports for other nodes).
std::string status_line(const std::vector<operator_summary>& now,
                        const std::vector<operator_summary>& before,
                        const physical_plan& plan,
                        const std::vector<std::shared_ptr<subtask_metrics>>& ms,
                        const std::vector<bool>& reported_blocked, double dt) {
  std::ostringstream os;
  os << "status:";
  for (size_t i = 0; i < now.size(); ++i) {
    auto n = std::max(now[i].records_in, now[i].records_out);
    auto b = i < before.size()
                 ? std::max(before[i].records_in, before[i].records_out)
                 : 0;
    os << ' ' << now[i].name << '=' << static_cast<uint64_t>((n - b) / dt)
       << "/s";
  }
  std::string blocked;
  for (auto& s : plan.subtasks)
    if (ms[s.id.value()] ? ms[s.id.value()]->blocked.load()
                         : reported_blocked[s.id.value()])
      blocked += " " + s.operator_name + "[" + std::to_string(s.index) + "]";
  os << "; blocked on credit:" << (blocked.empty() ? " none" : blocked);
  std::string failed;
  for (auto& o : now) {
    if (o.skipped > 0)
      failed += " " + o.name + " skipped " + std::to_string(o.skipped);
    if (o.dead_lettered > 0)
      failed +=
          " " + o.name + " dead-lettered " + std::to_string(o.dead_lettered);
  }
  if (!failed.empty()) os << "; failed records:" << failed;
  return os.str();
}

/// The status line's checkpoint part: the last complete one and failures.
std::string checkpoint_status(const checkpoint::coordinator_stats& st) {
  std::ostringstream os;
  os << "; checkpoint ";
  if (auto& c = st.last_completed)
    os << c->id.value() << " (" << c->duration_ms << " ms, " << c->size_bytes
       << " bytes, alignment " << c->alignment_ms << " ms)";
  else
    os << "none yet";
  if (st.failed > 0) os << ", " << st.failed << " failed";
  return os.str();
}

} // namespace

std::vector<caf::actor>
spawn_subtasks(caf::actor_system& sys, const topology& t,
               const physical_plan& plan, const std::vector<uint32_t>& ids,
               const job_options& opts, const caf::actor& job,
               std::vector<std::shared_ptr<subtask_metrics>>& metrics,
               std::shared_ptr<const checkpoint::store> checkpoints,
               std::vector<subtask_restore>* restore) {
  metrics.resize(plan.subtasks.size());
  std::vector<caf::actor> result;
  // One per process and run: its stores share one memory budget.
  auto state = make_state_backend(opts.state);
  for (auto id : ids) {
    auto& s = plan.subtasks.at(id);
    auto m = std::make_shared<subtask_metrics>();
    metrics[id] = m;
    subtask_spec spec;
    spec.plan = s;
    spec.make_task = t.nodes()[s.node.value()].make_task;
    spec.options = opts;
    spec.metrics = m;
    spec.job = job;
    spec.checkpoints = checkpoints;
    spec.state = state;
    if (restore) spec.restore = std::move((*restore)[id]);
    result.push_back(spawn_subtask(sys, std::move(spec)));
  }
  return result;
}

void wire_subtasks(caf::scoped_actor& self, const physical_plan& plan,
                   const std::vector<caf::actor>& actors) {
  for (auto& s : plan.subtasks) {
    wiring w;
    for (auto ch : s.outputs) {
      auto& c = plan.channels[ch.value()];
      w.downstream.push_back(actors[c.to.value()]);
      w.downstream_slots.push_back(static_cast<uint32_t>(c.to_slot));
    }
    for (auto ch : s.inputs) {
      auto& c = plan.channels[ch.value()];
      w.upstream.push_back(actors[c.from.value()]);
      w.upstream_slots.push_back(static_cast<uint32_t>(c.from_slot));
    }
    self->send(actors[s.id.value()], wire_atom::value, std::move(w));
  }
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

job_result
supervise(caf::scoped_actor& self, const physical_plan& plan,
          const std::vector<caf::actor>& actors,
          std::vector<std::shared_ptr<subtask_metrics>> metrics,
          const job_options& opts, const std::atomic<bool>* stop,
          const std::function<std::string(const caf::down_msg&)>& on_down,
          observe::job_view* view, job_checkpoints* checkpoints,
          const std::function<void(double)>& on_records_flowing) {
  auto log = logger("flow/runtime");
  bool flowing = false;
  metrics.resize(plan.subtasks.size());
  job_result result;
  auto t0 = clock_type::now();
  for (auto& a : actors)
    self->monitor(a);
  std::vector<std::optional<subtask_totals>> reported(actors.size());
  std::vector<std::optional<subtask_totals>> latest(actors.size());
  std::vector<bool> latest_blocked(actors.size(), false);
  std::vector<bool> done(actors.size(), false);
  size_t remaining = actors.size();
  bool failed = false;
  bool stop_sent = false;
  auto last_status = clock_type::now();
  auto status_before = summarize(plan, metrics, reported);
  // A subtask on another node is seen through its reports, one per status
  // interval. A line waits until every running remote subtask has reported
  // since the previous line, so that none shows 0/s (or, on the next line,
  // twice its rate) for want of a report; a subtask that stops reporting
  // delays the line by at most status_report_grace.
  std::vector<bool> fresh(actors.size(), false);
  const auto status_report_grace = std::max<std::chrono::nanoseconds>(
      opts.status_interval, std::chrono::seconds(2));
  auto fail = [&](std::string why) {
    if (failed) return;
    failed = true;
    result.error = std::move(why);
    log->error("{}", result.error);
  };
  while ((remaining > 0 || (checkpoints && checkpoints->savepoint_pending())) &&
         !failed) {
    auto wait = std::chrono::milliseconds(50);
    if (checkpoints)
      wait = std::clamp(checkpoints->next_wakeup(),
                        std::chrono::milliseconds(1), wait);
    self->receive(
        [&](done_atom, uint32_t id, subtask_totals& t) {
          if (id < done.size() && !done[id]) {
            done[id] = true;
            if (view) view->on_report(id, t, wall_clock_ms());
            reported[id] = std::move(t);
            --remaining;
            if (checkpoints) checkpoints->on_finished(id);
          }
        },
        [&](ended_atom, uint32_t id) {
          if (checkpoints)
            checkpoints->on_ended(id);
          else if (id < actors.size())
            self->send(actors[id], release_atom::value);
        },
        [&](cp_ack_atom, uint32_t id, uint64_t cp, const std::string& part) {
          if (checkpoints) checkpoints->on_ack(id, cp, part);
        },
        [&](cp_decline_atom, uint32_t id, uint64_t cp,
            const std::string& cause) {
          if (checkpoints) checkpoints->on_decline(id, cp, cause);
        },
        [&](failed_atom, uint32_t, std::string& msg) { fail(std::move(msg)); },
        [&](config_failed_atom, uint32_t, std::string& msg) {
          if (!failed) result.bad_config = true;
          fail(std::move(msg));
        },
        [&](report_atom, uint32_t id, subtask_totals& t, bool blocked) {
          if (id < latest.size() && !done[id]) {
            if (!flowing && t.records_in > 0 &&
                plan.subtasks[id].kind != node_kind::source) {
              flowing = true;
              if (on_records_flowing) on_records_flowing(seconds_since(t0));
            }
            if (view) view->on_report(id, t, wall_clock_ms());
            latest[id] = std::move(t);
            latest_blocked[id] = blocked;
            fresh[id] = true;
          }
        },
        [&](node_atom, std::string& name, observe::process_sample& p) {
          if (view) view->on_node(name, p, wall_clock_ms());
        },
        [&](caf::down_msg& dm) {
          bool ours = false;
          for (size_t i = 0; i < actors.size(); ++i)
            if (dm.source == actors[i]) {
              ours = true;
              if (!done[i])
                fail("subtask " + plan.subtasks[i].operator_name + "[" +
                     std::to_string(plan.subtasks[i].index) + "] terminated: " +
                     (dm.reason ? self->system().render(dm.reason)
                                : std::string("before finishing")));
            }
          if (!ours && on_down) {
            auto why = on_down(dm);
            if (!why.empty()) fail(std::move(why));
          }
        },
        caf::after(wait) >> [] {});
    if (checkpoints) {
      checkpoints->poll();
      if (!checkpoints->failure().empty()) fail(checkpoints->failure());
    }
    if (!flowing && on_records_flowing)
      for (auto& s : plan.subtasks)
        if (auto& m = metrics[s.id.value()];
            m && s.kind != node_kind::source && m->records_in.load() > 0) {
          flowing = true;
          on_records_flowing(seconds_since(t0));
          break;
        }
    if (stop && !stop_sent && stop->load()) {
      stop_sent = true;
      if (checkpoints && opts.checkpoints.savepoint_on_stop &&
          checkpoints->stop_with_savepoint()) {
        log->info("stop requested: sources stop at a savepoint barrier; "
                  "draining");
      } else {
        if (checkpoints && opts.checkpoints.savepoint_on_stop)
          log->warn("stop requested after a subtask finished: no savepoint "
                    "can be taken any more; stopping sources, draining");
        else
          log->info("stop requested: stopping sources, draining");
        for (auto& s : plan.subtasks)
          if (s.kind == node_kind::source)
            self->send(actors[s.id.value()], stop_atom::value);
      }
    }
    auto since_status = clock_type::now() - last_status;
    bool reports_in = true;
    for (size_t i = 0; i < actors.size(); ++i)
      reports_in = reports_in && (metrics[i] || done[i] || fresh[i]);
    if (opts.status_interval.count() > 0 &&
        since_status >= opts.status_interval &&
        (reports_in ||
         since_status >= opts.status_interval + status_report_grace)) {
      // Finished subtasks count with their final totals, running remote
      // ones with their latest report.
      auto known = reported;
      for (size_t i = 0; i < known.size(); ++i)
        if (!known[i] && !metrics[i]) known[i] = latest[i];
      auto now = summarize(plan, metrics, known);
      auto line = status_line(now, status_before, plan, metrics, latest_blocked,
                              seconds_since(last_status));
      if (checkpoints) line += checkpoint_status(checkpoints->stats());
      log->info("{}", line);
      status_before = std::move(now);
      last_status = clock_type::now();
      fresh.assign(fresh.size(), false);
    }
  }
  if (failed)
    for (auto& a : actors)
      self->send_exit(a, caf::exit_reason::kill);
  for (auto& a : actors)
    self->demonitor(a);
  if (checkpoints && !failed &&
      !checkpoints->stop_savepoint_failure().empty()) {
    failed = true;
    result.error = checkpoints->stop_savepoint_failure();
  }
  result.ok = !failed;
  if (view)
    view->set_status(failed ? observe::job_status::failed
                            : observe::job_status::finished);
  result.seconds = seconds_since(t0);
  result.operators = summarize(plan, metrics, reported);
  for (auto& o : result.operators)
    result.max_in_flight = std::max(result.max_in_flight, o.max_in_flight);
  result.subtasks = std::move(metrics);
  if (checkpoints) result.checkpoints = checkpoints->stats();
  return result;
}

void await_termination(
    caf::scoped_actor& self, const std::vector<caf::actor>& actors,
    std::chrono::milliseconds limit,
    const std::function<void(const caf::down_msg&)>& on_other_down) {
  size_t left = 0;
  for (auto& a : actors)
    if (a) {
      self->monitor(a);
      ++left;
    }
  auto deadline = clock_type::now() + limit;
  while (left > 0 && clock_type::now() < deadline)
    self->receive(
        [&](caf::down_msg& dm) {
          if (std::any_of(actors.begin(), actors.end(),
                          [&](const caf::actor& a) { return dm.source == a; }))
            --left;
          else if (on_other_down)
            on_other_down(dm);
        },
        caf::after(std::chrono::milliseconds(100)) >> [] {});
  if (left > 0)
    logger("flow/runtime")
        ->warn("{} subtasks still running {} ms after they were killed", left,
               limit.count());
}

std::optional<checkpoint::restart_point> run_history::add(job_result& run) {
  auto& st = run.checkpoints;
  if (last_triggered_ < st.last_triggered) last_triggered_ = st.last_triggered;
  totals_.completed += st.completed;
  totals_.failed += st.failed;
  if (st.last_completed) totals_.last_completed = st.last_completed;
  if (st.last_failed) {
    totals_.last_failed = st.last_failed;
    totals_.last_failure = st.last_failure;
  }
  totals_.last_triggered = last_triggered_;
  std::optional<checkpoint::restart_point> latest;
  if (auto& c = st.last_completed)
    latest = checkpoint::restart_point{c->id, c->savepoint,
                                       c->trigger_time_ms + c->duration_ms};
  run.checkpoints = totals_;
  return latest;
}

std::string
describe_restart_from(const std::optional<checkpoint::restart_point>& p) {
  if (!p) return "the start (no checkpoint completed yet)";
  auto age_s = (clock::system().now() - p->complete_time_ms) / 1000.0;
  return (p->savepoint ? "savepoint " : "checkpoint ") +
         std::to_string(p->id.value()) + " (taken " +
         fmt::format("{:.1f}", age_s) + " s ago)";
}

checkpoint::run_outcome outcome_of(const job_result& r,
                                   const std::atomic<bool>* stop) {
  if (r.ok) return checkpoint::run_outcome::finished;
  if (r.bad_config) return checkpoint::run_outcome::bad_config;
  if (stop && stop->load()) return checkpoint::run_outcome::stopped;
  return checkpoint::run_outcome::failed;
}

void configure_scheduler(caf::actor_system_config& cfg,
                         const job_options& opts) {
  // A node's own CAF setting scheduler.max-threads (in content only when
  // given) stands unless flow.threads is set.
  if (opts.threads > 0 ||
      caf::get_if(&cfg.content, "scheduler.max-threads") == nullptr)
    cfg.set("scheduler.max-threads", scheduler_threads(opts));
  if (opts.scheduler == "sharing")
    cfg.set("scheduler.policy", caf::atom("sharing"));
  else
    cfg.set("scheduler.policy", caf::atom("stealing"));
}

int report(const std::string& name, const job_result& r) {
  auto log = logger("flow/runtime");
  for (auto& o : r.operators) {
    log->info("  {:<20} x{}  in {:>12}  out {:>12}  blocked {:.2f}s  "
              "max in-flight {}  max queued {}",
              o.name, o.parallelism, o.records_in, o.records_out,
              o.blocked_seconds, o.max_in_flight, o.max_queued_batches);
    if (o.skipped > 0 || o.dead_lettered > 0)
      log->warn("  {:<20} skipped {}  dead-lettered {}", o.name, o.skipped,
                o.dead_lettered);
  }
  auto& cp = r.checkpoints;
  if (r.restarts > 0) log->info("  restarts: {}", r.restarts);
  if (cp.last_completed)
    log->info("  checkpoints: {} complete, {} failed; last {}: {} ms, {} "
              "bytes, alignment {} ms",
              cp.completed, cp.failed, cp.last_completed->id.value(),
              cp.last_completed->duration_ms, cp.last_completed->size_bytes,
              cp.last_completed->alignment_ms);
  else if (cp.failed > 0)
    log->info("  checkpoints: none complete, {} failed (last: {})", cp.failed,
              cp.last_failure);
  if (!r.ok) {
    log->error("job '{}' FAILED after {:.3f}s: {}", name, r.seconds, r.error);
    return r.bad_config ? exit_bad_config : exit_job_failed;
  }
  log->info("job '{}' finished in {:.3f}s", name, r.seconds);
  return exit_ok;
}

job_result execute(const topology& t, const job_options& opts,
                   const std::atomic<bool>* stop, observe::job_view* view) {
  tune_allocator();
  caf::actor_system_config cfg;
  configure_scheduler(cfg, opts);
  caf::actor_system sys{cfg};
  return execute(sys, t, opts, stop, view);
}

namespace {

/// Waits `delay` (a delayed message to a fresh actor: this thread blocks
/// in receive, no scheduler thread sleeps); false if `stop` turned true
/// meanwhile.
bool await_backoff(caf::actor_system& sys, std::chrono::milliseconds delay,
                   const std::atomic<bool>* stop) {
  caf::scoped_actor self{sys};
  self->delayed_send(self, delay, wake_atom::value);
  for (;;) {
    if (stop && stop->load()) return false;
    bool woke = false;
    self->receive([&](wake_atom) { woke = true; },
                  caf::after(std::chrono::milliseconds(50)) >> [] {});
    if (woke) return true;
  }
}

/// One run of the job: spawns, wires and supervises every subtask,
/// restoring `restored` if given. `first_id`: checkpoint ids start after
/// it. Each run has its own job actor, so that messages of a previous
/// run's subtasks never reach this one.
job_result run_once(caf::actor_system& sys, const topology& t,
                    const physical_plan& plan, const job_options& opts,
                    const std::shared_ptr<checkpoint::store>& store,
                    std::optional<restored_job> restored,
                    checkpoint_id first_id, const std::atomic<bool>* stop,
                    observe::job_view* view) {
  caf::scoped_actor self{sys};
  std::vector<uint32_t> ids;
  for (auto& s : plan.subtasks)
    ids.push_back(s.id.value());
  std::vector<std::shared_ptr<subtask_metrics>> metrics;
  std::vector<subtask_restore>* restores =
      restored ? &restored->subtasks : nullptr;
  auto actors =
      spawn_subtasks(sys, t, plan, ids, opts, caf::actor_cast<caf::actor>(self),
                     metrics, store, restores);
  std::optional<job_checkpoints> checkpoints;
  if (opts.checkpoints.enabled() ||
      (opts.checkpoints.savepoint_on_stop && store)) {
    auto last = restored ? restored->from.id() : checkpoint_id{};
    if (last < first_id) last = first_id;
    checkpoints.emplace(self, t.name(), plan, store, opts.checkpoints, last,
                        view);
    checkpoints->set_actors(actors);
  }
  wire_subtasks(self, plan, actors);
  if (view) {
    view->set_local(metrics);
    view->set_status(observe::job_status::running);
  }
  auto result = supervise(self, plan, actors, std::move(metrics), opts, stop,
                          nullptr, view, checkpoints ? &*checkpoints : nullptr);
  if (!result.ok) await_termination(self, actors, std::chrono::seconds(30));
  return result;
}

} // namespace

job_result execute(caf::actor_system& sys, const topology& t,
                   const job_options& opts, const std::atomic<bool>* stop,
                   observe::job_view* view) {
  auto log = logger("flow/runtime");
  auto plan = physical_plan::build(t, opts.plan);
  log->info("job '{}': {} subtasks, {} channels", t.name(),
            plan.subtasks.size(), plan.channels.size());
  log->debug("plan:\n{}", plan.describe());

  auto& cp_opts = opts.checkpoints;
  auto store = open_checkpoint_store(cp_opts);
  if (view) view->set_plan(plan, {});

  auto t0 = clock_type::now();
  checkpoint::restart_strategy strategy{cp_opts};
  auto run_cp_opts = cp_opts;
  run_history history;
  for (;;) {
    auto restored = load_restore(run_cp_opts, store.get(), plan);
    auto result = run_once(sys, t, plan, opts, store, std::move(restored),
                           history.last_triggered(), stop, view);
    if (auto p = history.add(result)) strategy.on_checkpoint_completed(*p);
    result.restarts = strategy.restarts();
    result.seconds = seconds_since(t0);
    auto decision = strategy.on_run_end(outcome_of(result, stop));
    if (!decision) {
      if (outcome_of(result, stop) == checkpoint::run_outcome::failed &&
          strategy.max_attempts() > 0)
        log->error("job '{}': no restart left ({} attempts since the last "
                   "complete checkpoint)",
                   t.name(), strategy.max_attempts());
      return result;
    }
    if (auto& p = decision->from)
      run_cp_opts.restore = store->directory(p->id, p->savepoint).string();
    log->warn("job '{}': restart {} of {} in {} ms from {}; cause: {}",
              t.name(), decision->attempt, decision->max_attempts,
              decision->delay.count(), describe_restart_from(decision->from),
              result.error);
    if (view) {
      view->count_restart();
      view->set_status(observe::job_status::deploying);
    }
    if (!await_backoff(sys, decision->delay, stop)) {
      log->info("stop requested during the restart backoff: job ends");
      return result;
    }
  }
}

} // namespace flow::runtime

#include "flow/runtime/job.hpp"

#include "flow/log.hpp"
#include "flow/plan.hpp"
#include "flow/runtime/messages.hpp"
#include "flow/runtime/subtask_actor.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <map>
#include <sstream>

namespace flow::runtime {

const operator_summary* job_result::find(const std::string& name) const {
  for (auto& o : operators)
    if (o.name == name)
      return &o;
  return nullptr;
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::vector<operator_summary>
summarize(const physical_plan& plan,
          const std::vector<std::shared_ptr<subtask_metrics>>& ms) {
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
    auto& o = out[it->second];
    auto& m = *ms[s.id.value()];
    o.records_in += m.records_in.load();
    o.records_out += m.records_out.load();
    o.blocked_seconds += m.blocked_ns.load() / 1e9;
  }
  return out;
}

/// One line: records/s per operator since the last line, and who waits for
/// credit.
std::string status_line(const std::vector<operator_summary>& now,
                        const std::vector<operator_summary>& before,
                        const physical_plan& plan,
                        const std::vector<std::shared_ptr<subtask_metrics>>& ms,
                        double dt) {
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
    if (ms[s.id.value()]->blocked.load())
      blocked += " " + s.operator_name + "[" + std::to_string(s.index) + "]";
  os << "; blocked on credit:" << (blocked.empty() ? " none" : blocked);
  return os.str();
}

} // namespace

job_result execute(const topology& t, const job_options& opts,
                   const std::atomic<bool>* stop) {
  auto log = logger("flow/runtime");
  auto plan = physical_plan::build(t, opts.plan);
  log->info("job '{}': {} subtasks, {} channels", t.name(),
            plan.subtasks.size(), plan.channels.size());
  log->debug("plan:\n{}", plan.describe());

  caf::actor_system_config cfg;
  if (opts.threads > 0)
    cfg.set("scheduler.max-threads", opts.threads);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};

  job_result result;
  auto t0 = clock_type::now();
  {
    caf::scoped_actor self{sys};
    std::vector<caf::actor> actors;
    for (auto& s : plan.subtasks) {
      auto m = std::make_shared<subtask_metrics>();
      result.subtasks.push_back(m);
      subtask_spec spec;
      spec.plan = s;
      spec.make_task = t.nodes()[s.node.value()].make_task;
      spec.options = opts;
      spec.metrics = m;
      spec.job = caf::actor_cast<caf::actor>(self);
      actors.push_back(spawn_subtask(sys, std::move(spec)));
      self->monitor(actors.back());
    }
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

    std::vector<bool> done(actors.size(), false);
    size_t remaining = actors.size();
    bool failed = false;
    bool stop_sent = false;
    auto last_status = clock_type::now();
    auto status_before = summarize(plan, result.subtasks);
    auto tick = std::chrono::milliseconds(50);
    while (remaining > 0 && !failed) {
      self->receive(
        [&](done_atom, uint32_t id) {
          if (!done[id]) {
            done[id] = true;
            --remaining;
          }
        },
        [&](failed_atom, uint32_t id, std::string& msg) {
          failed = true;
          result.error = std::move(msg);
          log->error("{}", result.error);
        },
        [&](caf::down_msg& dm) {
          for (size_t i = 0; i < actors.size(); ++i)
            if (dm.source == actors[i] && !done[i] && dm.reason) {
              failed = true;
              result.error = "subtask " + plan.subtasks[i].operator_name + "["
                             + std::to_string(plan.subtasks[i].index)
                             + "] terminated: " + sys.render(dm.reason);
              log->error("{}", result.error);
            }
        },
        caf::after(tick) >> [] {});
      if (stop && !stop_sent && stop->load()) {
        stop_sent = true;
        log->info("stop requested: stopping sources, draining");
        for (auto& s : plan.subtasks)
          if (s.kind == node_kind::source)
            self->send(actors[s.id.value()], stop_atom::value);
      }
      if (opts.status_interval.count() > 0
          && clock_type::now() - last_status >= opts.status_interval) {
        auto now = summarize(plan, result.subtasks);
        log->info("{}", status_line(now, status_before, plan, result.subtasks,
                                    seconds_since(last_status)));
        status_before = std::move(now);
        last_status = clock_type::now();
      }
    }
    if (failed)
      for (auto& a : actors)
        self->send_exit(a, caf::exit_reason::kill);
    result.ok = !failed;
  }
  result.seconds = seconds_since(t0);
  result.operators = summarize(plan, result.subtasks);
  for (auto& m : result.subtasks)
    result.max_in_flight = std::max(result.max_in_flight,
                                    m->max_in_flight.load());
  return result;
}

} // namespace flow::runtime

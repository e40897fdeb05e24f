#include "flow/runtime/cluster.hpp"

#include "flow/checkpoint/cluster_recovery.hpp"
#include "flow/exceptions.hpp"
#include "flow/log.hpp"
#include "flow/run.hpp"
#include "flow/runtime/http_server.hpp"
#include "flow/runtime/job_checkpoints.hpp"
#include "flow/runtime/job_host.hpp"
#include "flow/runtime/messages.hpp"
#include "flow/runtime/node_config.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace flow::runtime {

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

namespace {

// Cluster control messages.
//   worker -> coordinator: (register_atom, name, slots, fingerprint, agent,
//                           control, host, port, job keys, job values)
//                           => (bool accepted, string reason)
//                           the job options the worker set itself must
//                           agree with the coordinator's
//   coordinator -> agent:  (deploy_atom, job args, subtask ids, job,
//                           restores) => vector<actor> (the spawned
//                           subtasks)
//                           restores: empty (a fresh start) or each
//                           subtask's state in the checkpoint restored, in
//                           the order of the ids;
//                           job args: the coordinator's job configuration;
//                           refused from anyone but the coordinator the
//                           worker registered with (the agent listens on
//                           the worker's port: anyone may reach it)
//   worker -> its agent:   (coordinator_atom, coordinator) before it
//                           registers
//   coordinator -> control: (peers_atom, hosts, ports) => bool
//                           connect to these workers before deployment
//   coordinator -> control: (finish_atom, bool ok)
using register_atom = caf::atom_constant<caf::atom("register")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using deploy_atom = caf::atom_constant<caf::atom("deploy")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;
using coordinator_atom = caf::atom_constant<caf::atom("coord")>;

/// A coordinator's job configuration as command-line arguments, which a
/// worker's node_config parses after its own (so they win).
std::vector<std::string> job_args(const job_options& o) {
  std::vector<std::string> out;
  for (auto& [key, value] : job_settings(o.settings))
    out.push_back("--" + key + "=" + value);
  return out;
}

std::string describe_subtasks(const physical_plan& plan,
                              const std::vector<uint32_t>& node_of,
                              uint32_t node) {
  std::string out;
  for (auto& s : plan.subtasks)
    if (node_of[s.id.value()] == node)
      out += (out.empty() ? "" : ", ") + s.operator_name + "[" +
             std::to_string(s.index) + "]";
  return out;
}

struct worker_info {
  std::string name;
  uint32_t slots = 0;
  std::string host;
  uint32_t port = 0;
  caf::actor agent;
  caf::actor control;
};

caf::expected<uint16_t> publish(caf::actor_system& sys, const caf::actor& a,
                                const cluster_options& co, uint16_t port) {
  if (!co.tls && !is_loopback(co.host))
    logger("flow/cluster")
        ->warn("listening on {} WITHOUT TLS (cluster.allow-insecure): any "
               "process that reaches port {} can join this cluster",
               co.host, port);
  if (co.tls) return caf::openssl::publish(a, port, co.host.c_str(), true);
  return sys.middleman().publish(a, port, co.host.c_str(), true);
}

/// A node that cannot listen ends as one with a taken flow.http-port
/// does: exit 2, naming the keys to change. (CAF's error does not say
/// whether the port is taken or cluster.host is no address of this
/// machine.)
int cannot_listen(caf::actor_system& sys, const cluster_options& co,
                  const std::string& port_key, uint16_t port,
                  const caf::error& why) {
  config_error error{port_key, std::to_string(port),
                     "a port free on cluster.host = " + co.host +
                         ", an address of this host (" + sys.render(why) + ")"};
  logger("flow/cluster")->error("{}", error.message());
  return exit_bad_config;
}

caf::expected<caf::actor> connect(caf::actor_system& sys,
                                  const cluster_options& co) {
  if (co.tls)
    return caf::openssl::remote_actor(sys, co.coordinator_host,
                                      co.coordinator_port);
  return sys.middleman().remote_actor(co.coordinator_host, co.coordinator_port);
}

void prepare_system_config(node_config& cfg, const cluster_options& co) {
  // node_config::load(args) hides the module loader of its base.
  auto& base = static_cast<caf::actor_system_config&>(cfg);
  base.load<caf::io::middleman>();
  if (co.tls) base.load<caf::openssl::manager>();
  add_message_types(cfg);
  // Workers connect to each other explicitly before the job starts (see
  // peers_atom); no connection may appear mid-stream and change a route.
  cfg.set("middleman.enable-automatic-connections", false);
  // A silent peer (hung, or a network partition) is declared dead.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds(5)});
  configure_scheduler(cfg, cfg.options());
}

/// The subtasks a worker runs: its agent adds those of each deployment,
/// the worker's main thread kills them when it ends.
class local_subtasks {
public:
  /// The subtasks of a new deployment. One deployment runs at a time: the
  /// coordinator redeploys only once the earlier one is over, and one
  /// whose reply came too late (the request timed out, the coordinator
  /// went on without it) would otherwise run on, unwired, until the
  /// worker ends; so the earlier subtasks are killed (a no-op for those
  /// already gone).
  void replace_with(const std::vector<caf::actor>& actors) {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    actors_ = actors;
  }
  void kill_all() {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& a : actors_)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    actors_.clear();
  }

private:
  std::mutex mutex_;
  std::vector<caf::actor> actors_;
};

/// The worker's agent: spawns the subtasks the coordinator places here.
caf::behavior agent(caf::event_based_actor* self, const topology* t,
                    std::vector<std::string> own_args,
                    std::shared_ptr<local_subtasks> spawned,
                    observe::job_view* view) {
  // The coordinator this worker registers with; only the agent's own
  // handlers touch it.
  auto coordinator = std::make_shared<caf::actor_addr>();
  return {
      [=](coordinator_atom, caf::actor& c) {
        if (self->current_sender() &&
            self->current_sender()->node() == self->node())
          *coordinator = c.address();
      },
      [=](deploy_atom, std::vector<std::string>& args,
          std::vector<uint32_t>& ids, caf::actor& job,
          std::vector<subtask_restore>& restores)
          -> caf::result<std::vector<caf::actor>> {
        auto log = logger("flow/cluster");
        auto sender = self->current_sender();
        // A refusal says nothing about this node or its job.
        if (!sender || *coordinator == nullptr ||
            sender->address() != *coordinator) {
          log->warn("refused a deploy request from {} (not the coordinator)",
                    sender ? to_string(sender->node()) : "an anonymous sender");
          return caf::make_error(caf::sec::request_receiver_down);
        }
        // Job settings only: a path in a request would make this node read
        // files on a remote peer's behalf.
        for (auto& a : args)
          if (a.rfind("--config-file", 0) == 0)
            return caf::make_error(caf::sec::invalid_argument,
                                   "deploy: no config file in job settings");
        // The coordinator's job options win over this node's own.
        auto all = own_args;
        all.insert(all.end(), args.begin(), args.end());
        node_config job_cfg;
        if (job_cfg.load(all) != node_config::outcome::ok)
          return caf::make_error(caf::sec::invalid_argument, job_cfg.message());
        try {
          auto& opts = job_cfg.options();
          auto plan = physical_plan::build(*t, opts.plan);
          if (!restores.empty() && restores.size() != ids.size())
            return caf::make_error(caf::sec::invalid_argument,
                                   "deploy: restores do not match the ids");
          for (auto id : ids)
            if (id >= plan.subtasks.size())
              return caf::make_error(caf::sec::invalid_argument,
                                     "deploy: no subtask " +
                                         std::to_string(id) + " in the plan");
          // Parts go to the checkpoint directory, which every node reaches
          // under the same path (a shared filesystem).
          std::shared_ptr<checkpoint::store> store;
          if (!opts.checkpoints.dir.empty())
            store = std::make_shared<checkpoint::store>(
                opts.checkpoints.dir, opts.checkpoints.retained);
          std::vector<subtask_restore> by_id;
          if (!restores.empty()) {
            by_id.resize(plan.subtasks.size());
            for (size_t i = 0; i < ids.size(); ++i)
              by_id[ids[i]] = std::move(restores[i]);
          }
          std::vector<std::shared_ptr<subtask_metrics>> metrics;
          auto actors =
              spawn_subtasks(self->system(), *t, plan, ids, opts, job, metrics,
                             store, restores.empty() ? nullptr : &by_id);
          log->info("spawned {} subtasks{}: {}", actors.size(),
                    restores.empty()
                        ? std::string()
                        : " restored from checkpoint " +
                              std::to_string(restores.front().id.value()),
                    [&] {
                      std::string s;
                      for (auto id : ids)
                        s += (s.empty() ? "" : ", ") +
                             plan.subtasks[id].operator_name + "[" +
                             std::to_string(plan.subtasks[id].index) + "]";
                      return s;
                    }());
          spawned->replace_with(actors);
          // A worker's view knows where its own subtasks run only.
          std::vector<std::string> node_of(plan.subtasks.size());
          for (auto id : ids)
            node_of[id] = view->node();
          view->set_plan(plan, std::move(node_of));
          view->set_local(metrics);
          view->set_status(observe::job_status::running);
          return actors;
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::invalid_argument, e.what());
        }
      },
  };
}

int run_worker(const topology& t, node_config& cfg, const cluster_options& co,
               const std::vector<std::string>& args,
               const std::atomic<bool>* stop) {
  auto log = logger("flow/cluster");
  // The endpoints first: a port that cannot be bound ends the process
  // before it joins the cluster. The view outlives the actor system.
  observe::job_view view{t.name(), "worker", "worker"};
  auto http = serve_http(view, cfg.options());
  prepare_system_config(cfg, co);
  caf::actor_system sys{cfg};
  auto spawned = std::make_shared<local_subtasks>();
  auto agent_actor = sys.spawn(agent, &t, args, spawned, &view);
  auto kill_local = [&] {
    spawned->kill_all();
    caf::anon_send_exit(agent_actor, caf::exit_reason::kill);
  };
  // Listening lets other workers connect to this one directly.
  auto port = publish(sys, agent_actor, co, co.port);
  if (!port) {
    kill_local();
    return cannot_listen(sys, co, "cluster.port", co.port, port.error());
  }
  auto name = co.name.empty()
                  ? "worker@" + co.host + ":" + std::to_string(*port)
                  : co.name;
  view.set_node(name);
  // The coordinator may start later than this worker: retry with backoff.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(co.connect_timeout_s);
  auto backoff = std::chrono::milliseconds(100);
  caf::actor coordinator;
  for (;;) {
    auto c = connect(sys, co);
    if (c) {
      coordinator = *c;
      break;
    }
    if (std::chrono::steady_clock::now() + backoff > deadline ||
        (stop && stop->load())) {
      log->error("{}: cannot reach the coordinator at {}:{} within {}s: {}",
                 name, co.coordinator_host, co.coordinator_port,
                 co.connect_timeout_s, sys.render(c.error()));
      kill_local();
      return exit_job_failed;
    }
    log->info("{}: coordinator at {}:{} not reachable yet ({}), retrying in "
              "{} ms",
              name, co.coordinator_host, co.coordinator_port,
              sys.render(c.error()), backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  caf::scoped_actor self{sys};
  self->monitor(coordinator);
  self->send(agent_actor, coordinator_atom::value, coordinator);
  bool accepted = false;
  std::string reason;
  std::vector<std::string> own_keys;
  std::vector<std::string> own_values;
  for (auto& [key, value] : job_settings(cfg.options().settings)) {
    own_keys.push_back(key);
    own_values.push_back(value);
  }
  self->request(coordinator, std::chrono::seconds(co.connect_timeout_s),
                register_atom::value, name, co.slots, t.fingerprint(),
                agent_actor, caf::actor_cast<caf::actor>(self), co.host,
                static_cast<uint32_t>(*port), own_keys, own_values)
      .receive(
          [&](bool ok, std::string& why) {
            accepted = ok;
            reason = std::move(why);
          },
          [&](caf::error& err) { reason = sys.render(err); });
  if (!accepted) {
    log->error("{}: rejected by the coordinator: {}", name, reason);
    kill_local();
    return exit_job_failed;
  }
  log->info("{}: registered with the coordinator at {}:{} ({} slots); the "
            "job runs with the coordinator's job configuration",
            name, co.coordinator_host, co.coordinator_port, co.slots);
  int code = -1;
  auto next_node_report = std::chrono::steady_clock::now();
  while (code < 0) {
    if (std::chrono::steady_clock::now() >= next_node_report) {
      // The coordinator's endpoints show every node's memory and CPU.
      self->send(coordinator, node_atom::value, name,
                 observe::sample_process());
      next_node_report += std::chrono::seconds(1);
    }
    self->receive(
        [&](peers_atom, std::vector<std::string>& hosts,
            std::vector<uint32_t>& ports) -> bool {
          // Direct connections to the other workers exist before any data
          // flows: CAF keeps message order per route, and a route that
          // changed mid-stream (relayed, then direct) could reorder.
          for (size_t i = 0; i < hosts.size(); ++i) {
            auto peer =
                co.tls ? caf::openssl::remote_actor(
                             sys, hosts[i], static_cast<uint16_t>(ports[i]))
                       : sys.middleman().remote_actor(
                             hosts[i], static_cast<uint16_t>(ports[i]));
            if (!peer) {
              log->error("{}: cannot connect to peer {}:{}: {}", name, hosts[i],
                         ports[i], sys.render(peer.error()));
              return false;
            }
          }
          return true;
        },
        [&](finish_atom, bool ok) {
          log->info("{}: job {}", name, ok ? "finished" : "failed");
          view.set_status(ok ? observe::job_status::finished
                             : observe::job_status::failed);
          code = ok ? exit_ok : exit_job_failed;
        },
        [&](caf::down_msg& dm) {
          if (dm.source == coordinator) {
            log->error("{}: lost the coordinator ({}); stopping", name,
                       sys.render(dm.reason));
            code = exit_job_failed;
          }
        },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (stop && stop->load()) {
                log->error("{}: stopped before the job finished", name);
                code = exit_job_failed;
              }
            });
  }
  kill_local();
  return code;
}

/// Seconds since `t0` on the steady clock.
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int run_coordinator(const topology& t, node_config& cfg,
                    const cluster_options& co, const std::atomic<bool>* stop) {
  auto log = logger("flow/cluster");
  const auto& opts = cfg.options();
  auto plan = physical_plan::build(t, opts.plan);
  auto name = co.name.empty() ? std::string("coordinator") : co.name;
  // The checkpoint to start from, before any node is waited for: one that
  // does not fit the plan ends the process (exit 2).
  auto& cp_opts = opts.checkpoints;
  auto store = open_checkpoint_store(cp_opts);
  auto run_cp_opts = cp_opts;
  auto restored = load_restore(run_cp_opts, store.get(), plan);
  // The endpoints first: a port that cannot be bound ends the process
  // before workers are waited for. The view outlives the actor system.
  observe::job_view view{t.name(), name, "coordinator"};
  auto http = serve_http(view, opts);
  prepare_system_config(cfg, co);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto listen_port = co.port == 0 ? co.coordinator_port : co.port;
  auto port = publish(sys, caf::actor_cast<caf::actor>(self), co, listen_port);
  if (!port)
    return cannot_listen(
        sys, co, co.port == 0 ? "cluster.coordinator-port" : "cluster.port",
        listen_port, port.error());
  log->info("{}: listening on {}:{}{}, waiting for {} worker(s)", name, co.host,
            *port, co.tls ? " (TLS)" : "", co.workers);
  auto fingerprint = t.fingerprint();
  auto own_job = job_settings(opts.settings);
  std::vector<worker_info> workers;
  auto finish_workers = [&](bool ok) {
    for (auto& w : workers)
      self->send(w.control, finish_atom::value, ok);
  };
  // While the job is down for a recovery: when a worker last registered.
  std::optional<std::chrono::steady_clock::time_point> registered_at;
  auto on_register =
      [&](register_atom, std::string& wname, uint32_t slots, uint64_t fp,
          caf::actor& agent_actor, caf::actor& control, std::string& whost,
          uint32_t wport, std::vector<std::string>& keys,
          std::vector<std::string>& values) -> std::tuple<bool, std::string> {
    settings_map worker_job;
    for (size_t i = 0; i < keys.size() && i < values.size(); ++i)
      worker_job[keys[i]] = values[i];
    auto differing = differing_job_settings(own_job, worker_job);
    // `why` goes to this node's log; the reply to the worker names
    // what to fix but no value of this node (the reply goes to
    // whoever connected).
    std::string why;
    std::string reply;
    if (fp != fingerprint) {
      why = "topology fingerprint mismatch: worker " + wname +
            " runs a different program (" + std::to_string(fp) +
            " != " + std::to_string(fingerprint) + ")";
      reply = "topology fingerprint mismatch: this worker runs a "
              "different program, or options that shape the topology "
              "differ (give them to every node)";
      std::string only_here;
      for (auto& [key, value] : own_job)
        if (key.rfind("flow.", 0) != 0 && key.rfind("kafka.", 0) != 0 &&
            worker_job.count(key) == 0)
          only_here += (only_here.empty() ? "" : ", ") + key;
      if (!only_here.empty())
        why += "; options that shape the topology (here: " + only_here +
               ") must be given to every node";
    } else if (!differing.empty()) {
      why = "job configuration of worker " + wname +
            " differs from the coordinator's, which is the one that "
            "counts (give job options to the coordinator only): ";
      for (size_t i = 0; i < differing.size(); ++i)
        why += (i ? "; " : "") + differing[i];
      reply = "job configuration differs from the coordinator's, which "
              "is the one that counts (give job options to the "
              "coordinator only): ";
      for (size_t i = 0; i < differing.size(); ++i)
        reply +=
            (i ? ", " : "") + differing[i].substr(0, differing[i].find(' '));
    }
    if (!why.empty()) {
      log->error("{}: rejected {}: {}", name, wname, why);
      return {false, reply};
    }
    for (auto& w : workers)
      if (w.name == wname)
        return {false, "a worker named " + wname + " is registered"};
    self->monitor(agent_actor);
    workers.push_back({wname, slots, whost, wport, agent_actor, control});
    registered_at = std::chrono::steady_clock::now();
    log->info("{}: worker {} registered ({} slots), {}/{}", name, wname, slots,
              workers.size(), co.workers);
    return {true, ""};
  };
  auto forget_worker = [&](caf::down_msg& dm) {
    workers.erase(std::remove_if(workers.begin(), workers.end(),
                                 [&](const worker_info& w) {
                                   return dm.source == w.agent;
                                 }),
                  workers.end());
  };
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(co.connect_timeout_s);
  while (workers.size() < co.workers) {
    if (std::chrono::steady_clock::now() > deadline || (stop && stop->load())) {
      log->error("{}: only {} of {} workers registered within {}s", name,
                 workers.size(), co.workers, co.connect_timeout_s);
      finish_workers(false);
      return exit_job_failed;
    }
    self->receive(
        on_register, forget_worker,
        caf::after(std::chrono::milliseconds(200)) >> [] {});
  }
  registered_at.reset();

  checkpoint::cluster_recovery recovery{cp_opts, co.recovery_timeout,
                                        checkpoint::slots_needed(plan)};
  auto registered_slots = [&] {
    uint32_t n = co.slots;
    for (auto& w : workers)
      n += w.slots;
    return n;
  };
  run_history history;
  auto job = caf::actor_cast<caf::actor>(self);
  auto args = job_args(opts);
  for (;;) {
    // Placement: the coordinator first (if it has slots), then the workers
    // by name, so the same registrations give the same placement.
    std::sort(workers.begin(), workers.end(),
              [](const worker_info& a, const worker_info& b) {
                return a.name < b.name;
              });
    // Why this deployment failed (then it counts as a failed run).
    std::string deploy_error;
    // Every pair of workers connects directly before deployment.
    for (size_t i = 0; i < workers.size() && deploy_error.empty(); ++i) {
      std::vector<std::string> hosts;
      std::vector<uint32_t> ports;
      for (size_t j = i + 1; j < workers.size(); ++j) {
        hosts.push_back(workers[j].host);
        ports.push_back(workers[j].port);
      }
      if (hosts.empty()) continue;
      bool connected = false;
      self->request(workers[i].control,
                    std::chrono::seconds(co.connect_timeout_s),
                    peers_atom::value, hosts, ports)
          .receive([&](bool ok) { connected = ok; }, [&](caf::error&) {});
      if (!connected) {
        deploy_error =
            "worker " + workers[i].name + " cannot connect to its peers";
        break;
      }
    }
    std::vector<node_slots> nodes;
    bool local_slots = co.slots > 0;
    if (local_slots) nodes.push_back({name, co.slots});
    for (auto& w : workers)
      nodes.push_back({w.name, w.slots});
    std::vector<uint32_t> node_of;
    try {
      node_of = place(plan, nodes);
    } catch (const config_failure& e) {
      log->error("{}: {}", name, e.what());
      finish_workers(false);
      return exit_bad_config;
    } catch (const std::exception& e) {
      log->error("{}: {}", name, e.what());
      finish_workers(false);
      return exit_job_failed;
    }
    for (uint32_t n = 0; n < nodes.size(); ++n)
      log->info("placement: {} ({} slots): {}", nodes[n].name, nodes[n].slots,
                describe_subtasks(plan, node_of, n));
    {
      std::vector<std::string> node_names;
      for (auto n : node_of)
        node_names.push_back(nodes[n].name);
      view.set_plan(plan, std::move(node_names));
    }

    std::vector<caf::actor> actors(plan.subtasks.size());
    std::vector<std::shared_ptr<subtask_metrics>> metrics;
    for (uint32_t n = 0; n < nodes.size() && deploy_error.empty(); ++n) {
      std::vector<uint32_t> ids;
      for (auto& s : plan.subtasks)
        if (node_of[s.id.value()] == n) ids.push_back(s.id.value());
      if (ids.empty()) continue;
      std::vector<caf::actor> spawned;
      std::string error;
      if (local_slots && n == 0) {
        spawned = spawn_subtasks(sys, t, plan, ids, opts, job, metrics, store,
                                 restored ? &restored->subtasks : nullptr);
      } else {
        // The deploy request carries each subtask's state to restore.
        std::vector<subtask_restore> restores;
        if (restored)
          for (auto id : ids)
            restores.push_back(restored->subtasks[id]);
        auto& w = workers[n - (local_slots ? 1 : 0)];
        self->request(w.agent, std::chrono::seconds(30), deploy_atom::value,
                      args, ids, job, std::move(restores))
            .receive(
                [&](std::vector<caf::actor>& xs) { spawned = std::move(xs); },
                [&](caf::error& err) {
                  error =
                      "deploying to " + w.name + " failed: " + sys.render(err);
                });
      }
      if (!error.empty() || spawned.size() != ids.size()) {
        deploy_error = error.empty() ? "deploy incomplete" : error;
        break;
      }
      for (size_t i = 0; i < ids.size(); ++i)
        actors[ids[i]] = spawned[i];
    }
    std::string lost_node;
    std::vector<caf::actor_addr> lost_agents;
    auto on_down = [&](const caf::down_msg& dm) -> std::string {
      for (size_t i = 0; i < workers.size(); ++i)
        if (dm.source == workers[i].agent) {
          auto n = static_cast<uint32_t>(i + (local_slots ? 1 : 0));
          lost_agents.push_back(dm.source);
          lost_node = "node " + workers[i].name + " lost (" +
                      sys.render(dm.reason) +
                      "); its subtasks: " + describe_subtasks(plan, node_of, n);
          return lost_node;
        }
      return "";
    };
    job_result r;
    if (!deploy_error.empty()) {
      r.error = "deploying the job failed: " + deploy_error;
      log->error("{}: {}", name, r.error);
      for (auto& a : actors)
        if (a) self->send_exit(a, caf::exit_reason::kill);
    } else {
      std::optional<job_checkpoints> checkpoints;
      if (cp_opts.enabled() || (cp_opts.savepoint_on_stop && store)) {
        auto last = restored ? restored->from.id() : checkpoint_id{};
        if (last < history.last_triggered()) last = history.last_triggered();
        checkpoints.emplace(self, t.name(), plan, store, cp_opts, last, &view);
        checkpoints->set_actors(actors);
      }
      log->info("job '{}': {} subtasks on {} node(s), {} channels; starting",
                t.name(), plan.subtasks.size(), nodes.size(),
                plan.channels.size());
      wire_subtasks(self, plan, actors);
      view.set_local(metrics);
      view.set_status(observe::job_status::running);
      std::function<void(double)> on_flowing;
      if (registered_at) {
        auto since = *registered_at;
        log->info("recovery: subtasks deployed, restored and wired {:.3f} s "
                  "after the last worker registered",
                  seconds_since(since));
        auto every = std::chrono::duration_cast<std::chrono::milliseconds>(
            report_interval(opts));
        on_flowing = [log, since, every](double) {
          log->info("recovery: records flowing again {:.3f} s after the "
                    "last worker registered (seen in the subtasks' reports, "
                    "every {} ms)",
                    seconds_since(since), every.count());
        };
      }
      r = supervise(self, plan, actors, metrics, opts, stop, on_down, &view,
                    checkpoints ? &*checkpoints : nullptr, on_flowing);
    }
    restored.reset();
    registered_at.reset();
    if (auto p = history.add(r)) recovery.on_checkpoint_completed(*p);
    r.restarts = recovery.restarts();
    if (r.ok) {
      finish_workers(true);
      return report(t.name(), r);
    }
    if (lost_node.empty()) {
      // A subtask of a lost node usually reports first: name the node too.
      for (int i = 0; i < 5 && lost_node.empty(); ++i)
        self->receive([&](caf::down_msg& dm) { on_down(dm); },
                      caf::after(std::chrono::milliseconds(100)) >> [] {});
      if (!lost_node.empty()) log->error("{}", lost_node);
    }
    // Every subtask is gone before the job runs again (on every node:
    // supervise killed them), and every lost node is forgotten.
    await_termination(self, actors, std::chrono::seconds(30),
                      [&](const caf::down_msg& dm) { on_down(dm); });
    workers.erase(std::remove_if(workers.begin(), workers.end(),
                                 [&](const worker_info& w) {
                                   return std::find(lost_agents.begin(),
                                                    lost_agents.end(),
                                                    w.agent.address()) !=
                                          lost_agents.end();
                                 }),
                  workers.end());

    auto step = recovery.on_run_end(outcome_of(r, stop), steady_ms(),
                                    registered_slots());
    if (step.action == checkpoint::recovery_action::wait) {
      view.set_status(observe::job_status::deploying);
      log->warn("job '{}': recovering: waiting up to {} ms (cluster."
                "recovery-timeout, after the restart backoff) for {} slots, "
                "{} registered",
                t.name(), step.wait.count(), recovery.slots_needed(),
                registered_slots());
    }
    while (step.action == checkpoint::recovery_action::wait) {
      if (stop && stop->load()) {
        log->info("stop requested during the recovery: job ends");
        break;
      }
      auto wait = std::clamp(step.wait, std::chrono::milliseconds(1),
                             std::chrono::milliseconds(100));
      self->receive(
          on_register, forget_worker,
          [&](node_atom, std::string& node, observe::process_sample& p) {
            view.on_node(node, p, wall_clock_ms());
          },
          // Late messages of the killed subtasks: the run they belong to is
          // over.
          [](done_atom, uint32_t, subtask_totals&) {},
          [](report_atom, uint32_t, subtask_totals&, bool) {},
          [](failed_atom, uint32_t, std::string&) {},
          [](config_failed_atom, uint32_t, std::string&) {},
          [](cp_ack_atom, uint32_t, uint64_t, std::string&) {},
          [](cp_decline_atom, uint32_t, uint64_t, std::string&) {},
          caf::after(wait) >> [] {});
      step = recovery.poll(steady_ms(), registered_slots());
    }
    if (step.action != checkpoint::recovery_action::redeploy) {
      if (!step.reason.empty())
        log->error("job '{}': not recovered: {}", t.name(), step.reason);
      finish_workers(false);
      return report(t.name(), r);
    }
    auto& from = step.restart.from;
    log->warn("job '{}': recovery {} of {}: redeploying on {} slots from {}; "
              "cause: {}",
              t.name(), step.restart.attempt, step.restart.max_attempts,
              registered_slots(), describe_restart_from(from), r.error);
    view.count_restart();
    if (from)
      run_cp_opts.restore =
          store->directory(from->id, from->savepoint).string();
    restored = load_restore(run_cp_opts, store.get(), plan);
  }
}

} // namespace

settings_map job_settings(const settings_map& all) {
  static const char* const node_groups[] = {
      "cluster",   "openssl", "global",        "logger", "middleman",
      "scheduler", "stream",  "work-stealing", "opencl", "caf"};
  static const char* const node_keys[] = {"flow.log-level", "flow.log-format",
                                          "flow.threads",   "flow.scheduler",
                                          "flow.http-port", "flow.http-host"};
  settings_map out;
  for (auto& [key, value] : all) {
    auto dot = key.find('.');
    if (dot == std::string::npos) continue;
    auto group = key.substr(0, dot);
    bool own = std::any_of(std::begin(node_groups), std::end(node_groups),
                           [&](const char* g) { return group == g; }) ||
               std::any_of(std::begin(node_keys), std::end(node_keys),
                           [&](const char* k) { return key == k; });
    if (!own) out.emplace(key, value);
  }
  return out;
}

std::vector<std::string> differing_job_settings(const settings_map& coordinator,
                                                const settings_map& worker) {
  std::vector<std::string> out;
  for (auto& [key, value] : worker) {
    auto there = coordinator.find(key);
    if (there == coordinator.end())
      out.push_back(key + " = \"" + value +
                    "\" here, unset on the coordinator");
    else if (there->second != value)
      out.push_back(key + " = \"" + value + "\" here, \"" + there->second +
                    "\" on the coordinator");
  }
  return out;
}

std::vector<uint32_t> place(const physical_plan& plan,
                            const std::vector<node_slots>& nodes) {
  std::vector<uint32_t> slot_node;
  for (uint32_t n = 0; n < nodes.size(); ++n)
    for (uint32_t s = 0; s < nodes[n].slots; ++s)
      slot_node.push_back(n);
  std::vector<uint32_t> out(plan.subtasks.size());
  for (auto& s : plan.subtasks) {
    auto slot = s.slot_base + s.index;
    if (slot >= slot_node.size())
      throw config_failure(
          "operator " + s.operator_name + " needs slot " +
          std::to_string(slot) + " (slot group base " +
          std::to_string(s.slot_base) + " + parallelism " +
          std::to_string(s.parallelism) + ") but the cluster has only " +
          std::to_string(slot_node.size()) +
          " slots (cluster.slots of the coordinator and of each worker; "
          "or lower flow.parallelism)");
    out[s.id.value()] = slot_node[slot];
  }
  return out;
}

int run_node(const topology& t, node_config& cfg, const cluster_options& co,
             const std::vector<std::string>& args,
             const std::atomic<bool>* stop) {
  if (co.role == "worker") return run_worker(t, cfg, co, args, stop);
  return run_coordinator(t, cfg, co, stop);
}

} // namespace flow::runtime

#pragma once

#include "flow/runtime/job.hpp"
#include "flow/settings.hpp"
#include "flow/topology.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace flow::runtime {

class node_config;

/// The `cluster` options of a node (see conf/cluster/).
struct cluster_options {
  /// standalone (a single-node cluster), coordinator or worker.
  std::string role = "standalone";
  /// Name of this node in logs and placement.
  std::string name;
  /// Address this node listens on (coordinator: for workers; worker: for
  /// peers' direct connections). Loopback by default: without TLS the
  /// cluster must be on a trusted network.
  std::string host = "127.0.0.1";
  /// Listen port; 0 picks a free one (workers).
  uint16_t port = 0;
  /// Where workers find the coordinator.
  std::string coordinator_host = "127.0.0.1";
  uint16_t coordinator_port = 4100;
  /// Pipeline slices this node runs: subtask i of every operator goes to
  /// slot i. The coordinator runs subtasks only if it has slots.
  uint32_t slots = 1;
  /// Workers the coordinator waits for before it starts the job.
  uint32_t workers = 0;
  /// Seconds a worker keeps retrying to reach the coordinator, and the
  /// coordinator waits for workers to register.
  uint32_t connect_timeout_s = 60;
  /// How long the coordinator of a job that lost a worker waits for the
  /// slots to run it again (the worker restarted, or a spare, registering)
  /// before the job fails; the wait ends early once they are there.
  std::chrono::milliseconds recovery_timeout = std::chrono::seconds(60);
  /// TLS for remoting (libcaf_openssl); certificate, key and CA come from
  /// the openssl.* options.
  bool tls = false;
  /// Listen on a non-loopback cluster.host without TLS (logged as a
  /// warning): any process that reaches the port can join the cluster.
  bool allow_insecure = false;
};

/// True for addresses only this machine reaches: 127.0.0.0/8, ::1,
/// localhost.
bool is_loopback(const std::string& host);

/// One node's share of a placement.
struct node_slots {
  std::string name;
  uint32_t slots = 0;
};

/// Assigns subtask i of every operator to global slot slot_base + i (see
/// stream::slot_group), slots numbered over `nodes` in order. Returns the node
/// index per subtask (plan order). Throws config_failure (exit 2, naming
/// cluster.slots) if an operator's parallelism exceeds the number of
/// slots.
std::vector<uint32_t> place(const physical_plan& plan,
                            const std::vector<node_slots>& nodes);

/// The job configuration in `all` (a node's configured values): every key
/// but the node's own - its cluster.* and openssl.* options, CAF's groups,
/// flow.log-level, flow.log-format, flow.threads, flow.scheduler and the
/// HTTP endpoints' flow.http-port and flow.http-host. In a cluster the
/// coordinator's job configuration is the one that counts: workers run
/// their subtasks with it.
settings_map job_settings(const settings_map& all);

/// The job options a worker set itself (`worker`, its job_settings) that
/// disagree with the coordinator's (`coordinator`): set there to another
/// value, or not set there (the coordinator's default counts). Each entry
/// names the key and both values, e.g. `kafka.bootstrap = "a:9092" here,
/// unset on the coordinator`. Empty: the worker may join.
std::vector<std::string> differing_job_settings(const settings_map& coordinator,
                                                const settings_map& worker);

/// Runs this node's part of the job according to its cluster role and
/// returns the process exit code (see flow/run.hpp).
int run_node(const topology& t, node_config& cfg, const cluster_options& co,
             const std::vector<std::string>& args,
             const std::atomic<bool>* stop);

} // namespace flow::runtime

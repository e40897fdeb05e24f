#pragma once

#include "flow/checkpoint/options.hpp"
#include "flow/on_error.hpp"
#include "flow/option.hpp"
#include "flow/plan.hpp"
#include "flow/settings.hpp"
#include "flow/state_backend.hpp"
#include "flow/subtask_core.hpp"

#include <chrono>
#include <string>

namespace flow {

/// Everything a job run can be configured with. The member initializers
/// here (and in plan_options, channel_options, checkpoint::options) are the
/// defaults of the `flow.*` options: job_options.cpp declares those options
/// with them.
struct job_options {
  plan_options plan;
  channel_options channels;
  /// A partially filled batch waits at most this long before it is sent.
  std::chrono::nanoseconds flush_interval = std::chrono::milliseconds(5);
  /// Period of the status line; zero disables it.
  std::chrono::nanoseconds status_interval = std::chrono::seconds(5);
  /// Records a source emits per poll before it yields to other messages.
  size_t source_poll_records = 4096;
  /// spdlog level: trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
  /// Worker threads of the actor system; 0 = one per CPU this process may
  /// run on (scheduler_threads()).
  size_t threads = 0;
  /// CAF scheduler policy: "sharing" (one shared queue; idle workers block
  /// and wake at once) or "stealing" (work stealing; idle workers poll and
  /// sleep between steal attempts, which costs CPU and latency at low load:
  /// bench/RESULTS.md).
  std::string scheduler = "sharing";
  /// Port of this process's HTTP endpoints (/metrics, /api/v1, the web
  /// UI); 0 turns them off. Per node: never sent to workers.
  uint16_t http_port = 8081;
  /// Address the HTTP endpoints listen on; loopback by default (they are
  /// unauthenticated).
  std::string http_host = "127.0.0.1";
  /// Log lines as `text` (for people) or `json` (one object per line, for
  /// log shippers).
  std::string log_format = "text";
  /// What operators and sinks without a policy of their own
  /// (stream::on_error) do with a record their user code throws on or
  /// their sink cannot write.
  flow::on_error on_error = flow::on_error::fail;
  /// Checkpoints, restore and restarts (`flow.checkpoint-*`, ...).
  checkpoint::options checkpoints;
  /// Where keyed state lives (`flow.state-*`).
  state_options state;
  /// Every configured value as text, by key ("kafka.bootstrap"); options
  /// left unset are absent (flow::option::get supplies their defaults).
  /// Connectors and the job's own code read their options here.
  settings_map settings;

  /// The `flow.*` options of `s` (defaults where unset), with `s` as
  /// settings. `s` must have passed option_schema::global().check().
  static job_options from(const settings_map& s);
};

/// The flow.checkpoint-interval option, for the rules of other modules
/// that depend on it (kafka.delivery = exactly-once).
const option<std::chrono::nanoseconds>& checkpoint_interval_option();

/// How often subtasks report their counters to the job (status line, the
/// coordinator's HTTP endpoints): every second, or at the status interval
/// if that is shorter; zero (never) if the node has neither a status line
/// nor HTTP endpoints.
std::chrono::nanoseconds report_interval(const job_options& o);

/// The actor system's worker threads: `o.threads`, or with 0 the CPUs the
/// calling thread may run on (its affinity mask: `taskset -c 1` gives 1;
/// a cgroup CPU quota is not seen), at least 1. CAF's own default, max(cores,
/// 4) whatever the mask, ran W1 on four workers taking turns on one pinned
/// core, at about 1.09x the CPU per record of one worker (bench/RESULTS.md).
size_t scheduler_threads(const job_options& o);

} // namespace flow

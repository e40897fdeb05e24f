#include "flow/job_options.hpp"

#include <algorithm>
#include <thread>

#include <sched.h>

namespace flow {

namespace {

const job_options defaults{};

/// The `flow.*` options (named apart from job_options' members).
namespace opt {

const option<int64_t> parallelism{
    "flow.parallelism", defaults.plan.default_parallelism,
    "Parallelism of operators that set none (sources and sinks too).",
    in_range(1, 4096)};
const option<int64_t> max_parallelism{
    "flow.max-parallelism", defaults.plan.max_parallelism,
    "Number of key groups: keys hash into this many groups, the unit of "
    "keyed state; no operator may have a higher parallelism. Fixed for a "
    "job's lifetime: a checkpoint restores only into the same number.",
    in_range(1, 32768)};
const option<int64_t> batch_size{
    "flow.batch-size", static_cast<int64_t>(defaults.channels.batch_size),
    "Records per batch on a channel: a batch is sent when it is full, when "
    "its subtask has nothing else to do, or after flush-interval.",
    in_range(1, 1 << 20)};
const option<std::chrono::nanoseconds> flush_interval{
    "flow.flush-interval", defaults.flush_interval,
    "Longest wait of a partially filled batch (bounds latency at low load).",
    in_range(std::chrono::nanoseconds(1), std::chrono::seconds(60))};
const option<int64_t> credit_window{
    "flow.credit-window", defaults.channels.credit_window,
    "Batches a sender may have unacknowledged per channel; a subtask's "
    "input memory is bounded by credit-window * batch-size records per "
    "input channel.",
    in_range(1, 1024)};
const option<int64_t> credit_return{
    "flow.credit-return", defaults.channels.credit_return,
    "Credits a receiver returns at once while more input is queued (all at "
    "once when its queue runs empty); at most credit-window.",
    in_range(1, 1024)};
const option<std::chrono::nanoseconds> credit_debloat_target{
    "flow.credit-debloat-target", defaults.channels.debloat_target,
    "Buffer debloating: each input channel's credit window shrinks to the "
    "batches its subtask processes in this time (never above "
    "credit-window), so a slow consumer keeps about this much input queued "
    "and a checkpoint barrier waits about this long per channel; 0s keeps "
    "the full window.",
    zero_or_in_range(std::chrono::milliseconds(1), std::chrono::seconds(60))};
const option<int64_t> source_poll_records{
    "flow.source-poll-records",
    static_cast<int64_t>(defaults.source_poll_records),
    "Records a source emits per turn before other messages get a chance.",
    at_least(1)};
const option<std::chrono::nanoseconds> status_interval{
    "flow.status-interval", defaults.status_interval,
    "Period of the status line (records/s per operator, who is blocked on "
    "credit); 0s disables it.",
    at_least(std::chrono::nanoseconds(0))};
const option<std::string> log_level{
    "flow.log-level", defaults.log_level, "Level of the log.",
    one_of({"trace", "debug", "info", "warn", "error", "critical", "off"})};
const option<int64_t> threads{
    "flow.threads", static_cast<int64_t>(defaults.threads),
    "Scheduler threads of the actor system; 0: one per CPU the process may "
    "run on (its affinity mask, as taskset sets it; a container's CPU quota "
    "is not counted). With one, operators take turns: only sources show "
    "backpressure.",
    in_range(0, 256)};
const option<std::string> scheduler{
    "flow.scheduler", defaults.scheduler,
    "CAF scheduler policy: sharing (one queue; idle workers block and wake "
    "at once) or stealing (idle workers poll and sleep between steal "
    "attempts: more CPU at low load, longer tails; bench/RESULTS.md).",
    one_of({"sharing", "stealing"})};
const option<std::chrono::nanoseconds> idle_timeout{
    "flow.idle-timeout", defaults.channels.idle_timeout,
    "Event time: a caught-up source split (a Kafka partition) without "
    "records for this long is idle: it stops holding the watermark back "
    "until data arrives again; 0s: never.",
    zero_or_in_range(std::chrono::milliseconds(1), std::chrono::hours(24))};
const option<std::chrono::nanoseconds> watermark_interval{
    "flow.watermark-interval", defaults.channels.watermark_interval,
    "Sources emit a generated watermark at most this often; 0s: after every "
    "poll in which it advanced.",
    at_least(std::chrono::nanoseconds(0))};
const option<int64_t> http_port{
    "flow.http-port", defaults.http_port,
    "Port of this process's HTTP endpoints: /metrics (Prometheus), "
    "/api/v1/job, /api/v1/rates, /api/v1/checkpoints, /healthz, /readyz and "
    "the web UI at /; 0: none. Per node.",
    in_range(0, 65535)};
const option<std::string> http_host{
    "flow.http-host", defaults.http_host,
    "Address the HTTP endpoints listen on. They are unauthenticated: keep "
    "loopback unless the network is trusted.",
    valid_if([](const std::string& h) { return !h.empty(); },
             "an IP address to listen on, e.g. 127.0.0.1")};
const option<std::string> log_format{
    "flow.log-format", defaults.log_format,
    "Log lines as text (for people) or json (one object per line with time, "
    "level, logger, thread and msg, for log shippers).",
    one_of({"text", "json"})};
const option<std::string> on_error{
    "flow.on-error", to_string(defaults.on_error),
    "What an operator or sink without a policy of its own "
    "(stream::on_error) does with a record its user function throws on or "
    "its sink cannot write (unserializable, too large): fail (the job "
    "fails, naming operator, subtask, exception type and message), "
    "dead-letter (the record goes to the dead-letter destination with its "
    "provenance, counted; kafka.dead-letter-topic) or skip (dropped, "
    "counted and logged).",
    one_of({"fail", "dead-letter", "skip"})};

const option<std::string> checkpoint_dir{
    "flow.checkpoint-dir", defaults.checkpoints.dir,
    "Directory of the job's checkpoints (created if missing; a shared "
    "filesystem path for several nodes). A job started again with the same "
    "directory restores its latest complete checkpoint (see flow.restore)."};
const option<std::chrono::nanoseconds> checkpoint_interval{
    "flow.checkpoint-interval", defaults.checkpoints.interval,
    "Period between checkpoints (aligned barriers from the sources; state "
    "and source positions written to flow.checkpoint-dir); 0s: none.",
    zero_or_in_range(std::chrono::milliseconds(1), std::chrono::hours(24))};
const option<std::chrono::nanoseconds> checkpoint_timeout{
    "flow.checkpoint-timeout", defaults.checkpoints.timeout,
    "A checkpoint not acknowledged by every subtask this long after its "
    "trigger is aborted (the job goes on; the next one is triggered).",
    in_range(std::chrono::milliseconds(1), std::chrono::hours(24))};
const option<int64_t> checkpoints_retained{
    "flow.checkpoints-retained", defaults.checkpoints.retained,
    "Complete checkpoints kept in flow.checkpoint-dir; older ones are "
    "deleted.",
    in_range(1, 1000)};
const option<std::string> restore{
    "flow.restore", defaults.checkpoints.restore,
    "What the job starts from: latest (the latest complete checkpoint in "
    "flow.checkpoint-dir, if any), none (fresh state, positions from the "
    "sources' own settings), or the path of a checkpoint directory.",
    valid_if([](const std::string& v) { return !v.empty(); },
             "latest, none or a checkpoint directory")};

const option<int64_t> restart_attempts{
    "flow.restart-attempts", no_default,
    "Times a failed job (a user function threw, a connector gave up) "
    "restarts from its latest complete checkpoint without a checkpoint "
    "completing in between; then it fails (exit 1). A configuration error "
    "(exit 2) never restarts. Unset: " +
        std::to_string(checkpoint::options::default_restart_attempts) +
        " when flow.checkpoint-interval > 0s, else 0 (a restart without "
        "checkpoints starts over from the sources' own positions).",
    in_range(0, 1000)};
const option<std::chrono::nanoseconds> restart_backoff{
    "flow.restart-backoff", defaults.checkpoints.restart_backoff,
    "Wait before the first restart after a failure; it doubles with each "
    "further restart, up to flow.restart-backoff-max.",
    in_range(std::chrono::milliseconds(1), std::chrono::hours(1))};
const option<std::chrono::nanoseconds> restart_backoff_max{
    "flow.restart-backoff-max", defaults.checkpoints.restart_backoff_max,
    "Longest wait before a restart (>= flow.restart-backoff).",
    in_range(std::chrono::milliseconds(1), std::chrono::hours(24))};

const option<bool> savepoint_on_stop{
    "flow.savepoint-on-stop", defaults.checkpoints.savepoint_on_stop,
    "On a stop request (SIGTERM, SIGINT) the sources stop at a savepoint "
    "barrier; the job drains, writes <flow.checkpoint-dir>/savepoint-<id> "
    "(never deleted by retention; --flow.restore=that directory resumes "
    "it) and exits 0; if the savepoint cannot be written the job still "
    "stops, and exits 1. A stop after a subtask has finished takes none "
    "(a warning)."};

const option<std::string> state_backend_kind{
    "flow.state-backend", defaults.state.backend,
    "Where keyed state lives: memory, or rocksdb (running reduces, "
    "aggregates and process functions keep flow.state-cache-entries keys "
    "per subtask in memory and spill the rest to an embedded RocksDB in "
    "flow.state-dir; windows and joins stay in memory). Checkpoints are "
    "the same either way.",
    one_of({"memory", "rocksdb"})};
const option<std::string> state_dir{
    "flow.state-dir", defaults.state.dir,
    "Local scratch directory of the rocksdb state backend (a subdirectory "
    "per process run, removed when it ends); empty: the system's temporary "
    "directory."};
const option<int64_t> state_cache_entries{
    "flow.state-cache-entries",
    static_cast<int64_t>(defaults.state.cache_entries),
    "rocksdb backend: keys a keyed state of one subtask keeps decoded in "
    "memory; beyond that they are written to RocksDB between two batches.",
    in_range(1, int64_t{1} << 32)};
const option<int64_t> state_memory{
    "flow.state-memory", static_cast<int64_t>(defaults.state.memory),
    "rocksdb backend: bytes of block cache and write buffers of one "
    "process, shared by all its subtasks' stores.",
    in_range(int64_t{1} << 20, int64_t{1} << 40)};

} // namespace opt

using namespace opt;

const option_check parallelism_within_key_groups{
    [](const settings_map& s) -> std::optional<config_error> {
      if (parallelism.get(s) > max_parallelism.get(s))
        return config_error{parallelism.key(),
                            std::to_string(parallelism.get(s)),
                            "at most flow.max-parallelism (" +
                                std::to_string(max_parallelism.get(s)) + ")"};
      return std::nullopt;
    }};
const option_check credit_return_within_window{
    [](const settings_map& s) -> std::optional<config_error> {
      if (credit_return.get(s) > credit_window.get(s))
        return config_error{
            credit_return.key(), std::to_string(credit_return.get(s)),
            "an integer in [1, flow.credit-window] (credit-window is " +
                std::to_string(credit_window.get(s)) + ")"};
      return std::nullopt;
    }};

const option_check checkpoints_need_a_directory{
    [](const settings_map& s) -> std::optional<config_error> {
      if (checkpoint_interval.get(s).count() > 0 &&
          checkpoint_dir.get(s).empty())
        return config_error{checkpoint_dir.key(), checkpoint_dir.get(s),
                            "a directory (flow.checkpoint-interval is " +
                                format_duration(checkpoint_interval.get(s)) +
                                ")"};
      return std::nullopt;
    }};
const option_check restart_backoff_within_max{
    [](const settings_map& s) -> std::optional<config_error> {
      if (restart_backoff.get(s) > restart_backoff_max.get(s))
        return config_error{
            restart_backoff.key(), format_duration(restart_backoff.get(s)),
            "at most flow.restart-backoff-max (" +
                format_duration(restart_backoff_max.get(s)) + ")"};
      return std::nullopt;
    }};
const option_check savepoints_need_a_directory{
    [](const settings_map& s) -> std::optional<config_error> {
      if (savepoint_on_stop.get(s) && checkpoint_dir.get(s).empty())
        return config_error{checkpoint_dir.key(), checkpoint_dir.get(s),
                            "a directory (flow.savepoint-on-stop is true)"};
      return std::nullopt;
    }};
std::chrono::milliseconds to_ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

} // namespace

std::chrono::nanoseconds report_interval(const job_options& o) {
  std::chrono::nanoseconds second = std::chrono::seconds(1);
  if (o.status_interval.count() > 0) return std::min(o.status_interval, second);
  return o.http_port > 0 ? second : std::chrono::nanoseconds::zero();
}

size_t scheduler_threads(const job_options& o) {
  if (o.threads > 0) return o.threads;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0)
    return std::max(1, CPU_COUNT(&mask));
  return std::max(1u, std::thread::hardware_concurrency());
}

const option<std::chrono::nanoseconds>& checkpoint_interval_option() {
  return opt::checkpoint_interval;
}

job_options job_options::from(const settings_map& s) {
  job_options o;
  o.state.backend = state_backend_kind.get(s);
  o.state.dir = state_dir.get(s);
  o.state.cache_entries = static_cast<size_t>(state_cache_entries.get(s));
  o.state.memory = static_cast<size_t>(state_memory.get(s));
  o.plan.default_parallelism = static_cast<uint32_t>(parallelism.get(s));
  o.plan.max_parallelism = static_cast<uint32_t>(max_parallelism.get(s));
  o.channels.batch_size = static_cast<size_t>(batch_size.get(s));
  o.channels.credit_window = static_cast<uint32_t>(credit_window.get(s));
  o.channels.credit_return = static_cast<uint32_t>(credit_return.get(s));
  o.channels.debloat_target = credit_debloat_target.get(s);
  o.channels.idle_timeout = opt::idle_timeout.get(s);
  o.channels.watermark_interval = opt::watermark_interval.get(s);
  o.flush_interval = opt::flush_interval.get(s);
  o.status_interval = opt::status_interval.get(s);
  o.source_poll_records = static_cast<size_t>(opt::source_poll_records.get(s));
  o.log_level = opt::log_level.get(s);
  o.threads = static_cast<size_t>(opt::threads.get(s));
  o.scheduler = opt::scheduler.get(s);
  auto& cp = o.checkpoints;
  cp.dir = checkpoint_dir.get(s);
  cp.interval = to_ms(checkpoint_interval.get(s));
  cp.timeout = to_ms(checkpoint_timeout.get(s));
  cp.retained = static_cast<uint32_t>(checkpoints_retained.get(s));
  cp.restore = opt::restore.get(s);
  if (restart_attempts.is_set(&s))
    cp.restart_attempts = static_cast<uint32_t>(restart_attempts.get(s));
  cp.savepoint_on_stop = savepoint_on_stop.get(s);
  cp.restart_backoff = to_ms(restart_backoff.get(s));
  cp.restart_backoff_max = to_ms(restart_backoff_max.get(s));
  o.http_port = static_cast<uint16_t>(opt::http_port.get(s));
  o.http_host = opt::http_host.get(s);
  o.log_format = opt::log_format.get(s);
  o.on_error = *parse_on_error(opt::on_error.get(s));
  o.settings = s;
  return o;
}

} // namespace flow

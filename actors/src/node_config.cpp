#include "flow/runtime/node_config.hpp"

#include "flow/runtime/option_registry.hpp"

#include <caf/config_option.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/settings.hpp>

#include <limits>
#include <sstream>

namespace flow::runtime {

namespace {

/// Turns a parsed config file into `--group.key=value` arguments, so that
/// CAF's command-line parser type-checks file and CLI alike.
void flatten(const caf::settings& xs, const std::string& prefix,
             std::vector<std::string>& out) {
  for (auto& kv : xs) {
    auto key = prefix.empty() ? kv.first : prefix + "." + kv.first;
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      flatten(*sub, key, out);
    else if (auto ts = caf::get_if<caf::timespan>(&kv.second))
      // caf::to_string renders a zero duration as "0d", which the CLI
      // parser rejects.
      out.push_back("--" + key + "=" + std::to_string(ts->count()) + "ns");
    else if (auto flag = caf::get_if<bool>(&kv.second)) {
      // CAF's CLI takes boolean options as bare flags; every boolean
      // option defaults to false.
      if (*flag) out.push_back("--" + key);
    } else
      out.push_back("--" + key + "=" + caf::to_string(kv.second));
  }
}

std::string argument_of(const caf::error& err) {
  // CAF's CLI parser errors carry {"argument" = "--key=value"}.
  auto text = caf::to_string(err.context());
  auto pos = text.find("--");
  if (pos == std::string::npos) return {};
  auto end = text.find('"', pos);
  auto arg = text.substr(pos, end == std::string::npos ? end : end - pos);
  // Unescape \" that to_string added around string values.
  std::string clean;
  for (size_t i = 0; i < arg.size(); ++i)
    if (!(arg[i] == '\\' && i + 1 < arg.size())) clean += arg[i];
  return clean;
}

/// All configured values as text, strings without quotes.
void to_settings_map(const caf::settings& xs, const std::string& prefix,
                     settings_map& out) {
  for (auto& kv : xs) {
    auto key = prefix.empty() ? kv.first : prefix + "." + kv.first;
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      to_settings_map(*sub, key, out);
    else if (auto str = caf::get_if<std::string>(&kv.second))
      out[key] = *str;
    else if (auto ts = caf::get_if<caf::timespan>(&kv.second))
      out[key] = std::to_string(ts->count()) + "ns";
    else
      out[key] = caf::to_string(kv.second);
  }
}

} // namespace

node_config::node_config() {
  opt_group{custom_options_, "flow"}
      .add(parallelism_, "parallelism",
           "default parallelism of operators that set none")
      .add(max_parallelism_, "max-parallelism",
           "number of key groups (upper bound of any parallelism)")
      .add(batch_size_, "batch-size", "records per batch on a channel")
      .add(credit_window_, "credit-window",
           "batches a sender may have unacknowledged per channel")
      .add(credit_return_, "credit-return",
           "credits a receiver returns at once while input is queued")
      .add(flush_interval_, "flush-interval",
           "longest wait of a partially filled batch, e.g. 5ms")
      .add(status_interval_, "status-interval",
           "period of the status line, e.g. 5s; 0s disables it")
      .add(source_poll_records_, "source-poll-records",
           "records a source emits per turn before yielding")
      .add(log_level_, "log-level",
           "trace, debug, info, warn, error, critical or off")
      .add(threads_, "threads", "scheduler threads; 0 = one per core")
      .add(options_.channels.idle_timeout, "idle-timeout",
           "input channel or source split without data for this long stops "
           "holding the watermark back, e.g. 10s; 0s: never")
      .add(options_.scheduler, "scheduler",
           "CAF scheduler policy: stealing or sharing")
      .add(options_.channels.watermark_interval, "watermark-interval",
           "sources emit generated watermarks at most this often, e.g. 200ms")
      .add(http_port_, "http-port",
           "port of /metrics, /api/v1 and the web UI; 0 turns them off")
      .add(options_.http_host, "http-host",
           "address the HTTP endpoints listen on (unauthenticated: loopback "
           "unless the network is trusted)")
      .add(options_.log_format, "log-format",
           "text, or json (one JSON object per line, for log shippers)");
  opt_group{custom_options_, "cluster"}
      .add(cluster_.role, "role", "standalone, coordinator or worker")
      .add(cluster_.name, "name", "node name (default: role@host:port)")
      .add(
          cluster_.host, "host",
          "listen address; loopback unless the network is trusted or TLS is on")
      .add(port_, "port", "listen port (coordinator: for workers; 0: any)")
      .add(cluster_.coordinator_host, "coordinator-host",
           "where workers reach the coordinator")
      .add(coordinator_port_, "coordinator-port", "the coordinator's port")
      .add(slots_, "slots",
           "pipeline slices this node runs (subtask i of each operator -> slot "
           "i)")
      .add(workers_, "workers",
           "workers the coordinator waits for before starting the job")
      .add(connect_timeout_s_, "connect-timeout",
           "seconds to keep trying to reach the coordinator / to wait for "
           "workers")
      .add(cluster_.tls, "tls",
           "TLS for remoting; certificate, key and CA from openssl.*");
  for (auto& g : registered_option_groups()) {
    caf::config_option_adder adder{custom_options_, g.name};
    g.declare(adder);
  }
}

bool node_config::is_flag(const std::string& arg) const {
  if (arg.rfind("--", 0) != 0) return false;
  auto opt =
      custom_options_.cli_long_name_lookup(caf::string_view(arg).substr(2));
  return opt != nullptr && opt->is_flag();
}

bool node_config::has_tls_files() const {
  for (auto key : {"certificate", "key", "cafile"}) {
    auto v = caf::get_if<std::string>(&content, std::string("openssl.") + key);
    if (!v || v->empty()) return false;
  }
  return true;
}

std::string node_config::help() const {
  std::ostringstream os;
  os << "options (config file: --config-file=PATH, same keys as below):\n";
  for (auto& opt : custom_options_) {
    auto cat = std::string(opt.category().data(), opt.category().size());
    // CAF's own groups (scheduler, middleman, ...) are in --long-help of
    // CAF; openssl.* is listed because cluster.tls needs it.
    static constexpr const char* caf_groups[] = {
        "global", "logger",        "middleman", "scheduler",
        "stream", "work-stealing", "opencl",    "caf"};
    bool caf_own = false;
    for (auto g : caf_groups)
      caf_own = caf_own || cat == g;
    if (caf_own) continue;
    auto name = "--" + cat + "." +
                std::string(opt.long_name().data(), opt.long_name().size());
    os << "  " << name << "=<" << opt.type_name() << ">";
    for (auto n = name.size() + opt.type_name().size() + 3; n < 44; ++n)
      os << ' ';
    os << ' ' << std::string(opt.description().data(), opt.description().size())
       << '\n';
  }
  return os.str();
}

node_config::outcome node_config::load(const std::vector<std::string>& args) {
  std::vector<std::string> cli;
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--help" || a == "-h") {
      message_ = help();
      return outcome::help;
    }
    if (a.rfind("--config-file=", 0) == 0) {
      file = a.substr(14);
    } else if (a == "--config-file" && i + 1 < args.size()) {
      file = args[++i];
    } else if (auto eq = a.find('=');
               eq != std::string::npos && is_flag(a.substr(0, eq))) {
      // CAF takes boolean options only as bare flags; accept
      // --key=true/false too.
      auto v = a.substr(eq + 1);
      if (v == "true")
        cli.push_back(a.substr(0, eq));
      else if (v != "false")
        cli.push_back(a); // let CAF reject it with the key named
    } else {
      cli.push_back(a);
    }
  }
  std::vector<std::string> all;
  if (!file.empty()) {
    auto parsed = caf::actor_system_config::parse_config_file(file.c_str());
    if (!parsed) {
      message_ = "invalid config: cannot read config file " + file + ": " +
                 render(parsed.error());
      return outcome::error;
    }
    flatten(*parsed, "", all);
  }
  all.insert(all.end(), cli.begin(), cli.end());
  std::istringstream no_ini;
  if (auto err = parse(all, no_ini)) {
    auto arg = argument_of(err);
    auto key = arg.substr(0, arg.find('='));
    std::string expected = "a known option (see --help)";
    if (auto opt = custom_options_.cli_long_name_lookup(
            caf::string_view(key).substr(std::min<size_t>(2, key.size()))))
      expected = "a value of type " +
                 std::string(opt->type_name().data(), opt->type_name().size());
    message_ = "invalid config: " + (arg.empty() ? render(err) : arg) +
               (file.empty() ? "" : " (config file " + file + " or CLI)") +
               ": expected " + expected;
    return outcome::error;
  }
  if (!remainder.empty()) {
    message_ = "invalid config: unexpected argument '" + remainder.front() +
               "': expected --flow.key=value options (see --help)";
    return outcome::error;
  }
  options_.plan.default_parallelism = static_cast<uint32_t>(parallelism_);
  options_.plan.max_parallelism = static_cast<uint32_t>(max_parallelism_);
  options_.channels.batch_size = batch_size_;
  options_.channels.credit_window = static_cast<uint32_t>(credit_window_);
  options_.channels.credit_return = static_cast<uint32_t>(credit_return_);
  options_.flush_interval = flush_interval_;
  options_.status_interval = status_interval_;
  options_.source_poll_records = source_poll_records_;
  options_.log_level = log_level_;
  options_.threads = threads_;
  options_.http_port = static_cast<uint32_t>(
      std::min<size_t>(http_port_, std::numeric_limits<uint32_t>::max()));
  cluster_.port = static_cast<uint16_t>(port_);
  cluster_.coordinator_port = static_cast<uint16_t>(coordinator_port_);
  cluster_.slots = static_cast<uint32_t>(slots_);
  cluster_.workers = static_cast<uint32_t>(workers_);
  cluster_.connect_timeout_s = static_cast<uint32_t>(connect_timeout_s_);
  auto bad_cluster = [&](std::string key, std::string value,
                         std::string expected) {
    message_ = config_error{"cluster." + std::move(key), std::move(value),
                            std::move(expected)}
                   .message();
    return outcome::error;
  };
  if (cluster_.role != "standalone" && cluster_.role != "coordinator" &&
      cluster_.role != "worker")
    return bad_cluster("role", "\"" + cluster_.role + "\"",
                       "standalone, coordinator or worker");
  if (port_ > 65535)
    return bad_cluster("port", std::to_string(port_), "a port in [0, 65535]");
  if (coordinator_port_ == 0 || coordinator_port_ > 65535)
    return bad_cluster("coordinator-port", std::to_string(coordinator_port_),
                       "a port in [1, 65535]");
  if (slots_ > 4096 || (cluster_.role == "worker" && slots_ == 0))
    return bad_cluster("slots", std::to_string(slots_),
                       cluster_.role == "worker" ? "an integer in [1, 4096]"
                                                 : "an integer in [0, 4096]");
  if (cluster_.role == "coordinator" && workers_ == 0 && slots_ == 0)
    return bad_cluster("workers", "0",
                       "at least 1, or cluster.slots > 0 on the coordinator");
  if (cluster_.tls && !has_tls_files())
    return bad_cluster("tls", "true",
                       "openssl.certificate, openssl.key and openssl.cafile "
                       "set as well");
  if (parallelism_ > 4096 || max_parallelism_ > 32768 ||
      credit_window_ > 1024 || credit_return_ > 1024) {
    // Values too large for the narrower fields: let validate() report them
    // with the original number.
    options_.plan.default_parallelism =
        static_cast<uint32_t>(std::min<size_t>(parallelism_, 4097));
    options_.plan.max_parallelism =
        static_cast<uint32_t>(std::min<size_t>(max_parallelism_, 32769));
    options_.channels.credit_window =
        static_cast<uint32_t>(std::min<size_t>(credit_window_, 1025));
    options_.channels.credit_return =
        static_cast<uint32_t>(std::min<size_t>(credit_return_, 1025));
  }
  if (auto bad = validate(options_)) {
    message_ = bad->message();
    return outcome::error;
  }
  to_settings_map(content, "", options_.settings);
  for (auto& g : registered_option_groups())
    if (g.validate)
      if (auto bad = g.validate(options_.settings)) {
        message_ = bad->message();
        return outcome::error;
      }
  return outcome::ok;
}

} // namespace flow::runtime

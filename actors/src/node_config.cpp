#include "flow/runtime/node_config.hpp"

#include "flow/runtime/cluster.hpp"

#include <caf/config_option.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/settings.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace flow::runtime {

namespace {

const cluster_options cluster_defaults{};

const option<std::string> role{"cluster.role", cluster_defaults.role,
                               "What this process is: a single-node cluster "
                               "(standalone), the coordinator or a worker.",
                               one_of({"standalone", "coordinator", "worker"})};
const option<std::string> name{
    "cluster.name", no_default,
    "Node name in logs and placement; default role@host:port."};
const option<std::string> host{
    "cluster.host", cluster_defaults.host,
    "Listen address. Without TLS remoting is unauthenticated: keep loopback "
    "unless the network is trusted."};
const option<int64_t> port{
    "cluster.port", cluster_defaults.port,
    "Listen port of a worker (0: any free one; the coordinator listens on "
    "coordinator-port).",
    in_range(0, 65535)};
const option<std::string> coordinator_host{
    "cluster.coordinator-host", cluster_defaults.coordinator_host,
    "Where workers reach the coordinator."};
const option<int64_t> coordinator_port{
    "cluster.coordinator-port", cluster_defaults.coordinator_port,
    "The coordinator's port.", in_range(1, 65535)};
constexpr int64_t max_slots = 4096;
const option<int64_t> slots{
    "cluster.slots", cluster_defaults.slots,
    "Pipeline slices this node runs (subtask i of every operator: slot i); "
    "0 on a coordinator: coordinate only.",
    in_range(0, max_slots)};
const option<int64_t> workers{"cluster.workers", cluster_defaults.workers,
                              "Workers the coordinator waits for.",
                              in_range(0, 4096)};
const option<int64_t> connect_timeout{
    "cluster.connect-timeout", cluster_defaults.connect_timeout_s,
    "Seconds to keep trying to reach the coordinator / to wait for the "
    "workers.",
    in_range(1, 86400)};
const option<std::chrono::nanoseconds> recovery_timeout{
    "cluster.recovery-timeout", cluster_defaults.recovery_timeout,
    "How long the coordinator of a job that lost a worker waits for enough "
    "slots (the worker restarted, or a spare, registering) to redeploy the "
    "job from its latest checkpoint (flow.restart-attempts > 0) before the "
    "job fails.",
    in_range(std::chrono::milliseconds(1), std::chrono::hours(24))};
const option<bool> tls{"cluster.tls", cluster_defaults.tls,
                       "TLS for remoting; needs openssl.certificate, "
                       "openssl.key and openssl.cafile."};

const option<bool> allow_insecure{
    "cluster.allow-insecure", cluster_defaults.allow_insecure,
    "Allow a non-loopback cluster.host without cluster.tls. Remoting is then "
    "unauthenticated: any process that reaches the port can register as a "
    "worker or exhaust the node's memory. Logged as a warning."};

const option_check non_loopback_needs_tls{
    [](const settings_map& s) -> std::optional<config_error> {
      if (tls.get(s) || allow_insecure.get(s) || is_loopback(host.get(s)))
        return std::nullopt;
      return config_error{host.key(), host.get(s),
                          "a loopback address (127.0.0.1, ::1, localhost) "
                          "unless cluster.tls = true (or, on a trusted "
                          "network only, cluster.allow-insecure = true)"};
    }};

const option_check cluster_roles_have_slots{
    [](const settings_map& s) -> std::optional<config_error> {
      auto r = role.get(s);
      if (r == "worker" && slots.get(s) == 0)
        return config_error{slots.key(), "0",
                            "an integer in [1, " + std::to_string(max_slots) +
                                "] on a worker"};
      if (r == "coordinator" && workers.get(s) == 0 && slots.get(s) == 0)
        return config_error{
            workers.key(), "0",
            "at least 1, or cluster.slots > 0 on the coordinator"};
      return std::nullopt;
    }};
const option_check tls_has_files{
    [](const settings_map& s) -> std::optional<config_error> {
      if (!tls.get(s)) return std::nullopt;
      for (auto key : {"openssl.certificate", "openssl.key", "openssl.cafile"})
        if (auto v = setting(&s, key); !v || v->empty())
          return config_error{tls.key(), "true",
                              "openssl.certificate, openssl.key and "
                              "openssl.cafile set as well"};
      return std::nullopt;
    }};

cluster_options cluster_from(const settings_map& s) {
  cluster_options c;
  c.role = role.get(s);
  c.name = name.get(s);
  c.host = host.get(s);
  c.port = static_cast<uint16_t>(port.get(s));
  c.coordinator_host = coordinator_host.get(s);
  c.coordinator_port = static_cast<uint16_t>(coordinator_port.get(s));
  c.slots = static_cast<uint32_t>(slots.get(s));
  c.workers = static_cast<uint32_t>(workers.get(s));
  c.connect_timeout_s = static_cast<uint32_t>(connect_timeout.get(s));
  c.recovery_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      recovery_timeout.get(s));
  c.tls = tls.get(s);
  c.allow_insecure = allow_insecure.get(s);
  return c;
}

/// Groups of CAF's own options: not listed by --help (CAF's --long-help
/// has them); openssl.* is listed because cluster.tls needs it.
bool is_caf_group(const std::string& g) {
  static constexpr const char* caf_groups[] = {
      "global", "logger",        "middleman", "scheduler",
      "stream", "work-stealing", "opencl",    "caf"};
  for (auto c : caf_groups)
    if (g == c) return true;
  return false;
}

/// A value of the config file as the user would write it on the command
/// line: strings unquoted, durations with their unit.
std::string to_text(const caf::config_value& v) {
  if (auto str = caf::get_if<std::string>(&v)) return *str;
  if (auto ts = caf::get_if<caf::timespan>(&v))
    return format_duration(std::chrono::nanoseconds(ts->count()));
  if (auto b = caf::get_if<bool>(&v)) return *b ? "true" : "false";
  return caf::to_string(v);
}

/// A value of the config file as CAF's command-line parser takes it.
std::string to_caf_text(const caf::config_value& v) {
  // caf::to_string renders a zero duration as "0d", which the CLI parser
  // rejects.
  if (auto ts = caf::get_if<caf::timespan>(&v))
    return std::to_string(ts->count()) + "ns";
  return caf::to_string(v);
}

/// One value given in the config file or on the command line.
struct given_value {
  std::string key;
  /// As the user wrote it (strings unquoted).
  std::string text;
  /// As CAF's command-line parser takes it.
  std::string caf_text;
  /// Where it came from, for error messages ("" = command line).
  std::string file;
};

void flatten(const caf::settings& xs, const std::string& prefix,
             const std::string& file, std::vector<given_value>& out) {
  for (auto& kv : xs) {
    auto key = prefix.empty() ? kv.first : prefix + "." + kv.first;
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      flatten(*sub, key, file, out);
    else
      out.push_back({key, to_text(kv.second), to_caf_text(kv.second), file});
  }
}

/// `"text"` -> `text`, as CAF reads a quoted string on the command line.
std::string unquote(const std::string& s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return s;
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) ++i;
    out += s[i];
  }
  return out;
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

/// Values of options outside the schema (openssl.*, CAF's own) as text.
void to_settings_map(const caf::settings& xs, const std::string& prefix,
                     settings_map& out) {
  for (auto& kv : xs) {
    auto key = prefix.empty() ? kv.first : prefix + "." + kv.first;
    if (auto sub = caf::get_if<caf::settings>(&kv.second))
      to_settings_map(*sub, key, out);
    else
      out[key] = to_text(kv.second);
  }
}

} // namespace

node_config::node_config() {
  for (auto& spec : option_schema::global().specs()) {
    // The adder keeps a view of the group name.
    auto group = spec.group();
    caf::config_option_adder add{custom_options_, group};
    auto n = spec.name();
    auto& d = spec.description;
    switch (spec.type) {
    case option_type::integer:
      add.add<int64_t>(n, d);
      break;
    case option_type::duration:
      add.add<caf::timespan>(n, d);
      break;
    case option_type::boolean:
      add.add<bool>(n, d);
      break;
    case option_type::text:
      add.add<std::string>(n, d);
      break;
    case option_type::list:
      add.add<std::vector<std::string>>(n, d);
      break;
    }
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
  auto& schema = option_schema::global();
  std::ostringstream os;
  os << "options (config file: --config-file=PATH, same keys as below):\n"
     << schema.help();
  for (auto& opt : custom_options_) {
    auto cat = std::string(opt.category().data(), opt.category().size());
    auto key =
        cat + "." + std::string(opt.long_name().data(), opt.long_name().size());
    if (is_caf_group(cat) || schema.find(key)) continue;
    os << "  --" << key << "=<"
       << std::string(opt.type_name().data(), opt.type_name().size()) << ">\n"
       << "        "
       << std::string(opt.description().data(), opt.description().size())
       << '\n';
  }
  return os.str();
}

node_config::outcome node_config::load(const std::vector<std::string>& args) {
  auto& schema = option_schema::global();
  std::string file;
  std::vector<given_value> given;
  std::vector<std::string> stray;
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
    } else if (a.rfind("--", 0) == 0 && a.size() > 2) {
      auto eq = a.find('=');
      auto key = a.substr(2, eq == std::string::npos ? eq : eq - 2);
      if (eq == std::string::npos) {
        // A bare flag: true for a boolean option, no value for others.
        auto spec = schema.find(key);
        bool flag =
            spec ? spec->type == option_type::boolean : is_flag("--" + key);
        given.push_back({key, flag ? "true" : "", "", ""});
      } else {
        given.push_back({key, unquote(a.substr(eq + 1)), a.substr(eq + 1), ""});
      }
    } else {
      stray.push_back(a);
    }
  }
  if (!file.empty()) {
    // CAF reads a directory or a device as an empty file: no error, no
    // options.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      message_ = "invalid config: --config-file=" + file + ": " +
                 (std::filesystem::exists(file, ec) ? "not a regular file"
                                                    : "no such file");
      return outcome::error;
    }
    if (!std::ifstream{file}) {
      message_ = "invalid config: --config-file=" + file + ": cannot be read";
      return outcome::error;
    }
    auto parsed = caf::actor_system_config::parse_config_file(file.c_str());
    if (!parsed) {
      message_ = "invalid config: cannot read config file " + file + ": " +
                 render(parsed.error());
      return outcome::error;
    }
    std::vector<given_value> from_file;
    flatten(*parsed, "", file, from_file);
    // The command line wins: it comes last.
    given.insert(given.begin(), from_file.begin(), from_file.end());
  }
  auto where = [](const given_value& g) {
    return g.file.empty() ? std::string(" [command line]")
                          : " [config file " + g.file + "]";
  };
  // The schema's checks first: they report the value as given.
  std::vector<std::string> caf_args;
  for (auto& g : given) {
    auto spec = schema.find(g.key);
    if (spec) {
      if (auto bad = spec->check(g.text)) {
        message_ = bad->message() + where(g);
        return outcome::error;
      }
    }
    if ((spec && spec->type == option_type::boolean) ||
        (!spec && is_flag("--" + g.key) && parse_boolean(g.text))) {
      // CAF takes boolean options only as bare flags.
      if (*parse_boolean(g.text)) caf_args.push_back("--" + g.key);
    } else if (g.caf_text.empty()) {
      caf_args.push_back("--" + g.key);
    } else if (spec && spec->type == option_type::list &&
               g.caf_text.front() != '[') {
      // `--key=a,b` on the command line; CAF takes lists as ["a", "b"].
      std::string list = "[";
      for (auto& item : parse_list(g.text)) {
        list += list.size() > 1 ? ", \"" : "\"";
        for (char c : item)
          list +=
              (c == '"' || c == '\\') ? std::string{'\\', c} : std::string{c};
        list += '"';
      }
      caf_args.push_back("--" + g.key + "=" + list + "]");
    } else {
      caf_args.push_back("--" + g.key + "=" + g.caf_text);
    }
  }
  // CAF's parser: unknown keys, and the types of its own options.
  caf_args.insert(caf_args.end(), stray.begin(), stray.end());
  std::istringstream no_ini;
  if (auto err = parse(caf_args, no_ini)) {
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
               "': expected --group.key=value options (see --help)";
    return outcome::error;
  }
  settings_map configured;
  to_settings_map(content, "", configured);
  for (auto i = configured.begin(); i != configured.end();)
    i = schema.find(i->first) ? configured.erase(i) : std::next(i);
  for (auto& g : given)
    if (schema.find(g.key)) configured[g.key] = g.text;
  if (auto bad = schema.check(configured)) {
    message_ = bad->message();
    return outcome::error;
  }
  // Only what was configured: option::get supplies the defaults, and a
  // worker's own job settings must be what it set (cluster.cpp).
  options_ = job_options::from(configured);
  cluster_ = cluster_from(configured);
  return outcome::ok;
}

} // namespace flow::runtime

#include "flow/runtime/node_config.hpp"

#include "flow/runtime/option_registry.hpp"

#include <caf/config_option.hpp>
#include <caf/config_option_adder.hpp>
#include <caf/settings.hpp>

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
    else
      out.push_back("--" + key + "=" + caf::to_string(kv.second));
  }
}

std::string argument_of(const caf::error& err) {
  // CAF's CLI parser errors carry {"argument" = "--key=value"}.
  auto text = caf::to_string(err.context());
  auto pos = text.find("--");
  if (pos == std::string::npos)
    return {};
  auto end = text.find('"', pos);
  auto arg = text.substr(pos, end == std::string::npos ? end : end - pos);
  // Unescape \" that to_string added around string values.
  std::string clean;
  for (size_t i = 0; i < arg.size(); ++i)
    if (!(arg[i] == '\\' && i + 1 < arg.size()))
      clean += arg[i];
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
    .add(threads_, "threads", "scheduler threads; 0 = one per core");
  for (auto& g : registered_option_groups()) {
    caf::config_option_adder adder{custom_options_, g.name};
    g.declare(adder);
  }
}

std::string node_config::help() const {
  std::ostringstream os;
  os << "options (config file: --config-file=PATH, same keys as below):\n";
  for (auto& opt : custom_options_) {
    auto cat = std::string(opt.category().data(), opt.category().size());
    if (cat.rfind("flow", 0) != 0 && cat.rfind("kafka", 0) != 0)
      continue;
    auto name = "--" + cat + "." + std::string(opt.long_name().data(),
                                               opt.long_name().size());
    os << "  " << name << "=<" << opt.type_name() << ">";
    for (auto n = name.size() + opt.type_name().size() + 3; n < 44; ++n)
      os << ' ';
    os << ' ' << std::string(opt.description().data(),
                             opt.description().size())
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
    } else {
      cli.push_back(a);
    }
  }
  std::vector<std::string> all;
  if (!file.empty()) {
    auto parsed = caf::actor_system_config::parse_config_file(file.c_str());
    if (!parsed) {
      message_ = "invalid config: cannot read config file " + file + ": "
                 + render(parsed.error());
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
      expected = "a value of type " + std::string(opt->type_name().data(), opt->type_name().size());
    message_ = "invalid config: " + (arg.empty() ? render(err) : arg)
               + (file.empty() ? "" : " (config file " + file + " or CLI)")
               + ": expected " + expected;
    return outcome::error;
  }
  if (!remainder.empty()) {
    message_ = "invalid config: unexpected argument '" + remainder.front()
               + "': expected --flow.key=value options (see --help)";
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
  if (parallelism_ > 4096 || max_parallelism_ > 32768 || credit_window_ > 1024
      || credit_return_ > 1024) {
    // Values too large for the narrower fields: let validate() report them
    // with the original number.
    options_.plan.default_parallelism
      = static_cast<uint32_t>(std::min<size_t>(parallelism_, 4097));
    options_.plan.max_parallelism
      = static_cast<uint32_t>(std::min<size_t>(max_parallelism_, 32769));
    options_.channels.credit_window
      = static_cast<uint32_t>(std::min<size_t>(credit_window_, 1025));
    options_.channels.credit_return
      = static_cast<uint32_t>(std::min<size_t>(credit_return_, 1025));
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

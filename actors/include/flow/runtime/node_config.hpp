#pragma once

#include "flow/job_options.hpp"
#include "flow/runtime/cluster.hpp"

#include <caf/actor_system_config.hpp>

#include <string>
#include <vector>

namespace flow::runtime {

/// The options of a libflow node: CAF's actor_system_config with the `flow`
/// group. Every key can be set in the config file (`--config-file=PATH`,
/// CAF format, see conf/libflow.conf) or on the command line as
/// `--flow.key=value`; the command line wins.
class node_config : public caf::actor_system_config {
public:
  node_config();

  enum class outcome {
    /// Options parsed and valid: see options().
    ok,
    /// --help was given; the help text is in message().
    help,
    /// A bad value or key; message() names the key, value and expectation.
    error,
  };

  /// Parses the config file and the command line (without argv[0]).
  outcome load(const std::vector<std::string>& args);

  const job_options& options() const noexcept { return options_; }
  const cluster_options& cluster() const noexcept { return cluster_; }
  const std::string& message() const noexcept { return message_; }

  /// Help text of the libflow options (groups `flow` and up).
  std::string help() const;

  /// True if openssl.certificate, openssl.key and openssl.cafile are set.
  bool has_tls_files() const;

  /// True if `arg` ("--group.key") names a boolean option.
  bool is_flag(const std::string& arg) const;

protected:
  /// Options added by connectors (e.g. the `kafka` group) go here too.
  caf::config_option_set& options_set() { return custom_options_; }

private:
  job_options options_;
  std::string message_;
  size_t parallelism_ = 1;
  size_t max_parallelism_ = 128;
  size_t batch_size_ = 1024;
  size_t credit_window_ = 8;
  size_t credit_return_ = 2;
  caf::timespan flush_interval_{std::chrono::milliseconds(5)};
  caf::timespan status_interval_{std::chrono::seconds(5)};
  size_t source_poll_records_ = 4096;
  std::string log_level_ = "info";
  size_t threads_ = 0;
  size_t http_port_ = 8081;
  cluster_options cluster_;
  size_t port_ = 0;
  size_t coordinator_port_ = 4100;
  size_t slots_ = 1;
  size_t workers_ = 0;
  size_t connect_timeout_s_ = 60;
};

} // namespace flow::runtime

#pragma once

#include "flow/job_options.hpp"
#include "flow/runtime/cluster.hpp"

#include <caf/actor_system_config.hpp>

#include <string>
#include <vector>

namespace flow::runtime {

/// The options of a libflow node: CAF's actor_system_config with an option
/// group per group of the option schema (flow/option.hpp: `flow`,
/// `cluster`, the connectors' and the program's own). Every key can be set
/// in the config file (`--config-file=PATH`, CAF format, see
/// conf/libflow.conf) or on the command line as `--group.key=value`; the
/// command line wins.
class node_config : public caf::actor_system_config {
public:
  node_config();

  enum class outcome {
    /// Options parsed and valid: see options().
    ok,
    /// --help was given; the help text is in message().
    help,
    /// A bad value or key; message() names the key, the value as given
    /// and what is expected.
    error,
  };

  /// Parses the config file and the command line (without argv[0]).
  outcome load(const std::vector<std::string>& args);

  const job_options& options() const noexcept { return options_; }
  const cluster_options& cluster() const noexcept { return cluster_; }
  const std::string& message() const noexcept { return message_; }

  /// Help text of every option of the schema, and of openssl.*.
  std::string help() const;

  /// True if openssl.certificate, openssl.key and openssl.cafile are set.
  bool has_tls_files() const;

  /// True if `arg` ("--group.key") names a boolean option.
  bool is_flag(const std::string& arg) const;

private:
  job_options options_;
  cluster_options cluster_;
  std::string message_;
};

} // namespace flow::runtime

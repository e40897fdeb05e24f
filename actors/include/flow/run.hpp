#pragma once

#include "flow/topology.hpp"

namespace flow {

/// Exit codes of flow::run.
enum exit_code : int {
  exit_ok = 0,
  /// The job failed (an operator threw, a connector failed).
  exit_job_failed = 1,
  /// Bad configuration or command line; nothing was run.
  exit_bad_config = 2,
};

/// Runs `t` with options from the command line and config file (see
/// --help), logs a summary, and returns the process exit code. SIGINT and
/// SIGTERM stop the sources; the job drains and ends with exit_ok.
int run(topology& t, int argc, char** argv);

} // namespace flow

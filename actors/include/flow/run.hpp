#pragma once

#include "flow/job_options.hpp"
#include "flow/option.hpp"
#include "flow/topology.hpp"

#include <memory>
#include <string>
#include <vector>

namespace flow {

namespace runtime {
class node_config;
} // namespace runtime

/// Exit codes of flow::run.
enum exit_code : int {
  exit_ok = 0,
  /// The job failed (an operator threw, a connector failed).
  exit_job_failed = 1,
  /// Bad configuration or command line; nothing was run.
  exit_bad_config = 2,
};

/// A program's command line and config file, checked against every
/// declared option: the runtime's (`flow.*`, `cluster.*`), the connectors'
/// (`kafka.*`) and the program's own `flow::option` objects
/// (flow/option.hpp). A program that needs its options before it builds
/// its topology (topic names, sizes) reads them here:
///
///     const flow::option<std::string> input{"wordcount.input", "lines",
///                                           "topic to read"};
///     int main(int argc, char** argv) {
///       flow::program p{argc, argv, "Counts the words of a topic."};
///       if (p.done()) return p.exit_code();   // --help, or a bad option
///       flow::topology t{"wordcount"};
///       t.source(flow::kafka::source<std::string>(p.get(input))) ...;
///       return p.run(t);
///     }
class program {
public:
  /// Reads the command line (and the config file it names). With --help
  /// it prints `about` (what the program does, one line), the usage and
  /// every option to stdout; with a bad option it prints the key, the
  /// value as given and what is expected to stderr. In both cases done()
  /// is true.
  program(int argc, char** argv, std::string about = {});
  ~program();
  program(const program&) = delete;
  program& operator=(const program&) = delete;

  /// True if the program must end now, returning exit_code(): help was
  /// shown (exit_ok) or the configuration is bad (exit_bad_config).
  bool done() const noexcept { return done_; }
  int exit_code() const noexcept { return exit_code_; }

  /// The configured value of `o`, or its default.
  template <class T>
  T get(const option<T>& o) const {
    return o.get(options().settings);
  }

  /// The job options (flow.*) and every configured value as text.
  const job_options& options() const;

  /// Checks the options that the topologies built so far require (e.g.
  /// kafka.bootstrap for a Kafka source or sink); if one is missing,
  /// prints it, makes done() true and returns false. run() checks too,
  /// except on a worker: it runs with the coordinator's job configuration.
  bool check_required();

  /// check_error_policies(t, options()): a dead-letter policy needs a
  /// configured dead-letter destination; if it has none, prints the error
  /// naming the key, makes done() true and returns false. run() checks.
  bool check_error_policies(const topology& t);

  /// Runs `t` as cluster.role says (standalone: in this process; else as
  /// a coordinator or worker of a cluster), logs a summary and returns the
  /// process exit code. SIGINT and SIGTERM stop the sources; the job
  /// drains and ends with exit_ok. A second SIGINT or SIGTERM ends the
  /// process at once, without draining, with 128 + the signal's number.
  int run(topology& t);

  /// Runs `t` in this process alone, whatever cluster.role says: for a
  /// program's preparatory jobs (e.g. one that fills its input topics).
  int run_here(topology& t);

private:
  std::unique_ptr<runtime::node_config> cfg_;
  std::vector<std::string> args_;
  std::string argv0_;
  bool done_ = false;
  int exit_code_ = exit_ok;
};

/// Runs `t` with options from the command line and config file (see
/// --help): program{argc, argv}.run(t) unless the options say otherwise.
int run(topology& t, int argc, char** argv);

} // namespace flow

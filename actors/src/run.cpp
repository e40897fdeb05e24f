#include "flow/run.hpp"

#include "flow/checkpoint/parts.hpp"
#include "flow/exceptions.hpp"
#include "flow/log.hpp"
#include "flow/record_errors.hpp"
#include "flow/runtime/allocator.hpp"
#include "flow/runtime/cluster.hpp"
#include "flow/runtime/http_server.hpp"
#include "flow/runtime/job.hpp"
#include "flow/runtime/node_config.hpp"

#include <atomic>
#include <csignal>
#include <iostream>

#include <unistd.h>

namespace flow {

namespace {

std::atomic<bool> stop_requested{false};

/// The first SIGINT or SIGTERM asks the job to stop: its sources stop and
/// it drains. A second one ends the process at once, for an operator who
/// will not wait for the drain (a sink that cannot reach its cluster holds
/// it up to kafka.timeout-ms). That is as safe as a crash: what was not
/// checkpointed or committed is read again by the next run.
extern "C" void on_stop_signal(int sig) {
  if (!stop_requested.exchange(true)) return;
  static constexpr char said[] =
      "second stop signal: exiting at once, without draining\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, said, sizeof said - 1);
  ::_exit(128 + sig);
}

/// Runs `run` (a job, here or as a cluster node) and turns what keeps the
/// job from starting into the exit status: 2 for what the configuration
/// must change, 1 for a topology that cannot run.
template <class F>
int exit_status_of(const std::string& argv0, const topology& t, F run) {
  try {
    return run();
  } catch (const runtime::http_unavailable& e) {
    std::cerr << argv0 << ": " << e.error.message() << '\n';
    return exit_bad_config;
  } catch (const checkpoint::incompatible_checkpoint& e) {
    logger("flow/runtime")
        ->error("job '{}' cannot restore: {}", t.name(), e.what());
    return exit_bad_config;
  } catch (const config_failure& e) {
    logger("flow/runtime")
        ->error("job '{}' cannot run: {}", t.name(), e.what());
    return exit_bad_config;
  } catch (const std::invalid_argument& e) {
    logger("flow/runtime")
        ->error("job '{}' cannot run: {}", t.name(), e.what());
    return exit_job_failed;
  }
}

} // namespace

program::program(int argc, char** argv, std::string about)
    : cfg_(std::make_unique<runtime::node_config>()),
      args_(argv + 1, argv + argc), argv0_(argv[0]) {
  runtime::tune_allocator();
  switch (cfg_->load(args_)) {
  case runtime::node_config::outcome::help:
    std::cout << "usage: " << argv0_ << " [options]\n";
    if (!about.empty()) std::cout << about << '\n';
    std::cout << '\n' << cfg_->message();
    done_ = true;
    exit_code_ = exit_ok;
    return;
  case runtime::node_config::outcome::error:
    std::cerr << argv0_ << ": " << cfg_->message() << '\n';
    done_ = true;
    exit_code_ = exit_bad_config;
    return;
  case runtime::node_config::outcome::ok:
    break;
  }
  set_log_level(cfg_->options().log_level);
  set_log_format(cfg_->options().log_format);
}

program::~program() = default;

const job_options& program::options() const {
  return cfg_->options();
}

bool program::check_required() {
  if (done_) return false;
  if (auto missing =
          option_schema::global().check_required(cfg_->options().settings)) {
    std::cerr << argv0_ << ": " << missing->message() << '\n';
    done_ = true;
    exit_code_ = exit_bad_config;
    return false;
  }
  return true;
}

bool program::check_error_policies(const topology& t) {
  if (auto e = flow::check_error_policies(t, cfg_->options())) {
    std::cerr << argv0_ << ": " << e->message() << '\n';
    done_ = true;
    exit_code_ = exit_bad_config;
    return false;
  }
  return true;
}

int program::run(topology& t) {
  // A worker runs with the coordinator's job configuration, which the
  // coordinator has checked; its own may leave required options unset.
  if (cfg_->cluster().role != "worker" &&
      !(check_required() && check_error_policies(t)))
    return exit_code_;
  if (cfg_->cluster().role == "standalone") return run_here(t);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  return exit_status_of(argv0_, t, [&] {
    return runtime::run_node(t, *cfg_, cfg_->cluster(), args_, &stop_requested);
  });
}

int program::run_here(topology& t) {
  if (!check_required() || !check_error_policies(t)) return exit_code_;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  auto node = cfg_->cluster().name.empty() ? std::string("standalone")
                                           : cfg_->cluster().name;
  observe::job_view view{t.name(), node, "standalone"};
  std::unique_ptr<runtime::http_server> http;
  return exit_status_of(argv0_, t, [&] {
    http = runtime::serve_http(view, cfg_->options());
    auto r = runtime::execute(t, cfg_->options(), &stop_requested, &view);
    return runtime::report(t.name(), r);
  });
}

int run(topology& t, int argc, char** argv) {
  program p{argc, argv};
  if (p.done()) return p.exit_code();
  return p.run(t);
}

} // namespace flow

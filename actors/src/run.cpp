#include "flow/run.hpp"

#include "flow/log.hpp"
#include "flow/runtime/cluster.hpp"
#include "flow/runtime/http_server.hpp"
#include "flow/runtime/job.hpp"
#include "flow/runtime/node_config.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace flow {

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) {
  stop_requested.store(true);
}

} // namespace

int run(topology& t, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  runtime::node_config cfg;
  switch (cfg.load(args)) {
  case runtime::node_config::outcome::help:
    std::cout << "usage: " << argv[0] << " [options]\n" << cfg.message();
    return exit_ok;
  case runtime::node_config::outcome::error:
    std::cerr << argv[0] << ": " << cfg.message() << '\n';
    return exit_bad_config;
  case runtime::node_config::outcome::ok:
    break;
  }
  set_log_level(cfg.options().log_level);
  set_log_format(cfg.options().log_format);
  auto log = logger("flow/runtime");
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  if (cfg.cluster().role != "standalone") {
    try {
      return runtime::run_node(t, cfg, cfg.cluster(), args, &stop_requested);
    } catch (const std::invalid_argument& e) {
      log->error("job '{}' cannot run: {}", t.name(), e.what());
      return exit_job_failed;
    }
  }
  auto node = cfg.cluster().name.empty() ? std::string("standalone")
                                         : cfg.cluster().name;
  observe::job_view view{t.name(), node, "standalone"};
  auto http = runtime::serve_http(view, cfg.options().http_host,
                                  cfg.options().http_port);
  runtime::job_result r;
  try {
    r = runtime::execute(t, cfg.options(), &stop_requested, &view);
  } catch (const std::invalid_argument& e) {
    log->error("job '{}' cannot run: {}", t.name(), e.what());
    return exit_job_failed;
  }
  return runtime::report(t.name(), r);
}

} // namespace flow

#pragma once

#include "flow/job_options.hpp"
#include "flow/observe/job_view.hpp"
#include "flow/option.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace flow::runtime {

/// The HTTP endpoints of one process (cpp-httplib): GET /metrics
/// (Prometheus text), /api/v1/job, /api/v1/rates, /api/v1/checkpoints,
/// /healthz, /readyz and the web UI at /. Other paths answer 404, other
/// methods 405, malformed requests 400.
///
/// Threading: requests are served on the server's own thread pool, and a
/// sampler thread calls job_view::sample() every `sample_interval`; neither
/// is a thread of the actor system, and both only read snapshots.
/// The HTTP endpoints cannot listen where the options say: `error` names
/// flow.http-port (address in use, no permission) or flow.http-host (an
/// address this host does not have), the value and the reason.
struct http_unavailable : std::runtime_error {
  explicit http_unavailable(config_error e)
      : std::runtime_error(e.message()), error(std::move(e)) {}
  config_error error;
};

class http_server {
public:
  /// Pool threads serving connections (one connection each at a time).
  static constexpr int threads = 8;
  /// Connections the kernel queues for the pool before it refuses more
  /// (the listen backlog; the kernel caps it at net.core.somaxconn).
  static constexpr int listen_backlog = 1024;

  /// Listens on `host`:`port` (0: any free port, see port()); the port is
  /// bound exclusively (no SO_REUSEPORT: a second process on the same port
  /// fails instead of sharing its requests). Throws http_unavailable if it
  /// cannot listen.
  http_server(
      observe::job_view& view, const std::string& host, uint16_t port,
      std::chrono::milliseconds sample_interval = std::chrono::seconds(1));
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The port listened on.
  uint16_t port() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Starts the endpoints of `view` as `opts.http_port` and `opts.http_host`
/// say (nothing for port 0). Throws http_unavailable if it cannot listen:
/// the program exits with exit_bad_config before the job starts.
std::unique_ptr<http_server> serve_http(observe::job_view& view,
                                        const job_options& opts);

} // namespace flow::runtime

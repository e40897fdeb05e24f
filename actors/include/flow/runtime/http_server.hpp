#pragma once

#include "flow/observe/job_view.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
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
class http_server {
public:
  /// Pool threads serving connections (one connection each at a time).
  static constexpr int threads = 8;

  /// Listens on `host`:`port` (0: any free port, see port()). Throws
  /// std::runtime_error naming the address if it cannot listen.
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

/// Starts the endpoints of `view` as flow.http-port and flow.http-host say
/// (nothing for port 0). A port that cannot be bound is logged and the job
/// runs without them.
std::unique_ptr<http_server> serve_http(observe::job_view& view,
                                        const std::string& host, uint32_t port);

} // namespace flow::runtime

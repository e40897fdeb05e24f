#include "flow/runtime/http_server.hpp"

#include "flow/log.hpp"
#include "flow/observe/exposition.hpp"
#include "flow/runtime/ui_assets.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace flow::runtime {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string reason(int status) {
  switch (status) {
  case 400:
    return "bad request";
  case 404:
    return "not found";
  case 413:
    return "payload too large";
  case 414:
    return "URI too long";
  case 431:
    return "request header fields too large";
  default:
    return status >= 500 ? "server error" : "client error";
  }
}

void json_reply(httplib::Response& res, const nlohmann::json& body) {
  res.set_content(body.dump(), "application/json");
}

/// cpp-httplib 0.11, a compiled library here, listens with a backlog of 5
/// (CPPHTTPLIB_LISTEN_BACKLOG, fixed when the library was built): a burst
/// of connections, like a page's requests or several scrapers at once,
/// beyond that waited for their clients' SYN retries, seconds each.
/// listen() again on the bound socket sets the backlog (Linux).
class server_with_backlog : public httplib::Server {
public:
  bool set_listen_backlog(int backlog) {
    return ::listen(svr_sock_, backlog) == 0;
  }
};

} // namespace

struct http_server::impl {
  observe::job_view& view;
  server_with_backlog server;
  uint16_t port = 0;
  std::thread listener;
  std::thread sampler;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;

  explicit impl(observe::job_view& v) : view(v) {}

  void routes() {
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server.new_task_queue = [] { return new httplib::ThreadPool(threads); };
    server.set_read_timeout(5, 0);
    server.set_write_timeout(5, 0);
    server.set_keep_alive_timeout(5);
    server.set_keep_alive_max_count(100);
    // Every endpoint is a GET without a body.
    server.set_payload_max_length(64 * 1024);
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(ui_index_html(), "text/html; charset=utf-8");
    });
    server.Get("/metrics",
               [this](const httplib::Request&, httplib::Response& res) {
                 res.set_content(observe::prometheus_text(*view.latest()),
                                 observe::prometheus_content_type);
               });
    server.Get("/api/v1/job",
               [this](const httplib::Request&, httplib::Response& res) {
                 json_reply(res, observe::job_json(*view.latest()));
               });
    server.Get("/api/v1/rates", [this](const httplib::Request&,
                                       httplib::Response& res) {
      json_reply(res, observe::rates_json(*view.latest(), view.rates()));
    });
    server.Get("/api/v1/checkpoints",
               [this](const httplib::Request&, httplib::Response& res) {
                 json_reply(res, observe::checkpoints_json(*view.latest()));
               });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server.Get("/readyz",
               [this](const httplib::Request&, httplib::Response& res) {
                 auto s = view.latest();
                 if (s->ready()) {
                   res.set_content("ready\n", "text/plain");
                 } else {
                   res.status = 503;
                   res.set_content("not ready: job " +
                                       observe::to_string(s->status) + "\n",
                                   "text/plain");
                 }
               });
    auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("405 method " + req.method + " not allowed\n",
                      "text/plain");
    };
    server.Post(".*", not_allowed);
    server.Put(".*", not_allowed);
    server.Patch(".*", not_allowed);
    server.Delete(".*", not_allowed);
    server.set_error_handler(
        [](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return;
          auto text = std::to_string(res.status) + " " + reason(res.status);
          if (res.status == 404) text += ": no endpoint " + req.path;
          res.set_content(text + "\n", "text/plain");
        });
    server.set_exception_handler([](const httplib::Request&,
                                    httplib::Response& res,
                                    std::exception_ptr) {
      res.status = 500;
      res.set_content("500 internal error\n", "text/plain");
    });
  }

  void sample_every(std::chrono::milliseconds interval) {
    std::unique_lock<std::mutex> lock{mutex};
    while (!stopping) {
      lock.unlock();
      view.sample(now_ms(), observe::sample_process());
      lock.lock();
      wake.wait_for(lock, interval, [this] { return stopping; });
    }
  }
};

http_server::http_server(observe::job_view& view, const std::string& host,
                         uint16_t port,
                         std::chrono::milliseconds sample_interval)
    : impl_(std::make_unique<impl>(view)) {
  impl_->routes();
  errno = 0;
  int bound = port == 0 ? impl_->server.bind_to_any_port(host)
                        : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    int err = errno;
    bool port_taken = err == EADDRINUSE || err == EACCES;
    auto why = err != 0 ? std::string(std::strerror(err))
                        : std::string("cannot listen");
    if (port_taken)
      throw http_unavailable{config_error{
          "flow.http-port", std::to_string(port),
          "a port free on " + host + " (" + why + "), or 0 for none"}};
    throw http_unavailable{
        config_error{"flow.http-host", host,
                     "an address of this host to listen on (" + why + ")"}};
  }
  impl_->port = static_cast<uint16_t>(bound);
  if (!impl_->server.set_listen_backlog(listen_backlog))
    logger("flow/http")
        ->warn("HTTP endpoints: listen backlog stays at "
               "cpp-httplib's 5 ({})",
               std::strerror(errno));
  // The first snapshot exists before the first request is served.
  view.sample(now_ms(), observe::sample_process());
  impl_->sampler = std::thread(
      [this, sample_interval] { impl_->sample_every(sample_interval); });
  impl_->listener = std::thread([this] { impl_->server.listen_after_bind(); });
}

http_server::~http_server() {
  {
    std::lock_guard<std::mutex> guard{impl_->mutex};
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->server.stop();
  impl_->listener.join();
  impl_->sampler.join();
}

uint16_t http_server::port() const noexcept {
  return impl_->port;
}

std::unique_ptr<http_server> serve_http(observe::job_view& view,
                                        const job_options& opts) {
  if (opts.http_port == 0) return nullptr;
  auto server =
      std::make_unique<http_server>(view, opts.http_host, opts.http_port);
  logger("flow/http")
      ->info("serving /metrics, /api/v1 and the web UI on http://{}:{}/",
             opts.http_host, server->port());
  return server;
}

} // namespace flow::runtime

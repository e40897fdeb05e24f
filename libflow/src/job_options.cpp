#include "flow/job_options.hpp"

#include <algorithm>
#include <array>

namespace flow {

std::string config_error::message() const {
  return "invalid config: " + key + " = " + value + " (expected " + expected +
         ")";
}

std::chrono::nanoseconds report_interval(const job_options& o) {
  std::chrono::nanoseconds second = std::chrono::seconds(1);
  if (o.status_interval.count() > 0) return std::min(o.status_interval, second);
  return o.http_port > 0 ? second : std::chrono::nanoseconds::zero();
}

std::optional<config_error> validate(const job_options& o) {
  auto num = [](auto x) { return std::to_string(x); };
  if (o.plan.default_parallelism < 1 || o.plan.default_parallelism > 4096)
    return config_error{"flow.parallelism", num(o.plan.default_parallelism),
                        "an integer in [1, 4096]"};
  if (o.plan.max_parallelism < 1 || o.plan.max_parallelism > 32768)
    return config_error{"flow.max-parallelism", num(o.plan.max_parallelism),
                        "an integer in [1, 32768]"};
  if (o.plan.default_parallelism > o.plan.max_parallelism)
    return config_error{"flow.parallelism", num(o.plan.default_parallelism),
                        "at most flow.max-parallelism (" +
                            num(o.plan.max_parallelism) + ")"};
  if (o.channels.batch_size < 1 || o.channels.batch_size > (1u << 20))
    return config_error{"flow.batch-size", num(o.channels.batch_size),
                        "an integer in [1, 1048576]"};
  if (o.channels.credit_window < 1 || o.channels.credit_window > 1024)
    return config_error{"flow.credit-window", num(o.channels.credit_window),
                        "an integer in [1, 1024]"};
  if (o.channels.credit_return < 1 ||
      o.channels.credit_return > o.channels.credit_window)
    return config_error{"flow.credit-return", num(o.channels.credit_return),
                        "an integer in [1, flow.credit-window]"};
  if (o.flush_interval <= std::chrono::nanoseconds::zero() ||
      o.flush_interval > std::chrono::seconds(60))
    return config_error{"flow.flush-interval",
                        num(o.flush_interval.count()) + "ns",
                        "a duration in (0, 60s], e.g. 5ms"};
  if (o.status_interval < std::chrono::nanoseconds::zero())
    return config_error{"flow.status-interval",
                        num(o.status_interval.count()) + "ns",
                        "a duration >= 0 (0 disables it)"};
  if (o.channels.idle_timeout < std::chrono::nanoseconds::zero())
    return config_error{"flow.idle-timeout",
                        num(o.channels.idle_timeout.count()) + "ns",
                        "a duration >= 0 (0 disables idleness)"};
  if (o.channels.watermark_interval < std::chrono::nanoseconds::zero())
    return config_error{"flow.watermark-interval",
                        num(o.channels.watermark_interval.count()) + "ns",
                        "a duration >= 0, e.g. 200ms"};
  if (o.source_poll_records < 1)
    return config_error{"flow.source-poll-records", num(o.source_poll_records),
                        "an integer >= 1"};
  static constexpr std::array<const char*, 7> levels{
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  bool known = false;
  for (auto l : levels)
    known = known || o.log_level == l;
  if (!known)
    return config_error{
        "flow.log-level", "\"" + o.log_level + "\"",
        "one of trace, debug, info, warn, error, critical, off"};
  if (o.scheduler != "stealing" && o.scheduler != "sharing")
    return config_error{"flow.scheduler", "\"" + o.scheduler + "\"",
                        "stealing or sharing"};
  if (o.http_port > 65535)
    return config_error{"flow.http-port", num(o.http_port),
                        "a port in [0, 65535] (0: no HTTP endpoints)"};
  if (o.http_host.empty())
    return config_error{"flow.http-host", "\"\"",
                        "an IP address to listen on, e.g. 127.0.0.1"};
  if (o.log_format != "text" && o.log_format != "json")
    return config_error{"flow.log-format", "\"" + o.log_format + "\"",
                        "text or json"};
  if (o.threads > 256)
    return config_error{"flow.threads", num(o.threads),
                        "an integer in [0, 256] (0: one per core)"};
  return std::nullopt;
}

} // namespace flow

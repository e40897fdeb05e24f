#include "flow/checkpoint/options.hpp"

namespace flow::checkpoint {

std::optional<config_error> validate(const options& o) {
  auto ms = [](std::chrono::milliseconds d) {
    return std::to_string(d.count()) + "ms";
  };
  if (o.interval.count() < 0 || o.interval > std::chrono::hours(24))
    return config_error{"flow.checkpoint-interval", ms(o.interval),
                        "a duration in [0, 24h] (0: no periodic checkpoints)"};
  if (o.timeout.count() <= 0 || o.timeout > std::chrono::hours(24))
    return config_error{"flow.checkpoint-timeout", ms(o.timeout),
                        "a duration in (0, 24h]"};
  if (o.retained < 1 || o.retained > 1000)
    return config_error{"flow.checkpoints-retained", std::to_string(o.retained),
                        "an integer in [1, 1000]"};
  if (o.restart_attempts > 1000)
    return config_error{"flow.restart-attempts",
                        std::to_string(o.restart_attempts),
                        "an integer in [0, 1000]"};
  if (o.restart_backoff.count() < 0 ||
      o.restart_backoff > std::chrono::hours(1))
    return config_error{"flow.restart-backoff", ms(o.restart_backoff),
                        "a duration in [0, 1h]"};
  if (o.restart_backoff_max < o.restart_backoff ||
      o.restart_backoff_max > std::chrono::hours(1))
    return config_error{"flow.restart-backoff-max", ms(o.restart_backoff_max),
                        "a duration in [flow.restart-backoff, 1h]"};
  return std::nullopt;
}

} // namespace flow::checkpoint

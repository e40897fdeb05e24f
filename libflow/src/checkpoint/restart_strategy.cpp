#include "flow/checkpoint/restart_strategy.hpp"

#include <algorithm>

namespace flow::checkpoint {

restart_strategy::restart_strategy(const options& opts)
    : attempts_(opts.restart_attempts), initial_(opts.restart_backoff),
      max_(opts.restart_backoff_max) {}

std::optional<std::chrono::milliseconds> restart_strategy::on_failure() {
  if (consecutive_ >= attempts_) return std::nullopt;
  auto delay = initial_;
  for (uint32_t i = 0; i < consecutive_ && delay < max_; ++i)
    delay *= 2;
  ++consecutive_;
  ++restarts_;
  return std::min(delay, max_);
}

} // namespace flow::checkpoint

#include "flow/checkpoint/restart_strategy.hpp"

#include <algorithm>

namespace flow::checkpoint {

restart_strategy::restart_strategy(const options& opts)
    : attempts_(opts.restart_attempts_allowed()),
      initial_(opts.restart_backoff), max_(opts.restart_backoff_max) {}

std::optional<restart_decision>
restart_strategy::on_run_end(run_outcome outcome) {
  if (outcome != run_outcome::failed) return std::nullopt;
  if (consecutive_ >= attempts_) return std::nullopt;
  auto delay = initial_;
  for (uint32_t i = 0; i < consecutive_ && delay < max_; ++i)
    delay *= 2;
  ++consecutive_;
  ++restarts_;
  return restart_decision{consecutive_, attempts_, std::min(delay, max_),
                          latest_};
}

} // namespace flow::checkpoint

#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace flow {

/// The logger of a module ("flow/runtime", "flow/kafka", ...), created on
/// first use; all loggers write to stderr and share one level.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

/// Sets the level of every flow logger; `level` as spdlog spells it.
void set_log_level(const std::string& level);

} // namespace flow

#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace flow {

/// The logger of a module ("flow/runtime", "flow/kafka", ...), created on
/// first use; all loggers write to stderr and share one level and format.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

/// Sets the level of every flow logger; `level` as spdlog spells it.
void set_log_level(const std::string& level);

/// Sets the line format of every flow logger: "text" (for people) or
/// "json" (one object per line with time, level, logger, thread and msg).
void set_log_format(const std::string& format);

/// The formatter of "json" log lines.
std::unique_ptr<spdlog::formatter> json_log_formatter();

} // namespace flow

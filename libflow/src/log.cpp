#include "flow/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace flow {

namespace {
std::mutex log_mutex;
spdlog::level::level_enum log_level = spdlog::level::info;
} // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  std::lock_guard<std::mutex> guard{log_mutex};
  if (auto existing = spdlog::get(module)) return existing;
  auto l = spdlog::stderr_color_mt(module);
  l->set_level(log_level);
  l->set_pattern("%H:%M:%S.%e %^%l%$ [%n] %v");
  return l;
}

void set_log_level(const std::string& level) {
  std::lock_guard<std::mutex> guard{log_mutex};
  log_level = spdlog::level::from_str(level);
  spdlog::apply_all(
      [](std::shared_ptr<spdlog::logger> l) { l->set_level(log_level); });
}

} // namespace flow

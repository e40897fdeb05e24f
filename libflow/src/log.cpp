#include "flow/log.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <chrono>
#include <ctime>
#include <mutex>

namespace flow {

namespace {

std::mutex log_mutex;
spdlog::level::level_enum log_level = spdlog::level::info;
bool json_lines = false;

constexpr const char* text_pattern = "%H:%M:%S.%e %^%l%$ [%n] %v";

/// One JSON object per line; the encoder escapes what the message holds.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    auto since_epoch = msg.time.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  since_epoch - secs)
                  .count();
    std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm utc{};
    gmtime_r(&t, &utc);
    char stamp[32];
    auto n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms));
    auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line{
        {"time", stamp},
        {"level", std::string(level.data(), level.size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"thread", msg.thread_id},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    auto text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

void apply_format(spdlog::logger& l) {
  if (json_lines)
    l.set_formatter(std::make_unique<json_formatter>());
  else
    l.set_pattern(text_pattern);
}

} // namespace

std::unique_ptr<spdlog::formatter> json_log_formatter() {
  return std::make_unique<json_formatter>();
}

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  std::lock_guard<std::mutex> guard{log_mutex};
  if (auto existing = spdlog::get(module)) return existing;
  auto l = spdlog::stderr_color_mt(module);
  l->set_level(log_level);
  apply_format(*l);
  return l;
}

void set_log_level(const std::string& level) {
  std::lock_guard<std::mutex> guard{log_mutex};
  log_level = spdlog::level::from_str(level);
  spdlog::apply_all(
      [](std::shared_ptr<spdlog::logger> l) { l->set_level(log_level); });
}

void set_log_format(const std::string& format) {
  std::lock_guard<std::mutex> guard{log_mutex};
  json_lines = format == "json";
  spdlog::apply_all(
      [](std::shared_ptr<spdlog::logger> l) { apply_format(*l); });
}

} // namespace flow

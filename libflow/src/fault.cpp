#include "flow/fault.hpp"

#include "flow/log.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace flow {

namespace {

struct armed_fault {
  std::string point;
  long at = 1;
  std::atomic<long> reached{0};
};

/// LIBFLOW_FAULT, read once; null if unset or empty.
armed_fault* armed() {
  static armed_fault* f = []() -> armed_fault* {
    const char* v = std::getenv("LIBFLOW_FAULT");
    if (!v || !*v) return nullptr;
    auto* a = new armed_fault; // lives as long as the process
    std::string text = v;
    auto colon = text.find(':');
    a->point = text.substr(0, colon);
    if (colon != std::string::npos)
      a->at = std::max(1L, std::strtol(text.c_str() + colon + 1, nullptr, 10));
    if (a->point != fault_after_checkpoint_before_commit &&
        a->point != fault_during_commit)
      logger("flow/fault")
          ->warn("LIBFLOW_FAULT names no crash point: '{}'", a->point);
    else
      logger("flow/fault")
          ->warn("test fault armed: exit {} at {} #{}", fault_exit_code,
                 a->point, a->at);
    return a;
  }();
  return f;
}

} // namespace

void fault_point(std::string_view point) {
  auto* f = armed();
  if (!f || f->point != point) return;
  if (f->reached.fetch_add(1) + 1 == f->at) {
    auto log = logger("flow/fault");
    log->warn("test fault: exiting at {}", point);
    log->flush();
    std::_Exit(fault_exit_code);
  }
}

} // namespace flow

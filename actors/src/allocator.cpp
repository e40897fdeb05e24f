#include "flow/runtime/allocator.hpp"

#include <cstdlib>
#include <mutex>

#ifdef FLOW_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace flow::runtime {

std::optional<long> allocator_decommit_delay(const char* from_environment) {
  if (from_environment != nullptr && *from_environment != '\0')
    return std::nullopt;
  return allocator_decommit_delay_ms;
}

void tune_allocator() {
#ifdef FLOW_WITH_MIMALLOC
  static std::once_flag once;
  std::call_once(once, [] {
    // mimalloc reads its options from the environment when it loads, before
    // main: only an explicit set changes them now. It reads this one on
    // every decommit decision, so it takes effect at once.
    if (auto ms =
            allocator_decommit_delay(std::getenv("MIMALLOC_DECOMMIT_DELAY")))
      mi_option_set(mi_option_decommit_delay, *ms);
  });
#endif
}

} // namespace flow::runtime

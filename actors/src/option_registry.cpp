#include "flow/runtime/option_registry.hpp"

#include <mutex>

namespace flow::runtime {

namespace {
std::mutex registry_mutex;
std::vector<option_group>& registry() {
  static std::vector<option_group> groups;
  return groups;
}
} // namespace

void register_option_group(option_group g) {
  std::lock_guard<std::mutex> guard{registry_mutex};
  for (auto& existing : registry())
    if (existing.name == g.name) return;
  registry().push_back(std::move(g));
}

std::vector<option_group> registered_option_groups() {
  std::lock_guard<std::mutex> guard{registry_mutex};
  return registry();
}

} // namespace flow::runtime

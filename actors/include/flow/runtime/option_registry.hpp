#pragma once

#include "flow/job_options.hpp"
#include "flow/settings.hpp"

#include <caf/config_option_adder.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace flow::runtime {

/// A group of options that a connector adds to every node's config
/// (e.g. `kafka`). Declared with CAF's option adder, so the values are
/// type-checked like the `flow` options and listed by --help.
struct option_group {
  std::string name;
  std::function<void(caf::config_option_adder&)> declare;
  /// Checks what the types cannot (ranges, enumerations, required keys).
  std::function<std::optional<config_error>(const settings_map&)> validate;
};

/// Adds a group for node_configs constructed from now on; a group of the
/// same name registered before is kept. Call it while building the
/// topology (a connector's builder does), before flow::run.
void register_option_group(option_group g);

/// The groups registered so far.
std::vector<option_group> registered_option_groups();

} // namespace flow::runtime

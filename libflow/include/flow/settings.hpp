#pragma once

#include <map>
#include <optional>
#include <string>

namespace flow {

/// Every configured value of a node as text, by full key ("kafka.bootstrap").
/// Connectors read their options from here; node_config has type-checked
/// them already.
using settings_map = std::map<std::string, std::string>;

/// The value of `key`, if configured.
inline std::optional<std::string> setting(const settings_map* s,
                                          const std::string& key) {
  if (s == nullptr) return std::nullopt;
  auto i = s->find(key);
  if (i == s->end()) return std::nullopt;
  return i->second;
}

} // namespace flow

#pragma once

#include <string>

namespace flow::runtime {

/// The web UI (actors/ui/index.html, compiled in by a build step): one page
/// with inline script and styles, no external assets, polling /api/v1/*.
const std::string& ui_index_html();

} // namespace flow::runtime

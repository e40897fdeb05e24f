# Writes OUTPUT: a C++ source defining flow::runtime::ui_index_html() with
# the contents of INPUT, so the web UI is compiled into the binary.
file(READ "${INPUT}" html)
string(FIND "${html}" ")flowui\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )flowui\"")
endif()
file(WRITE "${OUTPUT}.tmp"
"// Generated from actors/ui/index.html by actors/ui/embed.cmake.
#include \"flow/runtime/ui_assets.hpp\"

namespace flow::runtime {

const std::string& ui_index_html() {
  static const std::string html = R\"flowui(${html})flowui\";
  return html;
}

} // namespace flow::runtime
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)

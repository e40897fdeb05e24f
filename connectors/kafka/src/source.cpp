#include "flow/kafka/source.hpp"

namespace flow::kafka {

connector_counters& counters() {
  static connector_counters c;
  return c;
}

} // namespace flow::kafka

#include "flow/kafka/source.hpp"

#include "flow/kafka/admin.hpp"

namespace flow::kafka {

connector_counters& counters() {
  static connector_counters c;
  return c;
}

namespace detail {

std::unique_ptr<partition_writer>
open_dead_letter_writer(const client_settings& s, const std::string& topic) {
  if (!s.embedded()) admin{s}.create_topic(topic, 1);
  return std::make_unique<partition_writer>(s, topic, 1);
}

} // namespace detail

} // namespace flow::kafka

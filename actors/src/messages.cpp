#include "flow/runtime/messages.hpp"

namespace flow::runtime {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<batch_ptr>("flow::batch");
  cfg.add_message_type<wiring>("flow::wiring");
  cfg.add_message_type<subtask_sample>("flow::subtask_sample");
  cfg.add_message_type<observe::process_sample>("flow::process_sample");
  cfg.add_message_type<std::vector<uint32_t>>("std::vector<uint32_t>");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
  cfg.add_message_type<std::vector<subtask_restore>>(
      "std::vector<flow::subtask_restore>");
}

} // namespace flow::runtime

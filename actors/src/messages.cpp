#include "flow/runtime/messages.hpp"

namespace flow::runtime {

subtask_totals totals_of(const subtask_metrics& m) {
  subtask_totals t;
  t.records_in = m.records_in.load();
  t.records_out = m.records_out.load();
  t.blocked_ns = m.blocked_ns.load();
  t.max_in_flight = m.max_in_flight.load();
  t.max_queued_batches = m.max_queued_batches.load();
  return t;
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<batch_ptr>("flow::batch");
  cfg.add_message_type<wiring>("flow::wiring");
  cfg.add_message_type<subtask_totals>("flow::subtask_totals");
  cfg.add_message_type<std::vector<uint32_t>>("std::vector<uint32_t>");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
}

} // namespace flow::runtime

#include "flow/plan.hpp"

#include "flow/exceptions.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace flow {

namespace {

partitioning effective(const edge_def& e, uint32_t up, uint32_t down) {
  if (e.kind) return *e.kind;
  return up == down ? partitioning::forward : partitioning::rebalance;
}

} // namespace

physical_plan physical_plan::build(const topology& t,
                                   const plan_options& opts) {
  if (opts.default_parallelism == 0)
    throw std::invalid_argument("parallelism must be at least 1");
  const auto& nodes = t.nodes();
  bool has_source = false;
  std::vector<uint32_t> par(nodes.size());
  std::vector<uint32_t> first(nodes.size());
  physical_plan plan;
  plan.max_parallelism = opts.max_parallelism;
  for (auto& n : nodes) {
    auto p = n.parallelism.value_or(opts.default_parallelism);
    if (p == 0)
      throw std::invalid_argument("operator " + n.name + ": parallelism 0");
    if (p > opts.max_parallelism)
      throw config_failure(
          "operator " + n.name + ": parallelism " + std::to_string(p) +
          " exceeds flow.max-parallelism = " +
          std::to_string(opts.max_parallelism) +
          " (raise it: it is fixed for the job's lifetime, a checkpoint "
          "restores only into the same number)");
    if (n.kind == node_kind::source)
      has_source = true;
    else if (n.inputs.empty())
      throw std::invalid_argument("operator " + n.name + " has no input");
    par[n.id.value()] = p;
    first[n.id.value()] = static_cast<uint32_t>(plan.subtasks.size());
    for (uint32_t i = 0; i < p; ++i) {
      subtask_plan s;
      s.id = subtask_id{static_cast<uint32_t>(plan.subtasks.size())};
      s.node = n.id;
      s.operator_name = n.name;
      s.index = i;
      s.parallelism = p;
      s.kind = n.kind;
      s.on_error = n.on_error;
      plan.subtasks.push_back(std::move(s));
    }
  }
  if (!has_source)
    throw std::invalid_argument("topology " + t.name() + " has no source");
  for (auto& n : nodes)
    if (n.kind != node_kind::sink) {
      bool consumed = false;
      for (auto& m : nodes)
        for (auto& e : m.inputs)
          consumed = consumed || e.from == n.id;
      if (!consumed)
        throw std::invalid_argument("the output of " + n.name +
                                    " goes nowhere: add a sink");
    }

  // Slot groups in order of first appearance, each as wide as its widest
  // operator.
  std::vector<std::pair<std::string, uint32_t>> groups;
  for (auto& n : nodes) {
    auto i = std::find_if(groups.begin(), groups.end(),
                          [&](auto& g) { return g.first == n.slot_group; });
    if (i == groups.end())
      groups.emplace_back(n.slot_group, par[n.id.value()]);
    else
      i->second = std::max(i->second, par[n.id.value()]);
  }
  for (auto& s : plan.subtasks) {
    uint32_t base = 0;
    for (auto& g : groups) {
      if (g.first == nodes[s.node.value()].slot_group) break;
      base += g.second;
    }
    s.slot_base = base;
  }

  // Edges in node order, so slots are deterministic.
  for (auto& down : nodes) {
    for (size_t edge_index = 0; edge_index < down.inputs.size(); ++edge_index) {
      auto& e = down.inputs[edge_index];
      auto up_par = par[e.from.value()];
      auto down_par = par[down.id.value()];
      auto kind = effective(e, up_par, down_par);
      if (kind == partitioning::forward && up_par != down_par)
        throw std::invalid_argument(
            "forward edge " + nodes[e.from.value()].name + " -> " + down.name +
            " needs equal parallelism (" + std::to_string(up_par) + " vs " +
            std::to_string(down_par) + "); use rebalance()");
      for (uint32_t u = 0; u < up_par; ++u) {
        auto& up_task = plan.subtasks[first[e.from.value()] + u];
        out_edge_layout layout;
        layout.kind = kind;
        layout.hasher = e.hasher;
        layout.max_parallelism = opts.max_parallelism;
        for (uint32_t d = 0; d < down_par; ++d) {
          if (kind == partitioning::forward && d != u) continue;
          auto& down_task = plan.subtasks[first[down.id.value()] + d];
          channel_plan ch;
          ch.id = channel_id{static_cast<uint32_t>(plan.channels.size())};
          ch.from = up_task.id;
          ch.from_slot = up_task.outputs.size();
          ch.to = down_task.id;
          ch.to_slot = down_task.inputs.size();
          up_task.outputs.push_back(ch.id);
          down_task.inputs.push_back(ch.id);
          down_task.input_edges.push_back(edge_index);
          layout.slots.push_back(ch.from_slot);
          plan.channels.push_back(ch);
        }
        up_task.out_edges.push_back(std::move(layout));
      }
    }
  }
  return plan;
}

std::string physical_plan::describe() const {
  std::ostringstream os;
  for (auto& s : subtasks) {
    if (s.index != 0) continue;
    os << s.operator_name << " x" << s.parallelism;
    if (!s.out_edges.empty()) {
      os << " ->";
      for (auto& e : s.out_edges)
        os << ' ' << to_string(e.kind);
    }
    os << '\n';
  }
  return os.str();
}

} // namespace flow

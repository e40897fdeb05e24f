#include "flow/checkpoint/parts.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace flow::checkpoint {

std::string encode_state(subtask_snapshot snap) {
  pb::PartState st;
  for (auto& g : snap.key_groups) {
    auto* x = st.add_key_groups();
    x->set_key_group(g.key_group);
    x->set_state(g.bytes.data(), g.bytes.size());
  }
  st.set_operator_state(std::move(snap.operator_state));
  return st.SerializeAsString();
}

part_state decode_state(const std::string& bytes) {
  pb::PartState st;
  if (!st.ParseFromString(bytes))
    throw std::runtime_error("part file is not a checkpoint part");
  part_state out;
  out.key_groups.reserve(static_cast<size_t>(st.key_groups_size()));
  for (auto& g : st.key_groups())
    out.key_groups.push_back(
        {g.key_group(), {g.state().begin(), g.state().end()}});
  out.operator_state = st.operator_state();
  return out;
}

pb::Part describe(const subtask_plan& s, const subtask_snapshot& snap) {
  pb::Part p;
  p.set_operator_id(s.node.value());
  p.set_operator_name(s.operator_name);
  p.set_subtask_index(s.index);
  p.set_parallelism(s.parallelism);
  p.set_alignment_ms(snap.alignment_ms);
  if (!snap.key_groups.empty()) {
    uint32_t first = snap.key_groups.front().key_group;
    uint32_t last = first;
    for (auto& g : snap.key_groups) {
      first = std::min(first, g.key_group);
      last = std::max(last, g.key_group);
    }
    p.mutable_key_groups()->set_first(first);
    p.mutable_key_groups()->set_end(last + 1);
  }
  for (auto& x : snap.positions) {
    auto* q = p.add_positions();
    q->set_split(x.split);
    q->set_position(x.position);
  }
  return p;
}

std::vector<source_position> positions_of(const pb::Part& part) {
  std::vector<source_position> out;
  for (auto& x : part.positions())
    out.push_back({x.split(), x.position()});
  return out;
}

std::vector<const pb::Part*> match_parts(const pb::Metadata& md,
                                         const physical_plan& plan) {
  auto where = "checkpoint " + std::to_string(md.checkpoint_id()) +
               " of job '" + md.job_name() + "'";
  std::map<std::tuple<uint32_t, uint32_t>, const pb::Part*> parts;
  for (auto& p : md.parts())
    if (!parts.emplace(std::make_tuple(p.operator_id(), p.subtask_index()), &p)
             .second)
      throw incompatible_checkpoint(
          where + " holds operator " + std::to_string(p.operator_id()) +
          " subtask " + std::to_string(p.subtask_index()) + " twice");
  std::vector<const pb::Part*> out(plan.subtasks.size(), nullptr);
  for (auto& s : plan.subtasks) {
    auto it = parts.find({s.node.value(), s.index});
    auto op = "operator " + std::to_string(s.node.value()) + " '" +
              s.operator_name + "'";
    if (it == parts.end())
      throw incompatible_checkpoint(where + " has no state for " + op +
                                    " subtask " + std::to_string(s.index) +
                                    " (another topology or parallelism?)");
    auto& p = *it->second;
    if (p.operator_name() != s.operator_name)
      throw incompatible_checkpoint(
          where + ": operator " + std::to_string(s.node.value()) + " is '" +
          p.operator_name() + "' there, '" + s.operator_name + "' here");
    if (p.parallelism() != s.parallelism)
      throw incompatible_checkpoint(where + ": " + op + " ran at parallelism " +
                                    std::to_string(p.parallelism()) +
                                    ", here " + std::to_string(s.parallelism) +
                                    " (rescaling is not supported yet)");
    out[s.id.value()] = &p;
    parts.erase(it);
  }
  if (!parts.empty()) {
    auto& p = *parts.begin()->second;
    throw incompatible_checkpoint(
        where + " holds state of operator " + std::to_string(p.operator_id()) +
        " '" + p.operator_name() + "' subtask " +
        std::to_string(p.subtask_index()) + ", which this job does not have");
  }
  return out;
}

} // namespace flow::checkpoint

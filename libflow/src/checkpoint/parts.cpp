#include "flow/checkpoint/parts.hpp"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

namespace flow::checkpoint {

namespace {

using google::protobuf::io::CodedOutputStream;
constexpr uint32_t varint_type = 0; // wire types
constexpr uint32_t length_delimited = 2;

/// Appends a field's tag, then `value`: a varint field's value, or a
/// length-delimited field's length (its bytes follow).
void put_field(std::string& out, int field, uint32_t wire_type,
               uint64_t value) {
  uint8_t buf[20]; // two varints of at most 10 bytes
  auto* end = CodedOutputStream::WriteTagToArray(
      (static_cast<uint32_t>(field) << 3) | wire_type, buf);
  end = CodedOutputStream::WriteVarint64ToArray(value, end);
  out.append(reinterpret_cast<const char*>(buf),
             static_cast<size_t>(end - buf));
}

} // namespace

byte_chain encode_state(subtask_snapshot snap) {
  snap.write_key_groups();
  // Field by field in field-number order, as SerializeAsString writes
  // them (fields at their default value left out): key groups, then the
  // operator state's tag and length followed by its pieces, then the dead
  // letters. Each key group's state becomes a piece of its own, its copy
  // in the snapshot freed at once: a large state is held about once, not
  // again as a message and its serialization.
  byte_chain out;
  std::string head;
  for (auto& g : snap.key_groups) {
    auto size = g.bytes.size();
    uint64_t message = 0;
    if (g.key_group != 0)
      message += 1 + CodedOutputStream::VarintSize32(g.key_group);
    if (size != 0) message += 1 + CodedOutputStream::VarintSize64(size) + size;
    put_field(head, pb::PartState::kKeyGroupsFieldNumber, length_delimited,
              message);
    if (g.key_group != 0)
      put_field(head, pb::KeyGroupState::kKeyGroupFieldNumber, varint_type,
                g.key_group);
    if (size == 0) continue;
    put_field(head, pb::KeyGroupState::kStateFieldNumber, length_delimited,
              size);
    out.append(std::move(head));
    head.clear();
    out.append(std::string(g.bytes.begin(), g.bytes.end()));
    std::vector<char>().swap(g.bytes);
  }
  if (!snap.operator_state.empty()) {
    put_field(head, pb::PartState::kOperatorStateFieldNumber, length_delimited,
              snap.operator_state.size());
    out.append(std::move(head));
    out.append(snap.operator_state);
    head.clear();
  }
  pb::PartState held;
  held.set_dead_letters(std::move(snap.dead_letters));
  head += held.SerializeAsString();
  out.append(std::move(head));
  return out;
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
  out.dead_letters = st.dead_letters();
  return out;
}

pb::Part describe(const subtask_plan& s, const subtask_snapshot& snap) {
  if (snap.key_groups_later)
    throw std::logic_error("checkpoint::describe: the snapshot's key groups "
                           "are not written yet (write_key_groups)");
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
  auto* et = p.mutable_event_time();
  et->set_watermark(snap.event_time.watermark);
  et->set_output_watermark(snap.event_time.output_watermark);
  et->set_output_idle(snap.event_time.output_idle);
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

namespace {

/// The parts of one operator in a checkpoint, by subtask index.
struct old_operator {
  std::string name;
  uint32_t parallelism = 0;
  std::vector<size_t> parts; // index into md.parts(), by subtask index
};

/// The subtask a split belongs to at `parallelism`: a numbered split n
/// goes to n % parallelism; nullopt for a split that is not a number.
std::optional<uint32_t> owner_of_split(const std::string& split,
                                       uint32_t parallelism) {
  if (split.empty() || split.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : split) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return static_cast<uint32_t>(n % parallelism);
}

event_time_snapshot event_time_of(const pb::Part& p) {
  auto& et = p.event_time();
  return {et.watermark(), et.output_watermark(), et.output_idle()};
}

/// The event time of a subtask that inherits from the old subtasks
/// `from`: the lowest of their watermarks, idle if all were.
event_time_snapshot inherited_event_time(const pb::Metadata& md,
                                         const old_operator& o,
                                         const std::set<uint32_t>& from) {
  event_time_snapshot et{max_timestamp, max_timestamp, true};
  for (auto i : from) {
    auto x = event_time_of(md.parts(static_cast<int>(o.parts[i])));
    et.watermark = std::min(et.watermark, x.watermark);
    et.output_watermark = std::min(et.output_watermark, x.output_watermark);
    et.output_idle = et.output_idle && x.output_idle;
  }
  return et;
}

} // namespace

redistribution redistribute(const pb::Metadata& md,
                            std::vector<part_state> states,
                            const physical_plan& plan) {
  auto where = "checkpoint " + std::to_string(md.checkpoint_id()) +
               " of job '" + md.job_name() + "'";
  if (states.size() != static_cast<size_t>(md.parts_size()))
    throw std::invalid_argument("redistribute: one state per part expected");
  if (md.key_groups() != 0 && md.key_groups() != plan.max_parallelism)
    throw incompatible_checkpoint(
        where + " has " + std::to_string(md.key_groups()) +
        " key groups (flow.max-parallelism), this job " +
        std::to_string(plan.max_parallelism) +
        ": the number of key groups is fixed for a job's lifetime");

  bool event_time =
      std::all_of(md.parts().begin(), md.parts().end(),
                  [](const pb::Part& p) { return p.has_event_time(); });
  std::map<uint32_t, old_operator> old;
  for (int j = 0; j < md.parts_size(); ++j) {
    auto& p = md.parts(j);
    auto& o = old[p.operator_id()];
    if (o.parts.empty()) {
      o.name = p.operator_name();
      o.parallelism = p.parallelism();
      o.parts.assign(p.parallelism(), SIZE_MAX);
    }
    auto who = "operator " + std::to_string(p.operator_id()) + " '" +
               p.operator_name() + "' subtask " +
               std::to_string(p.subtask_index());
    if (p.operator_name() != o.name || p.parallelism() != o.parallelism ||
        p.subtask_index() >= o.parallelism)
      throw incompatible_checkpoint(where + ": the part of " + who +
                                    " does not fit the operator's other parts");
    if (o.parts[p.subtask_index()] != SIZE_MAX)
      throw incompatible_checkpoint(where + " holds " + who + " twice");
    o.parts[p.subtask_index()] = static_cast<size_t>(j);
  }

  redistribution out;
  out.subtasks.resize(plan.subtasks.size());
  for (auto& s : out.subtasks)
    s.id = checkpoint_id{md.checkpoint_id()};
  std::map<uint32_t, std::vector<const subtask_plan*>> now;
  for (auto& s : plan.subtasks)
    now[s.node.value()].push_back(&s);

  for (auto& entry : now) {
    auto node = entry.first;
    auto& subtasks = entry.second;
    auto& first = *subtasks.front();
    auto op =
        "operator " + std::to_string(node) + " '" + first.operator_name + "'";
    auto it = old.find(node);
    if (it == old.end())
      throw incompatible_checkpoint(where + " has no state for " + op +
                                    " (another topology?)");
    auto& o = it->second;
    if (o.name != first.operator_name)
      throw incompatible_checkpoint(
          where + ": operator " + std::to_string(node) + " is '" + o.name +
          "' there, '" + first.operator_name + "' here");
    for (uint32_t i = 0; i < o.parallelism; ++i)
      if (o.parts[i] == SIZE_MAX)
        throw incompatible_checkpoint(where + " has no state for " + op +
                                      " subtask " + std::to_string(i));
    auto q = first.parallelism;
    if (q == o.parallelism) {
      for (auto* s : subtasks) {
        auto j = o.parts[s->index];
        auto& r = out.subtasks[s->id.value()];
        r.key_groups = std::move(states[j].key_groups);
        r.operator_state = std::move(states[j].operator_state);
        r.dead_letters = std::move(states[j].dead_letters);
        r.positions = positions_of(md.parts(static_cast<int>(j)));
        if (event_time)
          r.event_time = event_time_of(md.parts(static_cast<int>(j)));
      }
      old.erase(it);
      continue;
    }

    auto rescaling = " at parallelism " + std::to_string(q) + ", it ran at " +
                     std::to_string(o.parallelism);
    if (md.key_groups() == 0)
      throw incompatible_checkpoint(
          where + " cannot restore " + op + rescaling +
          ": it was written before format version 3 and does not record "
          "its number of key groups");
    auto subtask_of = [&](uint32_t index) -> subtask_restore& {
      return out.subtasks[subtasks.at(index)->id.value()];
    };
    std::map<std::string, uint32_t> split_seen;
    // Old subtasks each new one inherits from: the holders of its splits
    // (sources), of its key groups (the others).
    std::vector<std::set<uint32_t>> splits_from(q);
    for (uint32_t i = 0; i < o.parallelism; ++i) {
      auto j = o.parts[i];
      auto& part = md.parts(static_cast<int>(j));
      if (!states[j].operator_state.empty())
        throw incompatible_checkpoint(
            where + " cannot restore " + op + rescaling + ": subtask " +
            std::to_string(i) +
            " holds state of its own (a sink's, e.g. the open epoch of an "
            "exactly-once Kafka sink), which does not split or merge over "
            "subtasks");
      if (!states[j].dead_letters.empty())
        throw incompatible_checkpoint(
            where + " cannot restore " + op + rescaling + ": subtask " +
            std::to_string(i) +
            " holds dead letters not yet published (kafka.delivery = "
            "exactly-once), which belong to its transactional id; restore "
            "it at parallelism " +
            std::to_string(o.parallelism) + " first");
      for (auto& g : states[j].key_groups) {
        if (g.key_group >= plan.max_parallelism)
          throw incompatible_checkpoint(
              where + ": " + op + " subtask " + std::to_string(i) +
              " holds key group " + std::to_string(g.key_group) + " of " +
              std::to_string(plan.max_parallelism));
        subtask_of(subtask_of_key_group(g.key_group, plan.max_parallelism, q))
            .key_groups.push_back(std::move(g));
      }
      for (auto& x : part.positions()) {
        auto to = owner_of_split(x.split(), q);
        if (!to)
          throw incompatible_checkpoint(
              where + " cannot restore " + op + rescaling + ": its position '" +
              x.split() +
              "' is not a numbered split (a source keeping one position per "
              "subtask restores at the parallelism it ran at only)");
        if (!split_seen.emplace(x.split(), i).second)
          throw incompatible_checkpoint(where + ": split " + x.split() +
                                        " of " + op + " is held twice");
        subtask_of(*to).positions.push_back({x.split(), x.position()});
        splits_from[*to].insert(i);
      }
    }
    if (event_time) {
      std::vector<std::set<uint32_t>> groups_from(q);
      for (uint32_t g = 0; g < plan.max_parallelism; ++g)
        groups_from[subtask_of_key_group(g, plan.max_parallelism, q)].insert(
            subtask_of_key_group(g, plan.max_parallelism, o.parallelism));
      for (uint32_t k = 0; k < q; ++k) {
        auto& from = first.kind == node_kind::source && !splits_from[k].empty()
                         ? splits_from[k]
                         : groups_from[k];
        subtask_of(k).event_time = inherited_event_time(md, o, from);
      }
    }
    out.rescaled.push_back(first.operator_name + " " +
                           std::to_string(o.parallelism) + " -> " +
                           std::to_string(q));
    old.erase(it);
  }
  if (!old.empty()) {
    auto& [node, o] = *old.begin();
    throw incompatible_checkpoint(where + " holds state of operator " +
                                  std::to_string(node) + " '" + o.name +
                                  "', which this job does not have");
  }
  // Each input channel stands where its upstream subtask's output does:
  // at an aligned checkpoint, what it had sent before the barrier is what
  // the channel had delivered.
  if (event_time)
    for (auto& s : plan.subtasks) {
      auto& r = out.subtasks[s.id.value()];
      for (auto ch : s.inputs) {
        auto& up = out.subtasks[plan.channels[ch.value()].from.value()];
        r.inputs.push_back(
            {up.event_time.output_watermark, up.event_time.output_idle});
      }
    }
  return out;
}

} // namespace flow::checkpoint

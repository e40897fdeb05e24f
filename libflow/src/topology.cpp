#include "flow/topology.hpp"

#include <set>

namespace flow {

node_id topology::add_node(node_def n) {
  n.id = node_id{static_cast<uint32_t>(nodes_.size())};
  std::set<std::string> taken;
  for (auto& other : nodes_)
    taken.insert(other.name);
  if (taken.count(n.name) > 0) {
    auto base = n.name;
    for (int i = 2; taken.count(n.name) > 0; ++i)
      n.name = base + "-" + std::to_string(i);
  }
  for (auto& e : n.inputs) {
    if (e.from.value() >= nodes_.size())
      throw std::invalid_argument("edge from unknown node");
    if (nodes_[e.from.value()].kind == node_kind::sink)
      throw std::invalid_argument("a sink has no output: " +
                                  nodes_[e.from.value()].name);
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

uint64_t topology::fingerprint() const {
  // FNV-1a over a canonical text of the graph.
  uint64_t h = 1469598103934665603ULL;
  auto feed = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
  };
  feed(name_);
  for (auto& n : nodes_) {
    feed(n.name);
    feed(std::to_string(static_cast<int>(n.kind)));
    feed(n.parallelism ? std::to_string(*n.parallelism) : "-");
    for (auto& e : n.inputs) {
      feed(std::to_string(e.from.value()));
      feed(e.kind ? to_string(*e.kind) : "default");
    }
  }
  return h;
}

} // namespace flow

#include "flow/observe/job_view.hpp"

#include <algorithm>

namespace flow::observe {

namespace {

std::string kind_name(node_kind k) {
  switch (k) {
  case node_kind::source:
    return "source";
  case node_kind::sink:
    return "sink";
  default:
    return "operation";
  }
}

double per_second(uint64_t now, uint64_t before, int64_t ms) {
  if (ms <= 0 || now < before) return 0;
  return static_cast<double>(now - before) * 1000.0 / static_cast<double>(ms);
}

} // namespace

std::string to_string(job_status s) {
  switch (s) {
  case job_status::deploying:
    return "deploying";
  case job_status::running:
    return "running";
  case job_status::finished:
    return "finished";
  default:
    return "failed";
  }
}

void job_view::subtask_track::observe(subtask_sample s, int64_t now_ms) {
  if (current) {
    // Counters never go back (a report may overtake a later local read of
    // the ongoing blocked period).
    s.blocked_ns = std::max(s.blocked_ns, current->counters.blocked_ns);
    s.records_in = std::max(s.records_in, current->counters.records_in);
    s.records_out = std::max(s.records_out, current->counters.records_out);
    if (now_ms <= current->time_ms) {
      current->counters = std::move(s);
      return;
    }
  }
  previous = std::move(current);
  current = observation{std::move(s), now_ms};
}

job_view::job_view(std::string job, std::string node, std::string role)
    : job_(std::move(job)), node_(std::move(node)), role_(std::move(role)),
      latest_(std::make_shared<job_snapshot>()) {}

void job_view::set_node(std::string name) {
  std::lock_guard<std::mutex> guard{mutex_};
  node_ = std::move(name);
}

std::string job_view::node() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return node_;
}

void job_view::set_plan(const physical_plan& plan,
                        std::vector<std::string> node_of) {
  std::lock_guard<std::mutex> guard{mutex_};
  operators_.clear();
  edges_.clear();
  subtasks_.clear();
  for (auto& s : plan.subtasks) {
    if (s.index == 0) {
      operator_view o;
      o.name = s.operator_name;
      o.kind = kind_name(s.kind);
      o.parallelism = s.parallelism;
      operators_.push_back(std::move(o));
      for (auto& e : s.out_edges) {
        if (e.slots.empty()) continue;
        auto& ch = plan.channels[s.outputs[e.slots.front()].value()];
        edges_.push_back({s.operator_name,
                          plan.subtasks[ch.to.value()].operator_name,
                          flow::to_string(e.kind)});
      }
    }
    subtask_view v;
    v.operator_name = s.operator_name;
    v.index = s.index;
    v.node = s.id.value() < node_of.size() ? node_of[s.id.value()] : node_;
    for (auto& o : operators_)
      if (o.name == s.operator_name) o.subtasks.push_back(subtasks_.size());
    subtasks_.push_back(std::move(v));
  }
  tracks_.assign(plan.subtasks.size(), {});
  local_.resize(plan.subtasks.size());
  // Points of another plan have other operators.
  history_.clear();
  for (auto& n : node_of) {
    if (n.empty() || n == node_) continue;
    auto known = std::any_of(nodes_.begin(), nodes_.end(),
                             [&](auto& x) { return x.first == n; });
    if (!known) nodes_.emplace_back(n, node_report{});
  }
}

void job_view::set_local(
    std::vector<std::shared_ptr<subtask_metrics>> metrics) {
  std::lock_guard<std::mutex> guard{mutex_};
  metrics.resize(std::max(metrics.size(), local_.size()));
  local_ = std::move(metrics);
  if (tracks_.size() < local_.size()) tracks_.resize(local_.size());
}

void job_view::on_report(uint32_t id, subtask_sample s, int64_t now_ms) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (id >= tracks_.size() || (id < local_.size() && local_[id])) return;
  tracks_[id].observe(std::move(s), now_ms);
}

void job_view::on_node(const std::string& name, process_sample p,
                       int64_t now_ms) {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& [n, r] : nodes_)
    if (n == name) {
      r = {p, now_ms};
      return;
    }
  nodes_.emplace_back(name, node_report{p, now_ms});
}

void job_view::set_status(job_status s) {
  std::lock_guard<std::mutex> guard{mutex_};
  status_ = s;
}

void job_view::record_checkpoint(checkpoint_record c) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++(c.completed ? checkpoints_completed_ : checkpoints_failed_);
  checkpoints_.push_back(std::move(c));
  if (checkpoints_.size() > checkpoint_capacity) checkpoints_.pop_front();
}

void job_view::count_restart() {
  std::lock_guard<std::mutex> guard{mutex_};
  ++restarts_;
}

std::shared_ptr<const job_snapshot> job_view::sample(int64_t now_ms,
                                                     process_sample self) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto snap = std::make_shared<job_snapshot>();
  snap->job = job_;
  snap->node = node_;
  snap->role = role_;
  snap->status = status_;
  snap->time_ms = now_ms;
  snap->interval_ms = previous_ms_ > 0 ? now_ms - previous_ms_ : 0;
  previous_ms_ = now_ms;
  snap->operators = operators_;
  snap->edges = edges_;
  snap->subtasks = subtasks_;
  for (size_t i = 0; i < snap->subtasks.size(); ++i) {
    auto& track = tracks_[i];
    if (i < local_.size() && local_[i])
      track.observe(sample_of(*local_[i]), now_ms);
    auto& v = snap->subtasks[i];
    if (!track.current) continue;
    v.known = true;
    v.counters = track.current->counters;
    if (track.previous && !v.counters.finished) {
      auto& before = track.previous->counters;
      auto ms = track.current->time_ms - track.previous->time_ms;
      v.records_in_per_s =
          per_second(v.counters.records_in, before.records_in, ms);
      v.records_out_per_s =
          per_second(v.counters.records_out, before.records_out, ms);
      v.backpressure = std::min(
          1.0, per_second(v.counters.blocked_ns, before.blocked_ns, ms) / 1e9);
    }
  }
  snap->nodes.push_back({node_, role_, self, 0, 0});
  for (auto& [name, report] : nodes_)
    snap->nodes.push_back(
        {name, "worker", report.process, 0,
         report.received_ms > 0 ? now_ms - report.received_ms : -1});
  for (auto& v : snap->subtasks)
    for (auto& n : snap->nodes)
      if (n.name == v.node) ++n.subtasks;
  snap->checkpoints.assign(checkpoints_.begin(), checkpoints_.end());
  snap->checkpoints_completed = checkpoints_completed_;
  snap->checkpoints_failed = checkpoints_failed_;
  snap->restarts = restarts_;

  latest_ = snap;
  // Before the plan is known there are no operators to chart.
  if (snap->operators.empty()) return snap;
  rate_point point;
  point.time_ms = now_ms;
  for (auto& o : snap->operators) {
    double in = 0, out = 0;
    for (auto i : o.subtasks) {
      in += snap->subtasks[i].records_in_per_s;
      out += snap->subtasks[i].records_out_per_s;
    }
    point.records_in_per_s.push_back(in);
    point.records_out_per_s.push_back(out);
  }
  history_.push_back(std::move(point));
  if (history_.size() > history_capacity) history_.pop_front();
  return snap;
}

std::shared_ptr<const job_snapshot> job_view::latest() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return latest_;
}

std::vector<rate_point> job_view::rates() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return {history_.begin(), history_.end()};
}

} // namespace flow::observe

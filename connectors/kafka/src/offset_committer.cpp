#include "flow/kafka/offset_committer.hpp"

#include "flow/kafka/admin.hpp"
#include "flow/kafka/error.hpp"
#include "flow/log.hpp"

#include <map>
#include <tuple>

namespace flow::kafka {

offset_committer& offset_committer::instance() {
  static offset_committer x;
  return x;
}

void offset_committer::sink_opened() {
  std::lock_guard<std::mutex> guard{mtx_};
  ++open_sinks_;
}

void offset_committer::sink_finished() {
  std::unique_lock<std::mutex> guard{mtx_};
  if (--open_sinks_ != 0) return;
  if (auto failed = last_sink_gone(guard); !failed.empty())
    throw kafka_error{errc::offset_commit_failed,
                      failed + " (the output is complete; the next run reads "
                               "these records again)"};
}

void offset_committer::sink_abandoned() {
  std::unique_lock<std::mutex> guard{mtx_};
  abandoned_ = true;
  if (--open_sinks_ == 0) last_sink_gone(guard);
}

void offset_committer::source_finished(
    const client_settings& s, const std::string& topic,
    std::vector<std::pair<int32_t, int64_t>> positions, bool checkpointed) {
  if (s.group_id.empty() || positions.empty()) return;
  std::lock_guard<std::mutex> guard{mtx_};
  pending_.push_back(pending{s, topic, std::move(positions), checkpointed});
}

std::string
offset_committer::last_sink_gone(std::unique_lock<std::mutex>& guard) {
  auto work = std::move(pending_);
  pending_.clear();
  auto abandoned = abandoned_;
  abandoned_ = false;
  guard.unlock();
  auto log = logger("flow/kafka");
  if (abandoned) {
    if (!work.empty())
      log->warn("a Kafka sink did not finish: offsets not committed");
    return {};
  }
  // One commit per (cluster, group, topic), merging the subtasks' reports.
  struct commit {
    const client_settings* settings = nullptr;
    std::map<int32_t, int64_t> offsets;
    bool for_lag_tools = true; // every report's job checkpoints
  };
  std::map<std::tuple<std::string, std::string, std::string>, commit> merged;
  for (auto& w : work) {
    auto& m = merged[{w.settings.bootstrap, w.settings.group_id, w.topic}];
    m.settings = &w.settings;
    m.for_lag_tools = m.for_lag_tools && w.checkpointed;
    for (auto& [p, o] : w.positions)
      m.offsets[p] = o;
  }
  std::string failed;
  for (auto& [k, m] : merged) {
    auto& [bootstrap, group, topic] = k;
    std::string error;
    try {
      admin{*m.settings}.commit(group, topic, m.offsets);
      log->info("committed offsets of group {} for {} ({} partitions)", group,
                topic, m.offsets.size());
      continue;
    } catch (const kafka_error& e) {
      error = e.message();
    } catch (const std::exception& e) {
      error = "commit offsets of " + group + " for " + topic + ": " + e.what();
    }
    if (m.for_lag_tools)
      log->warn("{} (the job resumes from its checkpoints: only lag tools "
                "lag)",
                error);
    else
      failed += (failed.empty() ? "" : "; ") + error;
  }
  return failed;
}

} // namespace flow::kafka

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
    std::vector<std::pair<int32_t, int64_t>> positions) {
  if (s.group_id.empty() || positions.empty()) return;
  std::lock_guard<std::mutex> guard{mtx_};
  pending_.push_back(pending{s, topic, std::move(positions)});
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
  std::map<std::tuple<std::string, std::string, std::string>,
           std::pair<const client_settings*, std::map<int32_t, int64_t>>>
      merged;
  for (auto& w : work) {
    auto& m = merged[{w.settings.bootstrap, w.settings.group_id, w.topic}];
    m.first = &w.settings;
    for (auto& [p, o] : w.positions)
      m.second[p] = o;
  }
  std::string failed;
  for (auto& [k, m] : merged) {
    auto& [bootstrap, group, topic] = k;
    try {
      admin{*m.first}.commit(group, topic, m.second);
      log->info("committed offsets of group {} for {} ({} partitions)", group,
                topic, m.second.size());
    } catch (const kafka_error& e) {
      failed += (failed.empty() ? "" : "; ") + e.message();
    } catch (const std::exception& e) {
      failed += (failed.empty() ? "" : "; ") +
                std::string("commit offsets of ") + group + " for " + topic +
                ": " + e.what();
    }
  }
  return failed;
}

} // namespace flow::kafka

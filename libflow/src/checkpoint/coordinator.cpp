#include "flow/checkpoint/coordinator.hpp"

#include "flow/log.hpp"

#include <algorithm>
#include <stdexcept>

namespace flow::checkpoint {

coordinator::coordinator(std::string job_name, std::vector<subtask_id> subtasks,
                         const options& opts, const clock& clk,
                         checkpoint_id last)
    : job_name_(std::move(job_name)), subtasks_(std::move(subtasks)),
      interval_(opts.interval), timeout_(opts.timeout), clock_(clk),
      last_id_(last),
      next_due_(opts.interval.count() > 0 ? clk.now() + opts.interval.count()
                                          : max_timestamp) {
  std::sort(subtasks_.begin(), subtasks_.end());
  if (std::adjacent_find(subtasks_.begin(), subtasks_.end()) != subtasks_.end())
    throw std::invalid_argument("checkpoint coordinator: a subtask twice");
  if (timeout_.count() <= 0)
    throw std::invalid_argument("checkpoint coordinator: timeout must be > 0");
}

std::optional<trigger> coordinator::poll() {
  auto now = clock_.now();
  if (pending_ && !pending_->committing &&
      now - pending_->trig.time_ms >= timeout_.count())
    abort("timed out after " + std::to_string(timeout_.count()) + " ms with " +
          std::to_string(pending_->acks.size()) + " of " +
          std::to_string(subtasks_.size()) + " subtasks acknowledged");
  if (pending_ || final_complete_ || stopped_ || !failure_.empty())
    return std::nullopt;
  bool all_ended = ended_.size() == subtasks_.size();
  if (!savepoint_requested_ && !all_ended && now < next_due_)
    return std::nullopt;
  trigger t{checkpoint_id{last_id_.value() + 1}, savepoint_requested_,
            all_ended, now};
  last_id_ = t.id;
  stats_.last_triggered = t.id;
  savepoint_requested_ = false;
  if (interval_.count() > 0) next_due_ = now + interval_.count();
  pending_ = pending{t, {}, false, {}};
  if (t.final) {
    ++final_tries_;
    logger("flow/checkpoint")
        ->info("every subtask has ended: final checkpoint {} (attempt {} of "
               "{})",
               t.id.value(), final_tries_, final_attempts);
  }
  logger("flow/checkpoint")
      ->debug("{} {} triggered", t.savepoint ? "savepoint" : "checkpoint",
              t.id.value());
  return t;
}

void coordinator::on_ended(subtask_id s) {
  if (!std::binary_search(subtasks_.begin(), subtasks_.end(), s))
    throw std::logic_error("checkpoint protocol: subtask " +
                           std::to_string(s.value()) +
                           " ended, not in the job");
  auto at = std::lower_bound(ended_.begin(), ended_.end(), s);
  if (at == ended_.end() || *at != s) ended_.insert(at, s);
}

int64_t coordinator::next_wakeup() const {
  if (pending_)
    return pending_->committing ? max_timestamp
                                : pending_->trig.time_ms + timeout_.count();
  if (final_complete_ || stopped_ || !failure_.empty()) return max_timestamp;
  return savepoint_requested_ || ended_.size() == subtasks_.size()
             ? clock_.now()
             : next_due_;
}

std::optional<pb::Metadata> coordinator::on_ack(checkpoint_id id, subtask_id s,
                                                pb::Part part) {
  if (!std::binary_search(subtasks_.begin(), subtasks_.end(), s))
    throw std::logic_error(
        "checkpoint protocol: acknowledgement from subtask " +
        std::to_string(s.value()) + ", not in the job");
  if (!pending_ || pending_->trig.id != id) return std::nullopt;
  if (!pending_->acks.emplace(s, std::move(part)).second)
    throw std::logic_error(
        "checkpoint protocol: subtask " + std::to_string(s.value()) +
        " acknowledged checkpoint " + std::to_string(id.value()) + " twice");
  if (pending_->acks.size() < subtasks_.size()) return std::nullopt;
  pending_->committing = true;
  auto& md = pending_->metadata;
  md.set_checkpoint_id(id.value());
  md.set_job_name(job_name_);
  md.set_savepoint(pending_->trig.savepoint);
  md.set_trigger_time_ms(pending_->trig.time_ms);
  md.set_complete_time_ms(clock_.now());
  for (auto& [sub, p] : pending_->acks)
    *md.add_parts() = std::move(p);
  pending_->acks.clear();
  return md;
}

void coordinator::on_decline(checkpoint_id id, subtask_id s,
                             const std::string& cause) {
  if (!pending_ || pending_->trig.id != id) return;
  abort("subtask " + std::to_string(s.value()) + " declined: " + cause);
}

void coordinator::on_committed(checkpoint_id id) {
  if (!pending_ || pending_->trig.id != id || !pending_->committing)
    throw std::logic_error("checkpoint protocol: commit of checkpoint " +
                           std::to_string(id.value()) +
                           ", which is not being committed");
  auto md = std::move(pending_->metadata);
  if (pending_->trig.final) final_complete_ = true;
  checkpoint_stats cs;
  cs.id = id;
  cs.savepoint = md.savepoint();
  cs.trigger_time_ms = md.trigger_time_ms();
  cs.duration_ms = clock_.now() - md.trigger_time_ms();
  for (auto& p : md.parts()) {
    cs.size_bytes += p.size_bytes();
    cs.alignment_ms = std::max(cs.alignment_ms, p.alignment_ms());
  }
  pending_.reset();
  stats_.last_completed = cs;
  ++stats_.completed;
  logger("flow/checkpoint")
      ->info("{} {} complete: {} ms, {} bytes, alignment {} ms",
             cs.savepoint ? "savepoint" : "checkpoint", id.value(),
             cs.duration_ms, cs.size_bytes, cs.alignment_ms);
  for (auto& f : completion_listeners_)
    f(md);
}

void coordinator::on_commit_failed(checkpoint_id id, const std::string& cause) {
  if (!pending_ || pending_->trig.id != id) return;
  abort("metadata not written: " + cause);
}

std::optional<trigger> coordinator::in_flight() const {
  if (!pending_) return std::nullopt;
  return pending_->trig;
}

void coordinator::abort(const std::string& cause) {
  auto t = pending_->trig;
  pending_.reset();
  if (t.final && final_tries_ >= final_attempts)
    failure_ = "the final checkpoint was aborted " +
               std::to_string(final_tries_) + " times (last: " + cause +
               "): what the job did after its last complete checkpoint is "
               "not covered";
  ++stats_.failed;
  stats_.last_failed = t.id;
  stats_.last_failure = cause;
  logger("flow/checkpoint")
      ->warn("{} {} aborted: {}", t.savepoint ? "savepoint" : "checkpoint",
             t.id.value(), cause);
  for (auto& f : abort_listeners_)
    f(t, cause);
}

} // namespace flow::checkpoint

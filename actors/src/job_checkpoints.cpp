#include "flow/runtime/job_checkpoints.hpp"

#include "flow/exceptions.hpp"
#include "flow/log.hpp"
#include "flow/option.hpp"
#include "flow/runtime/messages.hpp"

#include <caf/all.hpp>

namespace flow::runtime {

namespace {

std::vector<subtask_id> all_subtasks(const physical_plan& plan) {
  std::vector<subtask_id> out;
  for (auto& s : plan.subtasks)
    out.push_back(s.id);
  return out;
}

} // namespace

std::shared_ptr<checkpoint::store>
open_checkpoint_store(const checkpoint::options& opts) {
  if (opts.dir.empty()) return nullptr;
  auto store = std::make_shared<checkpoint::store>(opts.dir, opts.retained);
  bool writes = opts.interval.count() > 0 || opts.savepoint_on_stop;
  if (auto err = store->prepare(writes))
    throw config_failure(config_error{
        "flow.checkpoint-dir", opts.dir,
        std::string(writes ? "a directory this process can list "
                             "and write; "
                           : "a directory this process can "
                             "list; ") +
            (err->path == store->root().string() ? err->cause : err->message())}
                             .message());
  return store;
}

std::optional<restored_job> load_restore(const checkpoint::options& opts,
                                         const checkpoint::store* store,
                                         const physical_plan& plan) {
  auto log = logger("flow/checkpoint");
  if (opts.restore == "none") return std::nullopt;
  std::optional<checkpoint::completed_checkpoint> cp;
  if (opts.restore == "latest") {
    if (!store) return std::nullopt;
    cp = store->latest();
    if (!cp) {
      log->info("no complete checkpoint in {}: starting fresh",
                store->root().string());
      return std::nullopt;
    }
  } else {
    auto opened = checkpoint::store::open(opts.restore);
    if (!opened)
      throw checkpoint::incompatible_checkpoint(
          "flow.restore = " + opts.restore +
          ": not a complete checkpoint: " + opened.error().message());
    cp = std::move(opened.value());
  }
  std::vector<checkpoint::part_state> states;
  for (auto& p : cp->metadata.parts()) {
    auto bytes = checkpoint::store::read_part(*cp, p);
    if (!bytes)
      throw checkpoint::incompatible_checkpoint(
          "checkpoint " + cp->dir.string() +
          " cannot be read: " + bytes.error().message());
    try {
      states.push_back(checkpoint::decode_state(bytes.value()));
    } catch (const std::exception& e) {
      throw checkpoint::incompatible_checkpoint(
          "checkpoint " + cp->dir.string() + ": " + p.file() + ": " + e.what());
    }
  }
  auto split = checkpoint::redistribute(cp->metadata, std::move(states), plan);
  restored_job r{*cp, std::move(split.subtasks)};
  for (auto& x : split.rescaled)
    log->info("rescaling {} (key groups and source splits redistributed)", x);
  auto age_ms = clock::system().now() - cp->metadata.complete_time_ms();
  log->info("restoring checkpoint {} from {} (taken {:.1f} s ago)",
            cp->id().value(), cp->dir.string(), age_ms / 1000.0);
  return r;
}

job_checkpoints::job_checkpoints(caf::scoped_actor& self,
                                 const std::string& job_name,
                                 const physical_plan& plan,
                                 std::shared_ptr<checkpoint::store> store,
                                 const checkpoint::options& opts,
                                 checkpoint_id restored,
                                 observe::job_view* view)
    : self_(self), plan_(plan), store_(std::move(store)), view_(view),
      coordinator_(job_name, all_subtasks(plan), opts, clock::system(),
                   restored),
      finished_(plan.subtasks.size(), false),
      ended_(plan.subtasks.size(), false) {
  coordinator_.on_complete(
      [this](const checkpoint::pb::Metadata& md) { completed(md); });
  coordinator_.on_abort(
      [this](const checkpoint::trigger& t, const std::string& cause) {
        aborted(t, cause);
      });
}

job_checkpoints::~job_checkpoints() = default;

void job_checkpoints::set_actors(std::vector<caf::actor> actors) {
  actors_ = std::move(actors);
}

void job_checkpoints::poll() {
  if (stopped_) {
    // Only the stop savepoint may still time out.
    if (stop_savepoint_ && stop_pending_) coordinator_.poll();
    return;
  }
  auto t = coordinator_.poll();
  if (!t) return;
  bool then_stop = t->savepoint && stop_pending_ && !stop_savepoint_;
  if (then_stop) stop_savepoint_ = t->id;
  for (auto& s : plan_.subtasks) {
    auto& actor = actors_[s.id.value()];
    if (ended_[s.id.value()])
      self_->send(actor, cp_end_atom::value, t->id.value());
    else if (s.kind == node_kind::source && then_stop)
      self_->send(actor, cp_stop_atom::value, t->id.value());
    else if (s.kind == node_kind::source)
      self_->send(actor, cp_trigger_atom::value, t->id.value());
  }
}

bool job_checkpoints::stop_with_savepoint() {
  if (stopped_ || stop_pending_) return false;
  stop_pending_ = true;
  coordinator_.request_savepoint();
  return true;
}

void job_checkpoints::stop_sources() {
  for (auto& s : plan_.subtasks)
    if (s.kind == node_kind::source && !finished_[s.id.value()])
      self_->send(actors_[s.id.value()], stop_atom::value);
}

std::chrono::milliseconds job_checkpoints::next_wakeup() const {
  if (stopped_ && !stop_pending_) return std::chrono::hours(1);
  auto wake = coordinator_.next_wakeup();
  if (wake == max_timestamp) return std::chrono::hours(1);
  return std::chrono::milliseconds(
      std::max<int64_t>(0, wake - clock::system().now()));
}

void job_checkpoints::on_ack(uint32_t subtask, uint64_t id,
                             const std::string& part) {
  checkpoint::pb::Part p;
  if (!p.ParseFromString(part)) {
    on_decline(subtask, id, "unreadable acknowledgement");
    return;
  }
  auto md =
      coordinator_.on_ack(checkpoint_id{id}, subtask_id{subtask}, std::move(p));
  if (!md) return;
  md->set_key_groups(plan_.max_parallelism);
  // Every part is written: the metadata goes last, on this thread.
  if (auto err = store_->commit(*md))
    coordinator_.on_commit_failed(checkpoint_id{id}, err->message());
  else
    coordinator_.on_committed(checkpoint_id{id});
}

void job_checkpoints::on_decline(uint32_t subtask, uint64_t id,
                                 const std::string& cause) {
  auto who = subtask < plan_.subtasks.size()
                 ? plan_.subtasks[subtask].operator_name + "[" +
                       std::to_string(plan_.subtasks[subtask].index) + "]: "
                 : std::string();
  coordinator_.on_decline(checkpoint_id{id}, subtask_id{subtask}, who + cause);
}

void job_checkpoints::on_finished(uint32_t subtask) {
  if (subtask < finished_.size()) finished_[subtask] = true;
  if (stopped_) return;
  stopped_ = true;
  if (released_) return; // after the final checkpoint
  auto in_flight = coordinator_.in_flight();
  if (stop_savepoint_ && in_flight && in_flight->id == *stop_savepoint_)
    return; // it snapshot the savepoint before it finished
  if (stop_pending_) {
    // The savepoint was not triggered yet and cannot be any more.
    stop_pending_ = false;
    logger("flow/checkpoint")
        ->warn("a subtask finished before the stop savepoint: stopping "
               "without one");
    stop_sources();
  }
  auto& s = plan_.subtasks.at(subtask);
  logger("flow/checkpoint")
      ->info("{}[{}] finished: no more checkpoints", s.operator_name, s.index);
  if (auto t = coordinator_.in_flight())
    coordinator_.on_decline(t->id, subtask_id{subtask},
                            "finished before the barrier reached it");
  // Subtasks that wait at their end (a node whose options have an
  // interval) would wait for a final checkpoint that cannot be taken now.
  release_all();
}

void job_checkpoints::on_ended(uint32_t subtask) {
  if (subtask >= ended_.size() || ended_[subtask]) return;
  ended_[subtask] = true;
  coordinator_.on_ended(subtask_id{subtask});
  // It may have ended before the barrier of the checkpoint in flight
  // reached it (it ignores this if not).
  if (auto t = coordinator_.in_flight())
    self_->send(actors_[subtask], cp_end_atom::value, t->id.value());
}

void job_checkpoints::release_all() {
  released_ = true;
  for (size_t i = 0; i < actors_.size(); ++i)
    if (!finished_[i]) self_->send(actors_[i], release_atom::value);
}

const checkpoint::coordinator_stats& job_checkpoints::stats() const {
  return coordinator_.stats();
}

void job_checkpoints::completed(const checkpoint::pb::Metadata& md) {
  bool stop_savepoint =
      stop_savepoint_ && md.checkpoint_id() == stop_savepoint_->value();
  if (stop_savepoint) {
    stop_pending_ = false;
    auto dir = store_->directory(*stop_savepoint_, true).string();
    logger("flow/checkpoint")
        ->info("savepoint {} written to {}: resume it with --flow.restore={}",
               md.checkpoint_id(), dir, dir);
  }
  if (auto& c = coordinator_.stats().last_completed; view_ && c)
    view_->record_checkpoint({c->id.value(), c->trigger_time_ms, c->duration_ms,
                              c->size_bytes, c->alignment_ms, true, ""});
  // Every subtask hears of it: sources commit their positions (their part
  // says where they stood), sinks and operators publish what they held
  // for it (an exactly-once sink's output, dead letters).
  for (auto& p : md.parts()) {
    for (auto& s : plan_.subtasks) {
      if (s.node.value() != p.operator_id() || s.index != p.subtask_index() ||
          finished_[s.id.value()])
        continue;
      self_->send(
          actors_[s.id.value()], cp_done_atom::value, md.checkpoint_id(),
          s.kind == node_kind::source ? p.SerializeAsString() : std::string{});
    }
  }
  if (coordinator_.final_complete()) {
    logger("flow/checkpoint")
        ->info("final checkpoint {} complete: the job ends",
               md.checkpoint_id());
    release_all();
  } else if (stop_savepoint) {
    // The sources stopped at its barrier: it is the job's last state.
    coordinator_.stop();
    release_all();
  }
}

void job_checkpoints::aborted(const checkpoint::trigger& t,
                              const std::string& cause) {
  if (view_)
    view_->record_checkpoint({t.id.value(), t.time_ms,
                              clock::system().now() - t.time_ms, 0, 0, false,
                              cause});
  if (stop_savepoint_ && t.id == *stop_savepoint_ && stop_pending_) {
    stop_pending_ = false;
    stop_savepoint_failure_ = "stop savepoint " + std::to_string(t.id.value()) +
                              " failed (" + cause +
                              "): the job stopped without it";
    logger("flow/checkpoint")
        ->error("stop savepoint {} failed: the job stops without it",
                t.id.value());
    stop_sources();
  }
  for (size_t i = 0; i < actors_.size(); ++i)
    if (!finished_[i])
      self_->send(actors_[i], cp_abort_atom::value, t.id.value());
  store_->discard(t.id, t.savepoint);
}

} // namespace flow::runtime

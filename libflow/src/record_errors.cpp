#include "flow/record_errors.hpp"

#include "flow/exceptions.hpp"
#include "flow/job_options.hpp"
#include "flow/log.hpp"
#include "flow/topology.hpp"

#include <mutex>
#include <vector>

namespace flow {

namespace {

/// Skip log lines of one subtask are at least this far apart.
constexpr int64_t skip_log_interval_ms = 1000;

struct destinations {
  std::mutex mutex;
  std::vector<std::shared_ptr<const dead_letter_destination>> all;
};

destinations& registry() {
  static destinations r;
  return r;
}

} // namespace

const char* to_string(on_error p) noexcept {
  switch (p) {
  case on_error::fail:
    return "fail";
  case on_error::dead_letter:
    return "dead-letter";
  case on_error::skip:
    return "skip";
  }
  return "fail";
}

std::optional<on_error> parse_on_error(std::string_view s) noexcept {
  for (auto p : {on_error::fail, on_error::dead_letter, on_error::skip})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

dead_letter_writer::~dead_letter_writer() = default;
dead_letter_destination::~dead_letter_destination() = default;

bool register_dead_letter_destination(
    std::shared_ptr<const dead_letter_destination> d) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mutex};
  r.all.push_back(std::move(d));
  return true;
}

const dead_letter_destination*
configured_dead_letter_destination(const settings_map& settings) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mutex};
  for (auto& d : r.all)
    if (d->configured(settings)) return d.get();
  return nullptr;
}

std::optional<config_error> check_error_policies(const topology& t,
                                                 const job_options& opts) {
  if (configured_dead_letter_destination(opts.settings)) return std::nullopt;
  for (auto& n : t.nodes()) {
    if (n.kind == node_kind::source ||
        n.on_error.value_or(opts.on_error) != on_error::dead_letter)
      continue;
    std::string why = "operator '" + n.name + "' has on-error dead-letter" +
                      (n.on_error ? "" : " (flow.on-error)");
    std::shared_ptr<const dead_letter_destination> offered;
    {
      auto& r = registry();
      std::lock_guard<std::mutex> guard{r.mutex};
      if (!r.all.empty()) offered = r.all.front();
    }
    if (offered) {
      auto it = opts.settings.find(offered->key());
      return config_error{offered->key(),
                          it == opts.settings.end() ? "" : it->second,
                          "a dead-letter destination: " + why};
    }
    return config_error{"flow.on-error", to_string(opts.on_error),
                        "fail or skip: " + why +
                            ", and no connector of this program takes dead "
                            "letters (the Kafka connector does, with "
                            "kafka.dead-letter-topic)"};
  }
  return std::nullopt;
}

record_error_handler::record_error_handler(const task_setup& s)
    : policy_(s.on_error), operator_name_(s.operator_name),
      subtask_index_(s.subtask_index), metrics_(s.metrics),
      clock_(s.clock ? s.clock : &clock::system()) {
  // Looked up whatever the policy: a restore may hold dead letters of a
  // run under dead-letter.
  setup_ = s;
  if (s.settings)
    destination_ = configured_dead_letter_destination(*s.settings);
}

record_error_handler::~record_error_handler() = default;

dead_letter record_error_handler::describe_exception() const {
  auto e = current_exception_info();
  dead_letter d;
  d.operator_name = operator_name_;
  d.subtask_index = subtask_index_;
  d.exception_type = std::move(e.type);
  d.message = std::move(e.message);
  return d;
}

void record_error_handler::on_failure(std::string what) {
  if (policy_ == on_error::fail) throw;
  auto d = describe_exception();
  d.payload = std::move(what);
  handle(std::move(d));
}

void record_error_handler::handle(dead_letter d) {
  if (policy_ == on_error::skip) {
    ++skipped_;
    if (metrics_) metrics_->add(metrics_->records_skipped, 1);
    ++unlogged_;
    auto now = clock_->now();
    if (skipped_ == 1 || now - last_log_ms_ >= skip_log_interval_ms) {
      logger("flow/errors")
          ->warn("operator '{}' subtask {} skipped {} record(s) (on-error "
                 "skip, {} in all); latest: {}{}{}",
                 operator_name_, subtask_index_, unlogged_, skipped_,
                 d.exception_type, d.message.empty() ? "" : ": ", d.message);
      last_log_ms_ = now;
      unlogged_ = 0;
    }
    return;
  }
  writer().write(std::move(d));
  ++dead_lettered_;
  if (metrics_) metrics_->add(metrics_->records_dead_lettered, 1);
  busy_ = true;
  if (dead_lettered_ == 1)
    logger("flow/errors")
        ->warn("operator '{}' subtask {}: first record sent to the "
               "dead-letter destination",
               operator_name_, subtask_index_);
}

void record_error_handler::set_wakeup(std::function<void()> wake) {
  wake_ = std::move(wake);
  if (writer_) writer_->set_wakeup(wake_);
}

dead_letter_writer& record_error_handler::writer() {
  if (!writer_) {
    if (!destination_)
      throw config_failure(
          "invalid config: flow.on-error = dead-letter (expected fail or "
          "skip: operator '" +
          operator_name_ +
          "' has on-error dead-letter and no dead-letter destination is "
          "configured)");
    writer_ = destination_->open(setup_);
    if (wake_) writer_->set_wakeup(wake_);
  }
  return *writer_;
}

void record_error_handler::resume() {
  if (writer_) busy_ = !writer_->flushed();
}

std::string record_error_handler::snapshot(checkpoint_id id) {
  return writer_ ? writer_->snapshot(id) : std::string{};
}

void record_error_handler::restore(checkpoint_id id, const std::string& state) {
  bool checkpointed =
      destination_ && destination_->checkpointed(*setup_.settings);
  // Under dead-letter the writer opens now even with nothing to publish:
  // opening settles what the run before left open (a Kafka transaction
  // that would hold back read_committed readers of the topic until it
  // timed out).
  if (state.empty() && !(checkpointed && policy_ == on_error::dead_letter))
    return;
  if (!checkpointed)
    throw config_failure("invalid config: operator '" + operator_name_ +
                         "' subtask " + std::to_string(subtask_index_) +
                         " restores dead letters that checkpoint " +
                         std::to_string(id.value()) +
                         " holds unpublished, and no dead-letter destination "
                         "that publishes with checkpoints is configured (run "
                         "it with the dead-letter settings it was taken with)");
  writer().restore(id, state);
  busy_ = true;
}

void record_error_handler::checkpoint_complete(checkpoint_id id) {
  if (!writer_) return;
  writer_->checkpoint_complete(id);
  busy_ = !writer_->flushed();
}

} // namespace flow

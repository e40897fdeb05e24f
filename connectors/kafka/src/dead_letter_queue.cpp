#include "flow/kafka/dead_letter_queue.hpp"

#include "flow/kafka/admin.hpp"
#include "flow/kafka/exactly_once_writer.hpp"
#include "flow/log.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace flow::kafka {

namespace {

/// The value of header `name` of `r`, if any.
const std::string* header_of(const producer_record& r, std::string_view name) {
  for (auto& h : r.headers)
    if (h.key == name) return &h.value;
  return nullptr;
}

/// Creates a dead-letter topic on a real broker (one partition, room for
/// dlq_max_value_bytes); nothing if it exists or the cluster is embedded.
void create_topic(const client_settings& s, const std::string& topic) {
  if (!s.embedded())
    admin{s}.create_topic(
        topic, 1, -1,
        {{"max.message.bytes", std::to_string(dlq_max_message_bytes)}});
}

/// The dead letter of a record a user function or sink failed on
/// (dead_letter's headers in dead_letter_queue.hpp).
producer_record record_of(dead_letter d) {
  producer_record r;
  r.headers.push_back(header{dlq_operator_header, d.operator_name});
  r.headers.push_back(
      header{dlq_subtask_header, std::to_string(d.subtask_index)});
  r.headers.push_back(header{dlq_exception_type_header, d.exception_type});
  r.headers.push_back(header{dlq_exception_message_header, d.message});
  r.headers.push_back(
      header{dlq_error_header, d.message.empty()
                                   ? d.exception_type
                                   : d.exception_type + ": " + d.message});
  r.headers.push_back(
      header{dlq_value_header, d.serialized ? "serialized" : "description"});
  if (d.origin) {
    r.headers.push_back(header{dlq_topic_header, d.origin->topic});
    r.headers.push_back(
        header{dlq_partition_header, std::to_string(d.origin->partition)});
    r.headers.push_back(
        header{dlq_offset_header, std::to_string(d.origin->offset)});
  }
  if (d.payload.size() > dlq_max_value_bytes) {
    r.headers.push_back(
        header{dlq_truncated_header, std::to_string(d.payload.size())});
    d.payload.resize(dlq_max_value_bytes);
  }
  r.value = std::move(d.payload);
  return r;
}

} // namespace

std::string dead_letter_transactional_id(const std::string& group,
                                         const std::string& operator_name,
                                         uint32_t subtask_index) {
  return exactly_once_writer::transactional_id(group, operator_name,
                                               subtask_index) +
         ".dead-letters";
}

dead_letter_queue::dead_letter_queue(client_settings s, std::string topic,
                                     blocking_executor* executor,
                                     dead_letter_source source)
    : topic_(std::move(topic)), executor_(executor) {
  if (s.delivery == delivery_guarantee::exactly_once) {
    group_ = s.group_id;
    marker_group_ = dead_letter_transactional_id(
        s.group_id, source.operator_name, source.subtask_index);
  }
  s.properties.emplace_back("message.max.bytes",
                            std::to_string(dlq_max_message_bytes));
  opening_.start(executor, [s = std::move(s), topic = topic_,
                            group = marker_group_, source = std::move(source)] {
    create_topic(s, topic);
    opened o;
    if (group.empty()) {
      o.producer = std::make_shared<topic_producer>(s, topic, 1);
      return o;
    }
    // Fence first (init_transactions aborts what an earlier instance of
    // this subtask left open), then read the markers: nothing of that
    // instance can be committed after the read.
    o.producer = std::make_shared<topic_producer>(
        s, topic, 1,
        topic_producer::transactional{group, s.transaction_timeout_ms});
    admin a{s};
    auto partitions = a.partitions(source.topic);
    std::vector<std::string> others;
    for (int32_t i = 0; i < partitions; ++i)
      if (static_cast<uint32_t>(i) != source.subtask_index)
        others.push_back(dead_letter_transactional_id(
            s.group_id, source.operator_name, static_cast<uint32_t>(i)));
    auto marks = a.committed_skipping_pending(others, source.topic);
    marks[group] = a.committed(group, source.topic);
    for (auto& [marker_group, offsets] : marks)
      for (auto [p, next] : offsets) {
        auto& at = o.written.try_emplace({source.topic, p}, -1).first->second;
        at = std::max(at, next - 1);
      }
    return o;
  });
}

namespace {

/// Exactly-once: the source partition and offset of a source's dead letter
/// (operators' carry no dlq_group_header).
std::optional<std::pair<std::pair<std::string, int32_t>, int64_t>>
source_origin(const producer_record& r) {
  auto* t = header_of(r, dlq_topic_header);
  auto* p = header_of(r, dlq_partition_header);
  auto* o = header_of(r, dlq_offset_header);
  if (!header_of(r, dlq_group_header) || !t || !p || !o) return std::nullopt;
  return std::pair{std::pair{*t, std::stoi(*p)}, std::stoll(*o)};
}

} // namespace

dead_letter_queue::~dead_letter_queue() {
  if (transactions_ > 0 || in_transaction_)
    logger("flow/kafka")
        ->info("{}: {} dead-letter transactions committed{}", topic_,
               transactions_,
               in_transaction_ ? "; the open one is left to abort" : "");
  // The producer's destruction joins librdkafka's threads: not here.
  opening_.release_on(executor_);
  release_on(executor_, std::move(producer_));
}

void dead_letter_queue::set_wakeup(std::function<void()> wake) {
  wake_ = std::move(wake);
  if (producer_) producer_->set_wakeup(wake_);
}

void dead_letter_queue::add(const record_view& v,
                            const std::string& source_topic,
                            const std::string& error) {
  producer_record r;
  if (v.has_key()) r.key = std::string(v.key);
  r.value = std::string(v.value.substr(0, dlq_max_value_bytes));
  r.headers.reserve(v.headers.size() + 5);
  for (auto& [k, val] : v.headers)
    r.headers.push_back(header{std::string(k), std::string(val)});
  r.headers.push_back(header{dlq_topic_header, source_topic});
  r.headers.push_back(
      header{dlq_partition_header, std::to_string(v.partition)});
  r.headers.push_back(header{dlq_offset_header, std::to_string(v.offset)});
  r.headers.push_back(header{dlq_error_header, error});
  if (!group_.empty()) r.headers.push_back(header{dlq_group_header, group_});
  if (v.value.size() > dlq_max_value_bytes)
    r.headers.push_back(
        header{dlq_truncated_header, std::to_string(v.value.size())});
  add(std::move(r));
}

void dead_letter_queue::add(dead_letter d) {
  add(record_of(std::move(d)));
}

void dead_letter_queue::add(producer_record r) {
  if (r.value.size() > dlq_max_value_bytes) r.value.resize(dlq_max_value_bytes);
  if (!producer_ || committing_.started())
    early_.push_back(std::move(r));
  else
    send(std::move(r));
}

void dead_letter_queue::send(producer_record&& r) {
  if (!group_.empty()) {
    if (auto origin = source_origin(r)) {
      auto& [where, offset] = *origin;
      auto it = written_.find(where);
      if (it != written_.end() && offset <= it->second) {
        ++repeated_;
        return;
      }
      auto& next = marker_[where]; // as a consumer commits: the next offset
      next = std::max(next, offset + 1);
    }
    if (!in_transaction_) {
      producer_->begin_transaction();
      in_transaction_ = true;
    }
  }
  producer_->enqueue(std::move(r));
}

bool dead_letter_queue::open() {
  if (producer_) return true;
  if (!opening_.ready()) return false;
  auto o = opening_.take();
  producer_ = std::move(o.producer);
  written_ = std::move(o.written);
  if (wake_) producer_->set_wakeup(wake_);
  if (!written_.empty())
    logger("flow/kafka")
        ->info("{}: dead letters of {} source partitions written by an "
               "earlier run of group {} are not written again",
               topic_, written_.size(), group_);
  auto early = std::move(early_);
  early_.clear();
  for (auto& r : early)
    send(std::move(r));
  return true;
}

bool dead_letter_queue::settle() {
  if (!committing_.started()) return true;
  if (!committing_.ready()) return false;
  in_transaction_ = false;
  committing_.take(); // rethrows: the job fails, a restart recovers
  ++transactions_;
  auto held = std::move(early_);
  early_.clear();
  for (auto& r : held)
    send(std::move(r));
  return true;
}

bool dead_letter_queue::accepting() {
  if (!open() || !settle()) return false;
  producer_->service();
  return !producer_->holding();
}

bool dead_letter_queue::flushed() {
  if (!open() || !settle()) return false;
  if (group_.empty()) return producer_->flushed();
  if (!in_transaction_) return true;
  // Every dead letter must be in librdkafka before the commit, which runs
  // on the executor: from here until it returns this thread leaves the
  // producer alone.
  producer_->service();
  if (producer_->holding()) return false;
  committing_.start(executor_, [producer = producer_, group = marker_group_,
                                marker = std::exchange(marker_, {})] {
    producer->commit_transaction(group, marker);
  });
  return settle() && !in_transaction_;
}

namespace {

/// One subtask's dead letters in kafka.dead-letter-topic.
class topic_writer final : public dead_letter_writer {
public:
  topic_writer(client_settings s, std::string topic, blocking_executor* ex)
      : queue_(std::move(s), std::move(topic), ex) {}
  void write(dead_letter d) override { queue_.add(std::move(d)); }
  bool flushed() override { return queue_.accepting() && queue_.flushed(); }
  void set_wakeup(std::function<void()> wake) override {
    queue_.set_wakeup(std::move(wake));
  }

private:
  dead_letter_queue queue_;
};

/// One subtask's dead letters in kafka.dead-letter-topic with
/// kafka.delivery = exactly-once: an exactly_once_writer of its own
/// (transactional id dead_letter_transactional_id), so that they are
/// published with the checkpoints as a sink's records are.
class checkpointed_writer final : public dead_letter_writer {
public:
  checkpointed_writer(exactly_once_writer::target t,
                      const connector_context& ctx)
      : writer_(std::move(t), ctx) {}
  void write(dead_letter d) override {
    writer_.append(record_of(std::move(d)));
  }
  bool flushed() override {
    writer_.resume();
    return !writer_.busy() && !writer_.publishing();
  }
  std::string snapshot(checkpoint_id id) override {
    return writer_.snapshot(id).flatten(); // (dead letters are few: a copy)
  }
  void restore(checkpoint_id id, const std::string& state) override {
    writer_.restore(id, state);
  }
  void checkpoint_complete(checkpoint_id id) override { writer_.complete(id); }

private:
  exactly_once_writer writer_;
};

} // namespace

std::string operator_dead_letters::key() const {
  return dead_letter_topic_key();
}

bool operator_dead_letters::configured(const settings_map& s) const {
  return !dead_letter_topic_of(s).empty();
}

bool operator_dead_letters::checkpointed(const settings_map& s) const {
  return client_settings::from(&s).delivery == delivery_guarantee::exactly_once;
}

std::unique_ptr<dead_letter_writer>
operator_dead_letters::open(const task_setup& s) const {
  auto settings = client_settings::from(s.settings);
  auto topic = settings.dead_letter_topic;
  auto id = dead_letter_transactional_id(settings.group_id, s.operator_name,
                                         s.subtask_index);
  if (settings.delivery == delivery_guarantee::exactly_once) {
    exactly_once_writer::target t;
    t.where = "exactly-once dead letters of '" + s.operator_name + "'[" +
              std::to_string(s.subtask_index) + "] in " + topic;
    t.topic = std::move(topic);
    t.transactional_id = std::move(id);
    t.properties.emplace_back("message.max.bytes",
                              std::to_string(dlq_max_message_bytes));
    t.prepare = [topic = t.topic](const client_settings& cs) {
      create_topic(cs, topic);
    };
    // No metrics: the subtask's producer gauges are its sink's.
    auto ctx = connector_context::of(s);
    ctx.metrics = nullptr;
    return std::make_unique<checkpointed_writer>(std::move(t), ctx);
  }
  return std::make_unique<topic_writer>(std::move(settings), std::move(topic),
                                        s.executor);
}

} // namespace flow::kafka

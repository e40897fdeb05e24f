#include "flow/kafka/dead_letter_queue.hpp"

#include "flow/kafka/admin.hpp"

namespace flow::kafka {

dead_letter_queue::dead_letter_queue(client_settings s, std::string topic,
                                     blocking_executor* executor)
    : topic_(std::move(topic)) {
  const auto limit = std::to_string(dlq_max_message_bytes);
  s.properties.emplace_back("message.max.bytes", limit);
  opening_.start(executor, [s = std::move(s), topic = topic_, limit] {
    if (!s.embedded())
      admin{s}.create_topic(topic, 1, -1, {{"max.message.bytes", limit}});
    return std::make_unique<topic_producer>(s, topic, 1);
  });
}

dead_letter_queue::~dead_letter_queue() = default;

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
  if (v.value.size() > dlq_max_value_bytes)
    r.headers.push_back(
        header{dlq_truncated_header, std::to_string(v.value.size())});
  add(std::move(r));
}

void dead_letter_queue::add(dead_letter d) {
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
  if (d.payload.size() > dlq_max_value_bytes)
    r.headers.push_back(
        header{dlq_truncated_header, std::to_string(d.payload.size())});
  r.value = std::move(d.payload);
  add(std::move(r));
}

void dead_letter_queue::add(producer_record r) {
  if (r.value.size() > dlq_max_value_bytes) r.value.resize(dlq_max_value_bytes);
  if (producer_)
    producer_->enqueue(std::move(r));
  else
    early_.push_back(std::move(r));
}

bool dead_letter_queue::open() {
  if (producer_) return true;
  if (!opening_.ready()) return false;
  producer_ = opening_.take();
  if (wake_) producer_->set_wakeup(wake_);
  for (auto& r : early_)
    producer_->enqueue(std::move(r));
  early_.clear();
  return true;
}

bool dead_letter_queue::accepting() {
  if (!open()) return false;
  producer_->service();
  return !producer_->holding();
}

bool dead_letter_queue::flushed() {
  return open() && producer_->flushed();
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

} // namespace

std::string operator_dead_letters::key() const {
  return dead_letter_topic_key();
}

bool operator_dead_letters::configured(const settings_map& s) const {
  return !dead_letter_topic_of(s).empty();
}

std::unique_ptr<dead_letter_writer>
operator_dead_letters::open(const task_setup& s) const {
  auto settings = client_settings::from(s.settings);
  auto topic = settings.dead_letter_topic;
  return std::make_unique<topic_writer>(std::move(settings), std::move(topic),
                                        s.executor);
}

} // namespace flow::kafka

#include "flow/kafka/exactly_once_writer.hpp"

#include "flow/fault.hpp"
#include "flow/kafka/admin.hpp"
#include "flow/kafka/error.hpp"
#include "flow/kafka/record_limit.hpp"
#include "flow/log.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>

namespace flow::kafka {

std::string
exactly_once_writer::transactional_id(const std::string& group,
                                      const std::string& operator_name,
                                      uint32_t subtask_index) {
  return "libflow." + group + "." + operator_name + "." +
         std::to_string(subtask_index);
}

int64_t exactly_once_writer::read_marker(admin& a,
                                         const std::string& marker_group,
                                         const std::string& topic) {
  auto marker_of = [](const std::map<int32_t, int64_t>& committed) {
    auto it = committed.find(0);
    return it == committed.end() ? int64_t{-1} : it->second;
  };
  try {
    return marker_of(a.committed(marker_group, topic));
  } catch (const kafka_error& e) {
    if (e.code() != errc::timed_out) throw;
    auto completed = marker_of(
        a.committed(marker_group, topic, admin::pending_commits::skip));
    throw kafka_error{
        errc::offset_commit_failed,
        "marker of " + marker_group +
            ": an offset commit to this group is pending in a transaction "
            "that fencing its transactional id did not end (" +
            e.what() + "; last completed marker " + std::to_string(completed) +
            "). Either another producer commits to this group (two jobs "
            "with one kafka.group-id?), or the broker holds a hanging "
            "transaction, whose records read_committed readers wait for "
            "too: see connectors/kafka/README.md, \"Known problem, after a "
            "broker restart\""};
  }
}

void exactly_once_writer::warn_on_single_replicas(admin& a,
                                                  const std::string& topic) {
  static std::mutex mutex;
  static std::set<std::string> looked_at;
  for (const auto& t : {topic, std::string("__transaction_state"),
                        std::string("__consumer_offsets")}) {
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (!looked_at.insert(t).second) continue;
    }
    int32_t replicas = 0;
    try {
      replicas = a.min_replicas(t);
    } catch (const kafka_error&) {
      continue; // not visible to this client: nothing to say
    }
    if (replicas > 1) continue;
    logger("flow/kafka")
        ->warn("exactly-once: topic {} has a partition with one replica: a "
               "restart of its broker can leave a transaction committed "
               "without its markers (Kafka 4.4.0), which blocks "
               "read_committed readers and the next run's marker read; give "
               "it more replicas (connectors/kafka/README.md, \"Known "
               "problem, after a broker restart\")",
               t);
  }
}

namespace {

exactly_once_writer::target sink_target(std::string topic,
                                        const connector_context& ctx) {
  exactly_once_writer::target t;
  t.transactional_id = exactly_once_writer::transactional_id(
      client_settings::from(ctx.settings).group_id, ctx.operator_name,
      ctx.subtask_index);
  t.where = "exactly-once sink " + topic + "[" +
            std::to_string(ctx.subtask_index) + "]";
  t.embedded_partitions = static_cast<int32_t>(ctx.parallelism);
  t.topic = std::move(topic);
  t.record_limit = true;
  return t;
}

} // namespace

exactly_once_writer::exactly_once_writer(std::string topic,
                                         const connector_context& ctx)
    : exactly_once_writer(sink_target(std::move(topic), ctx), ctx) {}

exactly_once_writer::exactly_once_writer(target t, const connector_context& ctx)
    : topic_(std::move(t.topic)), id_(std::move(t.transactional_id)),
      where_(std::move(t.where)),
      settings_(client_settings::from(ctx.settings)), executor_(ctx.executor),
      metrics_(ctx.metrics),
      log_(static_cast<size_t>(settings_.exactly_once_buffer_bytes),
           "kafka.exactly-once-buffer-bytes") {
  for (auto& p : t.properties)
    settings_.properties.push_back(std::move(p));
  topic_producer::transactional txn{id_, settings_.transaction_timeout_ms};
  opening_.start(executor_, [s = settings_, topic = topic_, txn,
                             partitions = t.embedded_partitions,
                             prepare = std::move(t.prepare),
                             limit = t.record_limit] {
    if (prepare) prepare(s);
    opened o;
    auto producer_settings = s;
    if (limit) {
      auto l = sink_record_limit(s, topic);
      producer_settings = std::move(l.producer_settings);
      o.max_record_bytes = l.max_record_bytes;
    }
    // init_transactions first: it aborts what an older instance left open,
    // so the marker read next is settled.
    o.producer = std::make_shared<topic_producer>(producer_settings, topic,
                                                  partitions, txn);
    admin a{s};
    o.marker = read_marker(a, txn.id, topic);
    if (!s.embedded()) warn_on_single_replicas(a, topic);
    return o;
  });
}

exactly_once_writer::~exactly_once_writer() {
  // The producer's destruction joins librdkafka's threads: not here.
  opening_.release_on(executor_);
  release_on(executor_, std::move(producer_));
  if (!open_) return;
  auto mean_ms = [n = transactions_](int64_t total_us) {
    return n ? static_cast<double>(total_us) / 1e3 / static_cast<double>(n)
             : 0.0;
  };
  size_t left = log_.open_records();
  for (auto& e : log_.closed())
    left += e.records;
  logger("flow/kafka")
      ->info("{}: {} transactions (mean ms: acknowledgements {:.1f}, marker "
             "{:.1f}, commit {:.1f}; longest {:.1f} ms in all); {} records "
             "after the last complete checkpoint are left to the next run",
             where_, transactions_, mean_ms(timing_total_.flush_us),
             mean_ms(timing_total_.marker_us), mean_ms(timing_total_.commit_us),
             publish_us_max_ / 1e3, left);
}

void exactly_once_writer::append(const producer_record& r) {
  log_.append(r);
}

void exactly_once_writer::pass_on() {
  advance();
  produce_open();
}

byte_chain exactly_once_writer::snapshot(checkpoint_id id) {
  advance();
  produce_open();
  log_.close(id);
  if (metrics_) {
    // The producer's queue of this sink: the records not yet committed.
    size_t held = 0;
    for (auto& e : log_.closed())
      held += e.records;
    metrics_->producer_queue.store(static_cast<int64_t>(held),
                                   std::memory_order_relaxed);
  }
  return log_.encode();
}

void exactly_once_writer::restore(checkpoint_id id, const std::string& state) {
  if (!state.empty()) log_.restore(state);
  restored_ = id;
}

void exactly_once_writer::complete(checkpoint_id id) {
  if (completed_ < id) completed_ = id;
  advance();
}

void exactly_once_writer::finish() {
  finishing_ = true;
  resume();
}

bool exactly_once_writer::busy() const {
  return !open_ || (finishing_ && in_flight_);
}

void exactly_once_writer::resume() {
  if (open_) {
    advance();
    produce_open();
    return;
  }
  if (!opening_.ready()) return;
  auto o = opening_.take();
  producer_ = std::move(o.producer);
  max_record_bytes_ = o.max_record_bytes;
  auto dropped = log_.reconcile(o.marker, restored_);
  logger("flow/kafka")
      ->info("{}: transactional id {}, marker {}, restored checkpoint {}: {} "
             "records committed by an earlier run dropped, {} epochs to "
             "publish",
             where_, id_, o.marker, restored_.value(), dropped,
             log_.closed().size());
  // The restored checkpoint is complete: its epochs go out now.
  if (completed_ < restored_) completed_ = restored_;
  open_ = true;
  advance();
  produce_open();
}

void exactly_once_writer::produce_open() {
  if (!open_ || in_flight_ || !log_.closed().empty() ||
      log_.open_records() == 0)
    return;
  producer_->poll(); // delivery reports; throws on a failed one
  if (!transaction_open_) {
    producer_->begin_transaction();
    transaction_open_ = true;
    produced_ = {};
  }
  produced_ = log_.take_open(produced_, [&](const record_run& run) {
    return producer_->try_produce_in_place(run);
  });
}

void exactly_once_writer::advance() {
  if (!open_) return;
  if (in_flight_) {
    if (!publishing_.ready()) return;
    // rethrows: the job fails, the next run recovers
    auto t = publishing_.take();
    log_.confirm(*in_flight_);
    in_flight_.reset();
    ++transactions_;
    timing_total_.flush_us += t.flush_us;
    timing_total_.marker_us += t.marker_us;
    timing_total_.commit_us += t.commit_us;
    publish_us_max_ =
        std::max(publish_us_max_, t.flush_us + t.marker_us + t.commit_us);
  }
  auto p = log_.publishable(completed_);
  if (!p) return;
  if (p->records() == 0) {
    log_.confirm(*p); // nothing to publish: no transaction
    return;
  }
  fault_point(fault_after_checkpoint_before_commit);
  in_flight_ = std::move(p);
  // The open transaction holds the first epoch's records up to produced_
  // (produce_open runs only while every earlier epoch is committed).
  auto skip = transaction_open_ ? produced_ : epoch_position{};
  bool begun = std::exchange(transaction_open_, false);
  produced_ = {};
  publishing_.start(executor_, [producer = producer_, p = *in_flight_,
                                group = id_, skip, begun] {
    return producer->publish_transaction(
        [&] {
          auto produce = [&](const record_run& run) {
            producer->produce_in_place(run);
          };
          for (size_t i = 0; i < p.epochs.size(); ++i)
            p.epochs[i].for_each(produce, i == 0 ? skip : epoch_position{});
        },
        group, p.marker, begun);
  });
}

} // namespace flow::kafka

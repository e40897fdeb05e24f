#include "flow/kafka/exactly_once_writer.hpp"

#include "flow/fault.hpp"
#include "flow/kafka/admin.hpp"
#include "flow/log.hpp"

namespace flow::kafka {

std::string
exactly_once_writer::transactional_id(const std::string& group,
                                      const std::string& operator_name,
                                      uint32_t subtask_index) {
  return "libflow." + group + "." + operator_name + "." +
         std::to_string(subtask_index);
}

exactly_once_writer::exactly_once_writer(std::string topic,
                                         const connector_context& ctx)
    : topic_(std::move(topic)), settings_(client_settings::from(ctx.settings)),
      executor_(ctx.executor), metrics_(ctx.metrics),
      log_(static_cast<size_t>(settings_.exactly_once_buffer_bytes),
           "kafka.exactly-once-buffer-bytes") {
  id_ = transactional_id(settings_.group_id, ctx.operator_name,
                         ctx.subtask_index);
  where_ = "exactly-once sink " + topic_ + "[" +
           std::to_string(ctx.subtask_index) + "]";
  topic_producer::transactional txn{id_, settings_.transaction_timeout_ms};
  opening_.start(executor_, [s = settings_, topic = topic_, txn,
                             partitions =
                                 static_cast<int32_t>(ctx.parallelism)] {
    opened o;
    // init_transactions first: it aborts what an older instance left open,
    // so the marker read next is settled.
    o.producer = std::make_shared<topic_producer>(s, topic, partitions, txn);
    auto committed = admin(s).committed(txn.id, topic);
    if (auto it = committed.find(0); it != committed.end())
      o.marker = it->second;
    return o;
  });
}

exactly_once_writer::~exactly_once_writer() = default;

void exactly_once_writer::append(producer_record&& r) {
  advance();
  log_.append(std::move(r));
}

std::string exactly_once_writer::snapshot(checkpoint_id id) {
  advance();
  log_.close(id);
  if (metrics_) {
    // The producer's queue of this sink: the records not yet committed.
    size_t held = 0;
    for (auto& e : log_.closed())
      held += e.records->size();
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
  stage_ = stage::finishing;
  resume();
}

bool exactly_once_writer::busy() const {
  switch (stage_) {
  case stage::opening:
    return true;
  case stage::open:
    return false;
  case stage::finishing:
    return true;
  case stage::finished:
    return false;
  }
  return false;
}

void exactly_once_writer::resume() {
  auto log = logger("flow/kafka");
  switch (stage_) {
  case stage::opening: {
    if (!opening_.ready()) return;
    auto o = opening_.take();
    producer_ = std::move(o.producer);
    auto dropped = log_.reconcile(o.marker, restored_);
    log->info("{}: transactional id {}, marker {}, restored checkpoint {}: "
              "{} records committed by an earlier run dropped, {} epochs to "
              "publish",
              where_, id_, o.marker, restored_.value(), dropped,
              log_.closed().size());
    // The restored checkpoint is complete: its epochs go out now.
    if (completed_ < restored_) completed_ = restored_;
    stage_ = stage::open;
    advance();
    return;
  }
  case stage::open:
    advance();
    return;
  case stage::finishing: {
    advance();
    if (in_flight_) return;
    stage_ = stage::finished;
    size_t left = log_.open_records();
    for (auto& e : log_.closed())
      left += e.records->size();
    log->info("{}: finished after {} transactions; {} records after the "
              "last complete checkpoint are left to the next run",
              where_, transactions_, left);
    return;
  }
  case stage::finished:
    return;
  }
}

void exactly_once_writer::advance() {
  if (stage_ == stage::opening || stage_ == stage::finished) return;
  if (in_flight_) {
    if (!publishing_.ready()) return;
    publishing_.take(); // rethrows: the job fails, the next run recovers
    log_.confirm(*in_flight_);
    in_flight_.reset();
    ++transactions_;
  }
  auto p = log_.publishable(completed_);
  if (!p) return;
  if (p->records() == 0) {
    log_.confirm(*p); // nothing to publish: no transaction
    return;
  }
  fault_point(fault_after_checkpoint_before_commit);
  in_flight_ = std::move(p);
  publishing_.start(executor_,
                    [producer = producer_, p = *in_flight_, group = id_] {
                      std::vector<const std::vector<producer_record>*> batches;
                      for (auto& e : p.epochs)
                        batches.push_back(e.records.get());
                      producer->publish_transaction(batches, group, p.marker);
                    });
}

} // namespace flow::kafka

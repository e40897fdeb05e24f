#pragma once

#include "flow/observe/job_view.hpp"
#include "flow/observe/snapshot.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace flow::observe {

/// Content type of prometheus_text().
inline constexpr const char* prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// The snapshot in Prometheus' text exposition format: per-subtask series
/// labelled job, operator, subtask and node (flow_records_in_total, ...,
/// flow_kafka_consumer_lag with topic and partition), job series
/// (checkpoints, restarts, readiness) and per-node process series.
std::string prometheus_text(const job_snapshot& s);

/// GET /api/v1/job: graph (operators, edges with partitioning, parallelism,
/// placement), status, nodes, and per operator and subtask the counters,
/// rates, backpressure, watermark lag and consumer lag.
nlohmann::json job_json(const job_snapshot& s);

/// GET /api/v1/rates: operator names and kinds (source, operator, sink),
/// and records/s in and out per operator over the kept history
/// (job_view::history_capacity samples), arrays in operator order.
nlohmann::json rates_json(const job_snapshot& s,
                          const std::vector<rate_point>& history);

/// GET /api/v1/checkpoints: counts and the latest checkpoints, newest
/// last.
nlohmann::json checkpoints_json(const job_snapshot& s);

/// Watermark lag of a subtask at the snapshot's time, in ms; -1 if it has
/// no event-time watermark yet.
int64_t watermark_lag_ms(const job_snapshot& s, const subtask_view& v);

} // namespace flow::observe

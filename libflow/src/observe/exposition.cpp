#include "flow/observe/exposition.hpp"

#include "flow/time.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace flow::observe {

namespace {

/// Label values escape backslash, double quote and newline.
std::string escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string number(uint64_t x) {
  return std::to_string(x);
}

std::string number(int64_t x) {
  return std::to_string(x);
}

using labels = std::vector<std::pair<std::string, std::string>>;

/// Writes metric families: HELP and TYPE once, then the samples.
class family_writer {
public:
  explicit family_writer(std::ostringstream& os) : os_(os) {}

  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    os_ << "# HELP " << name << ' ' << help << '\n'
        << "# TYPE " << name << ' ' << type << '\n';
  }

  template <class T>
  void sample(const labels& ls, T value) {
    os_ << name_;
    if (!ls.empty()) {
      os_ << '{';
      for (size_t i = 0; i < ls.size(); ++i)
        os_ << (i ? "," : "") << ls[i].first << "=\"" << escape(ls[i].second)
            << '"';
      os_ << '}';
    }
    os_ << ' ' << number(value) << '\n';
  }

private:
  std::ostringstream& os_;
  const char* name_ = "";
};

labels subtask_labels(const job_snapshot& s, const subtask_view& v) {
  return {{"job", s.job},
          {"operator", v.operator_name},
          {"subtask", std::to_string(v.index)},
          {"node", v.node}};
}

bool is_source(const job_snapshot& s, const subtask_view& v) {
  for (auto& o : s.operators)
    if (o.name == v.operator_name) return o.kind == "source";
  return false;
}

const checkpoint_record* last_completed(const job_snapshot& s) {
  for (auto i = s.checkpoints.rbegin(); i != s.checkpoints.rend(); ++i)
    if (i->completed) return &*i;
  return nullptr;
}

} // namespace

int64_t watermark_lag_ms(const job_snapshot& s, const subtask_view& v) {
  auto wm = v.counters.watermark;
  if (wm == min_timestamp || wm == max_timestamp) return -1;
  return std::max<int64_t>(0, s.time_ms - wm);
}

std::string prometheus_text(const job_snapshot& s) {
  std::ostringstream os;
  family_writer w{os};
  auto per_subtask = [&](const char* name, const char* type, const char* help,
                         auto value) {
    w.family(name, type, help);
    for (auto& v : s.subtasks)
      if (v.known) w.sample(subtask_labels(s, v), value(v));
  };
  per_subtask("flow_records_in_total", "counter", "Records received.",
              [](auto& v) { return v.counters.records_in; });
  per_subtask("flow_records_out_total", "counter", "Records emitted.",
              [](auto& v) { return v.counters.records_out; });
  per_subtask("flow_batches_in_total", "counter", "Batches received.",
              [](auto& v) { return v.counters.batches_in; });
  per_subtask("flow_batches_out_total", "counter", "Batches sent.",
              [](auto& v) { return v.counters.batches_out; });
  per_subtask("flow_credit_blocked_seconds_total", "counter",
              "Time an output channel had no credit (backpressure).",
              [](auto& v) { return v.counters.blocked_ns / 1e9; });
  per_subtask("flow_backpressure_ratio", "gauge",
              "Share of the last sampling interval blocked on credit.",
              [](auto& v) { return v.backpressure; });
  per_subtask("flow_queued_batches", "gauge",
              "Input batches received and not yet processed.",
              [](auto& v) { return uint64_t{v.counters.queued_batches}; });

  w.family("flow_watermark_milliseconds", "gauge",
           "Event-time watermark of the subtask (ms since the epoch).");
  for (auto& v : s.subtasks)
    if (v.known && watermark_lag_ms(s, v) >= 0)
      w.sample(subtask_labels(s, v), v.counters.watermark);
  w.family("flow_watermark_lag_seconds", "gauge",
           "Wall-clock time minus the subtask's watermark.");
  for (auto& v : s.subtasks)
    if (v.known && watermark_lag_ms(s, v) >= 0)
      w.sample(subtask_labels(s, v), watermark_lag_ms(s, v) / 1000.0);

  w.family("flow_kafka_consumer_lag", "gauge",
           "Records between a partition's log-end offset and the source's "
           "position.");
  for (auto& v : s.subtasks)
    if (v.known)
      for (auto& l : v.counters.lags)
        if (l.lag >= 0) {
          auto ls = subtask_labels(s, v);
          ls.emplace_back("topic", l.topic);
          ls.emplace_back("partition", std::to_string(l.partition));
          w.sample(ls, l.lag);
        }
  w.family("flow_kafka_producer_queue_messages", "gauge",
           "Records handed to the Kafka producer and not yet acknowledged.");
  for (auto& v : s.subtasks)
    if (v.known && v.counters.producer_queue >= 0)
      w.sample(subtask_labels(s, v), v.counters.producer_queue);
  w.family("flow_dead_lettered_records_total", "counter",
           "Records that went to a dead-letter topic: undecodable input of "
           "a source, records a user function or sink failed on "
           "(on-error dead-letter).");
  for (auto& v : s.subtasks)
    if (v.known && (is_source(s, v) || v.counters.dead_lettered > 0))
      w.sample(subtask_labels(s, v), v.counters.dead_lettered);
  w.family("flow_records_skipped_total", "counter",
           "Records a user function or sink failed on that were dropped "
           "(on-error skip).");
  for (auto& v : s.subtasks)
    if (v.known && !is_source(s, v))
      w.sample(subtask_labels(s, v), v.counters.skipped);

  labels job{{"job", s.job}};
  w.family("flow_checkpoints_total", "counter",
           "Checkpoints that completed or failed.");
  w.sample({{"job", s.job}, {"result", "completed"}}, s.checkpoints_completed);
  w.sample({{"job", s.job}, {"result", "failed"}}, s.checkpoints_failed);
  if (auto c = last_completed(s)) {
    w.family("flow_checkpoint_last_duration_seconds", "gauge",
             "Trigger to completion of the latest completed checkpoint.");
    w.sample(job, c->duration_ms / 1000.0);
    w.family("flow_checkpoint_last_size_bytes", "gauge",
             "Bytes written for the latest completed checkpoint.");
    w.sample(job, c->size_bytes);
    w.family("flow_checkpoint_last_alignment_seconds", "gauge",
             "Longest barrier alignment in the latest completed checkpoint.");
    w.sample(job, c->alignment_ms / 1000.0);
  }
  w.family("flow_restarts_total", "counter", "Restarts of the job.");
  w.sample(job, s.restarts);
  w.family("flow_job_ready", "gauge",
           "1 while the job runs with every subtask deployed.");
  w.sample({{"job", s.job}, {"node", s.node}}, uint64_t{s.ready() ? 1u : 0u});

  w.family("process_resident_memory_bytes", "gauge",
           "Resident memory of a process of the job.");
  for (auto& n : s.nodes)
    if (n.last_report_age_ms >= 0)
      w.sample({{"job", s.job}, {"node", n.name}}, n.process.rss_bytes);
  w.family("process_cpu_seconds_total", "counter",
           "User and system CPU time of a process of the job.");
  for (auto& n : s.nodes)
    if (n.last_report_age_ms >= 0)
      w.sample({{"job", s.job}, {"node", n.name}}, n.process.cpu_seconds);
  return os.str();
}

nlohmann::json job_json(const job_snapshot& s) {
  using nlohmann::json;
  json ops = json::array();
  for (auto& o : s.operators) {
    json subtasks = json::array();
    json placement = json::array();
    double in = 0, out = 0, backpressure = 0;
    uint64_t records_in = 0, records_out = 0;
    int64_t wm_lag = -1;
    for (auto i : o.subtasks) {
      auto& v = s.subtasks[i];
      placement.push_back(v.node);
      in += v.records_in_per_s;
      out += v.records_out_per_s;
      backpressure = std::max(backpressure, v.backpressure);
      records_in += v.counters.records_in;
      records_out += v.counters.records_out;
      auto lag = watermark_lag_ms(s, v);
      if (lag >= 0) wm_lag = std::max(wm_lag, lag);
      json lags = json::array();
      for (auto& l : v.counters.lags)
        lags.push_back(
            {{"topic", l.topic}, {"partition", l.partition}, {"lag", l.lag}});
      json sub{{"index", v.index},
               {"node", v.node},
               {"known", v.known},
               {"records_in", v.counters.records_in},
               {"records_out", v.counters.records_out},
               {"batches_in", v.counters.batches_in},
               {"batches_out", v.counters.batches_out},
               {"records_in_per_s", v.records_in_per_s},
               {"records_out_per_s", v.records_out_per_s},
               {"backpressure", v.backpressure},
               {"blocked", v.counters.blocked},
               {"credit_blocked_seconds", v.counters.blocked_ns / 1e9},
               {"queued_batches", v.counters.queued_batches},
               {"finished", v.counters.finished},
               {"watermark_lag_ms", lag},
               {"consumer_lag", lags},
               {"dead_lettered", v.counters.dead_lettered},
               {"skipped", v.counters.skipped}};
      if (lag >= 0) sub["watermark"] = v.counters.watermark;
      if (v.counters.producer_queue >= 0)
        sub["producer_queue"] = v.counters.producer_queue;
      subtasks.push_back(std::move(sub));
    }
    ops.push_back({{"name", o.name},
                   {"kind", o.kind},
                   {"parallelism", o.parallelism},
                   {"placement", placement},
                   {"records_in", records_in},
                   {"records_out", records_out},
                   {"records_in_per_s", in},
                   {"records_out_per_s", out},
                   {"backpressure", backpressure},
                   {"watermark_lag_ms", wm_lag},
                   {"subtasks", subtasks}});
  }
  json edges = json::array();
  for (auto& e : s.edges)
    edges.push_back(
        {{"from", e.from}, {"to", e.to}, {"partitioning", e.partitioning}});
  json nodes = json::array();
  for (auto& n : s.nodes)
    nodes.push_back({{"name", n.name},
                     {"role", n.role},
                     {"subtasks", n.subtasks},
                     {"rss_bytes", n.process.rss_bytes},
                     {"cpu_seconds", n.process.cpu_seconds},
                     {"last_report_age_ms", n.last_report_age_ms}});
  return {{"job", s.job},
          {"node", s.node},
          {"role", s.role},
          {"status", to_string(s.status)},
          {"ready", s.ready()},
          {"time_ms", s.time_ms},
          {"interval_ms", s.interval_ms},
          {"restarts", s.restarts},
          {"operators", ops},
          {"edges", edges},
          {"nodes", nodes}};
}

nlohmann::json rates_json(const job_snapshot& s,
                          const std::vector<rate_point>& history) {
  using nlohmann::json;
  json names = json::array();
  json kinds = json::array();
  for (auto& o : s.operators) {
    names.push_back(o.name);
    kinds.push_back(o.kind);
  }
  json points = json::array();
  for (auto& p : history)
    points.push_back({{"time_ms", p.time_ms},
                      {"in", p.records_in_per_s},
                      {"out", p.records_out_per_s}});
  return {{"operators", names}, {"kinds", kinds}, {"points", points}};
}

nlohmann::json checkpoints_json(const job_snapshot& s) {
  using nlohmann::json;
  json list = json::array();
  for (auto& c : s.checkpoints)
    list.push_back({{"id", c.id},
                    {"triggered_ms", c.triggered_ms},
                    {"duration_ms", c.duration_ms},
                    {"size_bytes", c.size_bytes},
                    {"alignment_ms", c.alignment_ms},
                    {"status", c.completed ? "completed" : "failed"},
                    {"failure", c.failure}});
  return {{"job", s.job},
          {"completed", s.checkpoints_completed},
          {"failed", s.checkpoints_failed},
          {"checkpoints", list}};
}

} // namespace flow::observe

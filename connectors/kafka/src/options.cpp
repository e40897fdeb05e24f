#include "flow/kafka/options.hpp"

#include "flow/job_options.hpp"
#include "flow/kafka/dead_letter_queue.hpp"
#include "rdkafka.hpp"

#include <array>
#include <stdexcept>

namespace flow::kafka {

namespace {

/// The defaults of the kafka.* options (client_settings' initializers).
const client_settings& defaults() {
  static const client_settings d;
  return d;
}

/// The config text of client_settings' default start offset, one that
/// takes no argument.
std::string default_start_offset() {
  switch (defaults().start.what) {
  case start_offset::kind::earliest:
    return "earliest";
  case start_offset::kind::latest:
    return "latest";
  case start_offset::kind::committed:
    return "committed";
  default:
    throw std::logic_error("client_settings::start: a default without text");
  }
}

bool is_start_offset(const std::string& v) {
  return start_offset::parse(v).has_value();
}

bool is_property(const std::string& p) {
  auto eq = p.find('=');
  return eq != std::string::npos && eq > 0;
}

/// The `kafka.*` options (named apart from client_settings' members).
namespace opt {

const option<std::string> bootstrap{
    "kafka.bootstrap", no_default,
    "Brokers host:port[,host:port...], or \"embedded\" for librdkafka's "
    "in-process mock cluster (demos only: one broker, about 5 MiB per "
    "partition, no transactions). Required by a job with a Kafka source or "
    "sink.",
    valid_if([](const std::string& v) { return !v.empty(); },
             "host:port[,host:port...] or \"embedded\"")};
const option<std::string> group_id{
    "kafka.group-id", defaults().group_id,
    "Consumer group for committed offsets (start-offset committed, and the "
    "offsets committed when the job ends gracefully); empty: no commits."};
const option<std::string> start{
    "kafka.start-offset", default_start_offset(),
    "Where sources start each partition: earliest, latest, the group's "
    "committed offset, the first record at or after a timestamp (ms), or "
    "explicit offsets per partition (others: earliest).",
    valid_if(is_start_offset, "earliest, latest, committed, timestamp:<ms> "
                              "or offsets:<partition>=<offset>,...")};
const option<bool> stop_at_end{
    "kafka.stop-at-end", defaults().stop_at_end,
    "Read each partition up to its end offset at start, then finish (a "
    "bounded job); otherwise sources run until the job is stopped."};
const option<std::string> dlq_suffix{
    "kafka.dlq-suffix", defaults().dlq_suffix,
    "Undecodable records of topic T go to T + this suffix.",
    valid_if([](const std::string& v) { return !v.empty(); },
             "a non-empty suffix")};
const option<bool> fail_on_bad_record{
    "kafka.fail-on-bad-record", defaults().fail_on_bad_record,
    "An undecodable record fails the job instead of going to the "
    "dead-letter topic."};
const option<std::string> dead_letter_topic{
    "kafka.dead-letter-topic", defaults().dead_letter_topic,
    "Topic of the records user functions and sinks fail on under on-error "
    "dead-letter (flow.on-error, stream::on_error), with headers naming "
    "operator, subtask, exception and source record; created if missing. "
    "Empty: none (a job with a dead-letter policy then exits 2)."};
const option<int64_t> linger_ms{"kafka.linger-ms", defaults().linger_ms,
                                "Producer linger.ms (milliseconds).",
                                in_range(0, 900000)};
const option<int64_t> batch_size{"kafka.batch-size", defaults().batch_size,
                                 "Producer batch.size (bytes).",
                                 in_range(1, 2147483647)};
const option<int64_t> delivery_timeout_ms{
    "kafka.delivery-timeout-ms", defaults().delivery_timeout_ms,
    "A record not acknowledged within this many milliseconds (librdkafka's "
    "retries included) fails the job; more than kafka.linger-ms.",
    in_range(1, 2147483647)};
const option<int64_t> timeout_ms{
    "kafka.timeout-ms", defaults().timeout_ms,
    "Milliseconds a source or sink waits for the cluster at open before "
    "failing (broker_unreachable, unknown_topic).",
    in_range(1, 3600000)};
const option<int64_t> embedded_partitions{
    "kafka.embedded-partitions", defaults().embedded_partitions,
    "Partitions of topics the embedded cluster creates; 0: the parallelism "
    "of the operator that creates it.",
    in_range(0, 100000)};
const option<std::string> delivery{
    "kafka.delivery",
    defaults().delivery == delivery_guarantee::exactly_once ? "exactly-once"
                                                            : "at-least-once",
    "What Kafka sinks guarantee: at-least-once (after a crash the output "
    "since the last checkpoint is written again), or exactly-once (each "
    "sink subtask publishes the output between two checkpoints in one "
    "Kafka transaction when the second completes: visible to read_committed "
    "consumers after up to one checkpoint interval; needs checkpoints and "
    "kafka.group-id).",
    one_of({"at-least-once", "exactly-once"})};
const option<int64_t> transaction_timeout_ms{
    "kafka.transaction-timeout-ms", defaults().transaction_timeout_ms,
    "Exactly-once: transaction.timeout.ms of the sinks' transactional "
    "producers (milliseconds); must exceed flow.checkpoint-interval and not "
    "the broker's transaction.max.timeout.ms.",
    in_range(1000, 2147483647)};
const option<int64_t> exactly_once_buffer_bytes{
    "kafka.exactly-once-buffer-bytes", defaults().exactly_once_buffer_bytes,
    "Exactly-once: bytes of records a sink subtask holds until the "
    "checkpoint that covers them completes (about one checkpoint interval "
    "of its output); more fails the job.",
    in_range(1024, int64_t{1} << 40)};
const option<std::vector<std::string>> properties{
    "kafka.properties", std::vector<std::string>{},
    "Extra librdkafka properties for every client, \"key=value\" (on the "
    "command line: --kafka.properties=k=v,k2=v2); properties libflow "
    "manages (bootstrap.servers, acks, enable.idempotence, ...) are "
    "rejected, naming the option that sets them.",
    valid_if(is_property, "librdkafka properties \"key=value\"")};

} // namespace opt

using namespace opt;

const option_check committed_needs_group{
    [](const settings_map& s) -> std::optional<config_error> {
      if (start.get(s) == "committed" && group_id.get(s).empty())
        return config_error{group_id.key(), "\"\"",
                            "a group id when kafka.start-offset = committed"};
      return std::nullopt;
    }};

/// kafka.delivery = exactly-once: needs checkpoints (the epochs are their
/// state; a bounded job's final checkpoint publishes its last epoch), a
/// transaction timeout longer than their interval, and a group id (it
/// names the job in the transactional ids and marker groups).
const option_check exactly_once_needs{
    [](const settings_map& s) -> std::optional<config_error> {
      if (delivery.get(s) != "exactly-once") return std::nullopt;
      auto& interval = checkpoint_interval_option();
      auto every = interval.get(s);
      if (every.count() <= 0)
        return config_error{interval.key(), format_duration(every),
                            "a checkpoint interval > 0 with kafka.delivery = "
                            "exactly-once"};
      auto txn = std::chrono::milliseconds(transaction_timeout_ms.get(s));
      if (txn <= every)
        return config_error{
            transaction_timeout_ms.key(), std::to_string(txn.count()),
            "more than flow.checkpoint-interval (" + format_duration(every) +
                ") with kafka.delivery = exactly-once"};
      if (group_id.get(s).empty())
        return config_error{group_id.key(), "\"\"",
                            "a group id naming the job with kafka.delivery = "
                            "exactly-once"};
      return std::nullopt;
    }};

/// librdkafka refuses a producer whose message timeout is not above its
/// linger ("message.timeout.ms must be greater than linger.ms"): caught
/// here, naming the keys, rather than when a sink opens. Under exactly-once
/// the timeout is also capped at the transaction timeout (topic_producer).
const option_check linger_within_delivery_timeout{
    [](const settings_map& s) -> std::optional<config_error> {
      auto linger = linger_ms.get(s);
      auto expected = "more than kafka.linger-ms (" + std::to_string(linger) +
                      " ms): librdkafka's message.timeout.ms must exceed its "
                      "linger.ms";
      if (delivery_timeout_ms.get(s) <= linger)
        return config_error{delivery_timeout_ms.key(),
                            std::to_string(delivery_timeout_ms.get(s)),
                            expected +
                                " (lower kafka.linger-ms or raise this)"};
      if (delivery.get(s) == "exactly-once" &&
          transaction_timeout_ms.get(s) <= linger)
        return config_error{transaction_timeout_ms.key(),
                            std::to_string(transaction_timeout_ms.get(s)),
                            expected +
                                " (with kafka.delivery = exactly-once it caps "
                                "kafka.delivery-timeout-ms)"};
      return std::nullopt;
    }};

/// librdkafka properties that libflow sets itself, and what sets them: a
/// value in kafka.properties would silently change a guarantee or make an
/// error message name the wrong setting.
struct managed_property {
  const char* name;
  const char* managed_by;
};
constexpr managed_property managed_properties[] = {
    {"bootstrap.servers", "kafka.bootstrap"},
    {"metadata.broker.list", "kafka.bootstrap"},
    {"group.id", "kafka.group-id"},
    {"auto.offset.reset", "kafka.start-offset"},
    {"linger.ms", "kafka.linger-ms"},
    {"queue.buffering.max.ms", "kafka.linger-ms"},
    {"batch.size", "kafka.batch-size"},
    {"delivery.timeout.ms", "kafka.delivery-timeout-ms"},
    {"message.timeout.ms", "kafka.delivery-timeout-ms"},
    {"acks", "libflow (always all: the producer is idempotent)"},
    {"request.required.acks",
     "libflow (always all: the producer is idempotent)"},
    {"enable.idempotence", "libflow (always true)"},
    {"transactional.id", "libflow (per sink subtask)"},
    {"transaction.timeout.ms", "kafka.transaction-timeout-ms"},
    {"isolation.level", "libflow"},
    {"enable.auto.commit", "libflow (offsets are committed by the source)"},
    {"enable.auto.offset.store",
     "libflow (offsets are committed by the source)"},
    {"enable.partition.eof", "libflow (kafka.stop-at-end)"},
    {"partitioner", "libflow (murmur2, as the Java client)"},
    {"allow.auto.create.topics",
     "libflow (sinks never create topics; create them first)"},
};

/// kafka.properties: no managed property, and each one known to
/// librdkafka with a value it takes (checked on a scratch configuration,
/// so that a typo exits 2 before anything runs).
const option_check valid_properties{[](const settings_map& s)
                                        -> std::optional<config_error> {
  detail::conf_ptr scratch{rd_kafka_conf_new()};
  for (auto& p : opt::properties.get(s)) {
    auto eq = p.find('=');
    auto name = p.substr(0, eq);
    for (auto& m : managed_properties)
      if (name == m.name)
        return config_error{
            opt::properties.key(), p,
            std::string("a property libflow does not manage; ") + m.name +
                " is set by " + m.managed_by};
    std::array<char, 512> err{};
    if (rd_kafka_conf_set(scratch.get(), name.c_str(), p.substr(eq + 1).c_str(),
                          err.data(), err.size()) != RD_KAFKA_CONF_OK)
      return config_error{opt::properties.key(), p,
                          std::string("a librdkafka property: ") + err.data()};
  }
  return std::nullopt;
}};

/// The connector takes dead letters wherever its options exist.
const bool dead_letters_registered =
    register_dead_letter_destination(std::make_shared<operator_dead_letters>());

} // namespace

std::optional<start_offset> start_offset::parse(const std::string& text) {
  start_offset r;
  if (text == "earliest") {
    r.what = kind::earliest;
  } else if (text == "latest") {
    r.what = kind::latest;
  } else if (text == "committed") {
    r.what = kind::committed;
  } else if (text.rfind("timestamp:", 0) == 0) {
    auto ts = parse_integer(text.substr(10));
    if (!ts || *ts < 0) return std::nullopt;
    r.what = kind::timestamp;
    r.timestamp_ms = *ts;
  } else if (text.rfind("offsets:", 0) == 0) {
    r.what = kind::explicit_offsets;
    for (auto& item : parse_list(text.substr(8))) {
      auto eq = item.find('=');
      if (eq == std::string::npos) return std::nullopt;
      auto p = parse_integer(item.substr(0, eq));
      auto o = parse_integer(item.substr(eq + 1));
      if (!p || !o || *p < 0 || *p > INT32_MAX || *o < 0) return std::nullopt;
      r.offsets[static_cast<int32_t>(*p)] = *o;
    }
    if (r.offsets.empty()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return r;
}

client_settings client_settings::from(const settings_map* s) {
  auto& schema = option_schema::global();
  settings_map given = s ? *s : settings_map{};
  if (auto bad = schema.check(given))
    throw std::invalid_argument(bad->message());
  if (!opt::bootstrap.is_set(&given))
    throw std::invalid_argument(
        config_error{opt::bootstrap.key(), "(unset)",
                     "host:port[,host:port...] or \"embedded\""}
            .message());
  client_settings r;
  r.bootstrap = opt::bootstrap.get(given);
  r.group_id = opt::group_id.get(given);
  r.start = *start_offset::parse(opt::start.get(given));
  r.stop_at_end = opt::stop_at_end.get(given);
  r.dlq_suffix = opt::dlq_suffix.get(given);
  r.fail_on_bad_record = opt::fail_on_bad_record.get(given);
  r.dead_letter_topic = opt::dead_letter_topic.get(given);
  r.linger_ms = opt::linger_ms.get(given);
  r.batch_size = opt::batch_size.get(given);
  r.delivery_timeout_ms = opt::delivery_timeout_ms.get(given);
  r.timeout_ms = opt::timeout_ms.get(given);
  r.embedded_partitions = opt::embedded_partitions.get(given);
  r.delivery = opt::delivery.get(given) == "exactly-once"
                   ? delivery_guarantee::exactly_once
                   : delivery_guarantee::at_least_once;
  r.transaction_timeout_ms = opt::transaction_timeout_ms.get(given);
  r.exactly_once_buffer_bytes = opt::exactly_once_buffer_bytes.get(given);
  for (auto& p : opt::properties.get(given)) {
    auto eq = p.find('=');
    r.properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return r;
}

std::string dead_letter_topic_of(const settings_map& s) {
  return opt::dead_letter_topic.get(s);
}

const std::string& dead_letter_topic_key() {
  static const std::string key = opt::dead_letter_topic.key();
  return key;
}

void require_bootstrap() {
  option_schema::global().require(opt::bootstrap.key(),
                                  "a Kafka source or sink");
}

} // namespace flow::kafka

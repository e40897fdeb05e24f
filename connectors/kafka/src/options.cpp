#include "flow/kafka/options.hpp"

#include "flow/runtime/option_registry.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/make_config_option.hpp>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace flow::kafka {

namespace {

std::optional<int64_t> to_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<bool> to_bool(const std::string& s) {
  if (s == "true") return true;
  if (s == "false") return false;
  return std::nullopt;
}

/// A list value as text: CAF renders lists as `["a=b", "c=d"]`; tests and
/// programs may also write `a=b,c=d`.
std::vector<std::string> to_list(const std::string& s) {
  std::vector<std::string> out;
  if (!s.empty() && s.front() == '[') {
    std::string cur;
    bool in_str = false;
    for (size_t i = 1; i < s.size(); ++i) {
      char c = s[i];
      if (in_str) {
        if (c == '\\' && i + 1 < s.size())
          cur += s[++i];
        else if (c == '"') {
          in_str = false;
          out.push_back(cur);
          cur.clear();
        } else
          cur += c;
      } else if (c == '"') {
        in_str = true;
      }
    }
    return out;
  }
  size_t pos = 0;
  while (pos <= s.size() && !s.empty()) {
    auto end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

struct int_key {
  const char* key;
  int64_t lo;
  int64_t hi;
  const char* expected;
};

constexpr int_key int_keys[] = {
    {"kafka.linger-ms", 0, 900000, "an integer in [0, 900000] (milliseconds)"},
    {"kafka.batch-size", 1, 2147483647,
     "an integer in [1, 2147483647] (bytes)"},
    {"kafka.delivery-timeout-ms", 1, 2147483647,
     "an integer >= 1 (milliseconds)"},
    {"kafka.timeout-ms", 1, 3600000,
     "an integer in [1, 3600000] (milliseconds)"},
    {"kafka.embedded-partitions", 0, 100000,
     "an integer in [0, 100000] (0: the operator's parallelism)"},
};

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
    auto ts = to_int(text.substr(10));
    if (!ts || *ts < 0) return std::nullopt;
    r.what = kind::timestamp;
    r.timestamp_ms = *ts;
  } else if (text.rfind("offsets:", 0) == 0) {
    r.what = kind::explicit_offsets;
    for (auto& item : to_list(text.substr(8))) {
      auto eq = item.find('=');
      if (eq == std::string::npos) return std::nullopt;
      auto p = to_int(item.substr(0, eq));
      auto o = to_int(item.substr(eq + 1));
      if (!p || !o || *p < 0 || *p > INT32_MAX || *o < 0) return std::nullopt;
      r.offsets[static_cast<int32_t>(*p)] = *o;
    }
    if (r.offsets.empty()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return r;
}

std::optional<config_error> validate_settings(const settings_map& s) {
  auto get = [&](const char* k) { return setting(&s, k); };
  if (auto b = get("kafka.bootstrap"); b && b->empty())
    return config_error{"kafka.bootstrap", "\"\"",
                        "host:port[,host:port...] or \"embedded\""};
  if (auto v = get("kafka.start-offset"); v && !start_offset::parse(*v))
    return config_error{"kafka.start-offset", "\"" + *v + "\"",
                        "earliest, latest, committed, timestamp:<ms> or "
                        "offsets:<partition>=<offset>,..."};
  if (auto v = get("kafka.start-offset"); v && *v == "committed") {
    auto g = get("kafka.group-id");
    if (!g || g->empty())
      return config_error{"kafka.group-id", g ? "\"\"" : "(unset)",
                          "a group id when kafka.start-offset = committed"};
  }
  if (auto v = get("kafka.dlq-suffix"); v && v->empty())
    return config_error{"kafka.dlq-suffix", "\"\"", "a non-empty suffix"};
  for (auto k : {"kafka.stop-at-end", "kafka.fail-on-bad-record"})
    if (auto v = get(k); v && !to_bool(*v))
      return config_error{k, "\"" + *v + "\"", "true or false"};
  for (auto& ik : int_keys)
    if (auto v = get(ik.key)) {
      auto n = to_int(*v);
      if (!n || *n < ik.lo || *n > ik.hi)
        return config_error{ik.key, *v, ik.expected};
    }
  if (auto v = get("kafka.properties"))
    for (auto& p : to_list(*v)) {
      auto eq = p.find('=');
      if (eq == std::string::npos || eq == 0)
        return config_error{"kafka.properties", "\"" + p + "\"",
                            "librdkafka properties as \"key=value\""};
    }
  return std::nullopt;
}

client_settings client_settings::from(const settings_map* s) {
  client_settings r;
  if (s == nullptr) return r;
  if (auto bad = validate_settings(*s))
    throw std::invalid_argument(bad->message());
  auto get = [&](const char* k) { return setting(s, k); };
  if (auto v = get("kafka.bootstrap")) r.bootstrap = *v;
  if (auto v = get("kafka.group-id")) r.group_id = *v;
  if (auto v = get("kafka.start-offset")) r.start = *start_offset::parse(*v);
  if (auto v = get("kafka.stop-at-end")) r.stop_at_end = *to_bool(*v);
  if (auto v = get("kafka.dlq-suffix")) r.dlq_suffix = *v;
  if (auto v = get("kafka.fail-on-bad-record"))
    r.fail_on_bad_record = *to_bool(*v);
  if (auto v = get("kafka.linger-ms")) r.linger_ms = *to_int(*v);
  if (auto v = get("kafka.batch-size")) r.batch_size = *to_int(*v);
  if (auto v = get("kafka.delivery-timeout-ms"))
    r.delivery_timeout_ms = *to_int(*v);
  if (auto v = get("kafka.timeout-ms")) r.timeout_ms = *to_int(*v);
  if (auto v = get("kafka.embedded-partitions"))
    r.embedded_partitions = *to_int(*v);
  if (auto v = get("kafka.properties"))
    for (auto& p : to_list(*v)) {
      auto eq = p.find('=');
      r.properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
    }
  return r;
}

void register_options() {
  runtime::option_group g;
  g.name = "kafka";
  g.declare = [](caf::config_option_adder& add) {
    add.add<std::string>("bootstrap",
                         "brokers host:port,... or \"embedded\" (in-process "
                         "mock cluster); default embedded")
        .add<std::string>("group-id",
                          "consumer group for committed offsets; default none")
        .add<std::string>("start-offset",
                          "earliest, latest, committed, timestamp:<ms> or "
                          "offsets:<p>=<o>,...; default earliest")
        .add<std::string>("stop-at-end",
                          "true: read up to the end offsets at start, then "
                          "finish; default false")
        .add<std::string>("dlq-suffix",
                          "dead-letter topic = source topic + suffix; "
                          "default .dlq")
        .add<std::string>("fail-on-bad-record",
                          "true: fail the job on an undeserializable record "
                          "instead of dead-lettering it; default false")
        .add<int64_t>("linger-ms", "producer linger.ms; default 1")
        .add<int64_t>("batch-size",
                      "producer batch.size in bytes; default 1000000")
        .add<int64_t>("delivery-timeout-ms",
                      "a record not acknowledged within this fails the job; "
                      "default 60000")
        .add<int64_t>(
            "timeout-ms",
            "wait for the cluster at open before failing; default 10000")
        .add<int64_t>("embedded-partitions",
                      "partitions of topics the embedded cluster creates; "
                      "default 0 = operator parallelism")
        .add<std::vector<std::string>>(
            "properties", "extra librdkafka properties [\"key=value\", ...]");
  };
  g.validate = [](const settings_map& s) { return validate_settings(s); };
  runtime::register_option_group(std::move(g));
}

} // namespace flow::kafka

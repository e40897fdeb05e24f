#include "flow/kafka/record_limit.hpp"

#include "flow/kafka/admin.hpp"

#include <algorithm>
#include <stdexcept>

namespace flow::kafka {

namespace {

/// librdkafka's default message.max.bytes.
constexpr size_t librdkafka_message_max_bytes = 1000000;
/// Room for a record batch's header and one record's framing.
constexpr size_t framing_bytes = 1024;

} // namespace

record_limit sink_record_limit(client_settings s, const std::string& topic) {
  size_t producer_max = librdkafka_message_max_bytes;
  bool set_by_user = false;
  for (auto& [key, value] : s.properties)
    if (key == "message.max.bytes") {
      producer_max = std::stoull(value);
      set_by_user = true;
    }
  size_t max = producer_max;
  if (auto topic_max = admin{s}.topic_config(topic, "max.message.bytes")) {
    auto topic_bytes = static_cast<size_t>(std::stoull(*topic_max));
    if (!set_by_user) {
      producer_max = topic_bytes + framing_bytes;
      s.properties.emplace_back("message.max.bytes",
                                std::to_string(producer_max));
    }
    max = std::min(topic_bytes, producer_max);
  }
  return {std::move(s), max > framing_bytes ? max - framing_bytes : 0};
}

size_t record_bytes(const producer_record& r) noexcept {
  size_t n = r.value.size() + (r.key ? r.key->size() : 0);
  for (auto& h : r.headers)
    n += h.key.size() + h.value.size();
  return n;
}

void check_record_size(const producer_record& r, size_t max_bytes,
                       const std::string& topic) {
  if (auto n = record_bytes(r); n > max_bytes)
    throw std::length_error("record of " + std::to_string(n) +
                            " bytes is larger than topic " + topic +
                            " takes (" + std::to_string(max_bytes) +
                            " bytes of key, value and headers: its "
                            "max.message.bytes)");
}

} // namespace flow::kafka

#pragma once

#include "flow/changelog.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flow::kafka {

/// A Kafka record header.
struct header {
  std::string key;
  std::string value;
  bool operator==(const header& o) const {
    return key == o.key && value == o.value;
  }
};

/// Records to produce, read in place from bytes held in one shared buffer
/// (a chunk of an exactly-once sink's epoch, flow/kafka/epoch_log.hpp) and
/// handed to a producer together: the views point into `buffer` and are
/// valid while it is held.
struct record_run {
  struct entry {
    /// Unset: a null key.
    std::optional<std::string_view> key;
    /// A null view (data() == nullptr) for a tombstone.
    std::string_view value;
    std::optional<int32_t> partition;
    std::optional<int64_t> timestamp;
    /// Copies (records with headers are rare; an empty vector allocates
    /// nothing).
    std::vector<header> headers;
  };
  /// What the records' keys and values point into: holding it keeps them
  /// valid (a producer that does not copy them holds it until they are
  /// acknowledged).
  std::shared_ptr<const std::string> buffer;
  std::vector<entry> records;
};

/// A consumed record, owning its data: what a source of `record` emits.
struct record {
  /// Unset for a record with a null key.
  std::optional<std::string> key;
  /// Empty for a tombstone.
  std::string value;
  /// A tombstone: the value is null (a delete in a changelog topic), not
  /// an empty value.
  bool tombstone = false;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  /// Milliseconds since the Unix epoch (CreateTime or LogAppendTime); -1 if
  /// the broker sent none.
  int64_t timestamp = -1;
  std::vector<header> headers;

  /// The value of the first header named `name`, if any.
  std::optional<std::string> header_value(std::string_view name) const {
    for (auto& h : headers)
      if (h.key == name) return h.value;
    return std::nullopt;
  }
};

/// The headers of a consumed record as (name, value) views; a header
/// without a value has value.data() == nullptr. A source leaves them in the
/// librdkafka message until they are first looked at: most deserializers
/// never do, and librdkafka allocates a header list for every message whose
/// headers it parses (9% of W1's actor-thread time went there when every
/// record's were). Valid as long as the record_view holding them.
/// Threading: one thread (the lazy parse is not synchronized).
class header_views {
public:
  using value_type = std::pair<std::string_view, std::string_view>;
  using const_iterator = std::vector<value_type>::const_iterator;
  /// Appends the headers of `message` to `out`.
  using parser = void (*)(const void* message, std::vector<value_type>& out);

  header_views() = default;
  /// Headers that `parse` reads from `message` on first use.
  header_views(parser parse, const void* message)
      : parse_(parse), message_(message) {}

  const_iterator begin() const { return parsed().begin(); }
  const_iterator end() const { return parsed().end(); }
  size_t size() const { return parsed().size(); }
  bool empty() const { return parsed().empty(); }
  const value_type& operator[](size_t i) const { return parsed()[i]; }
  /// Adds a header after the message's own.
  void emplace_back(std::string_view name, std::string_view value) {
    parsed();
    items_.emplace_back(name, value);
  }

private:
  const std::vector<value_type>& parsed() const {
    if (parse_) {
      auto parse = parse_;
      parse_ = nullptr;
      parse(message_, items_);
    }
    return items_;
  }

  mutable parser parse_ = nullptr;
  const void* message_ = nullptr;
  mutable std::vector<value_type> items_;
};

/// A consumed record as deserializers see it: views into the librdkafka
/// message, valid only during the deserializer call.
struct record_view {
  /// data() == nullptr if the record has a null key.
  std::string_view key;
  /// data() == nullptr for a tombstone (a null value); an empty value has
  /// a non-null data().
  std::string_view value;
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp = -1;
  header_views headers;

  bool has_key() const noexcept { return key.data() != nullptr; }
  /// A null value: a delete in a changelog topic, never an empty message.
  bool is_tombstone() const noexcept { return value.data() == nullptr; }

  /// An owning copy.
  record to_record() const {
    record r;
    if (has_key()) r.key.emplace(key);
    r.value.assign(value);
    r.tombstone = is_tombstone();
    r.topic.assign(topic);
    r.partition = partition;
    r.offset = offset;
    r.timestamp = timestamp;
    r.headers.reserve(headers.size());
    for (auto& [k, v] : headers)
      r.headers.push_back(header{std::string(k), std::string(v)});
    return r;
  }
};

/// A record to produce: what a sink's serializer makes of each input.
struct producer_record {
  std::optional<std::string> key;
  std::string value;
  /// Produce a null value (a tombstone); `value` is ignored.
  bool tombstone = false;
  /// Unset: partition by key with murmur2 (as the Java client), or spread
  /// records with a null key.
  std::optional<int32_t> partition;
  /// Unset: the time of production.
  std::optional<int64_t> timestamp;
  std::vector<header> headers;
};

} // namespace flow::kafka

namespace flow {

/// A Kafka record as a table record: a tombstone deletes its key.
template <>
struct changelog_traits<kafka::record> {
  static bool is_delete(const kafka::record& r) noexcept { return r.tombstone; }
};

} // namespace flow

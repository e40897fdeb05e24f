#pragma once

#include "flow/kafka/record.hpp"

#include <google/protobuf/message_lite.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace flow::kafka {

/// Raw record values.
using bytes = std::vector<uint8_t>;

/// Thrown by a deserializer for a record it cannot read; the source sends
/// the record to the dead-letter topic (any std::exception does).
class deserialize_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

template <class T>
inline constexpr bool is_protobuf_v =
    std::is_base_of_v<google::protobuf::MessageLite, T>;

/// How values of type T are read from and written to record bytes:
/// std::string, bytes, arithmetic types (decimal text) and Protobuf
/// messages. Specialize it for your own types.
template <class T, class = void>
struct value_codec {
  static_assert(sizeof(T) == 0,
                "no value_codec<T>: use std::string, flow::kafka::bytes, an "
                "arithmetic type or a Protobuf message, pass a deserializer "
                "`T f(const flow::kafka::record_view&)` / serializer "
                "`flow::kafka::producer_record f(const T&)`, or specialize "
                "flow::kafka::value_codec<T>");
};

template <>
struct value_codec<std::string> {
  static std::string decode(std::string_view v) { return std::string(v); }
  static std::string encode(const std::string& x) { return x; }
  /// As encode, into `out` (its capacity reused).
  static void encode_into(const std::string& x, std::string& out) {
    out.assign(x);
  }
};

template <>
struct value_codec<bytes> {
  static bytes decode(std::string_view v) { return bytes(v.begin(), v.end()); }
  static std::string encode(const bytes& x) {
    return std::string(x.begin(), x.end());
  }
};

template <class T>
struct value_codec<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
  static T decode(std::string_view v) {
    std::string s(v);
    if (s.empty()) throw deserialize_error("empty value, expected a number");
    errno = 0;
    char* end = nullptr;
    T x{};
    if constexpr (std::is_floating_point_v<T>)
      x = static_cast<T>(std::strtod(s.c_str(), &end));
    else if constexpr (std::is_signed_v<T>)
      x = static_cast<T>(std::strtoll(s.c_str(), &end, 10));
    else
      x = static_cast<T>(std::strtoull(s.c_str(), &end, 10));
    if (errno != 0 || end != s.c_str() + s.size())
      throw deserialize_error("not a number: \"" + s.substr(0, 64) + "\"");
    return x;
  }
  static std::string encode(T x) { return std::to_string(x); }
};

template <class T>
struct value_codec<T, std::enable_if_t<is_protobuf_v<T>>> {
  static T decode(std::string_view v) {
    T x;
    decode_into(v, x);
    return x;
  }
  /// As decode, into `x` (what it held is replaced).
  static void decode_into(std::string_view v, T& x) {
    if (!x.ParseFromArray(v.data(), static_cast<int>(v.size())))
      throw deserialize_error("cannot parse " + x.GetTypeName());
  }
  static std::string encode(const T& x) {
    std::string out;
    encode_into(x, out);
    return out;
  }
  /// As encode, into `out` (its capacity reused).
  static void encode_into(const T& x, std::string& out) {
    if (!x.SerializeToString(&out))
      throw std::runtime_error("cannot serialize " + x.GetTypeName());
  }
};

namespace detail {

template <class T, class = void>
struct has_encode_into : std::false_type {};
template <class T>
struct has_encode_into<
    T, std::void_t<decltype(value_codec<T>::encode_into(
           std::declval<const T&>(), std::declval<std::string&>()))>>
    : std::true_type {};

/// Clears what a serializer writing into `r` does not set itself.
inline void clear_record_meta(producer_record& r) {
  r.tombstone = false;
  r.partition.reset();
  r.timestamp.reset();
  r.headers.clear();
}

} // namespace detail

/// value_codec<T>::encode(x) into `out`, reusing its capacity where the
/// codec has an encode_into (strings, Protobuf messages).
template <class T>
void encode_value(const T& x, std::string& out) {
  if constexpr (detail::has_encode_into<T>::value)
    value_codec<T>::encode_into(x, out);
  else
    out = value_codec<T>::encode(x);
}

/// Sources of these types see tombstones (null values): kafka::record (its
/// tombstone flag), std::optional<V>, std::pair<K, std::optional<V>> and
/// flow::changelog_entry<K, V> (no value). A source of any other type skips
/// them, counted and logged: a tombstone is never parsed as an empty message.
template <class T>
struct sees_tombstones : std::false_type {};
template <>
struct sees_tombstones<record> : std::true_type {};
template <class V>
struct sees_tombstones<std::optional<V>> : std::true_type {};
template <class K, class V>
struct sees_tombstones<std::pair<K, std::optional<V>>> : std::true_type {};
template <class K, class V>
struct sees_tombstones<changelog_entry<K, V>> : std::true_type {};

/// The deserializer a source of T uses unless given one: the record itself
/// for T = record, key and value for std::pair<K, V>, else the value;
/// std::nullopt for the null value of a tombstone.
template <class T>
struct default_deserializer {
  T operator()(const record_view& r) const {
    return value_codec<T>::decode(r.value);
  }
  /// As above, into `out`, for codecs with a decode_into (Protobuf): the
  /// source then builds each record where it sends it from.
  template <class U = T, class = decltype(value_codec<U>::decode_into(
                             std::string_view(), std::declval<U&>()))>
  void operator()(const record_view& r, U& out) const {
    value_codec<U>::decode_into(r.value, out);
  }
};

template <>
struct default_deserializer<record> {
  record operator()(const record_view& r) const { return r.to_record(); }
};

template <class V>
struct default_deserializer<std::optional<V>> {
  std::optional<V> operator()(const record_view& r) const {
    if (r.is_tombstone()) return std::nullopt;
    return value_codec<V>::decode(r.value);
  }
};

template <class K, class V>
struct default_deserializer<std::pair<K, V>> {
  std::pair<K, V> operator()(const record_view& r) const {
    if (!r.has_key()) throw deserialize_error("record without key");
    return {value_codec<K>::decode(r.key), default_deserializer<V>{}(r)};
  }
};

/// Key, value (none for a tombstone) and the record's timestamp.
template <class K, class V>
struct default_deserializer<changelog_entry<K, V>> {
  changelog_entry<K, V> operator()(const record_view& r) const {
    if (!r.has_key()) throw deserialize_error("changelog record without key");
    changelog_entry<K, V> e;
    e.key = value_codec<K>::decode(r.key);
    e.value = default_deserializer<std::optional<V>>{}(r);
    e.timestamp = r.timestamp;
    return e;
  }
};

/// The serializer a sink of T uses unless given one: a record keeps key,
/// value and headers; std::pair<K, V> writes key and value; anything else
/// is the value, with a null key.
///
/// A serializer may also take the form `void f(const T&, producer_record&
/// out)`, which overwrites every field of `out` and may reuse its buffers:
/// a sink serializes each batch into producer_records it keeps from batch
/// to batch then, so that a record costs no allocation of its own
/// (librdkafka copies it).
template <class T>
struct default_serializer {
  producer_record operator()(const T& x) const {
    producer_record r;
    (*this)(x, r);
    return r;
  }
  void operator()(const T& x, producer_record& r) const {
    detail::clear_record_meta(r);
    r.key.reset();
    encode_value(x, r.value);
  }
};

template <>
struct default_serializer<record> {
  producer_record operator()(const record& x) const {
    producer_record r;
    r.key = x.key;
    r.value = x.value;
    r.tombstone = x.tombstone;
    r.headers = x.headers;
    return r;
  }
};

template <class K, class V>
struct default_serializer<std::pair<K, V>> {
  producer_record operator()(const std::pair<K, V>& x) const {
    producer_record r;
    r.key = value_codec<K>::encode(x.first);
    r.value = value_codec<V>::encode(x.second);
    return r;
  }
};

/// Key, value or a tombstone, and the entry's time as the record's
/// timestamp.
template <class K, class V>
struct default_serializer<changelog_entry<K, V>> {
  producer_record operator()(const changelog_entry<K, V>& x) const {
    producer_record r;
    r.key = value_codec<K>::encode(x.key);
    if (x.value)
      r.value = value_codec<V>::encode(*x.value);
    else
      r.tombstone = true;
    r.timestamp = x.timestamp;
    return r;
  }
};

/// The serializer of keyed_by: `key(x)` as the key, x as the value, both
/// with their value_codec. `key` may be a member function (`&T::id`): a
/// key returned by reference is encoded without a copy.
template <class T, class KeyFn>
class keyed_serializer {
public:
  explicit keyed_serializer(KeyFn key) : key_(std::move(key)) {}

  producer_record operator()(const T& x) const {
    producer_record r;
    (*this)(x, r);
    return r;
  }

  /// As above, into `r`, reusing its key and value buffers (see
  /// default_serializer).
  void operator()(const T& x, producer_record& r) const {
    using K = std::decay_t<std::invoke_result_t<const KeyFn&, const T&>>;
    detail::clear_record_meta(r);
    if (!r.key) r.key.emplace();
    encode_value<K>(std::invoke(key_, x), *r.key);
    encode_value<T>(x, r.value);
  }

private:
  KeyFn key_;
};

/// A serializer writing `key(x)` as the key (partitioned by its murmur2
/// hash) and the value with value_codec<T>.
template <class T, class KeyFn>
auto keyed_by(KeyFn key) {
  return keyed_serializer<T, KeyFn>(std::move(key));
}

} // namespace flow::kafka

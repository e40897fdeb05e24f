#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace flow {

/// Thrown when bytes from a remote channel cannot be decoded.
class serde_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// How records of type T are written to and read from bytes when a batch
/// crosses nodes. Specialize it for your own types:
///
///     template <> struct flow::serde<point> {
///       static constexpr bool available = true;
///       static void write(const point& x, std::vector<char>& out);
///       static point read(const char*& pos, const char* end);
///     };
///
/// `read` advances `pos` and throws serde_error on malformed input.
/// Provided: arithmetic types, std::string, std::pair, std::optional,
/// std::variant, std::vector, std::map, std::multimap, std::unordered_map
/// (of types that have a serde), and Protobuf messages (include
/// flow/serde_protobuf.hpp). Local channels never serialize; keyed state
/// snapshots use it too.
template <class T, class = void>
struct serde {
  static constexpr bool available = false;
};

namespace detail {

inline void write_varint(uint64_t v, std::vector<char>& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline uint64_t read_varint(const char*& pos, const char* end) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos == end) throw serde_error("truncated varint");
    auto byte = static_cast<uint8_t>(*pos++);
    v |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return v;
  }
  throw serde_error("varint too long");
}

inline void need(const char* pos, const char* end, uint64_t n) {
  if (static_cast<uint64_t>(end - pos) < n)
    throw serde_error("truncated record");
}

} // namespace detail

template <class T>
struct serde<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
  static constexpr bool available = true;
  static void write(const T& x, std::vector<char>& out) {
    char buf[sizeof(T)];
    std::memcpy(buf, &x, sizeof(T));
    out.insert(out.end(), buf, buf + sizeof(T));
  }
  static T read(const char*& pos, const char* end) {
    detail::need(pos, end, sizeof(T));
    T x;
    std::memcpy(&x, pos, sizeof(T));
    pos += sizeof(T);
    return x;
  }
};

template <>
struct serde<std::string> {
  static constexpr bool available = true;
  static void write(const std::string& x, std::vector<char>& out) {
    detail::write_varint(x.size(), out);
    out.insert(out.end(), x.begin(), x.end());
  }
  static std::string read(const char*& pos, const char* end) {
    auto n = detail::read_varint(pos, end);
    detail::need(pos, end, n);
    std::string x(pos, pos + n);
    pos += n;
    return x;
  }
};

template <class A, class B>
struct serde<std::pair<A, B>,
             std::enable_if_t<serde<A>::available && serde<B>::available>> {
  static constexpr bool available = true;
  static void write(const std::pair<A, B>& x, std::vector<char>& out) {
    serde<A>::write(x.first, out);
    serde<B>::write(x.second, out);
  }
  static std::pair<A, B> read(const char*& pos, const char* end) {
    auto a = serde<A>::read(pos, end);
    auto b = serde<B>::read(pos, end);
    return {std::move(a), std::move(b)};
  }
};

template <class T>
struct serde<std::optional<T>, std::enable_if_t<serde<T>::available>> {
  static constexpr bool available = true;
  static void write(const std::optional<T>& x, std::vector<char>& out) {
    out.push_back(x ? 1 : 0);
    if (x) serde<T>::write(*x, out);
  }
  static std::optional<T> read(const char*& pos, const char* end) {
    detail::need(pos, end, 1);
    if (*pos++ == 0) return std::nullopt;
    return serde<T>::read(pos, end);
  }
};

namespace detail {

/// serde of a sequence: its size, then its elements in order.
template <class C, class Elem>
struct sequence_serde {
  static constexpr bool available = true;
  static void write(const C& xs, std::vector<char>& out) {
    write_varint(xs.size(), out);
    for (auto& x : xs)
      serde<Elem>::write(x, out);
  }
  static C read(const char*& pos, const char* end) {
    auto n = read_varint(pos, end);
    C xs;
    for (uint64_t i = 0; i < n; ++i)
      xs.push_back(serde<Elem>::read(pos, end));
    return xs;
  }
};

/// serde of a map: its size, then key and value of each entry in
/// iteration order (a multimap keeps the order of equal keys).
template <class C, class K, class V>
struct map_serde {
  static constexpr bool available = true;
  static void write(const C& xs, std::vector<char>& out) {
    write_varint(xs.size(), out);
    for (auto& [k, v] : xs) {
      serde<K>::write(k, out);
      serde<V>::write(v, out);
    }
  }
  static C read(const char*& pos, const char* end) {
    auto n = read_varint(pos, end);
    C xs;
    for (uint64_t i = 0; i < n; ++i) {
      auto k = serde<K>::read(pos, end);
      xs.emplace_hint(xs.end(), std::move(k), serde<V>::read(pos, end));
    }
    return xs;
  }
};

} // namespace detail

template <class T>
struct serde<std::vector<T>, std::enable_if_t<serde<T>::available>>
    : detail::sequence_serde<std::vector<T>, T> {};

template <class K, class V>
struct serde<std::map<K, V>,
             std::enable_if_t<serde<K>::available && serde<V>::available>>
    : detail::map_serde<std::map<K, V>, K, V> {};

template <class K, class V>
struct serde<std::multimap<K, V>,
             std::enable_if_t<serde<K>::available && serde<V>::available>>
    : detail::map_serde<std::multimap<K, V>, K, V> {};

template <class K, class V>
struct serde<std::unordered_map<K, V>,
             std::enable_if_t<serde<K>::available && serde<V>::available>>
    : detail::map_serde<std::unordered_map<K, V>, K, V> {};

/// The index of the alternative (one byte), then the alternative: what an
/// operator with side outputs sends to the selectors of its outputs.
template <class... Ts>
struct serde<
    std::variant<Ts...>,
    std::enable_if_t<(sizeof...(Ts) < 256) && (serde<Ts>::available && ...)>> {
  static constexpr bool available = true;
  static void write(const std::variant<Ts...>& x, std::vector<char>& out) {
    out.push_back(static_cast<char>(x.index()));
    std::visit(
        [&out](const auto& v) {
          serde<std::decay_t<decltype(v)>>::write(v, out);
        },
        x);
  }
  static std::variant<Ts...> read(const char*& pos, const char* end) {
    detail::need(pos, end, 1);
    auto index = static_cast<size_t>(static_cast<unsigned char>(*pos++));
    return read_alternative(index, pos, end, std::index_sequence_for<Ts...>{});
  }

private:
  template <size_t... I>
  static std::variant<Ts...> read_alternative(size_t index, const char*& pos,
                                              const char* end,
                                              std::index_sequence<I...>) {
    std::optional<std::variant<Ts...>> x;
    ((index == I
          ? (void)x.emplace(std::in_place_index<I>, serde<Ts>::read(pos, end))
          : void()),
     ...);
    if (!x)
      throw serde_error("variant alternative " + std::to_string(index) +
                        " out of range");
    return std::move(*x);
  }
};

} // namespace flow

#pragma once

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace flow {

/// Renders a record as one line of text (stdout and file sinks).
inline std::string to_text(const std::string& x) {
  return x;
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>, std::string> to_text(T x) {
  return std::to_string(x);
}

template <class A, class B>
std::string to_text(const std::pair<A, B>& x) {
  return to_text(x.first) + "\t" + to_text(x.second);
}

template <class T>
auto to_text(const T& x)
    -> std::enable_if_t<!std::is_arithmetic_v<T>,
                        decltype(std::declval<std::ostream&>() << x,
                                 std::string())> {
  std::ostringstream os;
  os << x;
  return os.str();
}

} // namespace flow

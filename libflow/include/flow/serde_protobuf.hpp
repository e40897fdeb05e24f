#pragma once

// serde for Protobuf messages: include this header wherever records of a
// Protobuf type flow through a topology that may span nodes.

#include "flow/serde.hpp"

#include <google/protobuf/message_lite.h>

namespace flow {

template <class T>
struct serde<
    T, std::enable_if_t<std::is_base_of_v<google::protobuf::MessageLite, T>>> {
  static constexpr bool available = true;
  static void write(const T& x, std::vector<char>& out) {
    auto n = x.ByteSizeLong();
    detail::write_varint(n, out);
    auto old = out.size();
    out.resize(old + n);
    if (!x.SerializeToArray(out.data() + old, static_cast<int>(n)))
      throw serde_error("cannot serialize " + x.GetTypeName());
  }
  static T read(const char*& pos, const char* end) {
    auto n = detail::read_varint(pos, end);
    detail::need(pos, end, n);
    T x;
    if (!x.ParseFromArray(pos, static_cast<int>(n)))
      throw serde_error("malformed " + x.GetTypeName());
    pos += n;
    return x;
  }
};

} // namespace flow

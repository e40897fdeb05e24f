#pragma once

// For tests of state held until a checkpoint completes (a sink's epochs,
// dead letters): epochs of items written as text, and a transport that
// drops everything.

#include "flow/transport.hpp"

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace flow::test {

struct silent_transport final : transport {
  void send_batch(size_t, batch_ptr) override {}
  void send_end_of_stream(size_t) override {}
  void send_watermark(size_t, int64_t) override {}
  void send_idle(size_t, bool) override {}
  void send_credit(size_t, uint32_t) override {}
  void send_barrier(size_t, checkpoint_id) override {}
};

/// Items held per epoch (checkpoint id).
template <class T>
using epochs = std::map<uint64_t, std::vector<T>>;

/// "id:a,b,;id:..." (items without ',' or ';').
template <class T>
std::string encode(const epochs<T>& e) {
  std::ostringstream out;
  for (auto& [id, xs] : e) {
    out << id << ':';
    for (auto& x : xs)
      out << x << ',';
    out << ';';
  }
  return out.str();
}

template <class T>
epochs<T> decode(const std::string& s) {
  epochs<T> e;
  std::istringstream in(s);
  std::string epoch;
  while (std::getline(in, epoch, ';')) {
    auto colon = epoch.find(':');
    auto& xs = e[std::stoull(epoch.substr(0, colon))];
    std::istringstream items(epoch.substr(colon + 1));
    std::string x;
    while (std::getline(items, x, ',')) {
      if constexpr (std::is_same_v<T, std::string>)
        xs.push_back(x);
      else
        xs.push_back(static_cast<T>(std::stoll(x)));
    }
  }
  return e;
}

} // namespace flow::test

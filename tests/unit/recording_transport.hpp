#pragma once

// A transport that keeps the records of type T a task sends, for tests
// that drive a task without an actor system; the rest of what is sent is
// dropped.
#include "flow/batch.hpp"
#include "flow/transport.hpp"

#include <cstdint>
#include <vector>

namespace flow::test {

template <class T>
struct recording_transport final : transport {
  std::vector<T> records;
  void send_batch(size_t, batch_ptr b) override {
    for (auto& x : records_of<T>(*b))
      records.push_back(x);
  }
  void send_end_of_stream(size_t) override {}
  void send_watermark(size_t, int64_t) override {}
  void send_idle(size_t, bool) override {}
  void send_credit(size_t, uint32_t) override {}
};

} // namespace flow::test

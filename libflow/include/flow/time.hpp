#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>

namespace flow {

// Event time and processing time are int64 milliseconds. A watermark W
// says: no more records with a timestamp <= W will arrive on this stream
// (records that still do are late). A window [start, end) is complete when
// the watermark reaches end - 1. End-of-stream acts as a watermark of
// max_timestamp.

/// Lowest timestamp: the watermark before any is known.
inline constexpr int64_t min_timestamp = std::numeric_limits<int64_t>::min();
/// Highest timestamp: the watermark of an ended input.
inline constexpr int64_t max_timestamp = std::numeric_limits<int64_t>::max();

/// Which clock drives a window or timer.
enum class time_domain {
  /// Timestamps of the records; progress by watermarks.
  event,
  /// The wall clock of the subtask's host.
  processing,
};

/// Processing time as subtask_core and tasks see it. The actor runtime uses
/// the system clock; tests drive a manual one.
class clock {
public:
  virtual ~clock();
  /// Milliseconds since the epoch (or since any fixed origin).
  virtual int64_t now() const = 0;
  /// The system clock (std::chrono::system_clock), shared.
  static const clock& system();
};

/// A clock that moves only when told to (deterministic tests).
class manual_clock final : public clock {
public:
  explicit manual_clock(int64_t start = 0) : now_(start) {}
  int64_t now() const override { return now_; }
  void advance(int64_t ms) { now_ += ms; }
  void set(int64_t ms) { now_ = ms; }

private:
  int64_t now_;
};

/// Reads the event time of a record.
template <class T>
using timestamp_fn = std::function<int64_t(const T&)>;

/// How a source assigns timestamps and generates watermarks: bounded
/// out-of-orderness, per source subtask (or per split, see
/// split_watermarks): watermark = highest timestamp seen - max_delay - 1.
template <class T>
struct watermark_strategy {
  timestamp_fn<T> timestamp;
  /// How far (ms) a record may lag behind the highest timestamp seen
  /// without being late.
  int64_t max_out_of_orderness = 0;
};

/// Milliseconds of a std::chrono duration.
template <class Rep, class Period>
constexpr int64_t to_millis(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace flow

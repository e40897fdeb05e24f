#pragma once

#include "flow/router.hpp"
#include "flow/task.hpp"

namespace flow {

/// A task emitting records of type Out through a router.
template <class Out>
class emitting_task : public task {
public:
  explicit emitting_task(const task_setup& s)
      : router_(s.outputs, *s.out, s.batch_size) {}
  void flush() override { router_.flush(); }
  void flush_all() override { router_.flush_all(); }
  bool has_buffered() const override { return router_.has_buffered(); }
  /// Forwards the watermark after the records emitted so far.
  void on_watermark(int64_t wm) override { router_.emit_watermark(wm); }
  /// Passes the idle status on, after the records emitted so far.
  void on_idle(bool idle) override { router_.emit_idle(idle); }

protected:
  router<Out> router_;
};

} // namespace flow

#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace flow {

/// Runs a connector's blocking work (connecting with retries, creating a
/// topic, committing offsets) away from the threads that run subtasks, so
/// that a slow or dead cluster never holds a thread other subtasks need.
///
/// The host gives each subtask its own executor
/// (connector_context::executor). After a piece of work has returned, the
/// host wakes the subtask: an idle source is polled, a busy sink resumed
/// (sink_function::busy), as if the connector had called its wake-up.
///
/// Threading: run() is called on the subtask's thread. `work` runs on
/// another thread, concurrently with the subtask; it reaches the connector
/// only through what it captured, by shared ownership (the subtask may be
/// gone before the work ends), and must not throw (background_result
/// catches for it).
class blocking_executor {
public:
  virtual ~blocking_executor() = default;
  virtual void run(std::function<void()> work) = 0;
};

/// Hands `owned` (a std::unique_ptr or std::shared_ptr) to `ex` to be
/// released there, off the subtask's thread: for what may wait in its
/// destructor, such as a Kafka client, whose close joins its threads and,
/// with the cluster gone, can wait for it. Null `ex`: released here.
template <class P>
void release_on(blocking_executor* ex, P owned) {
  if (!ex || !owned) return;
  ex->run([held = std::make_shared<P>(std::move(owned))] { held->reset(); });
}

namespace detail {
/// The abandoned flag of the background_result work running on this
/// thread (see blocking_work_abandoned); null outside such work.
inline thread_local const std::atomic<bool>* running_work_abandoned = nullptr;
} // namespace detail

/// True if the background_result work running on this thread has been
/// abandoned: its owner was destroyed, or released it, before it returned,
/// so nobody will take its result. Long waits in such work (for a cluster
/// that does not answer) check it between slices and give up early, so
/// that a job stopped meanwhile does not keep its process alive until
/// they time out. False outside such work.
inline bool blocking_work_abandoned() noexcept {
  auto* flag = detail::running_work_abandoned;
  return flag && flag->load(std::memory_order_acquire);
}

/// Blocking work started on a blocking_executor, as the subtask sees it:
/// pending until the work returns, then its value or its exception.
/// Without an executor (a subtask_core driven by a test) the work runs at
/// once, on the caller's thread. R may be void.
template <class R>
class background_result {
public:
  background_result() = default;
  background_result(const background_result&) = delete;
  background_result& operator=(const background_result&) = delete;
  background_result(background_result&&) noexcept = default;
  background_result& operator=(background_result&& other) noexcept {
    if (this == &other) return *this;
    abandon();
    st_ = std::move(other.st_);
    return *this;
  }
  /// Abandons work still running (blocking_work_abandoned).
  ~background_result() { abandon(); }

  /// Starts `work` (`R work()`) on `ex`; null: runs it now. F is copied
  /// to the executor's thread.
  template <class F>
  void start(blocking_executor* ex, F work) {
    abandon();
    auto st = std::make_shared<state>();
    st_ = st;
    auto job = [st, work = std::move(work)]() mutable noexcept {
      struct running {
        const std::atomic<bool>* outer;
        explicit running(const std::atomic<bool>* flag)
            : outer(detail::running_work_abandoned) {
          detail::running_work_abandoned = flag;
        }
        ~running() { detail::running_work_abandoned = outer; }
      } marked{&st->abandoned};
      try {
        if constexpr (std::is_void_v<R>)
          work();
        else
          st->value.emplace(work());
      } catch (...) {
        st->error = std::current_exception();
      }
      st->done.store(true, std::memory_order_release);
    };
    if (ex)
      ex->run(std::move(job));
    else
      job();
  }

  /// True between start() and take().
  bool started() const noexcept { return st_ != nullptr; }

  /// Lets go of the work and what it returns on `ex` (flow::release_on):
  /// a result nobody took is destroyed there, or where the work ends.
  void release_on(blocking_executor* ex) {
    abandon();
    flow::release_on(ex, std::move(st_));
  }

  /// True once the work has returned or thrown.
  bool ready() const noexcept {
    return st_ && st_->done.load(std::memory_order_acquire);
  }

  /// What the work returned; rethrows what it threw. Once, when ready().
  R take() {
    auto st = std::move(st_);
    if (st->error) std::rethrow_exception(st->error);
    if constexpr (!std::is_void_v<R>) return std::move(*st->value);
  }

private:
  void abandon() noexcept {
    if (st_) st_->abandoned.store(true, std::memory_order_release);
  }

  struct value_slot {
    std::optional<R> value;
  };
  struct empty_slot {};
  struct state : std::conditional_t<std::is_void_v<R>, empty_slot, value_slot> {
    std::atomic<bool> done{false};
    std::atomic<bool> abandoned{false};
    std::exception_ptr error;
  };
  std::shared_ptr<state> st_;
};

} // namespace flow

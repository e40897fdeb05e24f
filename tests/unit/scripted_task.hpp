#pragma once

// A task whose answers a test writes down in advance and whose calls it
// counts: the driver and adapter tests watch what the policy makes a
// subtask do.

#include "flow/batch.hpp"
#include "flow/outbox.hpp"
#include "flow/task.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace flow::test {

/// One answer of a scripted source.
struct poll_step {
  explicit poll_step(source_state answer, size_t records = 0, bool send = false,
                     std::string error = {})
      : answer(answer), records(records), send(send), error(std::move(error)) {}
  source_state answer;
  /// Records added to the partial output batch first.
  size_t records;
  /// Then send the partial batch (as flush() does).
  bool send;
  /// Non-empty: poll() throws this instead.
  std::string error;
};

/// What a scripted task answers, and what was asked of it. It outlives the
/// task (the core destroys the task when the subtask ends).
struct task_script {
  /// Answers of poll(), in order; once they run out, idle.
  std::deque<poll_step> polls;
  /// What set_wakeup() answers, and the callback it was given.
  bool wakes = false;
  std::function<void()> wake;
  /// Non-empty: process() throws this.
  std::string process_error;
  /// next_timer() until on_processing_time() fires.
  int64_t next_timer = max_timestamp;
  /// The partial output batch (has_buffered() while not empty).
  std::vector<int> partial;
  outbox* out = nullptr;
  size_t polled = 0;
  size_t processed = 0;
  size_t flushed = 0;
  size_t timers_fired = 0;
  size_t stops = 0;
  bool task_alive = false;
};

class scripted_task final : public task {
public:
  explicit scripted_task(task_script& s, const task_setup& setup) : s_(s) {
    s_.out = setup.out;
    s_.task_alive = true;
  }
  ~scripted_task() override { s_.task_alive = false; }

  source_state poll(size_t) override {
    ++s_.polled;
    if (s_.polls.empty()) return source_state::idle;
    auto step = s_.polls.front();
    s_.polls.pop_front();
    if (!step.error.empty()) throw std::runtime_error(step.error);
    s_.partial.insert(s_.partial.end(), step.records, 1);
    if (step.send) send_partial();
    return step.answer;
  }

  void process(size_t, batch_base& b) override {
    if (!s_.process_error.empty()) throw std::runtime_error(s_.process_error);
    ++s_.processed;
    s_.partial.insert(s_.partial.end(), b.size(), 1);
  }

  void request_stop() override {
    ++s_.stops;
    s_.polls = {poll_step{source_state::done}};
  }

  bool set_wakeup(std::function<void()> wake) override {
    s_.wake = std::move(wake);
    return s_.wakes;
  }

  void on_processing_time(int64_t) override {
    ++s_.timers_fired;
    s_.next_timer = max_timestamp;
  }
  int64_t next_timer() const override { return s_.next_timer; }

  void flush() override {
    ++s_.flushed;
    send_partial();
  }
  bool has_buffered() const override { return !s_.partial.empty(); }

private:
  void send_partial() {
    if (s_.partial.empty()) return;
    auto b = std::make_shared<typed_batch<int>>(std::move(s_.partial));
    s_.partial.clear();
    if (s_.out->size() > 0) s_.out->push(0, std::move(b));
  }

  task_script& s_;
};

/// Builds scripted tasks following `s`.
inline task_factory scripted(task_script& s) {
  return [&s](const task_setup& setup) {
    return std::make_unique<scripted_task>(s, setup);
  };
}

} // namespace flow::test

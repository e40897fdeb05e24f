#pragma once

#include "flow/blocking_executor.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/fwd.hpp>

#include <functional>

namespace flow::runtime {

/// The blocking_executor of one subtask actor: each piece of work runs in
/// a detached actor (a thread of its own, never one of the scheduler's
/// shared workers), which then sends the subtask a wake_atom.
///
/// The subtask is held by a weak reference only: work that outlives it
/// (a failed job) finishes and wakes no one. The actor system waits for
/// running work when it shuts down.
class detached_executor final : public blocking_executor {
public:
  detached_executor(caf::actor_system& sys, caf::weak_actor_ptr subtask);
  void run(std::function<void()> work) override;

private:
  caf::actor_system& sys_;
  caf::weak_actor_ptr subtask_;
};

} // namespace flow::runtime

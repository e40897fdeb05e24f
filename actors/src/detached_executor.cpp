#include "flow/runtime/detached_executor.hpp"

#include "flow/runtime/messages.hpp"

#include <caf/all.hpp>

namespace flow::runtime {

detached_executor::detached_executor(caf::actor_system& sys,
                                     caf::weak_actor_ptr subtask)
    : sys_(sys), subtask_(std::move(subtask)) {}

void detached_executor::run(std::function<void()> work) {
  sys_.spawn<caf::detached>([work = std::move(work), subtask = subtask_] {
    work();
    if (auto me = caf::actor_cast<caf::actor>(subtask))
      caf::anon_send(me, wake_atom::value);
  });
}

} // namespace flow::runtime

#include "flow/time.hpp"

namespace flow {

clock::~clock() = default;

namespace {

class system_clock_impl final : public clock {
public:
  int64_t now() const override {
    return to_millis(std::chrono::system_clock::now().time_since_epoch());
  }
};

} // namespace

const clock& clock::system() {
  static const system_clock_impl instance;
  return instance;
}

} // namespace flow

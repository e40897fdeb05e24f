#include "flow/batch.hpp"

namespace flow {

batch_base::~batch_base() = default;

wire_batch::wire_batch(std::vector<char> bytes) : bytes_(std::move(bytes)) {
  const char* pos = bytes_.data();
  count_ = detail::read_varint(pos, bytes_.data() + bytes_.size());
  header_ = static_cast<size_t>(pos - bytes_.data());
}

void wire_batch::serialize(std::vector<char>& out) const {
  out.insert(out.end(), bytes_.begin(), bytes_.end());
}

} // namespace flow

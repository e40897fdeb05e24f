#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace flow {

/// A batch of records travelling on one channel. Type-erased so that the
/// runtime can move batches without knowing the record type.
class batch_base {
public:
  virtual ~batch_base();
  /// Number of records in the batch.
  virtual size_t size() const noexcept = 0;
};

/// The in-memory batch of a local channel: records are moved, never copied
/// or serialized.
template <class T>
class typed_batch final : public batch_base {
public:
  typed_batch() = default;
  explicit typed_batch(std::vector<T> xs) : records(std::move(xs)) {}
  size_t size() const noexcept override { return records.size(); }
  std::vector<T> records;
};

/// Shared only because CAF messages must be copyable; a batch has exactly
/// one owner at a time (sender until sent, then the receiver).
using batch_ptr = std::shared_ptr<batch_base>;

/// Returns the records of `b`, which must hold records of type `T`.
/// Throws std::logic_error on a type mismatch (a wiring bug).
template <class T>
std::vector<T>& records_of(batch_base& b);

} // namespace flow

#include <stdexcept>
#include <typeinfo>

namespace flow {
template <class T>
std::vector<T>& records_of(batch_base& b) {
  if (auto* tb = dynamic_cast<typed_batch<T>*>(&b))
    return tb->records;
  throw std::logic_error(std::string("batch does not hold records of type ") +
                         typeid(T).name());
}
} // namespace flow

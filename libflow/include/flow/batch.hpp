#pragma once

#include "flow/serde.hpp"

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

namespace flow {

/// A batch of records travelling on one channel. Type-erased so that the
/// runtime can move batches without knowing the record type.
class batch_base {
public:
  virtual ~batch_base();
  /// Number of records in the batch.
  virtual size_t size() const noexcept = 0;
  /// Appends the wire form (record count, then each record with serde<T>)
  /// to `out`. Throws serde_error if the record type has no serde.
  virtual void serialize(std::vector<char>& out) const = 0;
};

/// The in-memory batch of a local channel: records are moved, never copied
/// or serialized.
template <class T>
class typed_batch final : public batch_base {
public:
  typed_batch() = default;
  explicit typed_batch(std::vector<T> xs) : records(std::move(xs)) {}
  size_t size() const noexcept override { return records.size(); }
  void serialize(std::vector<char>& out) const override {
    if constexpr (serde<T>::available) {
      detail::write_varint(records.size(), out);
      for (auto& x : records)
        serde<T>::write(x, out);
    } else {
      throw serde_error(std::string("records of type ") + typeid(T).name() +
                        " cannot cross nodes: specialize flow::serde");
    }
  }
  std::vector<T> records;
};

/// A batch as it arrives from a remote channel: bytes, decoded into records
/// by the receiving task, which knows the type.
class wire_batch final : public batch_base {
public:
  explicit wire_batch(std::vector<char> bytes);
  size_t size() const noexcept override { return count_; }
  void serialize(std::vector<char>& out) const override;
  const std::vector<char>& bytes() const noexcept { return bytes_; }

  /// Decodes the records as T (once). Throws serde_error on malformed bytes.
  template <class T>
  std::vector<T>& decode();

private:
  std::vector<char> bytes_;
  size_t count_ = 0;
  size_t header_ = 0;
  std::unique_ptr<batch_base> decoded_;
};

/// Shared only because CAF messages must be copyable; a batch has exactly
/// one owner at a time (sender until sent, then the receiver).
using batch_ptr = std::shared_ptr<batch_base>;

/// Returns the records of `b` as T: the records of a local batch, or the
/// decoded records of a remote one. Throws std::logic_error on a type
/// mismatch (a wiring bug).
template <class T>
std::vector<T>& records_of(batch_base& b) {
  if (auto* tb = dynamic_cast<typed_batch<T>*>(&b)) return tb->records;
  if (auto* wb = dynamic_cast<wire_batch*>(&b)) return wb->decode<T>();
  throw std::logic_error(std::string("batch does not hold records of type ") +
                         typeid(T).name());
}

template <class T>
std::vector<T>& wire_batch::decode() {
  if (!decoded_) {
    if constexpr (serde<T>::available) {
      auto result = std::make_unique<typed_batch<T>>();
      result->records.reserve(count_);
      const char* pos = bytes_.data() + header_;
      const char* end = bytes_.data() + bytes_.size();
      for (size_t i = 0; i < count_; ++i)
        result->records.push_back(serde<T>::read(pos, end));
      if (pos != end) throw serde_error("trailing bytes after the last record");
      decoded_ = std::move(result);
    } else {
      throw serde_error(std::string("records of type ") + typeid(T).name() +
                        " cannot cross nodes: specialize flow::serde");
    }
  }
  return static_cast<typed_batch<T>&>(*decoded_).records;
}

} // namespace flow

#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace flow::checkpoint {

/// A checkpoint that could not be written or read: which file or directory,
/// and why (the system's message, e.g. "No space left on device").
struct storage_error {
  std::string path;
  std::string cause;
  std::string message() const { return path + ": " + cause; }
};

/// A value, or the storage_error that prevented it.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {}
  result(storage_error e) : v_(std::move(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// Throws std::logic_error if this holds an error.
  T& value() {
    if (!ok()) throw std::logic_error("result holds " + error().message());
    return std::get<0>(v_);
  }
  const T& value() const {
    if (!ok()) throw std::logic_error("result holds " + error().message());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// Throws std::bad_variant_access if this holds a value.
  const storage_error& error() const { return std::get<1>(v_); }

private:
  std::variant<T, storage_error> v_;
};

} // namespace flow::checkpoint

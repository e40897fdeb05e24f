#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flow {

/// Bytes in pieces, each immutable and shared: what a snapshot hands to
/// the checkpoint writer without copying data its owner keeps as well (an
/// exactly-once sink's epochs are its state and, at the same time, what it
/// publishes). The bytes are the pieces' concatenation.
class byte_chain {
public:
  byte_chain() = default;
  /// One piece, moved in: no copy of its bytes.
  byte_chain(std::string bytes) { append(std::move(bytes)); }

  void append(std::string bytes) {
    if (bytes.empty()) return;
    append(std::make_shared<const std::string>(std::move(bytes)));
  }
  void append(std::shared_ptr<const std::string> bytes) {
    if (!bytes || bytes->empty()) return;
    size_ += bytes->size();
    pieces_.push_back(std::move(bytes));
  }
  void append(const byte_chain& other) {
    for (auto& p : other.pieces_)
      append(p);
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// The pieces, in order, none empty; valid while this chain lives.
  std::vector<std::string_view> pieces() const {
    std::vector<std::string_view> out;
    out.reserve(pieces_.size());
    for (auto& p : pieces_)
      out.emplace_back(*p);
    return out;
  }

  /// The bytes in one string (a copy: tests, restores).
  std::string flatten() const {
    std::string out;
    out.reserve(size_);
    for (auto& p : pieces_)
      out += *p;
    return out;
  }

private:
  std::vector<std::shared_ptr<const std::string>> pieces_;
  size_t size_ = 0;
};

} // namespace flow

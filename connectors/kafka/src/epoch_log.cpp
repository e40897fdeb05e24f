#include "flow/kafka/epoch_log.hpp"

#include "flow/kafka/error.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace flow::kafka {

namespace {

/// Identifies encode()'s format (and its version).
constexpr char magic[4] = {'F', 'E', 'L', '1'};

size_t size_of(const producer_record& r) {
  size_t n = r.value.size() + (r.key ? r.key->size() : 0);
  for (auto& h : r.headers)
    n += h.key.size() + h.value.size();
  return n;
}

/// The bytes put() writes for `r`.
size_t encoded_size(const producer_record& r) {
  size_t n = 1 + 8 + r.value.size() + 8; // flags, value, header count
  if (r.key) n += 8 + r.key->size();
  if (r.partition) n += sizeof(int32_t);
  if (r.timestamp) n += sizeof(int64_t);
  for (auto& h : r.headers)
    n += 8 + h.key.size() + 8 + h.value.size();
  return n;
}

template <class Int>
void put(std::string& out, Int v) {
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.append(b, sizeof v);
}

void put(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

/// Reads what put() wrote; throws std::invalid_argument past the end.
struct reader {
  std::string_view in;
  size_t at = 0;
  void need(size_t n) {
    if (in.size() - at < n)
      throw std::invalid_argument("exactly-once sink state is truncated");
  }
  template <class Int>
  Int get() {
    Int v;
    need(sizeof v);
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  std::string_view view() {
    auto n = get<uint64_t>();
    need(n);
    std::string_view s{in.data() + at, n};
    at += n;
    return s;
  }
  std::string text() { return std::string(view()); }
};

enum flags : uint8_t {
  has_key = 1,
  tombstone = 2,
  has_partition = 4,
  has_timestamp = 8,
};

void put(std::string& out, const producer_record& r) {
  uint8_t f = (r.key ? has_key : 0) | (r.tombstone ? tombstone : 0) |
              (r.partition ? has_partition : 0) |
              (r.timestamp ? has_timestamp : 0);
  put<uint8_t>(out, f);
  if (r.key) put(out, *r.key);
  put(out, r.value);
  if (r.partition) put<int32_t>(out, *r.partition);
  if (r.timestamp) put<int64_t>(out, *r.timestamp);
  put<uint64_t>(out, r.headers.size());
  for (auto& h : r.headers) {
    put(out, h.key);
    put(out, h.value);
  }
}

/// Reads the next record put() wrote, in place; `headers` holds its
/// headers. Returns its key, value and headers bytes (size_of).
size_t get_record(reader& in, std::optional<std::string_view>& key,
                  std::string_view& value, std::optional<int32_t>& partition,
                  std::optional<int64_t>& timestamp,
                  std::vector<header>& headers) {
  auto f = in.get<uint8_t>();
  key.reset();
  if (f & has_key) key = in.view();
  value = in.view();
  size_t n = value.size() + (key ? key->size() : 0);
  if (f & tombstone) value = std::string_view();
  partition.reset();
  if (f & has_partition) partition = in.get<int32_t>();
  timestamp.reset();
  if (f & has_timestamp) timestamp = in.get<int64_t>();
  headers.clear();
  for (auto count = in.get<uint64_t>(); count > 0; --count) {
    header h;
    h.key = in.text();
    h.value = in.text();
    n += h.key.size() + h.value.size();
    headers.push_back(std::move(h));
  }
  return n;
}

/// Reads `count` records of `in` (nullopt: up to its end), checking that
/// each is whole. Returns their bytes (size_of).
size_t get_records(reader& in, std::optional<uint64_t> count) {
  std::optional<std::string_view> key;
  std::string_view value;
  std::optional<int32_t> partition;
  std::optional<int64_t> timestamp;
  std::vector<header> headers;
  size_t bytes = 0;
  for (uint64_t i = 0; count ? i < *count : in.at < in.in.size(); ++i)
    bytes += get_record(in, key, value, partition, timestamp, headers);
  return bytes;
}

/// Offers the records of `chunk` from byte `at` on to `f` in runs of at
/// most `run_records` (filling `run`, whose capacity is reused), until `f`
/// takes only a prefix of one. Returns the byte where the first record not
/// taken starts (chunk's size if all were). `run` holds no chunk after.
size_t offer_runs(const std::shared_ptr<const std::string>& chunk, size_t at,
                  const std::function<size_t(const record_run&)>& f,
                  record_run& run, size_t run_records) {
  reader in{*chunk, at};
  run.buffer = chunk;
  while (in.at < in.in.size()) {
    auto start = in.at;
    run.records.clear();
    while (in.at < in.in.size() && run.records.size() < run_records) {
      auto& e = run.records.emplace_back();
      get_record(in, e.key, e.value, e.partition, e.timestamp, e.headers);
    }
    auto taken = f(run);
    if (taken < run.records.size()) {
      // Rare (a full queue): read again up to the first record not taken.
      in.at = start;
      get_records(in, taken);
      break;
    }
  }
  run.buffer.reset();
  run.records.clear();
  return in.at;
}

} // namespace

void epoch::for_each(const std::function<void(const record_run&)>& f,
                     epoch_position from) const {
  auto all = [&](const record_run& run) {
    f(run);
    return run.records.size();
  };
  record_run run;
  for (size_t i = from.chunk; i < chunks.size(); ++i)
    offer_runs(chunks[i], i == from.chunk ? from.at : 0, all, run,
               epoch_log::run_records);
}

std::vector<producer_record> epoch::decode() const {
  std::vector<producer_record> out;
  out.reserve(records);
  for_each([&](const record_run& run) {
    for (auto& r : run.records) {
      producer_record p;
      if (r.key) p.key = std::string(*r.key);
      p.tombstone = r.value.data() == nullptr;
      p.value = std::string(r.value);
      p.partition = r.partition;
      p.timestamp = r.timestamp;
      p.headers = r.headers;
      out.push_back(std::move(p));
    }
  });
  return out;
}

std::string epoch_buffers::take(size_t capacity) {
  std::unique_ptr<std::string> kept;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = std::find_if(free_.begin(), free_.end(),
                           [&](auto& b) { return b->capacity() >= capacity; });
    if (it != free_.end()) {
      kept = std::move(*it);
      free_.erase(it);
    }
  }
  std::string out;
  if (kept) {
    out = std::move(*kept);
    out.clear();
  } else {
    out.reserve(capacity);
  }
  return out;
}

void epoch_buffers::give_back(std::unique_ptr<std::string> buffer) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (free_.size() < kept) free_.push_back(std::move(buffer));
  // else more than `kept` in flight: `buffer` is freed by the caller,
  // outside the lock
}

size_t publication::records() const {
  size_t n = 0;
  for (auto& e : epochs)
    n += e.records;
  return n;
}

epoch_log::epoch_log(size_t max_bytes, std::string limit_key,
                     size_t chunk_bytes)
    : max_bytes_(max_bytes), limit_key_(std::move(limit_key)),
      chunk_bytes_(chunk_bytes) {}

std::shared_ptr<const std::string> epoch_log::new_chunk(size_t capacity) {
  return std::shared_ptr<const std::string>(
      new std::string(buffers_->take(capacity)),
      [buffers = buffers_](const std::string* b) {
        buffers->give_back(
            std::unique_ptr<std::string>(const_cast<std::string*>(b)));
      });
}

void epoch_log::append(const producer_record& r) {
  auto n = size_of(r);
  if (bytes_ + n > max_bytes_)
    throw kafka_error{
        errc::other,
        "the exactly-once sink holds " + std::to_string(bytes_ + n) +
            " bytes of records not yet committed, more than " + limit_key_ +
            " = " + std::to_string(max_bytes_) +
            " (it holds the output of a checkpoint interval until the "
            "checkpoint completes): raise it or shorten "
            "flow.checkpoint-interval"};
  auto encoded = encoded_size(r);
  if (!filling_ || filling_->capacity() - filling_->size() < encoded) {
    open_.push_back(new_chunk(std::max(chunk_bytes_, encoded)));
    // Created non-const by new_chunk; only this log writes to it.
    filling_ = const_cast<std::string*>(open_.back().get());
  }
  bytes_ += n;
  open_bytes_ += n;
  ++open_records_;
  auto before = filling_->size();
  put(*filling_, r); // within capacity: the chunk does not move
  if (filling_->size() - before != encoded)
    throw std::logic_error("epoch_log: encoded_size disagrees with put");
}

void epoch_log::close(checkpoint_id id) {
  if (!closed_.empty() && !(closed_.back().id < id))
    throw std::logic_error("epoch_log: epoch " + std::to_string(id.value()) +
                           " closed after epoch " +
                           std::to_string(closed_.back().id.value()));
  epoch e;
  e.id = id;
  e.bytes = std::exchange(open_bytes_, 0);
  e.records = std::exchange(open_records_, 0);
  e.chunks = std::exchange(open_, {});
  filling_ = nullptr; // the next epoch starts a chunk of its own
  closed_.push_back(std::move(e));
}

byte_chain epoch_log::encode() const {
  std::string head;
  head.append(magic, sizeof magic);
  put<int64_t>(head, base_);
  put<uint64_t>(head, closed_.size());
  byte_chain out;
  for (auto& e : closed_) {
    put<uint64_t>(head, e.id.value());
    put<uint64_t>(head, e.records);
    out.append(std::exchange(head, std::string()));
    for (auto& c : e.chunks)
      out.append(c);
  }
  out.append(std::move(head));
  return out;
}

void epoch_log::restore(const std::string& bytes) {
  if (bytes.size() < sizeof magic ||
      std::memcmp(bytes.data(), magic, sizeof magic) != 0)
    throw std::invalid_argument("not the state of an exactly-once sink");
  reader in{bytes, sizeof magic};
  auto base = in.get<int64_t>();
  std::vector<epoch> closed;
  size_t total = 0;
  for (auto n = in.get<uint64_t>(); n > 0; --n) {
    epoch e;
    e.id = checkpoint_id{in.get<uint64_t>()};
    e.records = in.get<uint64_t>();
    auto start = in.at;
    e.bytes = get_records(in, e.records);
    if (in.at > start)
      e.chunks.push_back(
          std::make_shared<const std::string>(bytes, start, in.at - start));
    total += e.bytes;
    closed.push_back(std::move(e));
  }
  if (in.at != bytes.size())
    throw std::invalid_argument("exactly-once sink state has trailing bytes");
  base_ = base;
  closed_ = std::move(closed);
  bytes_ = total + open_bytes_;
}

epoch_position
epoch_log::take_open(epoch_position from,
                     const std::function<size_t(const record_run&)>& f) {
  for (size_t i = from.chunk; i < open_.size(); ++i) {
    auto at = offer_runs(open_[i], i == from.chunk ? from.at : 0, f, run_,
                         run_records);
    from = {i, at};
    if (at < open_[i]->size()) break; // a prefix taken
  }
  return from;
}

size_t epoch_log::reconcile(int64_t marker, checkpoint_id restored) {
  size_t dropped = 0;
  while (!closed_.empty() &&
         base_ + static_cast<int64_t>(closed_.front().id.value()) <= marker) {
    dropped += closed_.front().records;
    bytes_ -= closed_.front().bytes;
    closed_.erase(closed_.begin());
  }
  auto k = static_cast<int64_t>(restored.value());
  if (marker > base_ + k) base_ = marker - k;
  return dropped;
}

std::optional<publication>
epoch_log::publishable(checkpoint_id completed) const {
  publication p;
  p.up_to = completed;
  for (auto& e : closed_)
    if (!(completed < e.id)) p.epochs.push_back(e);
  if (p.epochs.empty()) return std::nullopt;
  p.marker = base_ + static_cast<int64_t>(completed.value());
  return p;
}

void epoch_log::confirm(const publication& p) {
  while (!closed_.empty() && !(p.up_to < closed_.front().id)) {
    bytes_ -= closed_.front().bytes;
    closed_.erase(closed_.begin());
  }
}

} // namespace flow::kafka

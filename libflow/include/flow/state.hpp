#pragma once

// Keyed state and timers: keyed_stream::process(make) with a
// keyed_process_function that owns value_state / map_state members.
//
//   struct first_seen final
//     : flow::keyed_process_function<std::string, event, alert> {
//     flow::value_state<std::string, int64_t> seen{*this};
//     void process_element(const event& e, context& ctx) override {
//       if (!seen.get())
//         ctx.register_event_time_timer(ctx.timestamp() + 60'000);
//       seen.update(ctx.timestamp());
//     }
//     void on_timer(int64_t t, flow::time_domain, context& ctx) override {
//       ctx.emit(alert{ctx.key(), *seen.get()});
//       seen.clear();
//     }
//   };
//   events.key_by(&event::user).process([] {
//     return std::make_unique<first_seen>(); });

#include "flow/emitting_task.hpp"
#include "flow/partitioning.hpp"
#include "flow/time.hpp"
#include "flow/timers.hpp"
#include "flow/topology.hpp"

#include <memory>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace flow {

/// The key a keyed function works on right now, and its key group
/// (key_group_of(std::hash<K>(key), max parallelism): the unit in which
/// keyed state is stored, so that it can move when parallelism changes).
template <class K>
class keyed_state_owner {
public:
  const K& current_key() const { return *key_; }
  uint32_t current_key_group() const noexcept { return key_group_; }
  uint32_t key_groups() const noexcept { return max_parallelism_; }

  /// Set by the hosting task before each call into user code.
  void set_current_key(const K& k, uint32_t kg) {
    key_ = &k;
    key_group_ = kg;
  }
  void set_key_groups(uint32_t n) { max_parallelism_ = n; }

private:
  const K* key_ = nullptr;
  uint32_t key_group_ = 0;
  uint32_t max_parallelism_ = 128;
};

namespace detail {

/// State of type V per key, stored per key group.
template <class K, class V>
class keyed_table {
public:
  explicit keyed_table(keyed_state_owner<K>& owner) : owner_(&owner) {}
  keyed_table(const keyed_table&) = delete;
  keyed_table& operator=(const keyed_table&) = delete;

  V* find() {
    auto& g = group();
    auto i = g.find(owner_->current_key());
    return i == g.end() ? nullptr : &i->second;
  }
  V& get_or_create() { return group()[owner_->current_key()]; }
  void erase() { group().erase(owner_->current_key()); }

  /// Every key's value in key group `kg` (for snapshots and tests).
  const std::unordered_map<K, V>* key_group(uint32_t kg) const {
    return kg < groups_.size() ? &groups_[kg] : nullptr;
  }

private:
  std::unordered_map<K, V>& group() {
    if (groups_.empty()) groups_.resize(owner_->key_groups());
    return groups_[owner_->current_key_group()];
  }
  keyed_state_owner<K>* owner_;
  std::vector<std::unordered_map<K, V>> groups_;
};

} // namespace detail

/// One value of type V per key.
template <class K, class V>
class value_state {
public:
  explicit value_state(keyed_state_owner<K>& owner) : table_(owner) {}
  /// The current key's value, or null.
  const V* get() { return table_.find(); }
  /// The current key's value, or `fallback`.
  V value_or(V fallback) {
    auto p = table_.find();
    return p ? *p : fallback;
  }
  void update(V v) { table_.get_or_create() = std::move(v); }
  void clear() { table_.erase(); }
  const std::unordered_map<K, V>* key_group(uint32_t kg) const {
    return table_.key_group(kg);
  }

private:
  detail::keyed_table<K, V> table_;
};

/// A map MK -> MV per key.
template <class K, class MK, class MV>
class map_state {
public:
  using map_type = std::unordered_map<MK, MV>;
  explicit map_state(keyed_state_owner<K>& owner) : table_(owner) {}
  const MV* get(const MK& k) {
    auto m = table_.find();
    if (!m) return nullptr;
    auto i = m->find(k);
    return i == m->end() ? nullptr : &i->second;
  }
  void put(const MK& k, MV v) { table_.get_or_create()[k] = std::move(v); }
  void remove(const MK& k) {
    if (auto m = table_.find()) {
      m->erase(k);
      if (m->empty()) table_.erase();
    }
  }
  bool contains(const MK& k) { return get(k) != nullptr; }
  /// The current key's entries (empty if none).
  const map_type& entries() {
    static const map_type none;
    auto m = table_.find();
    return m ? *m : none;
  }
  void clear() { table_.erase(); }

private:
  detail::keyed_table<K, map_type> table_;
};

/// A function over a keyed stream with keyed state (value_state and
/// map_state members built with `*this`) and timers. One instance per
/// subtask; never called concurrently.
template <class K, class T, class Out>
class keyed_process_function : public keyed_state_owner<K> {
public:
  using key_type = K;
  using input_type = T;
  using output_type = Out;

  /// What a call may do besides changing state.
  class context {
  public:
    virtual ~context() = default;
    const K& key() const { return *key_; }
    /// Event time of the record (min_timestamp if the stream has none), or
    /// the time of the timer that fired.
    int64_t timestamp() const noexcept { return ts_; }
    /// The operator's current watermark.
    virtual int64_t watermark() const = 0;
    virtual int64_t processing_time() const = 0;
    /// A timer per (key, time, domain); registering it again is a no-op.
    virtual void register_event_time_timer(int64_t t) = 0;
    virtual void register_processing_time_timer(int64_t t) = 0;
    virtual void delete_event_time_timer(int64_t t) = 0;
    virtual void delete_processing_time_timer(int64_t t) = 0;
    virtual void emit(Out x) = 0;

  protected:
    const K* key_ = nullptr;
    int64_t ts_ = min_timestamp;
  };

  virtual ~keyed_process_function() = default;
  virtual void process_element(const T& x, context& ctx) = 0;
  /// A timer of the current key fired at `time`.
  virtual void on_timer(int64_t time, time_domain domain, context& ctx) {}
};

namespace detail {

template <class K>
struct key_time_hash {
  size_t operator()(const std::pair<K, int64_t>& x) const noexcept {
    return std::hash<K>{}(x.first) * 31 + std::hash<int64_t>{}(x.second);
  }
};

/// Hosts a keyed_process_function.
template <class K, class T, class Out, class KeyFn>
class keyed_process_task final
    : public emitting_task<Out>,
      private keyed_process_function<K, T, Out>::context {
public:
  using function = keyed_process_function<K, T, Out>;

  keyed_process_task(const task_setup& s, KeyFn key,
                     std::unique_ptr<function> fn, timestamp_fn<T> ts)
      : emitting_task<Out>(s), key_fn_(std::move(key)), fn_(std::move(fn)),
        ts_fn_(std::move(ts)), clock_(s.clock ? s.clock : &clock::system()),
        max_parallelism_(s.max_parallelism) {
    fn_->set_key_groups(max_parallelism_);
  }

  void process(size_t, batch_base& b) override {
    for (auto& x : records_of<T>(b)) {
      K k = key_fn_(x);
      enter(k, ts_fn_ ? ts_fn_(x) : min_timestamp);
      fn_->process_element(x, *this);
    }
  }

  void on_watermark(int64_t wm) override {
    wm_ = wm;
    fire(event_, event_set_, wm, time_domain::event);
    this->router_.emit_watermark(wm);
  }

  void on_processing_time(int64_t now) override {
    fire(processing_, processing_set_, now, time_domain::processing);
  }

  int64_t next_timer() const override { return processing_.next(); }

private:
  using timer_set = std::unordered_set<std::pair<K, int64_t>, key_time_hash<K>>;

  void enter(const K& k, int64_t ts) {
    fn_->set_current_key(k, key_group_of(std::hash<K>{}(k), max_parallelism_));
    this->key_ = &k;
    this->ts_ = ts;
  }

  void fire(timer_queue<K>& q, timer_set& set, int64_t now, time_domain d) {
    q.fire(now, [&](int64_t t, const K& k) {
      if (set.erase({k, t}) == 0) return; // deleted
      enter(k, t);
      fn_->on_timer(t, d, *this);
    });
  }

  int64_t watermark() const override { return wm_; }
  int64_t processing_time() const override { return clock_->now(); }
  void register_event_time_timer(int64_t t) override {
    if (event_set_.emplace(*this->key_, t).second) event_.add(t, *this->key_);
  }
  void register_processing_time_timer(int64_t t) override {
    if (processing_set_.emplace(*this->key_, t).second)
      processing_.add(t, *this->key_);
  }
  void delete_event_time_timer(int64_t t) override {
    event_set_.erase({*this->key_, t});
  }
  void delete_processing_time_timer(int64_t t) override {
    processing_set_.erase({*this->key_, t});
  }
  void emit(Out x) override { this->router_.emit(std::move(x)); }

  KeyFn key_fn_;
  std::unique_ptr<function> fn_;
  timestamp_fn<T> ts_fn_;
  const clock* clock_;
  uint32_t max_parallelism_;
  int64_t wm_ = min_timestamp;
  timer_queue<K> event_;
  timer_queue<K> processing_;
  timer_set event_set_;
  timer_set processing_set_;
};

} // namespace detail

/// `make` returns a std::unique_ptr to a keyed_process_function<K, T, Out>
/// subclass; it is called once per subtask.
template <class K, class T, class KeyFn>
template <class F>
auto keyed_stream<K, T, KeyFn>::process(F make, std::string name) const {
  using ptr = std::decay_t<std::invoke_result_t<F&>>;
  using fn_type = typename ptr::element_type;
  using out = typename fn_type::output_type;
  static_assert(std::is_base_of_v<keyed_process_function<K, T, out>, fn_type>,
                "process expects a factory `std::unique_ptr<Fn> make()` of "
                "a keyed_process_function<K, T, Out> subclass");
  auto key = key_;
  timestamp_fn<T> ts;
  if (in_.timestamps()) ts = *in_.timestamps();
  return in_.template add_keyed<out>(
      name,
      [key, make, ts](const task_setup& s) mutable {
        std::unique_ptr<keyed_process_function<K, T, out>> fn = make();
        return std::make_unique<detail::keyed_process_task<K, T, out, KeyFn>>(
            s, key, std::move(fn), ts);
      },
      hasher_);
}

} // namespace flow

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

#include "flow/defaults.hpp"
#include "flow/key_groups.hpp"
#include "flow/keyed_store.hpp"
#include "flow/keyed_task.hpp"
#include "flow/time.hpp"
#include "flow/timers.hpp"
#include "flow/topology.hpp"

#include <memory>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flow {

/// The key a keyed function works on right now, its key group, and the
/// keyed state members (value_state, map_state) registered with it.
template <class K>
class keyed_state_owner {
public:
  keyed_state_owner() = default;
  keyed_state_owner(const keyed_state_owner&) = delete;
  keyed_state_owner& operator=(const keyed_state_owner&) = delete;

  const K& current_key() const { return *key_; }
  uint32_t current_key_group() const noexcept { return key_group_; }
  uint32_t key_groups() const noexcept { return key_groups_; }

  /// Set by the hosting task before each call into user code.
  void set_current_key(const K& k, uint32_t kg) {
    key_ = &k;
    key_group_ = kg;
  }

  /// Set by the hosting task (flow.max-parallelism) before any state is
  /// used.
  void set_key_groups(uint32_t n) {
    key_groups_ = n;
    for (auto s : states_)
      s->set_key_groups(n);
  }

  /// Called by the state members' constructors.
  template <class V>
  void add_state(keyed_store<K, V>& s) {
    s.set_key_groups(key_groups_);
    states_.push_back(&s);
  }

  /// The state members, in the order they were constructed.
  const std::vector<keyed_state_part<K>*>& states() const noexcept {
    return states_;
  }

private:
  const K* key_ = nullptr;
  uint32_t key_group_ = 0;
  uint32_t key_groups_ = default_max_parallelism;
  std::vector<keyed_state_part<K>*> states_;
};

/// One value of type V per key (a member of a keyed_process_function,
/// built with `*this`).
template <class K, class V>
class value_state {
public:
  explicit value_state(keyed_state_owner<K>& owner) : owner_(&owner) {
    owner.add_state(store_);
  }
  value_state(const value_state&) = delete;
  value_state& operator=(const value_state&) = delete;

  /// The current key's value, or null; valid until the call into the
  /// function returns (flow.state-backend = rocksdb may evict it then).
  const V* get() { return store_.find(group(), owner_->current_key()); }
  /// The current key's value, or `fallback`.
  V value_or(V fallback) {
    auto p = get();
    return p ? *p : fallback;
  }
  void update(V v) {
    store_.get_or_create(group(), owner_->current_key()) = std::move(v);
  }
  void clear() { store_.erase(group(), owner_->current_key()); }
  /// Every key's value in key group `kg`, in an order that differs
  /// between processes (flow/state_map.hpp).
  const state_map<K, V>& key_group(uint32_t kg) const {
    return store_.key_group(kg);
  }

private:
  uint32_t group() const noexcept { return owner_->current_key_group(); }
  keyed_state_owner<K>* owner_;
  keyed_store<K, V> store_{0};
};

/// A map MK -> MV per key (a member of a keyed_process_function, built
/// with `*this`).
template <class K, class MK, class MV>
class map_state {
public:
  using map_type = std::unordered_map<MK, MV>;
  explicit map_state(keyed_state_owner<K>& owner) : owner_(&owner) {
    owner.add_state(store_);
  }
  map_state(const map_state&) = delete;
  map_state& operator=(const map_state&) = delete;

  const MV* get(const MK& k) {
    auto m = find();
    if (!m) return nullptr;
    auto i = m->find(k);
    return i == m->end() ? nullptr : &i->second;
  }
  void put(const MK& k, MV v) {
    store_.get_or_create(group(), owner_->current_key())[k] = std::move(v);
  }
  void remove(const MK& k) {
    if (auto m = find()) {
      m->erase(k);
      if (m->empty()) clear();
    }
  }
  bool contains(const MK& k) { return get(k) != nullptr; }
  /// The current key's entries (empty if none).
  const map_type& entries() {
    static const map_type none;
    auto m = find();
    return m ? *m : none;
  }
  void clear() { store_.erase(group(), owner_->current_key()); }

private:
  map_type* find() { return store_.find(group(), owner_->current_key()); }
  uint32_t group() const noexcept { return owner_->current_key_group(); }
  keyed_state_owner<K>* owner_;
  keyed_store<K, map_type> store_{0};
};

/// A function over a keyed stream with keyed state (value_state and
/// map_state members built with `*this`) and timers, all kept by key group
/// (snapshots need flow::serde of keys and values). One instance per
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

/// Hosts a keyed_process_function: its state members and its timers are
/// the task's keyed state.
template <class K, class T, class Out, class KeyFn>
class keyed_process_task final
    : public keyed_task<Out>,
      private keyed_process_function<K, T, Out>::context {
public:
  using function = keyed_process_function<K, T, Out>;

  keyed_process_task(const task_setup& s, KeyFn key,
                     std::unique_ptr<function> fn, timestamp_fn<T> ts)
      : keyed_task<Out>(s), key_fn_(std::move(key)), fn_(std::move(fn)),
        ts_fn_(std::move(ts)), clock_(s.clock ? s.clock : &clock::system()),
        event_(s.max_parallelism), processing_(s.max_parallelism) {
    fn_->set_key_groups(s.max_parallelism);
    for (auto part : fn_->states())
      this->key_groups_.add_spilling(*part);
    this->key_groups_.add(event_);
    this->key_groups_.add(processing_);
  }

  void process(size_t, batch_base& b) override {
    this->load_keys(fn_->states(), records_of<T>(b), key_fn_);
    this->for_each_record(records_of<T>(b), [this](T& x) {
      K k = key_fn_(x);
      enter(k, this->key_group(k), ts_fn_ ? ts_fn_(x) : min_timestamp);
      fn_->process_element(x, *this);
    });
    this->key_groups_.trim();
  }

  void on_watermark(int64_t wm) override {
    wm_ = wm;
    fire(event_, wm, time_domain::event);
    this->key_groups_.trim();
    this->router_.emit_watermark(wm);
  }

  void on_processing_time(int64_t now) override {
    fire(processing_, now, time_domain::processing);
    this->key_groups_.trim();
  }

  int64_t next_timer() const override { return processing_.next(); }

private:
  void enter(const K& k, uint32_t kg, int64_t ts) {
    fn_->set_current_key(k, kg);
    this->key_ = &k;
    key_group_ = kg;
    this->ts_ = ts;
  }

  void fire(keyed_timers<K>& timers, int64_t now, time_domain d) {
    auto on_timer = [&](int64_t t, uint32_t kg, const K& k) {
      enter(k, kg, t);
      try {
        fn_->on_timer(t, d, *this);
      } catch (...) {
        this->errors_.on_failure("timer at " + std::to_string(t) + " of key " +
                                 describe_value(k));
      }
    };
    auto& states = fn_->states();
    if (!this->any_spilled(states)) {
      timers.fire(now, on_timer);
      return;
    }
    // Spilling: the state of the keys whose timers are due is loaded with
    // one request per state member and chunk of timers.
    timers.fire(now, on_timer, [&](const auto& keys) {
      for (auto s : states)
        s->load(keys);
    });
  }

  int64_t watermark() const override { return wm_; }
  int64_t processing_time() const override { return clock_->now(); }
  void register_event_time_timer(int64_t t) override {
    event_.add(key_group_, *this->key_, t);
  }
  void register_processing_time_timer(int64_t t) override {
    processing_.add(key_group_, *this->key_, t);
  }
  void delete_event_time_timer(int64_t t) override {
    event_.remove(key_group_, *this->key_, t);
  }
  void delete_processing_time_timer(int64_t t) override {
    processing_.remove(key_group_, *this->key_, t);
  }
  void emit(Out x) override { this->router_.emit(std::move(x)); }

  KeyFn key_fn_;
  std::unique_ptr<function> fn_;
  timestamp_fn<T> ts_fn_;
  const clock* clock_;
  uint32_t key_group_ = 0;
  int64_t wm_ = min_timestamp;
  keyed_timers<K> event_;
  keyed_timers<K> processing_;
};

} // namespace detail

/// `make` returns a std::unique_ptr to a keyed_process_function<K, T, Out>
/// subclass; it is called once per subtask.
template <class K, class T, class KeyFn>
template <class F>
auto keyed_stream<K, T, KeyFn>::process(F make, std::string name) {
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

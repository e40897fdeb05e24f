#pragma once

#include "flow/aggregators.hpp"
#include "flow/callable_traits.hpp"
#include "flow/connector.hpp"
#include "flow/ids.hpp"
#include "flow/operators.hpp"
#include "flow/partitioning.hpp"
#include "flow/task.hpp"
#include "flow/time.hpp"
#include "flow/watermark.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace flow {

/// An edge of the logical graph, stored at its downstream node.
struct edge_def {
  node_id from;
  /// Unset: forward if parallelism matches, else rebalance.
  std::optional<partitioning> kind;
  /// Hash edges: the key hasher of the upstream's records.
  std::shared_ptr<const record_hasher> hasher;
};

enum class node_kind { source, operation, sink };

/// A logical operator: expands into `parallelism` subtasks.
struct node_def {
  node_id id;
  std::string name;
  node_kind kind = node_kind::operation;
  std::optional<uint32_t> parallelism;
  /// Operators of different slot groups never share a slot (see
  /// stream::slot_group); placement across nodes follows from it.
  std::string slot_group = "default";
  std::vector<edge_def> inputs;
  task_factory make_task;
  /// Set by stream::on_error; unset: flow.on-error.
  std::optional<flow::on_error> on_error;
};

/// Where assign_timestamps puts the watermark strategy of a source; the
/// source's task factory reads it when the job makes its tasks.
template <class T>
struct source_event_time {
  std::shared_ptr<const watermark_strategy<T>> strategy;
};

template <class T>
class stream;

/// The operator or sink just added, for settings that apply to it alone.
class operator_ref {
public:
  operator_ref(topology& t, node_id id) : topo_(&t), id_(id) {}
  /// Its on-error policy, instead of flow.on-error.
  operator_ref& on_error(flow::on_error p);

private:
  topology* topo_;
  node_id id_;
};

/// A typed dataflow program: sources, operators and sinks. Build it with
/// source() and the stream methods; run it with flow::run().
class topology {
public:
  explicit topology(std::string name) : name_(std::move(name)) {}

  template <class T>
  stream<T> source(source_spec<T> spec);

  const std::string& name() const noexcept { return name_; }
  const std::vector<node_def>& nodes() const noexcept { return nodes_; }
  node_def& node(node_id id) { return nodes_.at(id.value()); }

  /// Adds a node and returns its id; names are made unique with a suffix.
  node_id add_node(node_def n);

  /// A hash of the graph's shape (names, kinds, edges, parallelism hints),
  /// so that nodes built from different programs can tell.
  uint64_t fingerprint() const;

private:
  std::string name_;
  std::vector<node_def> nodes_;
};

/// A stream of records of type T: the output of one or more operators
/// (several after union_with). A handle on its topology: the methods that
/// add operators or change them change the topology and are not const.
template <class T>
class stream {
public:
  using value_type = T;

  /// `sources`: the event time slots of `producers` if they are sources.
  stream(topology& t, std::vector<node_id> producers,
         std::vector<std::shared_ptr<source_event_time<T>>> sources = {})
      : topo_(&t), producers_(std::move(producers)),
        sources_(std::move(sources)) {}

  /// One output per input: `Out f(T)`; or `void f(T&)`, which changes
  /// each record where it lies (no move per record).
  template <class F>
  auto map(F f, std::string name = "map") {
    if constexpr (detail::updates_in_place_v<F, T>) {
      return add<T>(name, [f](const task_setup& s) mutable {
        return std::make_unique<update_task<T, F>>(s, f);
      });
    } else {
      return map_to_value(std::move(f), std::move(name));
    }
  }

  /// Keeps records where `bool f(const T&)` holds.
  template <class F>
  stream<T> filter(F f, std::string name = "filter") {
    static_assert(std::is_invocable_r_v<bool, F&, const T&>,
                  "filter expects `bool f(const T&)`");
    auto s = add<T>(name, [f](const task_setup& s) mutable {
      return std::make_unique<filter_task<T, F>>(s, f);
    });
    s.ts_ = ts_;
    return s;
  }

  /// Event time: `int64_t ts(const T&)` gives a record's timestamp (ms);
  /// watermarks trail the highest timestamp seen by `max_out_of_orderness`
  /// ms. On a source's stream the source subtasks generate them (a source
  /// reading splits may track them per split, see split_watermarks);
  /// elsewhere an operator is added (with its input's parallelism, on a
  /// forward edge) that generates them per subtask and replaces the
  /// upstream ones.
  template <class F>
  stream<T> assign_timestamps(F ts, int64_t max_out_of_orderness,
                              std::string name = "timestamps") {
    static_assert(std::is_invocable_r_v<int64_t, F&, const T&>,
                  "assign_timestamps expects `int64_t ts(const T&)`");
    auto strategy = std::make_shared<watermark_strategy<T>>();
    strategy->timestamp = ts;
    strategy->max_out_of_orderness = max_out_of_orderness;
    bool sources =
        !producers_.empty() && !next_ && sources_.size() == producers_.size();
    stream<T> result = *this;
    if (sources) {
      for (auto& s : sources_)
        s->strategy = strategy;
    } else {
      std::shared_ptr<const watermark_strategy<T>> st = strategy;
      result = add<T>(name, [st](const task_setup& s) {
        return std::make_unique<timestamp_assigner_task<T>>(s, st);
      });
      // Like its input, so that each subtask sees one upstream's order.
      if (producers_.size() == 1 && !next_)
        if (auto p = topo_->node(producers_[0]).parallelism)
          result = result.parallelism(*p);
    }
    result.ts_ = std::make_shared<const timestamp_fn<T>>(strategy->timestamp);
    return result;
  }

  /// Declares how to read event time from records whose watermarks come
  /// from upstream (after a map, for windows and joins further down).
  template <class F>
  stream<T> with_timestamps(F ts) const {
    static_assert(std::is_invocable_r_v<int64_t, F&, const T&>,
                  "with_timestamps expects `int64_t ts(const T&)`");
    auto s = *this;
    s.ts_ = std::make_shared<const timestamp_fn<T>>(ts);
    return s;
  }

  /// The event-time extractor of this stream, or null.
  const std::shared_ptr<const timestamp_fn<T>>& timestamps() const noexcept {
    return ts_;
  }

  /// Zero or more outputs per input:
  /// `void f(T, flow::emitter<Out>&)` (the lambda must not be generic).
  template <class F>
  auto flat_map(F f, std::string name = "flat_map") {
    static_assert(detail::callable_traits<F>::arity == 2,
                  "flat_map expects `void f(T, flow::emitter<Out>&)`");
    using out = typename detail::emitter_value<detail::arg_t<F, 1>>::type;
    return add<out>(name, [f](const task_setup& s) mutable {
      return std::make_unique<flat_map_task<T, out, F>>(s, f);
    });
  }

  /// Partitions by `K key(const T&)`; K needs std::hash and ==.
  template <class KeyFn>
  auto key_by(KeyFn key) const;

  /// The next edge spreads records round-robin.
  stream<T> rebalance() const { return with(partitioning::rebalance); }
  /// The next edge sends every record to every downstream subtask.
  stream<T> broadcast() const { return with(partitioning::broadcast); }
  /// The next edge connects subtask i to subtask i.
  stream<T> forward() const { return with(partitioning::forward); }

  /// Merges two streams of the same type.
  stream<T> union_with(const stream<T>& other) const {
    if (other.topo_ != topo_)
      throw std::invalid_argument(
          "union_with: streams of different topologies");
    auto result = *this;
    result.producers_.insert(result.producers_.end(), other.producers_.begin(),
                             other.producers_.end());
    result.sources_.insert(result.sources_.end(), other.sources_.begin(),
                           other.sources_.end());
    return result;
  }

  /// Sets the parallelism of the operator that produced this stream.
  stream<T> parallelism(uint32_t n) {
    for (auto id : producers_)
      topo_->node(id).parallelism = n;
    return *this;
  }

  /// Puts the operator that produced this stream into slot group `name`:
  /// its subtasks get slots of their own, after those of the groups named
  /// before (e.g. sinks on another node than sources).
  stream<T> slot_group(std::string name) {
    for (auto id : producers_)
      topo_->node(id).slot_group = name;
    return *this;
  }

  /// What the operator that produced this stream does with a record its
  /// user function throws on (instead of flow.on-error): fail,
  /// dead_letter or skip (record_error_handler).
  stream<T> on_error(flow::on_error p) {
    for (auto id : producers_)
      operator_ref(*topo_, id).on_error(p);
    return *this;
  }

  /// Writes the stream to a sink; `.on_error(p)` on the result sets the
  /// sink's policy for records it cannot write.
  operator_ref sink(sink_spec<T> spec) {
    auto make = spec.make;
    auto name = spec.name;
    auto id =
        add_node_of(name, node_kind::sink,
                    [make](const task_setup& s) -> std::unique_ptr<task> {
                      auto fn = make({s.operator_name, s.subtask_index,
                                      s.parallelism, s.settings});
                      return std::make_unique<sink_task<T>>(s, std::move(fn));
                    });
    if (spec.parallelism) topo_->node(id).parallelism = spec.parallelism;
    // A sink shares the slot group of what feeds it unless told otherwise.
    topo_->node(id).slot_group =
        spec.slot_group.empty() ? topo_->node(producers_.front()).slot_group
                                : spec.slot_group;
    return operator_ref(*topo_, id);
  }

  topology& graph() noexcept { return *topo_; }
  const topology& graph() const noexcept { return *topo_; }
  const std::vector<node_id>& producers() const noexcept { return producers_; }

  /// Adds an operator consuming this stream (for operator libraries).
  template <class Out>
  stream<Out> add(const std::string& name, task_factory make) {
    return stream<Out>(
        *topo_, {add_node_of(name, node_kind::operation, std::move(make))});
  }

  /// As add(), with the given hash partitioning on the input edges.
  template <class Out>
  stream<Out> add_keyed(const std::string& name, task_factory make,
                        std::shared_ptr<const key_hasher<T>> hasher) {
    auto s = *this;
    s.next_ = partitioning::hash;
    s.hasher_ = std::move(hasher);
    return s.template add<Out>(name, std::move(make));
  }

private:
  template <class F>
  auto map_to_value(F f, std::string name) {
    using out = std::decay_t<std::invoke_result_t<F&, T&&>>;
    static_assert(!std::is_void_v<out>,
                  "map expects `Out f(T)` returning a value or `void f(T&)` "
                  "changing the record; use flat_map to emit zero or more "
                  "records");
    return add<out>(name, [f](const task_setup& s) mutable {
      return std::make_unique<map_task<T, out, F>>(s, f);
    });
  }

  stream<T> with(partitioning p) const {
    auto s = *this;
    s.next_ = p;
    return s;
  }

  node_id add_node_of(const std::string& name, node_kind kind,
                      task_factory make) {
    node_def n;
    n.name = name;
    n.kind = kind;
    n.make_task = std::move(make);
    for (auto p : producers_)
      n.inputs.push_back(edge_def{p, next_, hasher_});
    return topo_->add_node(std::move(n));
  }

  topology* topo_;
  std::vector<node_id> producers_;
  std::optional<partitioning> next_;
  std::shared_ptr<const key_hasher<T>> hasher_;
  std::shared_ptr<const timestamp_fn<T>> ts_;
  /// Per producer, while every producer is a source.
  std::vector<std::shared_ptr<source_event_time<T>>> sources_;
};

/// A stream partitioned by key: what keyed operators consume.
template <class K, class T, class KeyFn>
class keyed_stream {
public:
  keyed_stream(stream<T> in, KeyFn key) : in_(std::move(in)), key_(key) {
    hasher_ = std::make_shared<key_hasher<T>>(
        [key](const T& x) -> uint64_t { return std::hash<K>{}(key(x)); });
  }

  /// Running reduce: `T f(const T& acc, const T& x)`; emits the new
  /// accumulated value for every input.
  template <class F>
  stream<T> reduce(F f, std::string name = "reduce") {
    static_assert(std::is_invocable_r_v<T, F&, const T&, const T&>,
                  "reduce expects `T f(const T& acc, const T& x)`");
    auto key = key_;
    return in_.template add_keyed<T>(
        name,
        [key, f](const task_setup& s) {
          return std::make_unique<reduce_task<K, T, KeyFn, F>>(s, key, f);
        },
        hasher_);
  }

  /// Running aggregate (flow::count, flow::sum, ...): emits
  /// (key, result) for every input.
  template <class Agg>
  stream<std::pair<K, typename Agg::result>>
  aggregate(Agg agg, std::string name = "aggregate") {
    auto key = key_;
    return in_.template add_keyed<std::pair<K, typename Agg::result>>(
        name,
        [key, agg](const task_setup& s) {
          return std::make_unique<aggregate_task<K, T, KeyFn, Agg>>(s, key,
                                                                    agg);
        },
        hasher_);
  }

  /// The keyed stream's records, hash-partitioned, for a custom task.
  stream<T> partitioned(std::string name = "partition") {
    return in_.template add_keyed<T>(
        name,
        [](const task_setup& s) {
          return std::make_unique<identity_task<T>>(s);
        },
        hasher_);
  }

  const KeyFn& key() const noexcept { return key_; }
  const stream<T>& input() const noexcept { return in_; }
  stream<T>& input() noexcept { return in_; }
  /// Hashes a record by std::hash of its key (what hash partitioning and
  /// key groups use).
  const std::shared_ptr<const key_hasher<T>>& hasher() const noexcept {
    return hasher_;
  }

  /// Windows by `assigner` (tumbling, sliding, session, counting); defined
  /// in flow/windows.hpp.
  template <class Assigner>
  auto window(Assigner assigner) const;

  /// A keyed process function with state and timers; defined in
  /// flow/state.hpp.
  template <class F>
  auto process(F f, std::string name = "process");

private:
  stream<T> in_;
  KeyFn key_;
  std::shared_ptr<const key_hasher<T>> hasher_;
};

template <class T>
template <class KeyFn>
auto stream<T>::key_by(KeyFn key) const {
  static_assert(std::is_invocable_v<KeyFn&, const T&>,
                "key_by expects `K key(const T&)`");
  using K = std::decay_t<std::invoke_result_t<KeyFn&, const T&>>;
  return keyed_stream<K, T, KeyFn>(*this, std::move(key));
}

inline operator_ref& operator_ref::on_error(flow::on_error p) {
  topo_->node(id_).on_error = p;
  return *this;
}

template <class T>
stream<T> topology::source(source_spec<T> spec) {
  node_def n;
  n.name = spec.name;
  n.kind = node_kind::source;
  n.parallelism = spec.parallelism;
  auto make = spec.make;
  auto time = std::make_shared<source_event_time<T>>();
  n.make_task = [make, time](const task_setup& s) -> std::unique_ptr<task> {
    auto fn =
        make({s.operator_name, s.subtask_index, s.parallelism, s.settings});
    return std::make_unique<event_time_source_task<T>>(s, std::move(fn),
                                                       time->strategy);
  };
  return stream<T>(*this, {add_node(std::move(n))}, {time});
}

} // namespace flow

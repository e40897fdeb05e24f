#pragma once

// Private to flow_kafka: owning wrappers of librdkafka handles and the
// mapping of librdkafka errors into flow::kafka::errc.

#include "flow/kafka/error.hpp"
#include "flow/kafka/options.hpp"

#include "flow/blocking_executor.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

namespace flow::kafka::detail {

/// Drops the failure with_connection_failure holds for the destroyed
/// client named `client_name`. Thread-safe.
void forget_connection_failure(const char* client_name) noexcept;

struct handle_deleter {
  void operator()(rd_kafka_t* x) const noexcept {
    // librdkafka's names have at most 127 characters.
    std::array<char, 128> name{};
    std::strncpy(name.data(), rd_kafka_name(x), name.size() - 1);
    rd_kafka_destroy(x);
    // After: the client logs while it is destroyed.
    forget_connection_failure(name.data());
  }
};
struct conf_deleter {
  void operator()(rd_kafka_conf_t* x) const noexcept {
    rd_kafka_conf_destroy(x);
  }
};
struct topic_deleter {
  void operator()(rd_kafka_topic_t* x) const noexcept {
    rd_kafka_topic_destroy(x);
  }
};
struct message_deleter {
  void operator()(rd_kafka_message_t* x) const noexcept {
    rd_kafka_message_destroy(x);
  }
};
struct queue_deleter {
  void operator()(rd_kafka_queue_t* x) const noexcept {
    rd_kafka_queue_destroy(x);
  }
};
struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* x) const noexcept {
    rd_kafka_topic_partition_list_destroy(x);
  }
};
struct headers_deleter {
  void operator()(rd_kafka_headers_t* x) const noexcept {
    rd_kafka_headers_destroy(x);
  }
};
struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* x) const noexcept {
    rd_kafka_metadata_destroy(x);
  }
};
struct event_deleter {
  void operator()(rd_kafka_event_t* x) const noexcept {
    rd_kafka_event_destroy(x);
  }
};
struct error_deleter {
  void operator()(rd_kafka_error_t* x) const noexcept {
    rd_kafka_error_destroy(x);
  }
};

using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;
using partition_list_ptr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;
using headers_ptr = std::unique_ptr<rd_kafka_headers_t, headers_deleter>;
using metadata_ptr =
    std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter>;
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;
using error_ptr = std::unique_ptr<rd_kafka_error_t, error_deleter>;

/// The first slice of wait_in_slices.
constexpr int64_t first_wait_slice_ms = 250;

/// How wait_in_slices cuts its wait. A stopped job's process notices
/// within the slice under way.
enum class slicing {
  /// Each attempt sends its request again (rd_kafka_metadata): slices
  /// double, so that an answer slower than a short slice still comes in
  /// time (the last slice is at least half the whole wait).
  doubling,
  /// Each attempt only polls for the answer to a request sent once (an
  /// admin result queue): every slice is first_wait_slice_ms.
  fixed,
};

/// Waits up to `timeout_ms` for a librdkafka call that itself waits:
/// calls `attempt(ms)` (waiting up to ms) in slices until
/// `pending(result)` is false, the time is up, or the work this runs in
/// was abandoned (flow::blocking_work_abandoned: its job stopped); returns
/// the last result. A call that comes back early while still pending is
/// not repeated before its slice has passed.
template <class Attempt, class Pending>
auto wait_in_slices(int64_t timeout_ms, slicing how, Attempt attempt,
                    Pending pending) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int64_t next = first_wait_slice_ms;;
       next = how == slicing::doubling ? next * 2 : next) {
    auto slice_start = clock::now();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - slice_start)
                    .count();
    auto slice = std::max<int64_t>(1, std::min(left, next));
    auto result = attempt(static_cast<int>(slice));
    if (!pending(result) || clock::now() >= deadline ||
        flow::blocking_work_abandoned())
      return result;
    std::this_thread::sleep_until(
        std::min(deadline, slice_start + std::chrono::milliseconds(slice)));
  }
}

/// The connector's error code for a librdkafka error.
errc to_errc(rd_kafka_resp_err_t e) noexcept;

/// Where to look when the cluster refuses this client (not_authorized).
inline constexpr const char* not_authorized_hint =
    "its ACLs, or kafka.properties' credentials";

/// A kafka_error for `e`, with `context` and librdkafka's text.
kafka_error make_error(rd_kafka_resp_err_t e, const std::string& context);

/// A kafka_error for a librdkafka error object (fatal/retriable flags kept).
kafka_error make_error(const rd_kafka_error_t* e, const std::string& context);

enum class role { consumer, producer, admin };

/// The bootstrap servers to use: the embedded cluster's if configured so.
std::string bootstrap_servers(const client_settings& s);

/// A configuration for a client of `role`: bootstrap, the connector's
/// defaults for the role, then kafka.properties. Throws kafka_error
/// (bad_config) naming a rejected property.
conf_ptr make_conf(const client_settings& s, role r);

/// Sets one property; throws kafka_error(bad_config) if rejected.
void set(rd_kafka_conf_t* conf, const std::string& key,
         const std::string& value);

/// An integer property's value (throws kafka_error(bad_config) if unset or
/// not a number).
int64_t get_int(const rd_kafka_conf_t* conf, const std::string& key);

/// A client of `type` owning `conf` (consumed even on failure).
handle_ptr make_handle(rd_kafka_type_t type, conf_ptr conf);

/// `msg` with why `rk` last failed to connect to a broker (a refused
/// connection, a TLS or SASL handshake that failed, pointing to
/// kafka.properties), if that was within the last `within_ms`: for a wait
/// that ended without an answer, which says no more than "timed out".
/// librdkafka says why only in its log (recorded for every client
/// make_conf configured) and error callback. Thread-safe.
std::string with_connection_failure(const rd_kafka_t* rk, std::string msg,
                                    int64_t within_ms);

/// broker_unreachable: `what` got no answer from `bootstrap` within
/// `timeout_ms` on `rk`; names the options and why the last connection
/// failed (with_connection_failure).
kafka_error no_answer(const rd_kafka_t* rk, const std::string& what,
                      const std::string& bootstrap, int64_t timeout_ms);

/// make_error for `e` met by `rk` in a wait of up to `within_ms`: a
/// timeout says why the last connection failed (with_connection_failure).
kafka_error make_error(const rd_kafka_t* rk, rd_kafka_resp_err_t e,
                       const std::string& context, int64_t within_ms);

/// Metadata of `topic`, waiting up to `timeout_ms`. Throws
/// broker_unreachable if no broker answered, unknown_topic if the topic
/// does not exist. Returns the partition count.
int32_t partition_count(rd_kafka_t* rk, const std::string& topic,
                        int64_t timeout_ms, const std::string& bootstrap);

/// As partition_count, but returns the fewest replicas any partition of
/// `topic` has.
int32_t min_replica_count(rd_kafka_t* rk, const std::string& topic,
                          int64_t timeout_ms, const std::string& bootstrap);

} // namespace flow::kafka::detail

#include "flow/kafka/error.hpp"

#include "rdkafka.hpp"

namespace flow::kafka {

const char* to_string(errc e) noexcept {
  switch (e) {
  case errc::none:
    return "none";
  case errc::bad_config:
    return "bad_config";
  case errc::broker_unreachable:
    return "broker_unreachable";
  case errc::unknown_topic:
    return "unknown_topic";
  case errc::timed_out:
    return "timed_out";
  case errc::delivery_failed:
    return "delivery_failed";
  case errc::fatal:
    return "fatal";
  case errc::bad_record:
    return "bad_record";
  case errc::offset_commit_failed:
    return "offset_commit_failed";
  case errc::not_authorized:
    return "not_authorized";
  case errc::other:
    return "other";
  }
  return "other";
}

namespace detail {

errc to_errc(rd_kafka_resp_err_t e) noexcept {
  switch (e) {
  case RD_KAFKA_RESP_ERR_NO_ERROR:
    return errc::none;
  case RD_KAFKA_RESP_ERR__INVALID_ARG:
  case RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL:
  case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    return errc::bad_config;
  case RD_KAFKA_RESP_ERR__TRANSPORT:
  case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
  case RD_KAFKA_RESP_ERR__RESOLVE:
  case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    return errc::broker_unreachable;
  case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
  case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
  case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    return errc::unknown_topic;
  case RD_KAFKA_RESP_ERR__TIMED_OUT:
  case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    return errc::timed_out;
  case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
  case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
  case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    return errc::delivery_failed;
  case RD_KAFKA_RESP_ERR__FATAL:
  case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
  case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
  case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    return errc::fatal;
  case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    return errc::not_authorized;
  default:
    return errc::other;
  }
}

kafka_error make_error(rd_kafka_resp_err_t e, const std::string& context) {
  return kafka_error{to_errc(e), context + ": " + rd_kafka_err2str(e)};
}

kafka_error make_error(const rd_kafka_error_t* e, const std::string& context) {
  auto code = rd_kafka_error_is_fatal(e) ? errc::fatal
                                         : to_errc(rd_kafka_error_code(e));
  return kafka_error{code, context + ": " + rd_kafka_error_string(e),
                     rd_kafka_error_is_retriable(e) != 0};
}

} // namespace detail

} // namespace flow::kafka

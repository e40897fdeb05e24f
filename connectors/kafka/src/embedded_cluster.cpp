#include "flow/kafka/embedded_cluster.hpp"

#include "flow/log.hpp"
#include "rdkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <vector>

namespace flow::kafka {

struct embedded_cluster::impl {
  struct mock_deleter {
    void operator()(rd_kafka_mock_cluster_t* x) const noexcept {
      rd_kafka_mock_cluster_destroy(x);
    }
  };
  // Declaration order matters: the mock cluster must go before its handle.
  detail::handle_ptr handle;
  std::unique_ptr<rd_kafka_mock_cluster_t, mock_deleter> cluster;
};

embedded_cluster& embedded_cluster::instance() {
  static embedded_cluster cluster;
  return cluster;
}

embedded_cluster::embedded_cluster() : impl_(std::make_unique<impl>()) {
  detail::conf_ptr conf{rd_kafka_conf_new()};
  // The handle only hosts the mock cluster; it never connects anywhere.
  detail::set(conf.get(), "log_level", "3");
  impl_->handle = detail::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  impl_->cluster.reset(rd_kafka_mock_cluster_new(impl_->handle.get(), 1));
  if (!impl_->cluster)
    throw kafka_error{errc::other, "cannot start the embedded mock cluster"};
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster.get());
  logger("flow/kafka")
      ->info("embedded Kafka (librdkafka mock cluster) at {}", bootstrap_);
}

embedded_cluster::~embedded_cluster() = default;

int32_t embedded_cluster::ensure_topic(const std::string& topic,
                                       int32_t partitions) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = topics_.find(topic); i != topics_.end()) return i->second;
  partitions = std::max<int32_t>(partitions, 1);
  auto err = rd_kafka_mock_topic_create(impl_->cluster.get(), topic.c_str(),
                                        partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
      err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    throw detail::make_error(err, "embedded cluster: create topic " + topic);
  topics_.emplace(topic, partitions);
  logger("flow/kafka")
      ->debug("embedded Kafka: topic {} with {} partitions", topic, partitions);
  return partitions;
}

void embedded_cluster::set_available(bool up) {
  constexpr int32_t broker = 1; // the mock's brokers are numbered from 1
  auto err = up ? rd_kafka_mock_broker_set_up(impl_->cluster.get(), broker)
                : rd_kafka_mock_broker_set_down(impl_->cluster.get(), broker);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw detail::make_error(err, "embedded cluster: broker up/down");
}

void embedded_cluster::refuse_topic(const std::string& topic, bool refused) {
  rd_kafka_mock_topic_set_error(
      impl_->cluster.get(), topic.c_str(),
      refused ? RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
              : RD_KAFKA_RESP_ERR_NO_ERROR);
}

namespace {

// Kafka protocol API keys.
constexpr int16_t produce_api_key = 0;
constexpr int16_t fetch_api_key = 1;
constexpr int16_t offset_commit_api_key = 8;

/// Queues `err` as the answer to the next `count` requests with
/// `api_key`, or takes back what is queued for it.
void answer_next(rd_kafka_mock_cluster_t* cluster, int16_t api_key,
                 rd_kafka_resp_err_t err, bool armed, size_t count = 1) {
  if (armed) {
    std::vector<rd_kafka_resp_err_t> errors(count, err);
    rd_kafka_mock_push_request_errors_array(cluster, api_key, errors.size(),
                                            errors.data());
  } else {
    rd_kafka_mock_clear_request_errors(cluster, api_key);
  }
}

} // namespace

void embedded_cluster::answer_next_produce_out_of_sequence(bool armed) {
  answer_next(impl_->cluster.get(), produce_api_key,
              RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, armed);
}

void embedded_cluster::answer_next_fetch_not_authorized(bool armed) {
  answer_next(impl_->cluster.get(), fetch_api_key,
              RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, armed);
}

void embedded_cluster::refuse_offset_commits(bool refused) {
  answer_next(impl_->cluster.get(), offset_commit_api_key,
              RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, refused, 1000);
}

} // namespace flow::kafka

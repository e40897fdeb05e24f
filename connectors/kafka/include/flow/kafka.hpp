#pragma once

// flow::kafka: Kafka sources and sinks (see connectors/kafka).
#include "flow/kafka/admin.hpp"
#include "flow/kafka/dead_letter_queue.hpp"
#include "flow/kafka/embedded_cluster.hpp"
#include "flow/kafka/error.hpp"
#include "flow/kafka/options.hpp"
#include "flow/kafka/record.hpp"
#include "flow/kafka/serde.hpp"
#include "flow/kafka/sink.hpp"
#include "flow/kafka/source.hpp"
#include "flow/kafka/subtask_consumer.hpp"
#include "flow/kafka/topic_producer.hpp"

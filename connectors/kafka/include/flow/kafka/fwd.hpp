#pragma once

namespace flow::kafka {

enum class errc;
class kafka_error;
struct record;
struct record_view;
struct header;
struct producer_record;
struct client_settings;
struct start_offset;
class admin;
class dead_letter_queue;
class embedded_cluster;
class subtask_consumer;
class topic_producer;

} // namespace flow::kafka

#pragma once

#include <cstddef>
#include <cstdint>

namespace flow {

// Defaults of settings that several structs carry (the job's options, what
// a subtask's task and connectors are given), declared once: the options
// (job_options.cpp) and every initializer take them from here.

/// flow.max-parallelism: the key groups of keyed state, so the most
/// subtasks an operator can have.
inline constexpr uint32_t default_max_parallelism = 128;

/// flow.batch-size: records per batch. (256 looked better for the latency
/// tail in short A/B runs but lost in a full benchmark run: more CPU per
/// record, no shorter tail; bench/RESULTS.md.)
inline constexpr size_t default_batch_size = 1024;

/// flow.watermark-interval, in milliseconds.
inline constexpr int64_t default_watermark_interval_ms = 200;

} // namespace flow

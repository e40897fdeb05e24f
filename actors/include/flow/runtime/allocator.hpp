#pragma once

#include <optional>

namespace flow::runtime {

/// How long mimalloc keeps a freed page committed before it gives the page
/// back to the system (mimalloc 2.0's decommit_delay, default 25 ms). With
/// 25 ms a job's batches, freed on one turn and allocated again a little
/// later, kept faulting in zeroed pages: W3 took about 170,000 page faults
/// per 5 x 10^6 records (the kernel zeroing pages: ~6% of its samples);
/// with 100 ms about 19,000, all at start-up. Longer delays fault no less
/// and keep more: with 1 s, W6 on RocksDB at 10^7 keys peaked 50-60 MB
/// higher (its compactions free and allocate large buffers).
inline constexpr long allocator_decommit_delay_ms = 100;

/// The decommit delay to set, given the value of MIMALLOC_DECOMMIT_DELAY in
/// the environment (null if unset): none if the user chose one.
std::optional<long> allocator_decommit_delay(const char* from_environment);

/// Applies allocator_decommit_delay to the process's mimalloc (once; a
/// build without mimalloc does nothing). Called by flow::program and by
/// execute() before a job's actor system starts.
void tune_allocator();

} // namespace flow::runtime

// A simulation as a Chrome trace-event JSON file, for ui.perfetto.dev (Open trace file) or chrome://tracing.
// One trace time unit is one accelerator cycle: the file starts with "displayTimeUnit": "ns", which makes
// Perfetto read timestamps as nanoseconds, so it shows a cycle as 1 ns (metadata.ns_per_cycle converts).
//
// One process, "accelerator", with one thread (track) per compute resource in program order, then
// "DMA load", "DMA store" and "DRAM" (thread_name and thread_sort_index metadata events):
//   - a compute track has a complete ("X") slice per tile, named by its layer, with the tile's shape and
//     cycle breakdown in args, and a slice "stall: dram" / "stall: dependency" for each wait between tiles;
//   - a DMA track has a slice per transfer while it occupies the queue (setup and burst issue, [start,
//     issued]); args give its bytes, buffer and the cycle its last byte arrived;
//   - the DRAM track has a slice per stretch of cycles the data bus moved bytes without rest, and the
//     process has a counter "DRAM GB/s" (read, write) of the bytes arriving per fixed bin of cycles;
//   - each layer is an async slice (category "layer", "b"/"e" with an id) on a few lanes: a lane holds
//     layers that do not overlap, so pipelined layers never break nesting.
// Deterministic byte for byte: integers only, except the counter's GB/s.
#pragma once

#include <cstdint>
#include <string>

#include "sim/run/simulator.hpp"

namespace vitsim::sim {

/// The bandwidth counter's bin: the smallest 1, 2 or 5 x 10^k cycles giving at most 2,000 bins.
int64_t dram_counter_bin_cycles(int64_t cycles);

/// The trace of `outcome`. Its DRAM track and counter need the bursts (SimOptions::record_bursts); without
/// them the track stays empty and metadata.dram_bursts_recorded is false.
std::string perfetto_trace(const SimOutcome& outcome);

}  // namespace vitsim::sim

// A synthetic request stream driven through the DDR4 model as fast as the controller accepts it (a closed
// loop: a new request enters as soon as the queue has room), the way Ramulator and DRAMSys benches measure a
// memory. What `vitsim dram` prints (docs/dram.md). Plain C++.
#pragma once

#include <cstdint>
#include <string>

#include "arch/ddr4/ddr4_controller.hpp"

namespace vitsim::arch::ddr4 {

enum class Pattern {
  Sequential,  // consecutive column accesses: address i x access_bytes
  Stride,      // address i x stride_bytes
  Random,      // uniform column-access-aligned addresses over the capacity
};

struct StreamSpec {
  Pattern pattern = Pattern::Sequential;
  int64_t stride_bytes = 0;  // Stride only, > 0
  double read_fraction = 1;  // each request is a read with this probability (seeded), in [0, 1]
  int64_t bytes = 16 << 20;  // bytes moved in total (rounded up to whole column accesses)
  uint64_t seed = 1;         // of the random addresses and the read/write choice
};

/// "seq" | "random" | "stride:BYTES" (BYTES > 0); throws std::invalid_argument otherwise.
StreamSpec parse_pattern(const std::string& text);

struct StreamResult {
  Stats stats;
  int64_t bytes = 0;
  double bandwidth_gbps = 0;  // bytes / (end of the last data, from cycle 0)
  double peak_gbps = 0;
  double avg_latency_ns = 0;  // arrival in the controller to the end of the request's data
  double p99_latency_ns = 0;  // nearest-rank 99th percentile
  double row_hit_rate = 0;    // hits / requests
};

StreamResult run_stream(const Config& config, const StreamSpec& spec);

}  // namespace vitsim::arch::ddr4

#include "arch/ddr4/ddr4_dram.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "arch/tile_timing.hpp"

namespace vitsim::arch::ddr4 {

Ddr4Dram::Ddr4Dram(const Config& config, int64_t accel_khz) : memory_(config) {
  const int64_t g = std::gcd(accel_khz, config.clock_khz());
  accel_ratio_ = accel_khz / g;
  dram_ratio_ = config.clock_khz() / g;
}

int64_t Ddr4Dram::to_dram(int64_t t) const {
  return ceil_div(t * dram_ratio_, accel_ratio_);
}

int64_t Ddr4Dram::to_accel_end(int64_t e) const {
  return ceil_div(e * accel_ratio_, dram_ratio_) - 1;
}

BurstTiming Ddr4Dram::serve(int64_t request, uint64_t address, int64_t bytes, bool write, int owner) {
  const int64_t arrival = to_dram(request);
  const int64_t access = memory_.config().access_bytes();
  const int data_cycles = memory_.config().timing.data_cycles();
  int64_t first = std::numeric_limits<int64_t>::max(), end = 0;
  Stats* counted = nullptr;
  if (owner >= 0) {
    if (static_cast<size_t>(owner) >= owner_stats_.size())
      owner_stats_.resize(static_cast<size_t>(owner) + 1);
    counted = &owner_stats_[static_cast<size_t>(owner)];
  }
  for (int64_t offset = 0; offset < bytes; offset += access) {
    const Completion c = memory_.access(address + static_cast<uint64_t>(offset), write, arrival);
    first = std::min(first, c.data_end - data_cycles);
    end = std::max(end, c.data_end);
    if (counted) counted->add(c, data_cycles);
  }
  return {first * accel_ratio_ / dram_ratio_, to_accel_end(end)};
}

int64_t Ddr4Dram::burst_cycles_bound(int64_t bytes) const {
  // Every rule that can delay one access, added up: a refresh (tRTP + tRP + tRFC), a write's recovery
  // (CWL + BL/2 + tWR), a conflict (tRP, tRCD), the ACT window (tFAW + tRRD_L), a turnaround (tWTR_L + 2),
  // the data, plus the request's arrival rounding; then per access of the burst.
  const Timing& t = memory_.config().timing;
  const int64_t per_access = t.rtp + t.rp + t.rfc + t.cwl + t.data_cycles() + t.wr + t.rp + t.rcd + t.faw +
                             t.rrd_l + t.wtr_l + 2 + std::max(t.cl, t.cwl) + t.data_cycles() + 1;
  const int64_t accesses = ceil_div(bytes, memory_.config().access_bytes());
  return ceil_div(accesses * per_access * accel_ratio_, dram_ratio_) + 1;
}

}  // namespace vitsim::arch::ddr4

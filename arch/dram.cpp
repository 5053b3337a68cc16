#include "arch/dram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "arch/sc_time_base.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

DramTiming dram_timing(const AccelConfig& config) {
  DramTiming t;
  t.millibytes_per_cycle = std::llround(config.dram.bandwidth_gbps * 1e6 / config.clock_mhz);
  if (t.millibytes_per_cycle < 1)
    throw std::invalid_argument(
        config.file + ": dram/bandwidth_gbps: " + std::to_string(config.dram.bandwidth_gbps) + " GB/s at " +
        std::to_string(config.clock_mhz) + " MHz is below 1/1000 byte per cycle");
  t.latency_cycles = static_cast<int64_t>(std::ceil(config.dram.latency_ns * config.clock_mhz / 1e3 - 1e-9));
  t.burst_bytes = config.dram.burst_bytes;
  return t;
}

int64_t DramChannel::serve(int64_t request, int64_t bytes) {
  const int64_t unit = timing_.millibytes_per_cycle;  // units per cycle
  const int64_t start = std::max((request + timing_.latency_cycles) * unit, bus_free_);
  last_start_ = start;
  bus_free_ = start + bytes * 1000;
  return (bus_free_ + unit - 1) / unit - 1;
}

BurstTiming DramChannel::serve(int64_t request, uint64_t, int64_t bytes, bool, int) {
  const int64_t last = serve(request, bytes);
  return {last_first_byte(), last};
}

int64_t DramChannel::burst_cycles_bound(int64_t bytes) const {
  return timing_.latency_cycles + ceil_div(bytes * 1000, timing_.millibytes_per_cycle);
}

DramTarget::DramTarget(sc_core::sc_module_name name, DramModel& model)
    : sc_module(name), socket("socket"), model_(model) {
  socket.register_b_transport(this, &DramTarget::b_transport);
}

void DramTarget::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  const int64_t now = now_cycle();
  const int64_t bytes = payload.get_data_length();
  const int64_t request = now + to_cycles(delay);
  const auto* owner = payload.get_extension<BurstOwner>();
  const BurstTiming served =
      model_.serve(request, payload.get_address(), bytes, payload.is_write(), owner ? owner->layer : -1);
  const int64_t last = served.last_byte;
  if (burst_log_) burst_log_->push_back({request, served.first_byte, last, bytes, payload.is_write()});
  (payload.is_read() ? bytes_read_ : bytes_written_) += bytes;
  if (storage_) {
    const auto address = static_cast<int64_t>(payload.get_address());
    if (payload.is_read())
      storage_->read(address, payload.get_data_ptr(), bytes);
    else
      storage_->write(address, payload.get_data_ptr(), bytes);
  }
  ++bursts_;
  delay = cycles_time(last - now);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace vitsim::arch

// The DDR4 model as the accelerator's DRAM (dram/model "ddr4"): serves each DMA burst, in request order,
// as consecutive column accesses on a ddr4::Memory, and converts between accelerator and DRAM cycles.
//
// CLOCKS, exactly: both clocks are whole kHz (f_acc from clock_mhz, f_dram = data rate / 2), reduced by
// their gcd to integers A and D (trio-vit at 200 MHz with DDR4-2400: A = 1, D = 6). Accelerator cycle t
// starts at time t / f_acc; the request enters the controller at the first DRAM clock edge at or after it,
// DRAM cycle ceil(t x D / A). Data that end at DRAM edge e (exclusive) have arrived within accelerator cycle
// ceil(e x A / D) - 1; data that start at DRAM edge s begin moving in accelerator cycle floor(s x A / D).
// Integer arithmetic throughout, so no rounding drifts over a run.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/ddr4/ddr4_controller.hpp"
#include "arch/dram.hpp"

namespace vitsim::arch::ddr4 {

class Ddr4Dram : public DramModel {
 public:
  /// `accel_khz`: the accelerator clock in kHz.
  Ddr4Dram(const Config& config, int64_t accel_khz);

  BurstTiming serve(int64_t request, uint64_t address, int64_t bytes, bool write, int owner) override;
  int64_t burst_cycles_bound(int64_t bytes) const override;

  /// The first DRAM cycle at or after the start of accelerator cycle `t`.
  int64_t to_dram(int64_t t) const;
  /// The accelerator cycle in which DRAM edge `e` falls just after (the cycle holding time e - 0).
  int64_t to_accel_end(int64_t e) const;
  /// Appends every DRAM command from now on to `log`, at DRAM cycles (null: stop).
  void record_commands(std::vector<CommandRecord>* log) { memory_.record_commands(log); }
  Stats stats() const { return memory_.stats(); }
  /// stats() with active standby counted to the start of accelerator cycle `t` (the end of the run).
  Stats stats_until_accel(int64_t t) const { return memory_.stats_until(to_dram(t)); }
  /// The accesses of each owner's bursts (index: the owner; the row outcomes, latencies and stall causes of
  /// its column accesses; activates, precharges and refreshes are not attributed to owners).
  const std::vector<Stats>& owner_stats() const { return owner_stats_; }
  const Config& config() const { return memory_.config(); }

 private:
  Memory memory_;
  std::vector<Stats> owner_stats_;
  int64_t accel_ratio_, dram_ratio_;  // f_acc : f_dram reduced (A : D)
};

}  // namespace vitsim::arch::ddr4

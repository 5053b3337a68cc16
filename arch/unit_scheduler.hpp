// What the accelerator (arch/accelerator.cpp) sees of the compute units in either timing mode: one SystemC
// module that runs every resource's queue of tiles, arch/fast_scheduler.hpp (fast mode) or
// arch/cycle_scheduler.hpp (cycle mode).
#pragma once

#include <cstdint>
#include <string>
#include <systemc>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"

namespace vitsim::arch {

class UnitScheduler : public sc_core::sc_module {
 public:
  /// The DMA reports each load burst here when it issues it in cycle `issued`: its buffer, the cycle its
  /// last byte arrives and its bytes (the buffer writes its words as they stream in).
  virtual void burst_arrives(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) = 0;
  /// One line per unit for the watchdog: the tile it runs or awaits.
  virtual std::vector<std::string> states() const = 0;

 protected:
  explicit UnitScheduler(sc_core::sc_module_name name) : sc_module(name) {}
};

/// The first cycle after t at which a unit free from `free_from` may start the tile at `position` of
/// `queue` (INT64_MAX: the queue is done, or the tile's waits are not all recorded yet).
int64_t earliest_start(const Program& program, const Scoreboard& scoreboard, const std::vector<int>& queue,
                       size_t position, int64_t free_from, int64_t t);

}  // namespace vitsim::arch

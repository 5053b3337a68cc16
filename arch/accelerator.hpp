// The simulated accelerator: the compute units (arch/fast_scheduler.hpp or arch/cycle_scheduler.hpp), the DMA
// engine, the DRAM target bound to the DMA's TLM-2.0 socket, a shared scoreboard and a watchdog. run_program
// elaborates it in a fresh SystemC context, simulates to completion and returns what happened to every item.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/compute_unit.hpp"
#include "arch/ddr4/ddr4_controller.hpp"
#include "arch/dma.hpp"
#include "arch/dram.hpp"
#include "arch/program.hpp"
#include "arch/timing_mode.hpp"

namespace vitsim::arch {

class FunctionalModel;

/// The simulation stopped making progress (a deadlocked program or a timing rule that never ends); the
/// message names every unit's state and the cycle.
class SimulationStalled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The run needed more cycles than RunOptions::max_cycles allows: it stopped at that cycle. The message
/// names the limit and the layers running when it was reached.
class CycleLimitReached : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  TimingMode mode = TimingMode::Fast;
  /// Stop with SimulationStalled when no item completes for this many cycles. 0: automatic, the larger of
  /// 1,000,000, twice the longest tile's closed form (in cycle mode times 1 + the units with work, which may
  /// share its resources) and twice the longest transfer's duration with the DRAM to itself, so a
  /// legitimately long tile or transfer never trips it.
  int64_t watchdog_cycles = 0;
  FunctionalModel* functional = nullptr;  // when set, every tile is executed on it as it starts
  bool record_bursts = false;             // keep every DRAM burst in RunRecords::bursts (traces)
  MemoryImage* memory = nullptr;          // when set, the DRAM and the DMA move real bytes through it
  /// Stop with CycleLimitReached when the run needs more than this many cycles (0: no limit).
  int64_t max_cycles = 0;
  /// When set, called with the cycle reached every kProgressCycles simulated cycles (a long cycle-mode
  /// run's progress line); checked apart from the per-cycle work, so it costs nothing per cycle.
  std::function<void(int64_t cycle)> on_progress;
  static constexpr int64_t kProgressCycles = 1 << 16;
  /// Fast mode: the DMA takes the steps nothing else can change or observe ahead of the kernel
  /// (arch/dma.hpp). Off: every step at its own cycle, the reference a property test compares it with.
  bool dma_step_ahead = true;
};

struct RunRecords {
  std::vector<TileRecord> tiles;
  std::vector<TransferRecord> transfers;
  int64_t cycles = 0;  // cycle 0 (first request) to the last item's last cycle, inclusive
  int64_t dram_bytes_read = 0, dram_bytes_written = 0, dram_bursts = 0;
  std::vector<DramBurst> bursts;         // in request order; only with RunOptions::record_bursts
  std::optional<ddr4::Stats> ddr4;       // the DDR4 model's counters, when the config's dram/model is ddr4
  std::vector<ddr4::Stats> ddr4_layers;  // ... and its accesses per layer (index: graph node; may be shorter)
  /// With RunOptions::record_bursts and the DDR4 model: every DRAM command in issue order per channel, its
  /// cycle converted to the accelerator cycle that holds it (traces).
  std::vector<ddr4::CommandRecord> ddr4_commands;
};

RunRecords run_program(const Program& program, const AccelConfig& config, const RunOptions& options);

}  // namespace vitsim::arch

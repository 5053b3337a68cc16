// A compute resource (an engine, or an auxiliary unit running standalone layers) as a SystemC module: a
// thin timed wrapper around the plain-C++ tile timing rules (tile_timing.hpp).
//
// It runs its queue of tiles in order. A tile starts at the first cycle t at which the unit is free and
// every item the tile waits for finished by t - 1. Fast mode prices the tile with its closed form, records
// its last cycle at once and sleeps until the unit is free again; cycle mode advances the tile's state
// machine once per cycle until it reports its last cycle. The cycles between the unit becoming free and a
// tile starting are stalls, charged to the wait that was satisfied last: a DMA transfer (DRAM) or another
// unit's tile (dependency).
#pragma once

#include <memory>
#include <string>
#include <systemc>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/tile_timing.hpp"
#include "arch/timing_mode.hpp"

namespace vitsim::arch {

class FunctionalModel;

enum class StallCause { None, Dram, Dependency };

/// When and how a tile ran.
struct TileRecord {
  int64_t start = -1, done = -1;  // first and last cycle
  TileCost cost;
  int64_t wait = 0;  // stall cycles before the tile, unit free but waits unsatisfied
  StallCause wait_cause = StallCause::None;
};

class ComputeUnit : public sc_core::sc_module {
 public:
  /// `functional` may be null (timing only); otherwise each tile is executed on it when it starts.
  ComputeUnit(sc_core::sc_module_name name, const Program& program, int resource, const AccelConfig& config,
              TimingMode mode, Scoreboard& scoreboard, std::vector<TileRecord>& records,
              FunctionalModel* functional);

  bool finished() const { return next_ >= queue_.size() && !stepper_; }
  /// One line for the watchdog: the tile in progress or awaited, and what it waits for.
  std::string state() const;

 private:
  SC_HAS_PROCESS(ComputeUnit);
  void run();
  void begin(int tile, int64_t t, const Scoreboard::Ready& ready);
  void finish(int tile, int64_t last_cycle, const TileCost& cost);

  const Program& program_;
  const Resource& resource_;
  const std::vector<int>& queue_;
  const AccelConfig& config_;
  TimingMode mode_;
  Scoreboard& scoreboard_;
  std::vector<TileRecord>& records_;
  FunctionalModel* functional_;
  size_t next_ = 0;        // position in queue_ of the next tile to start
  int64_t free_from_ = 0;  // first cycle the unit is free
  int current_ = -1;       // tile in progress (cycle mode)
  std::unique_ptr<TileStepper> stepper_;
};

}  // namespace vitsim::arch

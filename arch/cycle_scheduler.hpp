// Cycle mode (docs/simulation.md, "Cycle mode"): one clockless SC_METHOD that advances every compute
// resource's tile state machine (arch/tile_timing.hpp) one cycle at a time and arbitrates, in every cycle,
// what the units share: the activation and weight buffers' read ports (after the DMA's writes into them),
// and every auxiliary unit's throughput (the requantizer behind two engines, an aux unit running a
// standalone layer while an engine's chain also passes through it). A tile's duration is never decided
// when it starts: it emerges from the grants of each cycle. The method wakes every cycle while any tile
// runs, and otherwise sleeps until a tile can start.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <systemc>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/arbiter.hpp"
#include "arch/compute_unit.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/tile_timing.hpp"
#include "arch/unit_scheduler.hpp"

namespace vitsim::arch {

class FunctionalModel;

class CycleScheduler : public UnitScheduler {
 public:
  /// Steps every resource of `program` that has tiles. `functional` may be null (timing only).
  CycleScheduler(sc_core::sc_module_name name, const Program& program, const AccelConfig& config,
                 Scoreboard& scoreboard, std::vector<TileRecord>& records, FunctionalModel* functional);

  /// The buffer writes a burst's words in its last ceil(bytes / DRAM bytes per cycle) cycles (never before
  /// issued + 1), with priority over the engines.
  void burst_arrives(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) override;
  /// Also the shared resource each unit was last denied, since when, and which units held it.
  std::vector<std::string> states() const override;

 private:
  SC_HAS_PROCESS(CycleScheduler);

  // A shared resource of one cycle: its capacity, and which units it granted in the cycle (for messages).
  struct Shared {
    std::string name;
    CycleCapacity capacity;
    std::vector<int> granted;  // unit indices served this cycle
    bool dma_writes = false;   // the DMA's landing writes took some of this cycle's accesses
  };
  // What stopped a unit from getting all it asked for.
  struct Denial {
    int shared = -1;  // index into shared_, -1: none
    int64_t since = -1;
    std::vector<int> holders;
  };
  struct Unit {
    int resource = -1;
    const std::vector<int>* queue = nullptr;
    size_t next = 0;        // position in *queue of the next tile to start
    int64_t free_from = 0;  // first cycle the unit is free
    int current = -1;       // tile in progress
    std::unique_ptr<TileStepper> stepper;
    std::vector<int> aux_shared;  // the current tile's auxiliary units (indices into shared_)
    Denial denial;
  };

  void run();
  // Starts the next tile of `u` in cycle t if the unit is free and the tile's waits are satisfied.
  void try_start(Unit& u, int64_t t);
  // Arbitrates this cycle's grants and advances every running tile.
  void advance_all(int64_t t);
  // Records that unit `unit` (u) got less of `shared` than it asked because others took it; false when
  // nobody else did (it alone asks more than one cycle offers: a port stall, not contention).
  bool deny(Unit& u, int unit, int shared, int64_t t);
  // The first cycle after t at which an idle unit may start a tile (INT64_MAX: only on a completion).
  int64_t next_start(int64_t t) const;
  std::string unit_state(const Unit& u) const;

  const Program& program_;
  const AccelConfig& config_;
  Scoreboard& scoreboard_;
  std::vector<TileRecord>& records_;
  FunctionalModel* functional_;
  std::vector<Unit> units_;
  std::vector<Shared> shared_;  // [0] activation ports, [1] weight ports, then one per auxiliary unit
  std::array<std::unique_ptr<LandingWrites>, 2> landing_;  // activation, weight
  std::vector<size_t> order_;
  int64_t last_stepped_ = -1;
};

}  // namespace vitsim::arch

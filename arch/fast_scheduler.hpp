// Fast mode (docs/simulation.md, "Fast mode"): one clockless SC_METHOD that runs every compute resource's
// queue with the closed forms, waking only at the cycles where something can change. A standalone tile on
// an auxiliary unit is priced when it starts (its unit to itself). An engine's tile joins the port fluid
// (arch/port_fluid.hpp): the running tiles divide the buffer ports after the DMA's writes, and are
// re-priced whenever a tile starts or finishes its issue phase or the DMA's write rate changes; a tile's
// last cycle is recorded when its issue phase has ended, once no later event can move it. Its auxiliary
// chain stays private.
//
// In cycle t the method first starts, on every idle resource, the next tile whose waits finished by t - 1
// (all of them, so the fluid's shares in cycle t do not depend on the order of the units), then advances the
// fluid over cycle t and records the tiles whose issue phase ended in it. Every decision reads completions
// recorded by cycle t - 1 and DMA writes the DMA issued before they land, so runs are deterministic.
#pragma once

#include <string>
#include <systemc>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/compute_unit.hpp"
#include "arch/port_fluid.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/unit_scheduler.hpp"

namespace vitsim::arch {

class FunctionalModel;

class FastScheduler : public UnitScheduler {
 public:
  /// Runs every resource of `program` that has tiles. `functional` may be null (timing only); otherwise
  /// each tile is executed on it when it starts.
  FastScheduler(sc_core::sc_module_name name, const Program& program, const AccelConfig& config,
                Scoreboard& scoreboard, std::vector<TileRecord>& records, FunctionalModel* functional);

  /// The burst's writes join the port fluid (PortFluid::burst); one that lands before the method's next
  /// activation and moves a tile's end earlier wakes it sooner.
  void burst_arrives(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) override;
  std::vector<std::string> states() const override;

 private:
  SC_HAS_PROCESS(FastScheduler);
  struct Unit {
    int resource = -1;
    const std::vector<int>* queue = nullptr;
    size_t next = 0;        // position in *queue of the next tile to start
    int64_t free_from = 0;  // first cycle the unit is free (an engine's tile in the fluid: unknown)
    int current = -1;       // an engine's tile in the fluid, or -1
  };

  void run();
  void try_start(size_t unit, int64_t t);
  // The first cycle after t at which an idle unit may start a tile (INT64_MAX: only on a completion).
  int64_t next_start(int64_t t) const;

  const Program& program_;
  const AccelConfig& config_;
  Scoreboard& scoreboard_;
  std::vector<TileRecord>& records_;
  FunctionalModel* functional_;
  std::vector<Unit> units_;
  PortFluid fluid_;
  std::vector<size_t> fluid_unit_;  // per fluid handle: the unit running it
  int64_t last_stepped_ = -1;
  int64_t wake_ = -1;         // the cycle of the method's next activation (INT64_MAX: on an event only)
  sc_core::sc_event sooner_;  // a burst moved a tile's end before wake_
};

}  // namespace vitsim::arch

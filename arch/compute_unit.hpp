// Fast mode: a compute resource (an engine, or an auxiliary unit running standalone layers) as a SystemC
// module, a thin timed wrapper around the closed forms of the tile timing rules (tile_timing.hpp). Cycle
// mode steps all resources together instead (arch/cycle_scheduler.hpp).
//
// It runs its queue of tiles in order. A tile starts at the first cycle t at which the unit is free and
// every item the tile waits for finished by t - 1; the closed form prices it, its last cycle is recorded
// at once and the unit sleeps until it is free again. An engine's tile gets a port share that estimates
// what the other engines leave it (fast mode's stand-in for cycle mode's arbitration): the buffer's peak
// minus the average bytes per cycle that the tiles of other engines, started before cycle t and still
// running, fetch, and minus an equal share for each engine starting a tile in cycle t too; never less than
// the peak divided equally among them all. Only tiles started before t count with their own use, so the
// estimate is the same whatever order SystemC runs the units of cycle t in.
#pragma once

#include <memory>
#include <string>
#include <systemc>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

class FunctionalModel;

enum class StallCause { None, Dram, Dependency };

/// When and how a tile ran.
struct TileRecord {
  int64_t start = -1, done = -1;  // first and last cycle
  TileCost cost;
  TileTraffic traffic;  // what it moved (cycle mode: counted per cycle; fast mode: its rule's totals)
  int64_t wait = 0;     // stall cycles before the tile, unit free but waits unsatisfied
  StallCause wait_cause = StallCause::None;
};

/// Records a tile starting in cycle t on a unit free from `free_from`, whose waits `ready` describes.
void record_start(TileRecord& record, int64_t t, int64_t free_from, const Scoreboard::Ready& ready);

/// The watchdog's line for a unit whose next tile (at `position` of its queue of `queued`) has not
/// started: "<unit>: tile 12 (3/40) of layer 'x' waits for tile 9 transfer 4".
std::string awaiting_state(const Program& program, const Scoreboard& scoreboard, const std::string& unit,
                           int tile, size_t position, size_t queued);

class ComputeUnit : public sc_core::sc_module {
 public:
  /// `functional` may be null (timing only); otherwise each tile is executed on it when it starts.
  ComputeUnit(sc_core::sc_module_name name, const Program& program, int resource, const AccelConfig& config,
              Scoreboard& scoreboard, std::vector<TileRecord>& records, FunctionalModel* functional);
  /// The other engines' units, which divide the buffer ports with this one's tiles (engines only).
  void set_port_peers(std::vector<const ComputeUnit*> peers) { peers_ = std::move(peers); }
  /// What a unit does in cycle t, as an engine starting a tile in t sees it (see above).
  enum class Activity { Idle, Starting, Running };
  Activity activity_at(int64_t t) const;
  /// The latest tile's average activation and weight bytes fetched per cycle.
  const PortShare& port_use() const { return use_; }

  bool finished() const { return next_ >= queue_.size(); }
  bool is_engine() const { return resource_.is_engine; }
  /// One line for the watchdog: the tile in progress or awaited, and what it waits for.
  std::string state() const;

 private:
  SC_HAS_PROCESS(ComputeUnit);
  void run();

  const Program& program_;
  const Resource& resource_;
  const std::vector<int>& queue_;
  const AccelConfig& config_;
  Scoreboard& scoreboard_;
  std::vector<TileRecord>& records_;
  std::vector<const ComputeUnit*> peers_;
  FunctionalModel* functional_;
  size_t next_ = 0;          // position in queue_ of the next tile to start
  int64_t free_from_ = 0;    // first cycle the unit is free
  int64_t last_start_ = -1;  // first cycle of the latest tile (-1: none yet)
  PortShare use_{0, 0};      // average buffer bytes per cycle the latest tile fetches
};

}  // namespace vitsim::arch

// What both timing modes record per tile, and the watchdog's line for a unit awaiting its next tile. The
// units themselves: arch/fast_scheduler.hpp (fast mode), arch/cycle_scheduler.hpp (cycle mode).
#pragma once

#include <string>

#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

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

}  // namespace vitsim::arch

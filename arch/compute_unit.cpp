#include "arch/compute_unit.hpp"

#include <algorithm>
#include <limits>

#include "arch/unit_scheduler.hpp"

namespace vitsim::arch {

void record_start(TileRecord& record, int64_t t, int64_t free_from, const Scoreboard::Ready& ready) {
  record.start = t;
  record.wait = t - free_from;
  if (record.wait > 0)
    record.wait_cause = ready.binding_transfer >= 0 ? StallCause::Dram : StallCause::Dependency;
}

std::string awaiting_state(const Program& program, const Scoreboard& scoreboard, const std::string& unit,
                           int tile, size_t position, size_t queued) {
  const ComputeTile& w = program.tiles[static_cast<size_t>(tile)];
  std::string s = unit + ": tile " + std::to_string(tile) + " (" + std::to_string(position) + "/" +
                  std::to_string(queued) + ") of layer '" +
                  program.layer_names[static_cast<size_t>(w.layer)] + "' waits for";
  bool any = false;
  for (int d : w.wait_tiles)
    if (scoreboard.tile_done(d) == Scoreboard::kPending) s += " tile " + std::to_string(d), any = true;
  for (int d : w.wait_transfers)
    if (scoreboard.transfer_done(d) == Scoreboard::kPending)
      s += " transfer " + std::to_string(d), any = true;
  return s + (any ? "" : " nothing (ready)");
}

int64_t earliest_start(const Program& program, const Scoreboard& scoreboard, const std::vector<int>& queue,
                       size_t position, int64_t free_from, int64_t t) {
  if (position >= queue.size()) return std::numeric_limits<int64_t>::max();
  const ComputeTile& work = program.tiles[static_cast<size_t>(queue[position])];
  const Scoreboard::Ready ready = scoreboard.ready(work.wait_tiles, work.wait_transfers);
  return ready.known ? std::max({ready.cycle, free_from, t + 1}) : std::numeric_limits<int64_t>::max();
}

}  // namespace vitsim::arch

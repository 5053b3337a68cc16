#include "arch/run_estimate.hpp"

#include <algorithm>

#include "arch/dram.hpp"
#include "arch/tile_timing.hpp"
#include "quant/graph.hpp"

namespace vitsim::arch {

namespace {
// ceil(bytes / bandwidth) with the bandwidth in 1/1000 byte per cycle.
int64_t bus_cycles(int64_t bytes, const DramTiming& dram) {
  const int64_t millibytes = quant::checked_mul(bytes, 1000);
  return millibytes / dram.millibytes_per_cycle + (millibytes % dram.millibytes_per_cycle != 0);
}
}  // namespace

int64_t estimate_cycles(const Program& program, const AccelConfig& config) {
  const size_t n_tiles = program.tiles.size();
  const DramTiming dram = dram_timing(config);
  // Each item's queue predecessor (items numbered as in dependency_order), -1 for a queue's head.
  std::vector<int64_t> previous(n_tiles + program.transfers.size(), -1);
  const auto chain = [&](const std::vector<int>& queue, size_t base) {
    for (size_t j = 1; j < queue.size(); ++j)
      previous[base + static_cast<size_t>(queue[j])] = static_cast<int64_t>(base) + queue[j - 1];
  };
  for (const std::vector<int>& queue : program.queues) chain(queue, 0);
  chain(program.load_queue, n_tiles);
  chain(program.store_queue, n_tiles);

  std::vector<int64_t> last(previous.size(), -1);  // each item's last cycle
  int64_t end = 0, bytes = 0;
  for (const size_t item : program.dependency_order()) {
    const bool is_tile = item < n_tiles;
    const std::vector<int>& wait_tiles =
        is_tile ? program.tiles[item].wait_tiles : program.transfers[item - n_tiles].wait_tiles;
    const std::vector<int>& wait_transfers =
        is_tile ? program.tiles[item].wait_transfers : program.transfers[item - n_tiles].wait_transfers;
    int64_t start = previous[item] < 0 ? 0 : last[static_cast<size_t>(previous[item])] + 1;
    for (const int t : wait_tiles) start = std::max(start, last[static_cast<size_t>(t)] + 1);
    for (const int x : wait_transfers) start = std::max(start, last[n_tiles + static_cast<size_t>(x)] + 1);
    int64_t cycles = 0;
    if (is_tile) {
      const ComputeTile& tile = program.tiles[item];
      cycles = tile_cost(config, program.resources[static_cast<size_t>(tile.resource)], tile).cycles;
    } else {
      const Transfer& transfer = program.transfers[item - n_tiles];
      cycles =
          quant::checked_add(config.dma.setup_cycles + dram.latency_cycles, bus_cycles(transfer.bytes, dram));
      bytes = quant::checked_add(bytes, transfer.bytes);
    }
    last[item] = quant::checked_add(start, std::max<int64_t>(cycles, 1)) - 1;
    end = std::max(end, last[item] + 1);
  }
  return std::max(end, bus_cycles(bytes, dram));
}

}  // namespace vitsim::arch

#include "sim/run/trace_timeline.hpp"

#include <algorithm>
#include <map>

namespace vitsim::sim {

const char* unit_state_name(UnitState s) {
  switch (s) {
    case UnitState::Idle:
      return "idle";
    case UnitState::Busy:
      return "busy";
    case UnitState::StallDram:
      return "stall: dram";
    case UnitState::StallDependency:
      return "stall: dependency";
  }
  return "?";
}

std::vector<UnitSpan> unit_spans(const SimOutcome& outcome, size_t resource) {
  std::vector<UnitSpan> spans;
  const std::vector<int>& queue = outcome.program.queues.at(resource);
  for (size_t q = 0; q < queue.size(); ++q) {
    const int tile = queue[q];
    const arch::TileRecord& r = outcome.records.tiles.at(static_cast<size_t>(tile));
    if (q > 0 && r.wait > 0)
      spans.push_back(
          {r.start - r.wait, r.start - 1,
           r.wait_cause == arch::StallCause::Dram ? UnitState::StallDram : UnitState::StallDependency, tile});
    spans.push_back({r.start, r.done, UnitState::Busy, tile});
  }
  return spans;
}

std::vector<QueueSpan> queue_spans(const SimOutcome& outcome, arch::TransferDir dir) {
  const std::vector<int>& order =
      dir == arch::TransferDir::Load ? outcome.program.load_queue : outcome.program.store_queue;
  std::vector<QueueSpan> spans;
  spans.reserve(order.size());
  for (const int t : order) {
    const arch::TransferRecord& r = outcome.records.transfers.at(static_cast<size_t>(t));
    spans.push_back({r.start, r.issued, t});
  }
  return spans;
}

std::vector<BusStretch> dram_bus_stretches(const std::vector<arch::DramBurst>& bursts) {
  std::vector<BusStretch> stretches;
  for (const arch::DramBurst& b : bursts) {  // request order = bus order (the DRAM serves in order)
    if (stretches.empty() || b.first_byte > stretches.back().end + 1)
      stretches.push_back({b.first_byte, b.arrival, 0, 0, 0});
    BusStretch& s = stretches.back();
    s.end = std::max(s.end, b.arrival);
    ++s.bursts;
    (b.write ? s.bytes_written : s.bytes_read) += b.bytes;
  }
  return stretches;
}

std::vector<CommandStretch> ddr4_command_stretches(const std::vector<arch::ddr4::CommandRecord>& commands) {
  using arch::ddr4::Command;
  std::map<std::pair<int, int>, std::vector<CommandStretch>> tracks;
  for (const arch::ddr4::CommandRecord& c : commands) {
    const bool rank_level = c.command == Command::PreAll || c.command == Command::Ref;
    const std::pair<int, int> key{c.rank, rank_level ? -1 : c.bank_group};
    std::vector<CommandStretch>& stretches = tracks[key];
    if (stretches.empty() || c.cycle > stretches.back().end + 1)
      stretches.push_back({key.first, key.second, c.cycle, c.cycle, {}});
    CommandStretch& s = stretches.back();
    s.end = std::max(s.end, c.cycle);
    ++s.commands[static_cast<size_t>(c.command)];
  }
  std::vector<CommandStretch> all;
  for (auto& [key, stretches] : tracks) all.insert(all.end(), stretches.begin(), stretches.end());
  return all;
}

}  // namespace vitsim::sim

// What each unit of the accelerator did over time, derived from a simulation's records: the one reading of
// the records that both trace writers (trace_perfetto, trace_vcd) draw, so the two files and the report
// agree. Plain C++, no SystemC.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "arch/ddr4/ddr4_controller.hpp"
#include "arch/dram.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

/// A compute unit's state in a cycle. A tile in progress is Busy even while it waits for buffer ports or the
/// auxiliary output path: those stalls are counted per tile (TileCost), not located in time.
enum class UnitState : int { Idle = 0, Busy = 1, StallDram = 2, StallDependency = 3 };
const char* unit_state_name(UnitState s);  // "idle", "busy", "stall: dram", "stall: dependency"

/// A stretch of one state on one unit, cycles [start, end] (inclusive).
struct UnitSpan {
  int64_t start = 0, end = 0;
  UnitState state = UnitState::Busy;
  int tile = -1;  // the tile running (Busy) or about to start (stalls)
};

/// A unit's tiles and the stalls between them, ascending and disjoint. As in the report, the wait before
/// the unit's first tile is idle time, so it has no span; every later wait is a stall span charged to the
/// record's cause (the wait satisfied last).
std::vector<UnitSpan> unit_spans(const SimOutcome& outcome, size_t resource);

/// The DMA queue occupancy of a transfer: from becoming the head (setup) to issuing its last burst,
/// [start, issued]. A queue's occupancies are disjoint (the next transfer becomes the head the cycle after
/// its predecessor's last burst); the data keep arriving until `done`, which may overlap later transfers.
struct QueueSpan {
  int64_t start = 0, end = 0;
  int transfer = -1;
};
std::vector<QueueSpan> queue_spans(const SimOutcome& outcome, arch::TransferDir dir);

/// A stretch of cycles in which the DRAM data bus moved bytes without a cycle of rest: the bursts whose
/// data intervals [first_byte, arrival] touch or overlap, merged.
struct BusStretch {
  int64_t start = 0, end = 0;
  int64_t bursts = 0, bytes_read = 0, bytes_written = 0;
};
std::vector<BusStretch> dram_bus_stretches(const std::vector<arch::DramBurst>& bursts);

/// A stretch of accelerator cycles in which one DDR4 bank group (or, for refresh, one rank) received
/// commands without a cycle of rest: its commands merged, counted by kind (arch::ddr4::Command order).
struct CommandStretch {
  int rank = 0, bank_group = -1;  // bank_group -1: the rank-level commands (PREA, REF)
  int64_t start = 0, end = 0;
  std::array<int64_t, 6> commands{};
};
/// The stretches of every bank group and rank, ordered by (rank, bank group, start).
std::vector<CommandStretch> ddr4_command_stretches(const std::vector<arch::ddr4::CommandRecord>& commands);

}  // namespace vitsim::sim

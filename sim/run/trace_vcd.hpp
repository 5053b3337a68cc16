// A simulation as a Value Change Dump (IEEE 1364 VCD) for GTKWave, derived from the records (identical in
// both timing modes). $timescale 1ns: one time unit is one accelerator cycle, as in SystemC time here.
//
// Scope `accelerator`, then one scope per compute resource (program order) with
//   busy   (wire 1)     1 while a tile is in progress (including its buffer-port and output-path stalls,
//                       which the timing rules count per tile without placing them in time)
//   state  (reg 2)      0 idle, 1 busy, 2 stall_dram, 3 stall_dependency (waiting between tiles, charged to
//                       the wait satisfied last; the wait before the first tile is idle, as in the report)
//   layer  (integer)    graph node index of the tile in progress or awaited, x when idle
//   tile   (integer)    index of that tile in the program, x when idle
// scopes `dma_load` and `dma_store` with
//   active   (wire 1)   1 while a transfer occupies the queue (setup and burst issue)
//   transfer (integer)  the transfer's index in the program, x when none
//   layer    (integer)  its layer, x when none
// and, when the bursts were recorded (SimOptions::record_bursts), scope `dram` with
//   busy             (wire 1)   the data bus moves bytes in this cycle
//   reads_in_flight  (integer)  read bursts requested and not yet fully arrived
//   writes_in_flight (integer)  the same for writes
// Only value changes are written, in ascending time; the dump ends at #cycles.
#pragma once

#include <string>

#include "sim/run/simulator.hpp"

namespace vitsim::sim {

std::string vcd_trace(const SimOutcome& outcome);

}  // namespace vitsim::sim

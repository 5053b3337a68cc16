// How many cycles a compiled program will take, known before it is simulated: cycle mode prints it before a
// run starts and scales its progress lines by it (docs/simulation.md, "Long runs"). Plain C++.
#pragma once

#include <cstdint>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"

namespace vitsim::arch {

/// The program's cycles when every item starts as soon as its waits and its queue predecessor allow, each
/// tile taking its closed form with the ports and auxiliary units to itself (tile_cost), each transfer its
/// DMA setup, the DRAM latency and its bytes at the DRAM's bandwidth; transfers do not share the DRAM bus
/// here, but the run lasts at least as long as the bus needs for all of them. An estimate, not a bound:
/// docs/simulation.md measures it against cycle mode. Linear in the program's size.
int64_t estimate_cycles(const Program& program, const AccelConfig& config);

}  // namespace vitsim::arch

// PROVISIONAL DRAM addresses of the DMA transfers, until the compiler's memory plan gives each tensor its
// own: every (layer, direction, buffer) stream gets one region, regions laid out in that order from address
// 0, each 4 KB aligned; a transfer starts where the previous transfer of its stream ended, so the tiles of a
// layer walk through their region sequentially. Only the DDR4 model looks at addresses (docs/dram.md).
// To swap in real addresses, replace this one function.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/program.hpp"

namespace vitsim::arch {

/// The byte address of each transfer's first byte (indexed like Program::transfers).
std::vector<uint64_t> provisional_dram_addresses(const Program& program);

}  // namespace vitsim::arch

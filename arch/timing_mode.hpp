// The two timing modes (docs/simulation.md): the same rules, stepped cycle by cycle or advanced by their
// closed forms to the next event. Total and per-layer cycles are identical in both.
#pragma once

#include <string>

namespace vitsim::arch {

enum class TimingMode {
  Fast,   // compute tiles priced by closed forms; modules sleep until the next event
  Cycle,  // every busy engine's pipeline and the DMA are stepped every cycle
};

/// "fast" | "cycle"; throws std::invalid_argument otherwise.
TimingMode parse_timing_mode(const std::string& name);
const char* timing_mode_name(TimingMode mode);

}  // namespace vitsim::arch

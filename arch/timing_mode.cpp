#include "arch/timing_mode.hpp"

#include <stdexcept>

namespace vitsim::arch {

TimingMode parse_timing_mode(const std::string& name) {
  if (name == "fast") return TimingMode::Fast;
  if (name == "cycle") return TimingMode::Cycle;
  throw std::invalid_argument("unknown timing mode '" + name + "' (expected fast or cycle)");
}

const char* timing_mode_name(TimingMode mode) {
  return mode == TimingMode::Fast ? "fast" : "cycle";
}

}  // namespace vitsim::arch

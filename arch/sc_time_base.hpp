// SystemC time in vitsim counts accelerator cycles: one cycle is one nanosecond of simulated time, whatever
// the configured clock (reports convert cycles to seconds with the config's f_clk). Integer cycles keep the
// two timing modes exactly comparable and avoid rounding a non-integer clock period.
#pragma once

#include <systemc>

namespace vitsim::arch {

inline sc_core::sc_time cycles_time(int64_t cycles) {
  return sc_core::sc_time(static_cast<double>(cycles), sc_core::SC_NS);
}

inline int64_t to_cycles(const sc_core::sc_time& t) {
  return static_cast<int64_t>(t.value() / sc_core::sc_time(1, sc_core::SC_NS).value());
}

/// The current cycle.
inline int64_t now_cycle() {
  return to_cycles(sc_core::sc_time_stamp());
}

}  // namespace vitsim::arch

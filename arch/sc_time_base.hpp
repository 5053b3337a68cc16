// SystemC time in vitsim counts accelerator cycles: one cycle is one nanosecond of simulated time, whatever
// the configured clock (reports convert cycles to seconds with the config's f_clk). Integer cycles keep the
// two timing modes exactly comparable and avoid rounding a non-integer clock period.
#pragma once

#include <systemc>

namespace vitsim::arch {

/// Ticks of the kernel's time resolution in one cycle. vitsim never changes the resolution, so every
/// simulation context has the same; it is asked once because sc_time's unit constructor is slow and a
/// simulation converts times at every DRAM burst.
inline sc_core::sc_time::value_type cycle_ticks() {
  static const sc_core::sc_time::value_type ticks = sc_core::sc_time(1, sc_core::SC_NS).value();
  return ticks;
}

inline sc_core::sc_time cycles_time(int64_t cycles) {
  // In integers below 2^40 cycles: the same value as the unit constructor's rounded double product, which
  // is exact there; beyond, that constructor.
  if (cycles >= 0 && cycles < (int64_t{1} << 40))
    return sc_core::sc_time::from_value(static_cast<sc_core::sc_time::value_type>(cycles) * cycle_ticks());
  return sc_core::sc_time(static_cast<double>(cycles), sc_core::SC_NS);
}

inline int64_t to_cycles(const sc_core::sc_time& t) {
  return static_cast<int64_t>(t.value() / cycle_ticks());
}

/// The current cycle.
inline int64_t now_cycle() {
  return to_cycles(sc_core::sc_time_stamp());
}

}  // namespace vitsim::arch

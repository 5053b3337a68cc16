// FPGA fabric building blocks in LUTs (a LUT6 + CARRY8 fabric) and the datapath's bit widths: what the unit
// types' resource models are made of (docs/resource-model.md, "Widths" and "Building blocks").
#pragma once

#include <cstdint>

#include "arch/tile_timing.hpp"

namespace vitsim::arch::fabric {

// INT8 operands, their full 16-bit product, and the int32 accumulators the requantizer takes.
constexpr int kCodeBits = 8;
constexpr int kProductBits = 2 * kCodeBits;
constexpr int kAccumulatorBits = 32;

/// An adder or comparator: one LUT per bit (the carry chain does the rest).
inline int64_t add_luts(int bits) {
  return bits;
}
/// A 2:1 mux: one LUT per bit.
inline int64_t mux_luts(int bits) {
  return bits;
}
/// Clamp to a range: a comparator and a select.
inline int64_t clamp_luts(int bits) {
  return add_luts(bits) + mux_luts(bits);
}
/// Logarithmic barrel shifter by a variable amount: ceil(log2(bits)) stages of `bits` 2:1 muxes.
inline int64_t shifter_luts(int bits) {
  return int64_t{bits} * ceil_log2(bits);
}
/// Barrel shifter of a `bits`-wide output by 0..max_shift: ceil(log2(max_shift + 1)) stages of `bits` 2:1
/// muxes.
inline int64_t shifter_bits_luts(int bits, int max_shift) {
  return int64_t{bits} * ceil_log2(int64_t{max_shift} + 1);
}
/// Leading-one detector (priority encoder) giving floor(log2(x)): about one LUT per input bit.
inline int64_t leading_one_luts(int bits) {
  return bits;
}
/// A lookup table of `entries` words of `bits` in distributed RAM: a LUT6 holds 64 x 1 bit, so
/// ceil(entries / 64) LUTs per output bit (one copy per lane).
inline int64_t table_luts(int64_t entries, int bits) {
  return (entries + 63) / 64 * bits;
}

}  // namespace vitsim::arch::fabric

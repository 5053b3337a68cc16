// Integer-only arithmetic of the quantized datapath: requantization (int32 accumulator -> narrow integer)
// by a fixed-point multiplier and a rounding right shift (Jacob et al. 2018), or by a pure shift when every
// scale is a power of two; and the log2 quantization of attention divisors, which turns a division into
// a shift. Everything here is what the hardware's re-quantizer and log2 units compute, bit for bit.
#pragma once

#include <cstdint>

namespace vitsim::quant {

/// y = round(x * multiplier / 2^shift), rounding half towards +infinity (add 2^(shift-1), then an
/// arithmetic right shift: one adder and a shifter in hardware). A power-of-two scale has multiplier 1.
struct Requantizer {
  int32_t multiplier = 1;  // > 0
  int shift = 0;           // 0 .. 62

  int64_t apply(int64_t x) const;
};

/// The Requantizer nearest to the real factor `real` (> 0): a 31-bit multiplier in [2^30, 2^31) and the
/// matching shift (Jacob et al. 2018, eq. 5), so the relative error is below 2^-31, returned in lowest
/// terms: a power-of-two factor 2^-k is the pure shift {1, k} (2^m > 1: {2^m, 0}), not {2^30, 30 + k}.
/// Factors so small that the shift would exceed 62 saturate to the largest shift (the result then rounds
/// to 0 for any int32 input). Throws std::invalid_argument for real <= 0, NaN or infinity.
Requantizer requantizer_for(double real);

/// The same requantizer with the smallest shift: trailing zero bits of the multiplier traded for shift
/// bits (multiplier odd, or shift 0). apply() gives the same result for every input.
Requantizer lowest_terms(Requantizer r);

/// True when no multiplier is needed: the multiplier is a power of two (1, or a left shift), so the
/// requantizer is shifts and the rounding adder only.
bool is_pure_shift(const Requantizer& r);

/// A pure shift by `shift` bits (power-of-two scales): multiplier 1.
Requantizer shift_requantizer(int shift);

/// The real factor a Requantizer implements, multiplier / 2^shift.
double requantizer_value(const Requantizer& r);

/// Saturating cast to a `bits`-wide signed (-(2^(bits-1)) .. 2^(bits-1)-1) or unsigned (0 .. 2^bits-1)
/// integer.
int32_t saturate(int64_t x, int bits, bool is_signed);

/// Rounding point of the log2 divisor quantizer: between 2^i and 2^(i+1) the code rounds up at
/// 1.5 * 2^i (Hardware: the bit after the leading one) or at sqrt(2) * 2^i (Sqrt2: round(log2 x), as the
/// Trio-ViT authors' code).
enum class Log2Rounding { Hardware, Sqrt2 };

/// Exponent e with 2^e the log2-quantized value of a positive integer x: i = index of the leading one of
/// x, plus one if x is at or above the rounding point, clamped to [min_exp, max_exp]. x <= 0 has no
/// logarithm: it returns min_exp, so a zero divisor divides by the smallest power of two (a defined,
/// saturating result rather than a division by zero).
int log2_exponent(int64_t x, Log2Rounding rounding, int min_exp, int max_exp);

/// Division by a log2-quantized divisor: round(x / 2^e) for e >= 0 (rounding half towards +infinity),
/// x * 2^-e for e < 0, saturated to int32.
int64_t shift_divide(int64_t x, int exponent);

}  // namespace vitsim::quant

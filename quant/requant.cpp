#include "quant/requant.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace vitsim::quant {

namespace {
constexpr int kMaxShift = 62;

int64_t rounding_shift_right(int64_t x, int shift) {
  if (shift == 0) return x;
  return (x + (int64_t{1} << (shift - 1))) >> shift;  // arithmetic shift: floor, so this rounds half up
}
}  // namespace

int64_t Requantizer::apply(int64_t x) const {
  // |x| < 2^33 and multiplier < 2^31 keep the product inside int64; accumulators are int32.
  return rounding_shift_right(x * multiplier, shift);
}

Requantizer requantizer_for(double real) {
  if (!(real > 0) || !std::isfinite(real))
    throw std::invalid_argument("requantization factor must be a positive finite number, got " +
                                std::to_string(real));
  int exponent = 0;
  const double mantissa = std::frexp(real, &exponent);  // real = mantissa * 2^exponent, mantissa in [0.5, 1)
  int64_t multiplier = std::llround(mantissa * static_cast<double>(int64_t{1} << 31));
  int shift = 31 - exponent;
  if (multiplier == (int64_t{1} << 31)) {  // mantissa rounded up to 1.0
    multiplier /= 2;
    --shift;
  }
  if (shift < 0)
    throw std::invalid_argument("requantization factor " + std::to_string(real) + " is too large (>= 2^31)");
  if (shift > kMaxShift) {
    // Reduce the multiplier's precision instead of shifting past 62 bits; below 2^-62 keep the
    // smallest representable factor, 1 / 2^62.
    const int excess = shift - kMaxShift;
    multiplier = excess >= 31 ? 0 : multiplier >> excess;
    shift = kMaxShift;
    if (multiplier == 0) multiplier = 1;
  }
  return lowest_terms({static_cast<int32_t>(multiplier), shift});
}

Requantizer lowest_terms(Requantizer r) {
  // (x m 2^d + 2^(s+d-1)) >> (s+d) == (x m + 2^(s-1)) >> s for s >= 1, and == x m for s = 0.
  while (r.shift > 0 && r.multiplier % 2 == 0) {
    r.multiplier /= 2;
    --r.shift;
  }
  return r;
}

bool is_pure_shift(const Requantizer& r) {
  return r.multiplier > 0 && (r.multiplier & (r.multiplier - 1)) == 0;
}

Requantizer shift_requantizer(int shift) {
  if (shift < 0 || shift > kMaxShift)
    throw std::invalid_argument("shift must be in [0, 62], got " + std::to_string(shift));
  return {1, shift};
}

double requantizer_value(const Requantizer& r) {
  return std::ldexp(static_cast<double>(r.multiplier), -r.shift);
}

int32_t saturate(int64_t x, int bits, bool is_signed) {
  const int64_t lo = is_signed ? -(int64_t{1} << (bits - 1)) : 0;
  const int64_t hi = is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
  return static_cast<int32_t>(x < lo ? lo : (x > hi ? hi : x));
}

int log2_exponent(int64_t x, Log2Rounding rounding, int min_exp, int max_exp) {
  if (x <= 0) return min_exp;
  int lead = 0;
  while ((x >> (lead + 1)) != 0) ++lead;
  bool round_up = false;
  if (rounding == Log2Rounding::Hardware) {
    round_up = lead > 0 && ((x >> (lead - 1)) & 1);  // x >= 1.5 * 2^lead
  } else {
    // x >= sqrt(2) * 2^lead  <=>  x^2 >= 2^(2*lead + 1); x^2 is exact in long double for x < 2^32
    round_up = static_cast<long double>(x) * static_cast<long double>(x) >= std::ldexp(1.0L, 2 * lead + 1);
  }
  const int e = lead + (round_up ? 1 : 0);
  return e < min_exp ? min_exp : (e > max_exp ? max_exp : e);
}

int64_t shift_divide(int64_t x, int exponent) {
  const int64_t y = exponent >= 0 ? rounding_shift_right(x, exponent) : x * (int64_t{1} << -exponent);
  constexpr int64_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  return y < lo ? lo : (y > hi ? hi : y);
}

}  // namespace vitsim::quant

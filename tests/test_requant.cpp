// Integer requantization and log2 division: hand-checked values of the rules in quant/requant.hpp.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "quant/requant.hpp"

using namespace vitsim::quant;

TEST_CASE("requantizer_for is within 2^-31 relative of the real factor", "[requant]") {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> log_factor(-20.0, 10.0);
  for (int i = 0; i < 1000; ++i) {
    const double real = std::exp2(log_factor(rng));
    const Requantizer r = requantizer_for(real);
    INFO("factor " << real << " -> multiplier " << r.multiplier << ", shift " << r.shift);
    CHECK(r.multiplier > 0);
    CHECK((r.multiplier % 2 == 1 || r.shift == 0));  // lowest terms
    CHECK(std::abs(requantizer_value(r) - real) <= real * std::ldexp(1.0, -31));
  }
}

TEST_CASE("A power-of-two factor is a pure shift, bit-identical to its 31-bit multiplier form", "[requant]") {
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<int64_t> acc(-(int64_t{1} << 31), (int64_t{1} << 31) - 1);
  for (int k = -30; k <= 70; ++k) {  // factor 2^-k
    const Requantizer r = requantizer_for(std::ldexp(1.0, -k));
    INFO("factor 2^" << -k << " -> multiplier " << r.multiplier << ", shift " << r.shift);
    CHECK(is_pure_shift(r));
    CHECK(r.multiplier == (k >= 0 ? 1 : int32_t{1} << -k));
    CHECK(r.shift == std::clamp(k, 0, 62));
    // The form Jacob et al.'s rule gives (multiplier 2^30, shift 30 + k; at most 62) rounds the same.
    const int long_shift = std::min(30 + k, 62);
    const Requantizer jacob{30 + k > 62 ? std::max(1, 1 << std::max(0, 62 - k)) : 1 << 30, long_shift};
    for (int i = 0; i < 200; ++i) {
      const int64_t x = acc(rng);
      CHECK(r.apply(x) == jacob.apply(x));
    }
  }
  CHECK(!is_pure_shift(requantizer_for(0.75)));
  CHECK(is_pure_shift(Requantizer{4, 3}));
}

TEST_CASE("lowest_terms keeps every result and leaves an odd multiplier or no shift", "[requant]") {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int32_t> mult(1, (int32_t{1} << 30));
  std::uniform_int_distribution<int> shift(0, 62), zeros(0, 20);
  std::uniform_int_distribution<int64_t> acc(-(int64_t{1} << 31), (int64_t{1} << 31) - 1);
  for (int i = 0; i < 2000; ++i) {
    const int z = zeros(rng);
    const Requantizer r{std::max(1, mult(rng) >> z) << z, shift(rng)};  // z trailing zeros or more
    const Requantizer low = lowest_terms(r);
    INFO("multiplier " << r.multiplier << " shift " << r.shift << " -> " << low.multiplier << ", "
                       << low.shift);
    CHECK((low.multiplier % 2 == 1 || low.shift == 0));
    CHECK(requantizer_value(low) == requantizer_value(r));
    for (int j = 0; j < 20; ++j) {
      const int64_t x = acc(rng);
      CHECK(low.apply(x) == r.apply(x));
    }
  }
}

TEST_CASE("Requantizer::apply rounds half towards +infinity", "[requant]") {
  const Requantizer half = shift_requantizer(1);  // x / 2
  CHECK(half.apply(5) == 3);                      // 2.5 -> 3
  CHECK(half.apply(-5) == -2);                    // -2.5 -> -2
  CHECK(half.apply(4) == 2);
  CHECK(shift_requantizer(0).apply(-7) == -7);
  const Requantizer r = requantizer_for(0.375);  // exactly 3/8: multiplier 3, shift 3 (lowest terms)
  CHECK(r.multiplier == 3);
  CHECK(r.shift == 3);
  CHECK(r.apply(1000) == 375);
  CHECK(r.apply(4) == 2);    // 1.5 -> 2
  CHECK(r.apply(-4) == -1);  // -1.5 -> -1
  CHECK(r.apply(15) == 6);   // 5.625 -> 6
  // 0.1 is not a dyadic rational: its multiplier is just below 0.1, so 15 * 0.1 rounds to 1, not 2.
  CHECK(requantizer_for(0.1).apply(15) == 1);
}

TEST_CASE("Tiny and invalid factors", "[requant]") {
  const Requantizer tiny = requantizer_for(1e-30);
  CHECK(tiny.shift == 62);
  CHECK(tiny.apply(2'000'000'000) == 0);
  CHECK_THROWS_WITH(requantizer_for(0.0), Catch::Contains("positive finite"));
  CHECK_THROWS_WITH(requantizer_for(-1.0), Catch::Contains("positive finite"));
  CHECK_THROWS_WITH(requantizer_for(std::ldexp(1.0, 40)), Catch::Contains("too large"));
  CHECK_THROWS(shift_requantizer(63));
}

TEST_CASE("saturate clamps to signed and unsigned ranges", "[requant]") {
  CHECK(saturate(200, 8, true) == 127);
  CHECK(saturate(-200, 8, true) == -128);
  CHECK(saturate(-3, 8, false) == 0);
  CHECK(saturate(300, 8, false) == 255);
  CHECK(saturate(9, 4, true) == 7);
  CHECK(saturate(5, 4, true) == 5);
}

TEST_CASE("log2_exponent: leading one plus the next bit, or round(log2) at sqrt(2)", "[requant]") {
  // 12 = 0b1100: leading one at 3, next bit 1 -> 4 (hardware). sqrt(2)*8 = 11.3 <= 12 -> 4.
  CHECK(log2_exponent(12, Log2Rounding::Hardware, -6, 9) == 4);
  CHECK(log2_exponent(12, Log2Rounding::Sqrt2, -6, 9) == 4);
  // 11 = 0b1011: next bit 0 -> 3 (hardware, rounds up only at 12 = 1.5*8); 11 < 11.31 -> 3 (sqrt2).
  CHECK(log2_exponent(11, Log2Rounding::Hardware, -6, 9) == 3);
  CHECK(log2_exponent(11, Log2Rounding::Sqrt2, -6, 9) == 3);
  // The two rules differ between sqrt(2)*2^i and 1.5*2^i: 23 with i = 4 (22.6 <= 23 < 24).
  CHECK(log2_exponent(23, Log2Rounding::Hardware, -6, 9) == 4);
  CHECK(log2_exponent(23, Log2Rounding::Sqrt2, -6, 9) == 5);
  CHECK(log2_exponent(1, Log2Rounding::Hardware, -6, 9) == 0);
  CHECK(log2_exponent(1 << 20, Log2Rounding::Hardware, -6, 9) == 9);  // clamped
  CHECK(log2_exponent(0, Log2Rounding::Hardware, -6, 9) == -6);       // zero divisor: defined result
  CHECK(log2_exponent(-5, Log2Rounding::Sqrt2, -6, 9) == -6);
}

TEST_CASE("shift_divide divides by 2^e with rounding, multiplies for e < 0, saturates", "[requant]") {
  CHECK(shift_divide(100, 3) == 13);    // 12.5 -> 13
  CHECK(shift_divide(-100, 3) == -12);  // -12.5 -> -12
  CHECK(shift_divide(7, 0) == 7);
  CHECK(shift_divide(7, -2) == 28);
  CHECK(shift_divide(int64_t{1} << 40, 0) == 2147483647);
}

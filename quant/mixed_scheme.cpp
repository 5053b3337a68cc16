#include "quant/mixed_scheme.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace vitsim::quant {

int pot_max_exponent(int bits) {
  if (bits < 2 || bits > 5) throw std::invalid_argument("power-of-two codes are 2..5 bits wide");
  return (1 << (bits - 1)) - 2;
}

int32_t pot_code(float x, float scale, int bits) {
  const int kmax = pot_max_exponent(bits);
  const double a = std::abs(static_cast<double>(x) / scale);
  int32_t mag = 0;
  if (a > 0.5) {
    mag = 1;
    for (int k = 0; k < kmax && a > 1.5 * std::ldexp(1.0, k); ++k) mag = int32_t{2} << k;
  }
  return x < 0 ? -mag : mag;
}

bool is_pot_code(int32_t code, int bits) {
  const int64_t mag = std::abs(static_cast<int64_t>(code));
  return mag == 0 || ((mag & (mag - 1)) == 0 && mag <= (int64_t{1} << pot_max_exponent(bits)));
}

PotRow quantize_pot_row(const float* w, size_t count, int bits) {
  PotRow row;
  float amax = 0;
  for (size_t i = 0; i < count; ++i) amax = std::max(amax, std::abs(w[i]));
  if (amax > 0) row.scale = std::ldexp(amax, -pot_max_exponent(bits));
  row.codes.resize(count);
  for (size_t i = 0; i < count; ++i) {
    row.codes[i] = pot_code(w[i], row.scale, bits);
    const double d = static_cast<double>(w[i]) - static_cast<double>(row.scale) * row.codes[i];
    row.error += d * d;
  }
  return row;
}

int64_t pot_rows_in_group(int64_t rows, double ratio) {
  return static_cast<int64_t>(std::floor(ratio * static_cast<double>(rows) + 0.5));
}

std::vector<uint8_t> choose_pot_rows(const std::vector<double>& pot_error,
                                     const std::vector<double>& fixed_error, int64_t count) {
  std::vector<size_t> order(pot_error.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return pot_error[a] - fixed_error[a] < pot_error[b] - fixed_error[b];
  });
  std::vector<uint8_t> pot(pot_error.size(), 0);
  for (int64_t r = 0; r < count && r < static_cast<int64_t>(order.size()); ++r)
    pot[order[static_cast<size_t>(r)]] = 1;
  return pot;
}

}  // namespace vitsim::quant

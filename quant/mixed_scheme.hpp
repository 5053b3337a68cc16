// Auto-ViT-Acc's mixed-scheme weight quantization (recipe "mixed_scheme", docs/quantization.md): inside
// every weighted layer (Linear, and Conv2d with one group), a fixed share of the output channels (weight
// rows) is quantized to powers of two, the rest to fixed point (uniform symmetric codes, one scale per row,
// as every recipe). A power-of-two row has one scale s_c and codes that are 0 or +-2^k with k in
// 0..pot_max_exponent(bits): real weight = s_c * code, so the integer executor multiplies it like any other
// code and an accelerator multiplies by a shift. Each row's requantizer folds its own scale, so the two
// kinds of row are aligned where the accumulators leave the layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vitsim::quant {

/// The largest exponent of a `bits`-wide power-of-two code (a sign and an exponent field whose top value
/// means 0): 2^(bits-1) - 2. bits 2..5 (4: k in 0..6, magnitudes up to 64).
int pot_max_exponent(int bits);

/// The power-of-two code of x / scale: the nearest of 0, 2^0 .. 2^kmax to |x| / scale (the midpoint of 2^k
/// and 2^(k+1), 1.5 * 2^k, and 0.5 between 0 and 1 round down), with x's sign.
int32_t pot_code(float x, float scale, int bits);

/// Whether `code` is a valid `bits`-wide power-of-two code (0 or +-2^k, 0 <= k <= pot_max_exponent(bits)).
bool is_pot_code(int32_t code, int bits);

/// One weight row quantized to powers of two: scale max|w| / 2^kmax (1 for an all-zero row), the codes,
/// and the squared error sum (w - scale * code)^2.
struct PotRow {
  float scale = 1.0f;
  std::vector<int32_t> codes;
  double error = 0;
};
PotRow quantize_pot_row(const float* w, size_t count, int bits);

/// How many rows of a group of `rows` go power-of-two at `ratio` (0..1): round(ratio * rows), halves up.
int64_t pot_rows_in_group(int64_t rows, double ratio);

/// Chooses the power-of-two rows of one group: the `count` rows whose extra squared error (power-of-two
/// error minus fixed-point error, `pot_error[r] - fixed_error[r]`) is least, ties to the lower row index.
/// Returns one flag per row (1: power of two).
std::vector<uint8_t> choose_pot_rows(const std::vector<double>& pot_error,
                                     const std::vector<double>& fixed_error, int64_t count);

}  // namespace vitsim::quant

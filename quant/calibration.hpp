// Activation range calibration (docs/quantization.md): an Observer collects the values one tensor takes
// over a calibration batch; compute_range turns them into a clipping range with one of four methods;
// choose_qparams / quantize_value turn a range into a uniform quantizer.
//
// What an Observer keeps: the exact min / max / count of every finite value it saw, plus a sample of
// the values: all of them while count <= max_samples (default 2^18 = 1 MiB per tensor), then a
// uniform random reservoir of max_samples values (Li's Algorithm L, seeded, so deterministic for a
// given sequence of observe() calls). "minmax" uses only the exact min / max. "percentile" and "mse"
// run on the samples (exact below the cap). "kl" builds TensorRT's 2048-bin histogram of |x| over
// [0, max|x|] from the samples at compute time, with max|x| the exact one (equivalent to streaming
// the histogram when the samples are exact; a uniform subsample of it above the cap).
// Non-finite values (NaN, +-inf) are skipped and counted in nonfinite_count().
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "quant/graph.hpp"

namespace vitsim::quant {

/// A clipping range [lo, hi] (lo <= hi).
struct Range {
  float lo = 0.0f;
  float hi = 0.0f;
};

/// A uniform quantizer: q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax),
/// x_hat = (q - zero_point) * scale; signed: [-(2^(b-1)), 2^(b-1) - 1], unsigned: [0, 2^b - 1].
struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int bits = 8;
  bool is_signed = true;
};

/// How compute_range picks the range. Methods: "minmax", "percentile", "mse", "kl".
struct CalibratorSpec {
  std::string method = "minmax";
  double percentile = 0.9999;  // "percentile": keep [q_(1-p), q_p]; p in [0.5, 1]
  double lp_norm = 2.4;        // "mse": the loss is mean |x - x_hat|^lp_norm; lp_norm > 0
  int search_steps = 80;       // "mse": ratios 1 - 0.01 i, i = 0 .. search_steps - 1; in [1, 100]
};

/// Parses "minmax" | "percentile" | "mse" | "kl", optionally with a parameter after a colon:
/// "percentile:0.999" (p) or "mse:2.0" (the Lp norm). Throws std::invalid_argument listing the valid
/// names on anything else.
CalibratorSpec parse_calibrator(const std::string& text);

class Observer {
 public:
  static constexpr size_t kDefaultMaxSamples = size_t{1} << 18;

  explicit Observer(size_t max_samples = kDefaultMaxSamples, uint64_t seed = 0x5eedULL);

  void observe(const float* data, size_t n);
  void observe(const std::vector<float>& values) { observe(values.data(), values.size()); }
  void observe(const Tensor& t) { observe(t.data.data(), t.data.size()); }

  bool empty() const { return count_ == 0; }
  uint64_t count() const { return count_; }  // finite values seen
  uint64_t nonfinite_count() const { return nonfinite_; }
  float min() const { return min_; }  // exact; 0 while empty
  float max() const { return max_; }
  float abs_max() const;
  /// The retained values: every value seen (in order) while exact(), else a uniform random sample.
  const std::vector<float>& samples() const { return samples_; }
  bool exact() const { return count_ <= max_samples_; }
  size_t max_samples() const { return max_samples_; }

 private:
  double uniform01();  // (0, 1)
  void advance_skip(uint64_t last_pick);

  size_t max_samples_;
  std::mt19937_64 rng_;
  uint64_t count_ = 0, nonfinite_ = 0;
  float min_ = 0.0f, max_ = 0.0f;
  std::vector<float> samples_;
  double w_ = 0.0;          // Algorithm L state
  uint64_t next_pick_ = 0;  // index (over finite values) of the next value to enter the reservoir
};

/// The clipping range for `obs` under `spec`; `bits` / `is_signed` describe the quantizer the range
/// is for (used by "mse", which quantizes with choose_qparams(candidate, bits, false), and "kl", see
/// below). Throws std::invalid_argument on an empty observer, an unknown method, bad spec values, or
/// bits outside [2, 16].
///   minmax:     [min, max].
///   percentile: [q_(1-p), q_p] of the samples, linear interpolation between order statistics
///               (numpy / torch.quantile "linear").
///   mse:        Trio-ViT / QDrop search: for i in 0 .. steps-1, r = 1 - 0.01 i, candidate r * [min, max],
///               asymmetric fake-quantization of the samples (zero point, half-to-even), loss
///               mean |x - x_hat|^p over at most kMseMaxSamples of the retained samples (every k-th);
///               the first (largest) r with the smallest loss wins. Returns r * [min, max]. The
///               candidates are scored in parallel; the result does not depend on the thread count.
///   kl:         TensorRT entropy calibration (see kl_threshold). Returns [-t, t], or [0, t] when
///               min >= 0. Levels: 2^(bits-1) (TensorRT), or 2^bits for a non-negative tensor going to
///               an unsigned quantizer (!is_signed), as pytorch-quantization does.
Range compute_range(const Observer& obs, const CalibratorSpec& spec, int bits, bool is_signed);

/// The "mse" search scores each candidate on at most this many samples: a deterministic, evenly strided
/// subsample of the observer's values that bounds the search's cost on large tensors.
inline constexpr size_t kMseMaxSamples = size_t{1} << 16;

/// Details of the "mse" search, for reports and tests: losses[i] belongs to ratio 1 - 0.01 i.
struct MseSearch {
  double best_ratio = 1.0;
  std::vector<double> losses;
};
MseSearch mse_search(const Observer& obs, const CalibratorSpec& spec, int bits);

/// TensorRT's entropy calibration on a histogram of |x| (hist[k] counts |x| in bin k, bins of equal
/// width over [0, max|x|]): for i in [levels, hist.size()], P = hist[0..i) with the counts of bins
/// >= i added to P[i-1]; Q = hist[0..i) merged into `levels` groups of i / levels bins (the last group
/// takes the remainder), each group's sum spread evenly over its non-zero bins (zero where P is zero);
/// both smoothed (eps = 1e-4 moved onto zero bins, as MXNet / TVM do) and normalized; the i with the
/// smallest KL(P || Q) wins (the first one on ties). Returns that i; the threshold is
/// min((i + 0.5) * bin_width, max|x|). Requires hist.size() >= levels >= 1.
size_t kl_threshold_bin(const std::vector<double>& hist, int levels);

/// Integer range of a `bits`-bit quantizer: signed [-(2^(b-1)), 2^(b-1) - 1], unsigned [0, 2^b - 1].
/// bits in [2, 32] signed, [1, 31] unsigned (so the range fits int32); throws otherwise.
void quant_limits(int bits, bool is_signed, int64_t& qmin, int64_t& qmax);

/// A quantizer for `range` (extended to contain 0, so 0 is exactly representable):
///   symmetric:  signed, zero_point 0, scale = max(|lo|, |hi|) / (2^(b-1) - 1) (qmin = -2^(b-1) unused
///               by the range, as TensorRT);
///   asymmetric: unsigned [0, 2^b - 1], scale = (hi - lo) / (2^b - 1), zero_point = round(-lo / scale)
///               clamped to the integer range.
/// A degenerate range ([0, 0] after extension, or a scale that underflows float) gets scale 1.
/// Throws std::invalid_argument on a non-finite range or lo > hi.
QuantParams choose_qparams(Range range, int bits, bool symmetric);

/// The quantizer of choose_qparams for `range` with a given scale (> 0, finite): zero point 0
/// (symmetric), or the one that maps the range's low end (extended to contain 0) to qmin, clamped.
/// Used for power-of-two scales.
QuantParams qparams_with_scale(Range range, int bits, bool symmetric, float scale);

/// q = clamp(nearbyint(x / scale) + zero_point, qmin, qmax) with the division in float and
/// round-half-to-even (the default rounding mode), saturating; NaN maps to zero_point.
/// The integer range comes from `bits` and qp.is_signed.
int32_t quantize_value(float x, const QuantParams& qp, int bits);
inline int32_t quantize_value(float x, const QuantParams& qp) {
  return quantize_value(x, qp, qp.bits);
}
/// (q - zero_point) * scale.
float dequantize_value(int32_t q, const QuantParams& qp);

}  // namespace vitsim::quant

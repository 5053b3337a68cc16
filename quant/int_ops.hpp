// The per-element stages of the integer datapath (qgraph.hpp's INTEGER SEMANTICS after the MAC loops):
// the activation stage of Conv2d / Linear, requantization, the residual add, the attention kernel's rows,
// the attention normalization, and the FP32 LayerNorm row of a float_layernorm Linear. The integer
// reference executor and the simulator's functional model (arch/functional.cpp) both call these, so each
// stage is defined once and the two agree bit for bit. Nothing here validates: callers pass QNodes the
// integer executor accepts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "quant/graph.hpp"
#include "quant/qgraph.hpp"
#include "quant/requant.hpp"

namespace vitsim::quant::int_ops {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

inline int64_t code_min(int bits) {
  return -(int64_t{1} << (bits - 1));
}
inline int64_t code_max(int bits) {
  return (int64_t{1} << (bits - 1)) - 1;
}

/// saturate(x, bits, true) with the bounds precomputed (the per-element hot path).
inline int64_t clamp_code(int64_t x, int64_t lo, int64_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/// round(x / 2^s), half towards +infinity (the Requantizer's rounding), for any s >= 0 and any int64 x,
/// without overflow: floor(x / 2^s) plus the bit after the binary point.
inline int64_t round_shift(int64_t x, int s) {
  if (s <= 0) return x;
  if (s >= 64) return 0;  // |x / 2^s| <= 1/2; -1/2 rounds up to 0
  return (x >> s) + ((x >> (s - 1)) & 1);
}

/// Axis sizes that index a tensor's quantization grid: axis 0, axis 1 (1 for rank < 2), and the number of
/// contiguous elements sharing one (i0, i1).
struct GridAxes {
  int64_t n0 = 1, n1 = 1, inner = 1;
};
GridAxes grid_axes(const Shape& shape);

/// Group of the element at flat index `flat` of a tensor with grid axes `a`.
inline size_t group_of(const ActQuant& q, const GridAxes& a, int64_t flat) {
  const int64_t outer = flat / a.inner;
  return q.group(outer / a.n1, outer % a.n1);
}

/// y = sat(zp + rq(acc)): a requantized output code (MatMul, GlobalAvgPool's finish).
inline int32_t requantize_code(int64_t acc, const Requantizer& rq, int64_t zp, int bits) {
  return saturate(zp + rq.apply(acc), bits, true);
}

// ---------------------------------------------------------------------------------------------------
// Activation stage of Conv2d / Linear

/// Requantizer::apply with its constants unpacked for the per-element hot loops: the same expression as
/// requant.cpp, round(x * multiplier / 2^shift) = (x * multiplier + 2^(shift-1)) >> shift (floor shift),
/// so it rounds half towards +infinity; exactly x * multiplier for shift 0.
struct FastRq {
  int64_t multiplier = 1, round = 0;
  int shift = 0;
  FastRq() = default;
  explicit FastRq(const Requantizer& r)
      : multiplier(r.multiplier), round(r.shift > 0 ? int64_t{1} << (r.shift - 1) : 0), shift(r.shift) {}
  int64_t apply(int64_t x) const { return (x * multiplier + round) >> shift; }
};

/// I-BERT's i-GELU on a pre-activation with F fractional bits (scale 2^-F), F in 0..20: the integer forms
/// of b = -1.769 and 1 / (a * S_e^2) (a = -0.2888, S_e = 2^-F / sqrt(2): erf is evaluated at x / sqrt(2)),
/// and the right shift that keeps the factor h below 2^16 so p * h fits the requantizer's input.
struct GeluConstants {
  int64_t b = 0, c = 0;  // b = floor(b / S_e) < 0, c = floor(1 / (a * S_e^2)) < 0
  int shift = 0;
};
GeluConstants gelu_constants(int frac_bits);

/// h(p) = round((-(sgn(p) * L(|p|) + c)) / 2^shift) >= 0, L(u) = (min(u, -b) + b)^2 + c: (1 + erf(x /
/// sqrt(2))) at scale |a| * S_e^2 * 2^shift. GELU(x) = x * (1 + erf(x / sqrt(2))) / 2 is then p * h at scale
/// 2^-F * |a| * S_e^2 * 2^shift / 2.
inline int64_t gelu_factor(int64_t p, const GeluConstants& k) {
  const int64_t u = p < 0 ? -p : p;
  const int64_t t = (u < -k.b ? u : -k.b) + k.b;  // <= 0
  const int64_t l = t * t + k.c;                  // sgn-less erf at scale a * S_e^2 (a < 0)
  return round_shift(-((p < 0 ? -l : l) + k.c), k.shift);
}

/// The real scale of p * gelu_factor(p) for a pre-activation with F fractional bits.
double gelu_product_scale(int frac_bits);

/// The activation stage of a whole layer.
struct ActStage {
  std::vector<FastRq> rq;                 // per output channel
  std::vector<FastRq> act_rq;             // HSwish: per output channel
  const int32_t* lut = nullptr;           // a table: GELU's, Sigmoid, HSigmoid, SiLU
  int64_t out_min = -128, out_max = 127;  // code range of the output
  int64_t pre_min = -128, pre_max = 127;  // code range of the pre-activation
  int64_t zp_p = 0, three = 0, six = 0;   // HSwish, in pre-activation codes
  std::vector<int64_t> relu6_six;         // ReLU6: per output channel, in output codes
  GeluConstants gelu;                     // GELU without a table: i-GELU
};

/// The stage of a Conv2d / Linear with activation `act` (qn must outlive it: GELU points into its table).
ActStage activation_stage(Act act, const QNode& qn);

/// The constants of one output channel, by value so the hot loops keep them in registers.
struct ChannelStage {
  FastRq rq, act_rq;
  int64_t out_min, out_max, pre_min, pre_max, zp_p, three, six;
  const int32_t* lut;
  GeluConstants gelu;
};

inline ChannelStage channel_stage(const ActStage& s, size_t c) {
  return {s.rq[c],
          s.act_rq.empty() ? FastRq{} : s.act_rq[c],
          s.out_min,
          s.out_max,
          s.pre_min,
          s.pre_max,
          s.zp_p,
          s.three,
          s.relu6_six.empty() ? s.six : s.relu6_six[c],
          s.lut,
          s.gelu};
}

/// Output code of accumulator `acc` (bias included) in an output group with zero point zp_y.
template <Act A>
inline int32_t apply_stage(const ChannelStage& s, int64_t acc, int64_t zp_y) {
  const int64_t r = s.rq.apply(acc);
  if constexpr (A == Act::None) {
    return static_cast<int32_t>(clamp_code(zp_y + r, s.out_min, s.out_max));
  } else if constexpr (A == Act::ReLU) {
    return static_cast<int32_t>(std::max<int64_t>(clamp_code(zp_y + r, s.out_min, s.out_max), zp_y));
  } else if constexpr (A == Act::ReLU6) {  // six: this channel's relu6_six
    const int64_t y = std::max<int64_t>(clamp_code(zp_y + r, s.out_min, s.out_max), zp_y);
    return static_cast<int32_t>(std::min<int64_t>(y, zp_y + s.six));
  } else if constexpr (A == Act::HSwish) {
    const int64_t p = clamp_code(s.zp_p + r, s.pre_min, s.pre_max) - s.zp_p;
    const int64_t t = clamp_code(p + s.three, 0, s.six);
    return static_cast<int32_t>(clamp_code(zp_y + s.act_rq.apply(p * t), s.out_min, s.out_max));
  } else if (s.lut) {  // a table (GELU's, Sigmoid, HSigmoid, SiLU): lookup of the pre-activation code
    return s.lut[clamp_code(s.zp_p + r, s.pre_min, s.pre_max) - s.pre_min];
  } else {  // i-GELU polynomial (zero point 0)
    const int64_t p = clamp_code(r, s.pre_min, s.pre_max);
    return static_cast<int32_t>(
        clamp_code(zp_y + s.act_rq.apply(p * gelu_factor(p, s.gelu)), s.out_min, s.out_max));
  }
}

/// apply_stage with the activation chosen at run time (for callers outside a per-activation hot loop).
int32_t apply_stage(Act act, const ChannelStage& s, int64_t acc, int64_t zp_y);

// ---------------------------------------------------------------------------------------------------
// Add, AttnKernel, AttnNormalize

/// The residual add: both requantizers share one shift. Inputs and output are per tensor or PTF
/// quantizers (qgraph.hpp), whose factors 2^al(c) vary with the channel c of the last axis. `act` is the
/// Add node's: ReLU keeps the codes at or above zp_y (a ResNet block's add + ReLU).
struct AddStage {
  int64_t m0, m1, zp0, zp1, zp_y;
  int shift, bits;
  bool relu;
  std::vector<int> al0, al1, al_y;  // per channel; one entry for a per-tensor quantizer
  AddStage(const QNode& qn, const ActQuant& q0, const ActQuant& q1, Act act);
  int32_t apply(int32_t x0, int32_t x1, size_t channel = 0) const {
    const auto al = [channel](const std::vector<int>& a) { return a.size() == 1 ? a[0] : a[channel]; };
    const int64_t a = (x0 - zp0) * (int64_t{1} << al(al0)), b = (x1 - zp1) * (int64_t{1} << al(al1));
    const int32_t y = saturate(zp_y + round_shift(m0 * a + m1 * b, shift + al(al_y)), bits, true);
    return relu ? std::max(y, static_cast<int32_t>(zp_y)) : y;
  }
};

/// Squeeze-excite's channel gate (ChannelMul) on centered codes: y = sat(zp_y + rq(xc * gc)), xc = x -
/// zp_x(c), gc = g[c] - zp_g, rq the channel's requantizer (s_x(c) * s_g / s_y).
inline int32_t channel_mul_code(int64_t xc, int64_t gc, const Requantizer& rq, int64_t zp_y, int bits) {
  return requantize_code(xc * gc, rq, zp_y, bits);
}

// ---------------------------------------------------------------------------------------------------
// LayerNorm and Softmax (standard ViTs)

/// round(num / den) with ties away from zero, den > 0.
int64_t div_round_half_away(int64_t num, int64_t den);

/// floor(sqrt(v)) for v >= 0, exactly.
int64_t isqrt(int64_t v);

/// The integer LayerNorm of qgraph.hpp over rows of `width` codes.
struct LayerNormStage {
  std::vector<int> alpha;  // PTF factor per channel (one entry: per tensor)
  std::vector<int64_t> mult, bias;
  int64_t zp_x, zp_y, eps, out_min, out_max;
  int shift;
  LayerNormStage(const QNode& qn, const ActQuant& in);
  /// One row: `q` holds mult.size() input codes, `y` receives the output codes; `x` is work space.
  void apply_row(const int32_t* q, int32_t* y, int64_t* x) const;
};

/// I-BERT's second-order exp on fixed-point scores with kSoftmaxFracBits fractional bits:
/// exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344 on (-ln 2, 0], integers at scale 0.3585 * 2^(-2 kSoftmaxFracBits).
constexpr int kSoftmaxFracBits = 10;
struct ExpConstants {
  int64_t ln2, b, c;  // floor(ln 2 * 2^F), floor(1.353 * 2^F), floor(0.344 / 0.3585 * 2^(2F))
};
ExpConstants exp_constants();

/// E = ((p + b)^2 + c) >> z for d = -z * ln2 + p <= 0, p in (-ln2, 0].
inline int64_t int_exp(int64_t d, const ExpConstants& k) {
  const int64_t z = -d / k.ln2;
  const int64_t p = d + z * k.ln2;
  const int64_t l = (p + k.b) * (p + k.b) + k.c;
  return z >= 62 ? 0 : l >> z;
}

/// One Softmax row: `x` the n fixed-point scores (overwritten by their exps), `y` the n output codes of
/// the quantizer `out` (log2 or uniform) with zero point zp_y.
void softmax_row(int64_t* x, int64_t n, const ActQuant& out, int64_t zp_y, int32_t* y);

/// The integer weight 2^(E-1-e) of a log2 code e (E = 2^bits - 1, the top code weighs 0): a log2 operand
/// of MatMul multiplies by it, i.e. shifts.
inline int64_t log2_weight(int64_t e, int bits) {
  const int64_t top = (int64_t{1} << bits) - 1;
  return e >= top || e < 0 ? 0 : int64_t{1} << (top - 1 - e);
}

/// Output code of row `row` (of 3d + 1) of one head of the attention kernel, from the input code x of
/// that row (the ones row ignores x).
inline int32_t attn_kernel_code(int64_t row, int64_t head_dim, int32_t x) {
  if (row < 2 * head_dim) return x > 0 ? x : 0;  // ReLU(q), ReLU(k): zero point 0
  return row < 3 * head_dim ? x : 1;             // v, then the ones row
}

/// The normalization of one numerator group of AttnNormalize.
struct NormalizeStage {
  Requantizer num_rq, div_rq, out_rq;
  int numerator_bits, out_bits;
  DivisorMode mode;
  Log2Rounding rounding;
  int max_exponent;  // Log2: largest exponent code
  int divisor_bits;  // Uniform
  NormalizeStage(const QNode& qn, size_t group);
  /// Output code from the int32 accumulators of the dividend and of the divisor row.
  int32_t apply(int32_t dividend, int32_t divisor, int64_t zp_y) const;
};

// ---------------------------------------------------------------------------------------------------
// Token ops (standard ViTs)

/// The flat index of the input element whose code output element `o` of a code-moving token op
/// (PatchTokens, HeadSplit, HeadMerge, TokenSelect; graph.hpp) holds, for an input of shape `in`.
int64_t moved_code_source(const Node& node, const Shape& in, int64_t o);

// ---------------------------------------------------------------------------------------------------
// FP32 pieces

/// sat(round_half_even(v / scale) + zp), in FP32, as the input image's quantizer (calibration.hpp's
/// quantize_value, the PTQ engine's definition). NaN has no code: returns false.
bool quantize_fp32(float v, float scale, int32_t zp, int bits, int32_t& code);

/// One row of a float_layernorm Linear: acc[c] (bias included, int32) times in_scale * weight_scale[c] in
/// FP32, LayerNorm, activation, quantization into out[c]. `work` holds out_features floats. Returns the
/// first feature whose value is NaN (its code is not written), or -1.
int64_t float_layernorm_row(const Node& node, const QNode& qn, int64_t row, const int64_t* acc, float* work,
                            int32_t* out);

}  // namespace vitsim::quant::int_ops

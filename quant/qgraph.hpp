// The quantized integer graph: what the PTQ engine produces, the integer reference executor runs, the
// quantized-graph file stores, and the simulator's engines must reproduce bit for bit.
//
// It is the FP32 Graph (structure, and the FP32 parameters after BatchNorm folding and the recipe's
// rewrites) plus one QNode per node with integer weights, int32 biases, requantizers and activation
// quantizers. Every value below is an integer or an integer-only operation, except where a QNode says
// `float_layernorm` (the recipe keeps LayerNorm in FP32) and the input image's quantization.
//
// ACTIVATION CODES. A tensor is stored as signed integer codes q in [-(2^(b-1)), 2^(b-1) - 1] (b = bits,
// 2..16), or as raw int32 accumulators (bits = 32, zero point 0). Its real value is
// scale[g] * (q - zero_point[g]) where g is the element's group in a grid over axes 0 and 1 (per tensor:
// 1x1; per channel of a [C,H,W] tensor: Cx1; per head and row of a [B,R,N] tensor: BxR).
//
// INTEGER SEMANTICS, per op (x: input codes, zp: zero points, rq: Requantizer, sat: saturate to out.bits):
//   Input      q = sat(round_half_even(x / scale) + zp)                (quantize_input)
//   Conv2d /   acc[c, p] = bias[c] + sum_i w[c, i, tap] * (x[i, p + tap] - zp_x(i)), padded taps contribute
//   Linear       0 (they are real zeros). x's scale must be uniform over the inputs a channel sums over,
//              except for a depthwise conv, whose input may have one scale per channel.
//              Then the activation stage of `act`:
//                None / ReLU  y = sat(zp_y(c) + rq[c](acc)); ReLU: y = max(y, zp_y(c))
//                ReLU6        y = min(max(sat(zp_y(c) + rq[c](acc)), zp_y(c)), zp_y(c) + relu6_six[c])
//                             (relu6_six[c] = round(6 / s_y(c)): the clamp at 6 inside the requantizer)
//                HSwish       p = sat8(zp_p + rq[c](acc)) - zp_p   (pre-activation, per-tensor quantizer)
//                             t = clamp(p + hswish_three, 0, hswish_six)    (three = round(3/s_p), six =
//                             round(6/s_p)) y = sat(zp_y(c) + act_rq[c](p * t))           (p*t has scale
//                             s_p^2 / 6)
//                GeluTanh /   p = sat8(zp_p + rq[c](acc)); y = act_lut[p - qmin(pre_act)]
//                GeluErf,     (the table: each pre-activation code's value through the function, quantized by
//                Sigmoid,     the per-tensor output quantizer; Sigmoid, HSigmoid, SiLU: only the table)
//                HSigmoid,
//                SiLU
//              float_layernorm (Linear + LayerNorm): v = acc * in_scale * weight_scale[c] in FP32, LayerNorm
//              (its FP32 ln_gamma, ln_beta) and activation in FP32, then quantized like the input image.
//   Add        y = sat(zp_y + round((rq[0].multiplier * (a - zp_a) + rq[1].multiplier * (b - zp_b)) /
//   2^rq[0].shift))
//              (both requantizers share the shift; per-tensor quantizers); act ReLU: y = max(y, zp_y)
//   MaxPool    y[c, p] = max over the window's in-bounds taps of x[c, tap] (padded taps are skipped); the
//              output quantizer equals the input's, per tensor or per channel (max commutes with a monotone
//              quantizer: no requantization)
//   Concat     codes copied; the output grid is the inputs' grids stacked along axis 0 (no requantization)
//   ChannelMul y[c, p] = sat(zp_y + rq[c]((x[c, p] - zp_x(c)) * (g[c] - zp_g)))   (squeeze-excite's gate;
//              x per tensor or per channel, g and y per tensor; rq[c] = s_x(c) * s_g / s_y)
//   GlobalAvgPool  y[c] = sat(zp_y + rq[0](sum_p (x[c, p] - zp_x)))     (rq = s_x / (H*W*s_y))
//   AttnKernel input zero points must be 0. Rows 0..2d-1 (q, k): max(x, 0); rows 2d..3d-1 (v): x; row 3d: 1.
//              The output grid is [2h, 3d+1] with each row's scale from its input channel; row 3d has
//              scale 1.
//   MatMul     acc[b, i, j] = sum_k (A[b, i, k] - zp_A) * (B[b, k, j] - zp_B) on the operand views of
//              graph.hpp; A's scale may vary with (b, i), B's only with b. out.bits == 32: y = acc (scale
//              s_A(b,i) * s_B(b)); otherwise y = sat(zp_y(g) + rq[g](acc)), g = out's group of (b, i).
//   AttnNormalize  input: int32 accumulators o[b, r, n] (r < d dividends, r = d divisor). Per head b
//              (groups: the grid of `numerator`):
//                numerator   m = sat(num_rq[g](o[b, r, n]))                  (numerator.bits, zero point 0)
//                Log2        D = div_rq[g](o[b, d, n]) in fixed point with divisor_frac_bits fractional bits;
//                            e = log2_exponent(D, log2_rounding, 0, 2^divisor_code_bits - 1);
//                            y = sat(zp_y + round(m * out_rq[g].multiplier / 2^(out_rq[g].shift + e)))
//                            (the real divisor is 2^(e - divisor_frac_bits); a zero divisor gives e = 0)
//                Uniform     D = sat_unsigned(div_rq[g](o[b, d, n]), divisor_bits);
//                            y = sat(zp_y + round_half_away(m * out_rq[g].multiplier / (D *
//                            2^out_rq[g].shift))); D = 0 saturates y to the largest code of m's sign (0 when
//                            m = 0)
//              The 1e-15 epsilon of the FP32 model has no integer counterpart.
//   MatMul with a log2 left operand (A's quantizer has log2 set: codes e, value s_A * 2^-e, the top code
//              E = 2^bits - 1 means 0): acc[b, i, j] = sum_{k: e < E} (B[b, k, j] - zp_B) << (E - 1 - e), at
//              scale s_A(b, i) * 2^-(E-1) * s_B(b); then requantized as above (attention weights as shifts).
// Standard-ViT ops (docs/quantization.md has the derivations):
//   PatchTokens, HeadSplit, HeadMerge, TokenSelect: codes moved as graph.hpp says; every output element's
//              (scale, zero point) must equal its source element's (no requantization).
//   ClassToken y[0, c] = const_codes[c] (the token, quantized by out); y[1 + t, c] = sat(zp_y + rq[0](x[t, c]
//   -
//              zp_x)). Per-tensor input and output.
//   PosEmbed   y[t, c] = sat(zp_y(c) + rq[g](x[t, c] - zp_x + const_codes[t*D + c])), g = out's group of (t,
//   c);
//              const_codes: the embedding at the input's scale, int32. Per-tensor input.
//   Add        with PTF quantizers (below) on inputs or output, per channel c of the last axis:
//              y = sat(zp_y + round((m0 * ((a - zp_a) << al_a(c)) + m1 * ((b - zp_b) << al_b(c))) /
//              2^(shift + al_y(c)))), the requantizers' factors relating the base scales.
//   LayerNorm  input: per tensor, or PTF: grid 1xD, one zero point, scale[c] = s * 2^al(c) exactly, al in
//   0..3
//              (FQ-ViT's power-of-two factor). Per row of D values: x_c = (q_c - zp) << al(c) (units of s);
//              S1 = sum x_c, S2 = sum x_c^2, V = D*S2 - S1^2 + ln_eps, r = max(1, isqrt(V)), d_c = D*x_c - S1
//              (so (x_c - mean) / std = d_c / r); y_c = sat(zp_y + round_half_away((d_c * ln_mult[c] +
//              bias[c] * r) / (r * 2^ln_shift))) with ln_mult = round(gamma / s_y * 2^ln_shift), bias =
//              round(beta / s_y * 2^ln_shift). Per-tensor output.
//   Softmax    per row of N: x_n = rq[g](q_n - zp(g)) (fixed point, kSoftmaxFracBits fractional bits; g = the
//              row's group; out's grid must equal the input's), d_n = x_n - max_n x_n <= 0, I-BERT's i-exp:
//              z = floor(-d / ln2_i), p = d + z * ln2_i, E_n = ((p + b_i)^2 + c_i) >> z (int_ops.hpp's
//              constants); S = sum E_n. Output (out.log2): e_n = 2^bits - 1 if E_n = 0, else
//              min(2^bits - 1, log2_exponent(round_half_away(S / E_n), Hardware)): value 2^-e, the top
//              code meaning 0 (FQ-ViT's log-int-softmax). Output (uniform): y_n = zp_y + min(2^bits - 1,
//              round_half_away(E_n * 2^bits / S)) with scale 2^-bits and zp_y = -2^(bits-1).
//   GELU (Conv2d / Linear act GeluTanh / GeluErf) as I-BERT's i-GELU when act_lut is empty: the
//   pre-activation
//              p (16 bits, zero point 0, scale 2^-F) gives h = round(-(sgn(p) L(|p|) + c_i) / 2^k) >= 0 with
//              L(u) = (min(u, -b_i) + b_i)^2 + c_i (int_ops.hpp: gelu_constants(F)); y = sat(zp_y(c) +
//              act_rq[c](p * h)).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/graph.hpp"
#include "quant/requant.hpp"

namespace vitsim::quant {

/// Quantization of one activation tensor (see ACTIVATION CODES above).
struct ActQuant {
  int bits = 8;                      // 2..16, or 32 for raw int32 accumulators
  int64_t groups0 = 1, groups1 = 1;  // grid over axis 0 and axis 1: 1 or that axis's size
  std::vector<float> scale;          // groups0 * groups1 entries, row-major
  std::vector<int32_t> zero_point;   // same size

  /// Group of the element at (i0, i1) of axes 0 and 1.
  size_t group(int64_t i0, int64_t i1) const {
    return static_cast<size_t>((groups0 == 1 ? 0 : i0) * groups1 + (groups1 == 1 ? 0 : i1));
  }
  bool per_tensor() const { return groups0 == 1 && groups1 == 1; }
  // Log2 codes (a Softmax output, FQ-ViT's log-int-softmax): unsigned exponents e in 0..2^bits - 1, value
  // scale * 2^-e, the top code 2^bits - 1 meaning 0; zero points 0, bits 2..8.
  bool log2 = false;
  static ActQuant per_tensor_quant(float scale, int32_t zero_point, int bits);
  /// The same grid, bits, scales and zero points: codes of one mean the same values in the other.
  bool same_as(const ActQuant& o) const {
    return bits == o.bits && groups0 == o.groups0 && groups1 == o.groups1 && log2 == o.log2 &&
           scale == o.scale && zero_point == o.zero_point;
  }
};

enum class DivisorMode { Log2, Uniform };

/// The integer program of one node. Fields unused by the node's op stay empty / default.
struct QNode {
  ActQuant out;

  // Conv2d / Linear: weights as integer codes in the FP32 weight layout, symmetric per output channel.
  int weight_bits = 8;
  std::vector<int32_t> weight;
  std::vector<float> weight_scale;  // per output channel
  std::vector<int32_t> bias;        // per output channel, at scale in_scale * weight_scale[c]
  // Mixed-scheme weights (quant/mixed_scheme.hpp): per output channel, 0 for fixed-point codes or b (2..5)
  // for power-of-two codes of b bits (each 0 or +-2^k, k <= 2^(b-1) - 2); empty: every row fixed point.
  std::vector<int32_t> weight_pot_bits;
  // Conv2d / Linear: per output channel (acc -> output or pre-activation); MatMul: per output group;
  // Add: two entries sharing one shift; GlobalAvgPool: one entry.
  std::vector<Requantizer> requant;

  // Activation stage of Conv2d / Linear with HSwish or GELU.
  ActQuant pre_act;  // per-tensor quantizer of the pre-activation
  int32_t hswish_three = 0, hswish_six = 0;
  std::vector<Requantizer> act_requant;  // HSwish: per output channel, p * t -> output
  std::vector<int32_t> act_lut;          // GELU: 2^pre_act.bits entries, indexed by p - qmin
  std::vector<int32_t> relu6_six;        // ReLU6: per output channel, round(6 / s_y(c)) (codes above zp_y(c))

  // Linear + LayerNorm kept in FP32 by the recipe.
  bool float_layernorm = false;
  float in_scale = 0.0f;                 // the (per-tensor) scale of the input, for float_layernorm
  std::vector<float> ln_gamma, ln_beta;  // float_layernorm: the LayerNorm's FP32 affine, per output feature

  // ClassToken: the token's output codes [D]; PosEmbed: the position embedding at the input's scale, int32,
  // [T*D]. LayerNorm: ln_mult[c] = round(gamma_c / s_y * 2^ln_shift); its beta is `bias` at the same scale;
  // ln_eps = round(eps * D^2 / s^2), the epsilon in the units of V.
  std::vector<int32_t> const_codes;
  std::vector<int32_t> ln_mult;
  int ln_shift = 0;  // 0..40
  int32_t ln_eps = 0;

  // AttnNormalize
  DivisorMode divisor_mode = DivisorMode::Log2;
  Log2Rounding log2_rounding = Log2Rounding::Hardware;
  int divisor_frac_bits = 6;  // Log2: the divisor's fixed-point fraction; codes 0..15 mean 2^-6 .. 2^9
  int divisor_code_bits = 4;  // Log2: width of the exponent code
  int divisor_bits = 8;       // Uniform: unsigned divisor width
  ActQuant numerator;         // grid over heads (groups0 = 1 or 2h), zero point 0
  std::vector<Requantizer> num_requant, div_requant, out_requant;  // per numerator group
};

/// A quantized graph: the FP32 graph it was derived from, one QNode per node, and the recipe.
struct QGraph {
  Graph graph;               // structure + FP32 params (BatchNorm folded, rewrites applied)
  std::vector<QNode> nodes;  // nodes[i] quantizes graph.nodes[i]
  std::string recipe_name;
  std::string recipe_json;  // the full recipe, as read, for provenance
};

/// What a QGraph is used for: a timing simulation needs its structure only; computing values (the integer
/// executor, functional simulation) needs every parameter its integer semantics use.
enum class QGraphUse { Structure, Compute };

/// Checks everything a consumer of a QGraph relies on, so that no reader, executor or engine meets an
/// inconsistency: the graph (Graph::validate(): indices, geometry, params), one QNode per node with every
/// vector empty or of the exact size and every field in range (docs/qgraph-format.md), printable node
/// names; for QGraphUse::Compute also that the fields the node's integer semantics read are set.
/// Throws std::invalid_argument "<json path of the field>: <problem>". Defined in qgraph_io.cpp, beside
/// the file reader that applies the same checks.
void validate(const QGraph& qgraph, QGraphUse use = QGraphUse::Structure);

/// Whether `op` has INTEGER SEMANTICS above (every op of graph.hpp now has).
bool has_integer_semantics(OpKind op);

/// The PTF factors al(c) of a LayerNorm-input quantizer (qgraph.hpp, LayerNorm): one entry per channel of
/// a grid over axis 1, or {0} for a per-tensor quantizer. Empty when `q` is neither: zero points that
/// differ, a grid over axis 0, or a scale that is not the smallest times 2^0..2^3 exactly.
std::vector<int> ptf_alphas(const ActQuant& q);

/// Integer codes of a tensor: shape as the FP32 tensor, values as described above.
struct QTensor {
  Shape shape;
  std::vector<int32_t> data;
};

}  // namespace vitsim::quant

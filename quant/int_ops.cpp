#include "quant/int_ops.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "quant/calibration.hpp"
#include "quant/fp32_executor.hpp"

namespace vitsim::quant::int_ops {

int64_t div_round_half_away(int64_t num, int64_t den) {
  const uint64_t a = num < 0 ? uint64_t{0} - static_cast<uint64_t>(num) : static_cast<uint64_t>(num);
  const uint64_t d = static_cast<uint64_t>(den);
  uint64_t q = a / d;
  const uint64_t r = a % d;
  if (r >= d - r) ++q;  // remainder >= den / 2
  return num < 0 ? -static_cast<int64_t>(q) : static_cast<int64_t>(q);
}

int64_t isqrt(int64_t v) {
  if (v <= 0) return 0;
  auto r = static_cast<int64_t>(std::sqrt(static_cast<double>(v)));  // within 1 of the answer
  while (r > 0 && r * r > v) --r;
  while ((r + 1) * (r + 1) <= v) ++r;
  return r;
}

namespace {

int bit_length(int64_t v) {
  int n = 0;
  while (v > 0) {
    ++n;
    v >>= 1;
  }
  return n;
}

}  // namespace

GridAxes grid_axes(const Shape& shape) {
  GridAxes a;
  a.n0 = shape.empty() ? 1 : shape[0];
  a.n1 = shape.size() >= 2 ? shape[1] : 1;
  const int64_t outer = a.n0 * a.n1;
  a.inner = outer > 0 ? numel(shape) / outer : 0;
  return a;
}

GeluConstants gelu_constants(int frac_bits) {
  const double se = std::ldexp(1.0, -frac_bits) / std::sqrt(2.0);
  GeluConstants k;
  k.b = static_cast<int64_t>(std::floor(-1.769 / se));
  k.c = static_cast<int64_t>(std::floor(1.0 / (-0.2888 * se * se)));
  k.shift = std::max(0, bit_length(-2 * k.c) - 16);
  return k;
}

double gelu_product_scale(int frac_bits) {
  const double se = std::ldexp(1.0, -frac_bits) / std::sqrt(2.0);
  return std::ldexp(1.0, -frac_bits) * 0.2888 * se * se * std::ldexp(1.0, gelu_constants(frac_bits).shift) /
         2;
}

ExpConstants exp_constants() {
  const double f = std::ldexp(1.0, kSoftmaxFracBits);
  return {static_cast<int64_t>(std::floor(std::log(2.0) * f)), static_cast<int64_t>(std::floor(1.353 * f)),
          static_cast<int64_t>(std::floor(0.344 / 0.3585 * f * f))};
}

ActStage activation_stage(Act act, const QNode& qn) {
  ActStage s;
  for (const Requantizer& r : qn.requant) s.rq.emplace_back(r);
  s.out_min = code_min(qn.out.bits);
  s.out_max = code_max(qn.out.bits);
  if (act == Act::ReLU6) s.relu6_six.assign(qn.relu6_six.begin(), qn.relu6_six.end());
  if (act == Act::None || act == Act::ReLU || act == Act::ReLU6) return s;
  s.pre_min = code_min(qn.pre_act.bits);
  s.pre_max = code_max(qn.pre_act.bits);
  s.zp_p = qn.pre_act.zero_point[0];
  if (act == Act::HSwish) {
    for (const Requantizer& r : qn.act_requant) s.act_rq.emplace_back(r);
    s.three = qn.hswish_three;
    s.six = qn.hswish_six;
  } else if (!qn.act_lut.empty()) {
    s.lut = qn.act_lut.data();
  } else {  // i-GELU: the pre-activation's scale is 2^-F
    for (const Requantizer& r : qn.act_requant) s.act_rq.emplace_back(r);
    s.gelu = gelu_constants(-std::ilogb(qn.pre_act.scale[0]));
  }
  return s;
}

int32_t apply_stage(Act act, const ChannelStage& s, int64_t acc, int64_t zp_y) {
  switch (act) {
    case Act::None:
      return apply_stage<Act::None>(s, acc, zp_y);
    case Act::ReLU:
      return apply_stage<Act::ReLU>(s, acc, zp_y);
    case Act::ReLU6:
      return apply_stage<Act::ReLU6>(s, acc, zp_y);
    case Act::HSwish:
      return apply_stage<Act::HSwish>(s, acc, zp_y);
    case Act::GeluTanh:
    case Act::GeluErf:
    case Act::Sigmoid:
    case Act::HSigmoid:
    case Act::SiLU:
      return apply_stage<Act::GeluTanh>(s, acc, zp_y);  // the table lookup (or GELU's polynomial)
  }
  return 0;  // unreachable: every Act is handled above
}

AddStage::AddStage(const QNode& qn, const ActQuant& q0, const ActQuant& q1, Act act)
    : m0(qn.requant[0].multiplier),
      m1(qn.requant[1].multiplier),
      zp0(q0.zero_point[0]),
      zp1(q1.zero_point[0]),
      zp_y(qn.out.zero_point[0]),
      shift(qn.requant[0].shift),
      bits(qn.out.bits),
      relu(act == Act::ReLU),
      al0(ptf_alphas(q0)),
      al1(ptf_alphas(q1)),
      al_y(ptf_alphas(qn.out)) {}

LayerNormStage::LayerNormStage(const QNode& qn, const ActQuant& in)
    : alpha(ptf_alphas(in)),
      mult(qn.ln_mult.begin(), qn.ln_mult.end()),
      bias(qn.bias.begin(), qn.bias.end()),
      zp_x(in.zero_point[0]),
      zp_y(qn.out.zero_point[0]),
      eps(qn.ln_eps),
      out_min(code_min(qn.out.bits)),
      out_max(code_max(qn.out.bits)),
      shift(qn.ln_shift) {}

void LayerNormStage::apply_row(const int32_t* q, int32_t* y, int64_t* x) const {
  const auto n = static_cast<int64_t>(mult.size());
  int64_t s1 = 0, s2 = 0;
  for (int64_t c = 0; c < n; ++c) {
    x[c] = (q[c] - zp_x) * (int64_t{1} << alpha[alpha.size() == 1 ? 0 : static_cast<size_t>(c)]);
    s1 += x[c];
    s2 += x[c] * x[c];
  }
  const int64_t r = std::max<int64_t>(1, isqrt(n * s2 - s1 * s1 + eps));
  for (int64_t c = 0; c < n; ++c) {
    const auto k = static_cast<size_t>(c);
    const int64_t v = div_round_half_away((n * x[c] - s1) * mult[k] + bias[k] * r, r << shift);
    y[c] = static_cast<int32_t>(clamp_code(zp_y + v, out_min, out_max));
  }
}

void softmax_row(int64_t* x, int64_t n, const ActQuant& out, int64_t zp_y, int32_t* y) {
  static const ExpConstants k = exp_constants();
  const int64_t mx = *std::max_element(x, x + n);
  int64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = int_exp(x[i] - mx, k));
  const int64_t top = (int64_t{1} << out.bits) - 1;
  for (int64_t i = 0; i < n; ++i) {
    if (out.log2) {
      y[i] =
          static_cast<int32_t>(x[i] == 0 ? top
                                         : log2_exponent(div_round_half_away(sum, x[i]),
                                                         Log2Rounding::Hardware, 0, static_cast<int>(top)));
    } else {
      y[i] = static_cast<int32_t>(zp_y + std::min(top, div_round_half_away(x[i] << out.bits, sum)));
    }
  }
}

int64_t moved_code_source(const Node& node, const Shape& in, int64_t o) {
  switch (node.op) {
    case OpKind::PatchTokens: {  // [D, H, W] -> [H*W, D]
      const int64_t d = in[0], t = in[1] * in[2];
      return (o % d) * t + o / d;
    }
    case OpKind::HeadSplit: {  // out[head, s*dh + e, tok] = in[tok, s*h*dh + head*dh + e]
      const int64_t t = in[0], h = node.heads, dh = in[1] / (3 * h);
      const int64_t tok = o % t, row = (o / t) % (3 * dh), head = o / (t * 3 * dh);
      return tok * 3 * h * dh + (row / dh) * h * dh + head * dh + row % dh;
    }
    case OpKind::HeadMerge: {  // out[tok, head*dh + e] = in[head, tok, e]
      const int64_t h = in[0], t = in[1], dh = in[2];
      const int64_t tok = o / (h * dh), head = (o % (h * dh)) / dh, e = o % dh;
      return (head * t + tok) * dh + e;
    }
    case OpKind::TokenSelect:
      return node.token_index * in[1] + o;
    default:
      throw std::logic_error(std::string("moved_code_source: op ") + op_name(node.op) + " moves no codes");
  }
}

NormalizeStage::NormalizeStage(const QNode& qn, size_t group)
    : num_rq(qn.num_requant[group]),
      div_rq(qn.div_requant[group]),
      out_rq(qn.out_requant[group]),
      numerator_bits(qn.numerator.bits),
      out_bits(qn.out.bits),
      mode(qn.divisor_mode),
      rounding(qn.log2_rounding),
      max_exponent((1 << qn.divisor_code_bits) - 1),
      divisor_bits(qn.divisor_bits) {}

int32_t NormalizeStage::apply(int32_t dividend, int32_t divisor, int64_t zp_y) const {
  const int64_t m = saturate(num_rq.apply(dividend), numerator_bits, true);
  const int64_t num = m * out_rq.multiplier;
  int64_t y = 0;
  if (mode == DivisorMode::Log2) {
    const int e = log2_exponent(div_rq.apply(divisor), rounding, 0, max_exponent);
    y = zp_y + round_shift(num, out_rq.shift + e);
  } else {
    const int64_t dv = saturate(div_rq.apply(divisor), divisor_bits, false);
    if (dv == 0) {
      y = m > 0 ? code_max(out_bits) : (m < 0 ? code_min(out_bits) : zp_y);  // quotient +-inf, or 0 for 0/0
    } else if (bit_length(dv) + out_rq.shift > 62) {
      y = zp_y;  // |num| < 2^47 < den / 2: the quotient rounds to 0
    } else {
      y = zp_y + div_round_half_away(num, dv << out_rq.shift);
    }
  }
  return saturate(y, out_bits, true);
}

bool quantize_fp32(float v, float scale, int32_t zp, int bits, int32_t& code) {
  if (std::isnan(v)) return false;
  code = quantize_value(v, QuantParams{scale, zp, bits, true});
  return true;
}

int64_t float_layernorm_row(const Node& node, const QNode& qn, int64_t row, const int64_t* acc, float* work,
                            int32_t* out) {
  const int64_t outf = node.out_features;
  for (int64_t c = 0; c < outf; ++c)
    work[c] = static_cast<float>(acc[c]) * qn.in_scale * qn.weight_scale[static_cast<size_t>(c)];
  layer_norm_row(work, work, outf, qn.ln_gamma.data(), qn.ln_beta.data(), node.norm_eps);
  apply_activation(node.act, work, outf);
  const GridAxes a = grid_axes(node.out_shape);
  for (int64_t c = 0; c < outf; ++c) {
    const size_t g = group_of(qn.out, a, row * outf + c);
    if (!quantize_fp32(work[c], qn.out.scale[g], qn.out.zero_point[g], qn.out.bits, out[c])) return c;
  }
  return -1;
}

}  // namespace vitsim::quant::int_ops

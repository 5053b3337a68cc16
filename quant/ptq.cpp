#include "quant/ptq.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>

#include "quant/fp32_executor.hpp"
#include "quant/int_executor.hpp"
#include "quant/int_ops.hpp"
#include "quant/mixed_precision.hpp"
#include "quant/mixed_scheme.hpp"

namespace vitsim::quant {

Graph fold_batchnorm(const Graph& graph) {
  Graph folded = graph;
  for (Node& n : folded.nodes) {
    if (n.op != OpKind::Conv2d || n.norm != Norm::BatchNorm) continue;
    const auto& gamma = n.params.at("bn.gamma").data;
    const auto& beta = n.params.at("bn.beta").data;
    const auto& mean = n.params.at("bn.mean").data;
    const auto& var = n.params.at("bn.var").data;
    Tensor bias({n.out_features});
    if (n.has_bias) bias = n.params.at("bias");
    auto& w = n.params.at("weight").data;
    const size_t per_channel = w.size() / static_cast<size_t>(n.out_features);
    for (size_t c = 0; c < static_cast<size_t>(n.out_features); ++c) {
      const double k = gamma[c] / std::sqrt(static_cast<double>(var[c]) + n.norm_eps);
      for (size_t i = 0; i < per_channel; ++i)
        w[c * per_channel + i] = static_cast<float>(w[c * per_channel + i] * k);
      bias.data[c] = static_cast<float>((bias.data[c] - mean[c]) * k + beta[c]);
    }
    for (const char* key : {"bn.gamma", "bn.beta", "bn.mean", "bn.var"}) n.params.erase(key);
    n.params["bias"] = std::move(bias);
    n.has_bias = true;
    n.norm = Norm::None;
  }
  folded.validate();
  return folded;
}

namespace {

[[noreturn]] void unsupported(const Node& n, const std::string& why) {
  throw std::invalid_argument("cannot quantize node '" + n.name + "' (" + op_name(n.op) + "): " + why);
}

bool is_depthwise(const Node& n) {
  return n.op == OpKind::Conv2d && n.groups > 1 && n.groups == n.in_features && n.groups == n.out_features;
}
bool is_pointwise(const Node& n) {
  return n.op == OpKind::Conv2d && n.kernel == 1 && n.groups == 1;
}
bool has_act_stage(const Node& n) {
  return (n.op == OpKind::Conv2d || n.op == OpKind::Linear) && n.norm != Norm::LayerNorm &&
         (n.act == Act::HSwish || n.act == Act::GeluTanh || n.act == Act::GeluErf ||
          act_is_table_only(n.act));
}

// What each node is, for the recipe: which tensors are attention tensors, which get migrated or shifted.
struct Roles {
  std::vector<std::vector<int>> consumers;
  std::vector<bool> attention;     // an attention tensor (attention.bits)
  std::vector<bool> branch_input;  // qkv / aggregation output feeding an attention concat (symmetric)
  std::vector<int> branch_concat;  // for a branch input: its concat; else -1
  std::vector<bool> raw_matmul;    // a MatMul whose int32 result goes to AttnNormalize
  std::vector<bool> migrate;       // output feeds an MBConv depthwise conv: channel-wise migration
  std::vector<bool> shift;         // output of a depthwise conv feeding a projection: filter-wise shift
  std::vector<bool> ptf;           // [T, D] output feeding a LayerNorm: PTF quantizer (recipe vit.ptf)
  std::vector<bool> qkv;           // Linear feeding a HeadSplit: q, k, v parts quantized apart, symmetric
};

Roles analyse(const Graph& g, const Recipe& recipe) {
  const size_t n = g.nodes.size();
  Roles r;
  r.consumers.resize(n);
  r.attention.assign(n, false);
  r.branch_input.assign(n, false);
  r.branch_concat.assign(n, -1);
  r.raw_matmul.assign(n, false);
  r.migrate.assign(n, false);
  r.shift.assign(n, false);
  r.ptf.assign(n, false);
  r.qkv.assign(n, false);
  for (size_t i = 0; i < n; ++i)
    for (int in : g.nodes[i].inputs) r.consumers[static_cast<size_t>(in)].push_back(static_cast<int>(i));
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    for (int c : r.consumers[i]) {
      const OpKind next = g.nodes[static_cast<size_t>(c)].op;
      if (next == OpKind::LayerNorm && recipe.vit.ptf && node.out_shape.size() == 2 &&
          (node.op == OpKind::Add || node.op == OpKind::PosEmbed))
        r.ptf[i] = true;
      if (next == OpKind::HeadSplit && node.op == OpKind::Linear) r.qkv[i] = true;
      if (next == OpKind::Softmax && node.op == OpKind::MatMul) r.raw_matmul[i] = true;
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.op == OpKind::Linear && node.norm == Norm::LayerNorm && !recipe.float_layernorm)
      unsupported(node, "LayerNorm needs float_layernorm");
    if (node.op != OpKind::AttnKernel) continue;
    // LiteMLA: concat(qkv, aggregated) -> kernel -> v'k^T -> (v'k^T) q -> normalize
    const int cat = node.inputs[0];
    const Node& c = g.nodes[static_cast<size_t>(cat)];
    if (c.op != OpKind::Concat) unsupported(node, "its input must be the concat of the two branches");
    r.attention[static_cast<size_t>(cat)] = r.attention[i] = true;
    for (int b : c.inputs) {
      r.branch_input[static_cast<size_t>(b)] = r.attention[static_cast<size_t>(b)] = true;
      r.branch_concat[static_cast<size_t>(b)] = cat;
      const Node& bn = g.nodes[static_cast<size_t>(b)];
      if (bn.op == OpKind::Conv2d && bn.groups > 1 &&
          is_depthwise(g.nodes[static_cast<size_t>(bn.inputs[0])]))
        r.attention[static_cast<size_t>(bn.inputs[0])] = true;  // the 5x5 aggregation
    }
    for (int m : r.consumers[i]) {
      r.attention[static_cast<size_t>(m)] = true;
      for (int m2 : r.consumers[static_cast<size_t>(m)]) {
        r.attention[static_cast<size_t>(m2)] = true;
        if (g.nodes[static_cast<size_t>(m2)].op == OpKind::AttnNormalize)
          r.raw_matmul[static_cast<size_t>(m)] = true;
        for (int m3 : r.consumers[static_cast<size_t>(m2)])
          if (g.nodes[static_cast<size_t>(m3)].op == OpKind::AttnNormalize) {
            r.attention[static_cast<size_t>(m3)] = true;
            r.raw_matmul[static_cast<size_t>(m2)] = true;
          }
      }
    }
  }
  // Migration and filter-wise shifting give a layer per-channel output quantizers, which a table activation
  // (one table from pre-activation codes to output codes) cannot produce: such layers keep theirs per tensor.
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (r.consumers[i].size() != 1 || r.attention[i] || act_is_table_only(node.act)) continue;
    const Node& next = g.nodes[static_cast<size_t>(r.consumers[i][0])];
    if (recipe.migration.enabled && node.op == OpKind::Conv2d && is_depthwise(next) &&
        !r.attention[static_cast<size_t>(r.consumers[i][0])])
      r.migrate[i] = true;
    if (recipe.filter_shift && is_depthwise(node) && is_pointwise(next)) r.shift[i] = true;
  }
  return r;
}

// Per-channel statistics of a [C, ...] tensor over the calibration batch (first pass).
struct ChannelStats {
  std::vector<float> lo, hi, absmax;
  Observer abs_values;  // |x| of every element, for the migration's quantile
  void observe(const Tensor& t, bool keep_abs) {
    const int64_t c = t.shape[0], plane = t.size() / c;
    if (lo.empty()) {
      lo.assign(static_cast<size_t>(c), INFINITY);
      hi.assign(static_cast<size_t>(c), -INFINITY);
      absmax.assign(static_cast<size_t>(c), 0.0f);
    }
    std::vector<float> abs_data;
    if (keep_abs) abs_data.resize(t.data.size());
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < plane; ++p) {
        const float v = t.data[static_cast<size_t>(ch * plane + p)];
        const size_t k = static_cast<size_t>(ch);
        lo[k] = std::min(lo[k], v);
        hi[k] = std::max(hi[k], v);
        absmax[k] = std::max(absmax[k], std::abs(v));
        if (keep_abs) abs_data[static_cast<size_t>(ch * plane + p)] = std::abs(v);
      }
    if (keep_abs) abs_values.observe(abs_data);
  }
};

double quantile_of(std::vector<float> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

// s_c = clip(max_c|X| / max(q(|X|), mean_c max_c|X|), lo, hi), optionally rounded to a power of two.
std::vector<float> migration_factors(const ChannelStats& st, const MigrationRecipe& m) {
  double mean = 0;
  for (float a : st.absmax) mean += a;
  mean /= static_cast<double>(st.absmax.size());
  const double reference = std::max(quantile_of(st.abs_values.samples(), m.quantile), mean);
  std::vector<float> s(st.absmax.size(), 1.0f);
  if (!(reference > 0)) return s;
  for (size_t c = 0; c < s.size(); ++c) {
    double f = std::clamp(st.absmax[c] / reference, m.min_factor, m.max_factor);
    if (m.power_of_two) f = std::exp2(std::round(std::log2(f)));
    s[c] = static_cast<float>(f);
  }
  return s;
}

// Power-of-two scales (recipe "scales": "power-of-two"). Plain rounding takes e = round(log2 s); adaptive
// rounding tries e = floor(log2 s) + d, d in kPotOffsets, and keeps the least error (ties keep plain
// rounding, then the smaller e).
constexpr int kPotOffsets[] = {-1, 0, 1, 2};

int nearest_exponent(double s) {
  return static_cast<int>(std::lround(std::log2(s)));
}
int floor_exponent(double s) {
  int e = 0;
  std::frexp(s, &e);  // s = m 2^e, m in [0.5, 1)
  return e - 1;
}

// The exponents adaptive rounding tries for scale s, plain rounding's first.
std::vector<int> pot_candidates(double s) {
  std::vector<int> c{nearest_exponent(s)};
  for (int d : kPotOffsets)
    if (floor_exponent(s) + d != c[0]) c.push_back(floor_exponent(s) + d);
  return c;
}

// The candidate of least error(e); the first one on ties.
template <typename ErrorFn>
int least_error_exponent(const std::vector<int>& candidates, ErrorFn error) {
  int best = candidates[0];
  double best_err = INFINITY;
  for (int e : candidates) {
    const double err = error(e);
    if (err < best_err) {
      best_err = err;
      best = e;
    }
  }
  return best;
}

// Sum of squared errors of fake-quantizing every retained sample of `obs` with `qp`.
double quantization_error(const Observer& obs, const QuantParams& qp) {
  double err = 0;
  for (float x : obs.samples()) {
    const double d = x - dequantize_value(quantize_value(x, qp), qp);
    err += d * d;
  }
  return err;
}

// Signed codes for a calibrated range: symmetric (zero point 0) or asymmetric (any zero point). With
// power-of-two scales the calibrator's scale s becomes 2^e (the zero point follows from the range); the
// adaptive e is the one whose quantizer loses least on the calibration values this tensor took.
ActQuant act_quant(const Observer& obs, const Recipe& recipe, int bits, bool symmetric) {
  if (obs.empty()) throw std::invalid_argument("a quantizer saw no values during calibration");
  const Range range = compute_range(obs, recipe.calibrator, bits, symmetric);
  QuantParams qp = choose_qparams(range, bits, symmetric);
  if (recipe.scales == ScaleKind::PowerOfTwo) {
    const auto with_exponent = [&](int e) {
      return qparams_with_scale(range, bits, symmetric, std::ldexp(1.0f, e));
    };
    const std::vector<int> candidates = pot_candidates(qp.scale);
    qp = with_exponent(recipe.pot_rounding == PotRounding::Nearest
                           ? candidates[0]
                           : least_error_exponent(candidates, [&](int e) {
                               return quantization_error(obs, with_exponent(e));
                             }));
  }
  const int32_t offset = qp.is_signed ? 0 : (int32_t{1} << (bits - 1));  // unsigned codes -> signed codes
  return ActQuant::per_tensor_quant(qp.scale, qp.zero_point - offset, bits);
}

// FQ-ViT's power-of-two factor: the layer's quantizer (scale s_L, zero point zp) gives the base scale
// s = s_L / 8; channel c gets s * 2^alpha with the alpha in 0..3 of least squared error on its samples.
ActQuant ptf_quant(const ActQuant& layer, const std::vector<Observer>& channels) {
  ActQuant q;
  q.bits = layer.bits;
  q.groups1 = static_cast<int64_t>(channels.size());
  const float base = layer.scale[0] / 8.0f;
  const int32_t zp = layer.zero_point[0];
  const double lo = -std::ldexp(1.0, layer.bits - 1), hi = std::ldexp(1.0, layer.bits - 1) - 1;
  for (const Observer& obs : channels) {
    int best = 3;
    double best_err = INFINITY;
    for (int alpha = 0; alpha <= 3; ++alpha) {
      const double sc = std::ldexp(static_cast<double>(base), alpha);
      double err = 0;
      for (float x : obs.samples()) {
        const double code = std::clamp(std::nearbyint(x / sc) + zp, lo, hi);
        err += (x - sc * (code - zp)) * (x - sc * (code - zp));
      }
      if (err < best_err) {
        best_err = err;
        best = alpha;
      }
    }
    q.scale.push_back(std::ldexp(base, best));
    q.zero_point.push_back(zp);
  }
  return q;
}

// One quantizer for a tensor whose groups all agree, else none (the op needs it per tensor).
ActQuant uniform_quant(const Node& n, const ActQuant& a) {
  for (size_t g = 1; g < a.scale.size(); ++g)
    if (a.scale[g] != a.scale[0] || a.zero_point[g] != a.zero_point[0])
      unsupported(n, "its input's quantizer varies over the tensor");
  return ActQuant::per_tensor_quant(a.scale[0], a.zero_point[0], a.bits);
}

ActQuant grid_quant(int64_t g0, int64_t g1, int bits) {
  ActQuant q;
  q.bits = bits;
  q.groups0 = g0;
  q.groups1 = g1;
  q.scale.assign(static_cast<size_t>(g0 * g1), 1.0f);
  q.zero_point.assign(static_cast<size_t>(g0 * g1), 0);
  return q;
}

// Every channel's (scale, zero point) of a [C, ...] tensor's quantizer.
std::pair<float, int32_t> channel_quant(const ActQuant& q, int64_t c) {
  const size_t g = q.group(c, 0);
  return {q.scale[g], q.zero_point[g]};
}

// Samples each PTF channel keeps for the alpha search (a uniform reservoir above this).
constexpr size_t kPtfSamples = 2048;

// Calibration images whose layer inputs score the adaptive PoT rounding of weights (the first ones).
constexpr size_t kWeightRoundingImages = 8;

int32_t round_to_int32(double v) {
  return static_cast<int32_t>(std::nearbyint(v));
}

// Symmetric weights: the code of w at `scale`, in [-2^(bits-1), 2^(bits-1) - 1].
int32_t weight_code(float w, float scale, int bits) {
  const int32_t qmax = (int32_t{1} << (bits - 1)) - 1;
  return std::clamp(round_to_int32(w / scale), -qmax - 1, qmax);
}

// Per output channel: max|w| / (2^(bits-1) - 1), or 1 for an all-zero channel.
std::vector<float> weight_scales_float(const Node& n, int bits) {
  const auto& w = n.params.at("weight").data;
  const size_t channels = static_cast<size_t>(n.out_features), per = w.size() / channels;
  const float qmax = static_cast<float>((int32_t{1} << (bits - 1)) - 1);
  std::vector<float> scales(channels);
  for (size_t c = 0; c < channels; ++c) {
    float amax = 0;
    for (size_t i = 0; i < per; ++i) amax = std::max(amax, std::abs(w[c * per + i]));
    scales[c] = amax > 0 ? amax / qmax : 1.0f;
  }
  return scales;
}

// Symmetric per-output-channel weight quantization at the given scales; returns codes and scales.
void quantize_weights(const Node& n, int bits, const std::vector<float>& scales, QNode& q) {
  const auto& w = n.params.at("weight").data;
  const size_t per = w.size() / scales.size();
  q.weight_bits = bits;
  q.weight.resize(w.size());
  q.weight_scale = scales;
  for (size_t c = 0; c < scales.size(); ++c)
    for (size_t i = 0; i < per; ++i) q.weight[c * per + i] = weight_code(w[c * per + i], scales[c], bits);
}

// Two requantizers with one shared shift, for an Add: y = (ma * a + mb * b) / 2^shift.
std::vector<Requantizer> shared_shift_pair(double fa, double fb) {
  int ea = 0, eb = 0;
  std::frexp(fa, &ea);
  std::frexp(fb, &eb);
  const int shift = std::clamp(31 - std::max(ea, eb), 0, 62);
  auto mult = [&](double f) {
    return static_cast<int32_t>(std::max<int64_t>(1, std::llround(std::ldexp(f, shift))));
  };
  const Requantizer a{mult(fa), shift}, b{mult(fb), shift};
  // Lowest terms for the pair: only the shift bits both multipliers can give up (power-of-two factors
  // come out as shifts: the smaller multiplier 1, the other 2^k).
  const int drop = std::min(shift - lowest_terms(a).shift, shift - lowest_terms(b).shift);
  return {{a.multiplier >> drop, shift - drop}, {b.multiplier >> drop, shift - drop}};
}

// The observers of the second calibration pass.
struct Observers {
  std::vector<std::unique_ptr<Observer>> out, pre;  // per node
  std::vector<std::map<int, Observer>> groups;      // per node: grouped (attention) observers
  std::vector<std::map<int, Observer>> divisors;    // AttnNormalize: per branch
  std::vector<std::vector<Observer>> channels;      // PTF outputs: per channel of the last axis
  Observer& out_of(size_t i) {
    if (!out[i]) out[i] = std::make_unique<Observer>();
    return *out[i];
  }
  Observer& pre_of(size_t i) {
    if (!pre[i]) pre[i] = std::make_unique<Observer>();
    return *pre[i];
  }
};

class Quantizer {
 public:
  Quantizer(const Graph& fp32, const Recipe& recipe, const std::vector<Tensor>& calib,
            const ProgressFn& progress)
      : g_(fold_batchnorm(fp32)),
        recipe_(recipe),
        calib_(calib),
        progress_(progress),
        roles_(analyse(g_, recipe)),
        weight_bits_(g_.nodes.size(), recipe.weight_bits) {}

  // The calibration passes: smoothing, channel statistics, observers (and the weight rounding's errors).
  void calibrate() {
    if (recipe_.smoothing.enabled) smooth_layer_norm_outputs();
    collect_channel_stats();
    observe();
  }

  // The integer program with every weighted layer's weights at `weight_bits` (a width the recipe
  // calibrated: weight_bits, or mixed_precision.high_bits).
  QGraph build_graph(int weight_bits) {
    std::fill(weight_bits_.begin(), weight_bits_.end(), weight_bits);
    QGraph qg;
    qg.recipe_name = recipe_.name;
    qg.recipe_json = recipe_.source_json;
    qg.nodes.resize(g_.nodes.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) build(i, qg.nodes);
    qg.graph = g_;
    return qg;
  }

  // Mixed precision's sensitivity proxy of weighted node i (docs/quantization.md): the increase of the
  // layer's relative output error, sum (X (W - W_hat))^2 / sum (X W)^2 on the weight search's images,
  // from high-width to low-width weights, each width at the exponents the recipe chose.
  double sensitivity(size_t i) {
    const auto error = [&](int bits) {
      const WeightRounding& wr = weight_rounding_.at(bits).at(i);
      const std::vector<float> scales = weight_scales(i, bits);
      double sum = 0;
      for (size_t c = 0; c < scales.size(); ++c) {
        int e = 0;
        std::frexp(scales[c], &e);  // 2^(e-1)
        sum += wr.error[static_cast<size_t>(e - 1 - wr.floor_exp[c] - kPotOffsets[0])][c];
      }
      return sum;
    };
    const double signal = layer_signal_.at(i);
    return signal > 0 ? (error(recipe_.weight_bits) - error(recipe_.mixed.high_bits)) / signal : 0.0;
  }

 private:
  // Adaptive PoT rounding of weights, per weighted node: floor(log2 s_c) and, per offset of
  // kPotOffsets, each output channel's summed squared output error.
  struct WeightRounding {
    std::vector<int> floor_exp;
    std::array<std::vector<double>, std::size(kPotOffsets)> error;
  };

  int branch_of_head(int64_t b, int64_t heads2) const {
    return recipe_.attention.per_branch && b >= heads2 / 2 ? 1 : 0;
  }
  int row_kind(int64_t r, int64_t d) const { return recipe_.attention.separate_ksum && r == d ? 1 : 0; }
  int bits_of(size_t i) const {
    return roles_.attention[i] ? recipe_.attention.bits : recipe_.activation_bits;
  }

  void report(const std::string& stage, int done) const {
    if (progress_) progress_(stage, done, static_cast<int>(calib_.size()));
  }

  // P²-ViT's power-of-two SmoothQuant: a LayerNorm whose every consumer is a Linear gets its output
  // channel j divided by s_j = 2^round(log2(max|X_j|^a / max|W_j|^(1-a))) (max|X_j| over the calibration
  // images, max|W_j| over the consumers' input column j), folded into gamma_j and beta_j; the consumers'
  // column j is multiplied by s_j. Powers of two scale FP32 values exactly: the graph computes the same
  // function, bit for bit, and the stored graph (the quality reference) is the smoothed one.
  void smooth_layer_norm_outputs() {
    std::vector<size_t> targets;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (g_.nodes[i].op == OpKind::LayerNorm && !roles_.consumers[i].empty() &&
          std::all_of(roles_.consumers[i].begin(), roles_.consumers[i].end(),
                      [&](int c) { return g_.nodes[static_cast<size_t>(c)].op == OpKind::Linear; }))
        targets.push_back(i);
    if (targets.empty()) return;
    std::vector<std::vector<float>> amax(g_.nodes.size());
    for (size_t k = 0; k < calib_.size(); ++k) {
      const auto outs = run_fp32_all(g_, calib_[k]);
      for (size_t i : targets) {
        const size_t width = static_cast<size_t>(g_.nodes[i].out_shape.back());
        amax[i].resize(width, 0.0f);
        for (size_t e = 0; e < outs[i].data.size(); ++e)
          amax[i][e % width] = std::max(amax[i][e % width], std::abs(outs[i].data[e]));
      }
      report("smoothing statistics", static_cast<int>(k + 1));
    }
    const double a = recipe_.smoothing.alpha;
    for (size_t i : targets) {
      const size_t width = amax[i].size();
      std::vector<float> wmax(width, 0.0f);
      for (int c : roles_.consumers[i]) {
        const auto& w = g_.nodes[static_cast<size_t>(c)].params.at("weight").data;  // [out, width]
        for (size_t e = 0; e < w.size(); ++e) wmax[e % width] = std::max(wmax[e % width], std::abs(w[e]));
      }
      std::vector<float> factor(width, 1.0f);
      for (size_t j = 0; j < width; ++j)
        if (amax[i][j] > 0 && wmax[j] > 0)
          factor[j] = std::exp2f(
              static_cast<float>(std::round(a * std::log2(amax[i][j]) - (1 - a) * std::log2(wmax[j]))));
      Node& ln = g_.nodes[i];
      for (size_t j = 0; j < width; ++j) {
        ln.params.at("ln.gamma").data[j] /= factor[j];
        ln.params.at("ln.beta").data[j] /= factor[j];
      }
      for (int c : roles_.consumers[i]) {
        auto& w = g_.nodes[static_cast<size_t>(c)].params.at("weight").data;
        for (size_t e = 0; e < w.size(); ++e) w[e] *= factor[e % width];
      }
    }
  }

  void collect_channel_stats() {
    std::vector<size_t> targets;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (roles_.migrate[i] || roles_.shift[i]) targets.push_back(i);
    if (targets.empty()) return;
    stats_.resize(g_.nodes.size());
    for (size_t k = 0; k < calib_.size(); ++k) {
      const auto outs = run_fp32_all(g_, calib_[k]);
      for (size_t i : targets) stats_[i].observe(outs[i], roles_.migrate[i]);
      report("channel statistics", static_cast<int>(k + 1));
    }
    factors_.resize(g_.nodes.size());
    for (size_t i : targets)
      if (roles_.migrate[i]) factors_[i] = migration_factors(stats_[i], recipe_.migration);
  }

  // The value an output's quantizer sees: X / s_c (migration), A - c_c (filter-wise shift), else X.
  Tensor transformed(size_t i, const Tensor& t) const {
    if (!roles_.migrate[i] && !roles_.shift[i]) return t;
    Tensor out = t;
    const int64_t c = t.shape[0], plane = t.size() / c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const size_t k = static_cast<size_t>(ch);
      for (int64_t p = 0; p < plane; ++p) {
        float& v = out.data[static_cast<size_t>(ch * plane + p)];
        v = roles_.migrate[i] ? v / factors_[i][k] : v - 0.5f * (stats_[i].lo[k] + stats_[i].hi[k]);
      }
    }
    return out;
  }

  void observe() {
    const size_t n = g_.nodes.size();
    obs_.out.resize(n);
    obs_.pre.resize(n);
    obs_.groups.resize(n);
    obs_.divisors.resize(n);
    obs_.channels.resize(n);
    for (size_t i = 0; i < n; ++i)
      if (roles_.ptf[i])
        obs_.channels[i].assign(static_cast<size_t>(g_.nodes[i].out_shape[1]), Observer(kPtfSamples));
    const bool adaptive_weights = recipe_.scales == ScaleKind::PowerOfTwo &&
                                  (recipe_.pot_rounding == PotRounding::Adaptive || recipe_.mixed.enabled);
    if (adaptive_weights) {
      for (int bits : weight_widths()) weight_rounding_[bits].resize(n);
      layer_signal_.assign(n, 0.0);
    }
    for (size_t k = 0; k < calib_.size(); ++k) {
      const auto outs = run_fp32_all(g_, calib_[k]);
      for (size_t i = 0; i < n; ++i) {
        observe_node(i, outs);
        if (adaptive_weights && k < kWeightRoundingImages && has_weights(g_.nodes[i]))
          observe_weight_rounding(i, outs);
      }
      report("calibration", static_cast<int>(k + 1));
    }
  }

  static bool has_weights(const Node& n) { return n.op == OpKind::Conv2d || n.op == OpKind::Linear; }

  // The weight widths the recipe calibrates: weight_bits, and mixed precision's high_bits.
  std::vector<int> weight_widths() const {
    if (!recipe_.mixed.enabled) return {recipe_.weight_bits};
    return {recipe_.weight_bits, recipe_.mixed.high_bits};
  }

  // Adaptive PoT rounding of node i's weights: for every width and candidate offset d, the weight error
  // W - 2^(floor(log2 s_c) + d) * codes run as a bias-free layer on this image's FP32 input gives the
  // error of every output (before norm and activation); its squares are summed per output channel. With
  // mixed precision also the layer's signal, the squares of the bias-free layer's own output.
  void observe_weight_rounding(size_t i, const std::vector<Tensor>& outs) {
    const Node& node = g_.nodes[i];
    Node diff = node;
    diff.has_bias = false;
    diff.params.erase("bias");
    diff.norm = Norm::None;
    diff.act = Act::None;
    const std::vector<const Tensor*> ins{&outs[static_cast<size_t>(node.inputs[0])]};
    if (recipe_.mixed.enabled)
      for (float v : eval_node_fp32(diff, ins).data) layer_signal_[i] += static_cast<double>(v) * v;
    for (int bits : weight_widths()) observe_weight_error(node, bits, ins, diff, weight_rounding_[bits][i]);
  }

  static void observe_weight_error(const Node& node, int bits, const std::vector<const Tensor*>& ins,
                                   Node& diff, WeightRounding& wr) {
    const std::vector<float> scales = weight_scales_float(node, bits);
    const size_t channels = scales.size();
    if (wr.floor_exp.empty()) {
      for (float sc : scales) wr.floor_exp.push_back(floor_exponent(sc));
      for (auto& e : wr.error) e.assign(channels, 0.0);
    }
    const auto& w = node.params.at("weight").data;
    auto& dw = diff.params.at("weight").data;
    const size_t per = w.size() / channels;
    for (size_t d = 0; d < std::size(kPotOffsets); ++d) {
      for (size_t c = 0; c < channels; ++c) {
        const float sc = std::ldexp(1.0f, wr.floor_exp[c] + kPotOffsets[d]);
        for (size_t k = c * per; k < (c + 1) * per; ++k)
          dw[k] = w[k] - sc * static_cast<float>(weight_code(w[k], sc, bits));
      }
      const Tensor err = eval_node_fp32(diff, ins);
      // Output channel of element k: axis 0 of a conv's [C, H, W], the last axis of a Linear's [..., C].
      const size_t plane = err.data.size() / channels;
      for (size_t k = 0; k < err.data.size(); ++k) {
        const size_t c = node.op == OpKind::Linear ? k % channels : k / plane;
        wr.error[d][c] += static_cast<double>(err.data[k]) * err.data[k];
      }
    }
  }

  // Per output channel at `bits`: the weight scale max|w| / qmax, or with power-of-two scales 2^e, e by
  // plain or adaptive rounding (each channel's own output error; an all-zero channel keeps scale 1).
  std::vector<float> weight_scales(size_t i, int bits) const {
    std::vector<float> scales = weight_scales_float(g_.nodes[i], bits);
    if (recipe_.scales != ScaleKind::PowerOfTwo) return scales;
    const bool adaptive = recipe_.pot_rounding == PotRounding::Adaptive;
    for (size_t c = 0; c < scales.size(); ++c) {
      const std::vector<int> candidates = pot_candidates(scales[c]);
      const int e = !adaptive ? candidates[0] : least_error_exponent(candidates, [&](int x) {
        const WeightRounding& wr = weight_rounding_.at(bits).at(i);
        return wr.error[static_cast<size_t>(x - wr.floor_exp[c] - kPotOffsets[0])][c];
      });
      scales[c] = std::ldexp(1.0f, e);
    }
    return scales;
  }

  void observe_node(size_t i, const std::vector<Tensor>& outs) {
    const Node& node = g_.nodes[i];
    if (has_act_stage(node)) {
      Node linear_part = node;
      linear_part.act = Act::None;
      std::vector<const Tensor*> ins;
      for (int in : node.inputs) ins.push_back(&outs[static_cast<size_t>(in)]);
      obs_.pre_of(i).observe(eval_node_fp32(linear_part, ins));
    }
    switch (node.op) {
      case OpKind::AttnKernel:
      case OpKind::Softmax:  // fixed output quantizers
      case OpKind::PatchTokens:
      case OpKind::HeadSplit:
      case OpKind::HeadMerge:
      case OpKind::TokenSelect:
      case OpKind::MaxPool:
        return;  // codes pass through
      case OpKind::Concat:
        // One quantizer for both branches (not per branch): the concat's range covers both.
        if (roles_.attention[i] && !recipe_.attention.per_branch) obs_.out_of(i).observe(outs[i]);
        return;
      case OpKind::MatMul: {
        if (roles_.raw_matmul[i]) return;
        if (from_softmax(node)) return obs_.out_of(i).observe(outs[i]);
        const Tensor& t = outs[i];  // [2h, d+1, d]: K^T V rows and the sum-K row
        const int64_t heads2 = t.shape[0], rows = t.shape[1], cols = t.shape[2];
        std::map<int, std::vector<float>> values;
        for (int64_t b = 0; b < heads2; ++b)
          for (int64_t r = 0; r < rows; ++r) {
            auto& dst = values[branch_of_head(b, heads2) * 2 + row_kind(r, rows - 1)];
            const float* src = t.data.data() + (b * rows + r) * cols;
            dst.insert(dst.end(), src, src + cols);
          }
        for (auto& [key, v] : values) obs_.groups[i][key].observe(v);
        return;
      }
      case OpKind::AttnNormalize: {
        const Tensor& in = outs[static_cast<size_t>(node.inputs[0])];  // [2h, d+1, N]
        const int64_t heads2 = in.shape[0], rows = in.shape[1], cols = in.shape[2];
        std::map<int, std::vector<float>> numer, denom;
        for (int64_t b = 0; b < heads2; ++b) {
          const int key = branch_of_head(b, heads2);
          const float* head = in.data.data() + b * rows * cols;
          numer[key].insert(numer[key].end(), head, head + (rows - 1) * cols);
          denom[key].insert(denom[key].end(), head + (rows - 1) * cols, head + rows * cols);
        }
        for (auto& [key, v] : numer) obs_.groups[i][key].observe(v);
        for (auto& [key, v] : denom) obs_.divisors[i][key].observe(v);
        obs_.out_of(i).observe(outs[i]);
        return;
      }
      default:
        if (roles_.branch_input[i] && !recipe_.attention.per_branch) return;  // uses the concat's quantizer
        obs_.out_of(i).observe(transformed(i, outs[i]));
        if (roles_.qkv[i]) observe_parts(i, outs[i]);
        if (roles_.ptf[i]) observe_channels(i, outs[i]);
    }
  }

  bool from_softmax(const Node& node) const {
    return g_.nodes[static_cast<size_t>(node.inputs[0])].op == OpKind::Softmax;
  }

  // q, k and v: columns [s*D, (s+1)*D) of the [T, 3D] qkv output.
  void observe_parts(size_t i, const Tensor& t) {
    const int64_t rows = t.shape[0], width = t.shape[1], part = width / 3;
    std::vector<float> values(static_cast<size_t>(rows * part));
    for (int s = 0; s < 3; ++s) {
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(t.data.data() + r * width + s * part, part, values.data() + r * part);
      obs_.groups[i][s].observe(values);
    }
  }

  void observe_channels(size_t i, const Tensor& t) {
    const int64_t rows = t.shape[0], width = t.shape[1];
    std::vector<float> column(static_cast<size_t>(rows));
    for (int64_t c = 0; c < width; ++c) {
      for (int64_t r = 0; r < rows; ++r)
        column[static_cast<size_t>(r)] = t.data[static_cast<size_t>(r * width + c)];
      obs_.channels[i][static_cast<size_t>(c)].observe(column);
    }
  }

  const Observer& out_observer(size_t i) const {
    if (!obs_.out[i]) unsupported(g_.nodes[i], "its output was never observed during calibration");
    return *obs_.out[i];
  }

  // The output quantizer of a Conv2d / Linear / Add / GAP / Input / ClassToken / PosEmbed / LayerNorm node.
  ActQuant output_quant(size_t i) const {
    const Node& node = g_.nodes[i];
    const int bits = bits_of(i);
    if (roles_.ptf[i]) return ptf_quant(act_quant(out_observer(i), recipe_, bits, false), obs_.channels[i]);
    if (roles_.qkv[i]) {  // symmetric (the attention matmuls take zero point 0), one scale per part
      ActQuant q = grid_quant(1, node.out_features, bits);
      for (int s = 0; s < 3; ++s) {
        const float scale = act_quant(obs_.groups[i].at(s), recipe_, bits, true).scale[0];
        std::fill_n(q.scale.begin() + s * node.out_features / 3, node.out_features / 3, scale);
      }
      return q;
    }
    if (roles_.branch_input[i]) {
      const size_t src = recipe_.attention.per_branch ? i : static_cast<size_t>(roles_.branch_concat[i]);
      return act_quant(out_observer(src), recipe_, bits, true);
    }
    if (roles_.shift[i]) {
      // Symmetric codes of A - c_c: zero point -round(c_c / s) per channel (the shift subtractor's input).
      const ActQuant base = act_quant(out_observer(i), recipe_, bits, true);
      ActQuant q = grid_quant(node.out_features, 1, bits);
      for (size_t c = 0; c < q.scale.size(); ++c) {
        q.scale[c] = base.scale[0];
        q.zero_point[c] = -round_to_int32(0.5 * (stats_[i].lo[c] + stats_[i].hi[c]) / base.scale[0]);
      }
      return q;
    }
    const ActQuant base = act_quant(out_observer(i), recipe_, bits, false);
    if (!roles_.migrate[i]) return base;
    // X' = X / s_c is quantized per tensor: X itself has scale delta * s_c on channel c.
    ActQuant q = grid_quant(node.out_features, 1, bits);
    for (size_t c = 0; c < q.scale.size(); ++c) {
      q.scale[c] = base.scale[0] * factors_[i][c];
      q.zero_point[c] = base.zero_point[0];
    }
    return q;
  }

  void build(size_t i, std::vector<QNode>& qn) {
    const Node& node = g_.nodes[i];
    QNode& q = qn[i];
    auto in_quant = [&](size_t k) -> const ActQuant& { return qn[static_cast<size_t>(node.inputs[k])].out; };
    switch (node.op) {
      case OpKind::Input:
        q.out = act_quant(out_observer(i), recipe_, recipe_.activation_bits, false);
        return;
      case OpKind::Conv2d:
      case OpKind::Linear:
        return build_weighted(i, in_quant(0), q);
      case OpKind::Add: {
        const ActQuant &a = in_quant(0), &b = in_quant(1);
        if (ptf_alphas(a).empty() || ptf_alphas(b).empty())
          unsupported(node, "residual adds need per-tensor or PTF inputs");
        q.out = output_quant(i);
        const auto base = [](const ActQuant& x) {  // the scale of factor 2^0
          return static_cast<double>(*std::min_element(x.scale.begin(), x.scale.end()));
        };
        q.requant = shared_shift_pair(base(a) / base(q.out), base(b) / base(q.out));
        return;
      }
      case OpKind::PatchTokens:
      case OpKind::HeadMerge:
      case OpKind::TokenSelect:
        q.out = uniform_quant(node, in_quant(0));
        return;
      case OpKind::HeadSplit:
        return build_head_split(i, in_quant(0), q);
      case OpKind::MaxPool:  // the max of codes is the code of the max: the input's quantizer
        if (in_quant(0).groups1 != 1)
          unsupported(node, "max pooling needs a per-tensor or per-channel input");
        q.out = in_quant(0);
        return;
      case OpKind::ClassToken:
      case OpKind::PosEmbed:
        return build_token_constant(i, uniform_quant(node, in_quant(0)), q);
      case OpKind::LayerNorm:
        return build_layer_norm(i, in_quant(0), q);
      case OpKind::Softmax:
        return build_softmax(in_quant(0), q);
      case OpKind::ChannelMul: {  // one requantizer per channel: s_x(c) * s_g / s_y
        const ActQuant &x = in_quant(0), &gate = in_quant(1);
        if (x.groups1 != 1 || !gate.per_tensor())
          unsupported(node,
                      "a channel multiply needs a per-tensor or per-channel input and a per-tensor gate");
        q.out = output_quant(i);
        for (int64_t c = 0; c < node.out_shape[0]; ++c)
          q.requant.push_back(requantizer_for(static_cast<double>(channel_quant(x, c).first) * gate.scale[0] /
                                              q.out.scale[0]));
        return;
      }
      case OpKind::GlobalAvgPool: {
        const ActQuant& a = in_quant(0);
        if (!a.per_tensor()) unsupported(node, "average pooling needs a per-tensor input");
        const Shape& s = g_.nodes[static_cast<size_t>(node.inputs[0])].out_shape;
        q.out = output_quant(i);
        q.requant = {requantizer_for(static_cast<double>(a.scale[0]) /
                                     (static_cast<double>(s[1] * s[2]) * q.out.scale[0]))};
        return;
      }
      case OpKind::Concat: {
        q.out = grid_quant(node.out_shape[0], 1, qn[static_cast<size_t>(node.inputs[0])].out.bits);
        int64_t c0 = 0;
        for (size_t k = 0; k < node.inputs.size(); ++k) {
          const ActQuant& a = in_quant(k);
          if (a.bits != q.out.bits) unsupported(node, "inputs of different bit widths");
          const int64_t ch = g_.nodes[static_cast<size_t>(node.inputs[k])].out_shape[0];
          for (int64_t c = 0; c < ch; ++c) {
            std::tie(q.out.scale[static_cast<size_t>(c0 + c)],
                     q.out.zero_point[static_cast<size_t>(c0 + c)]) = channel_quant(a, c);
          }
          c0 += ch;
        }
        return;
      }
      case OpKind::AttnKernel: {
        const ActQuant& a = in_quant(0);
        const int64_t heads2 = node.out_shape[0], rows = node.out_shape[1], d3 = rows - 1;
        q.out = grid_quant(heads2, rows, a.bits);
        for (int64_t b = 0; b < heads2; ++b)
          for (int64_t r = 0; r < d3; ++r) {
            const auto [scale, zp] = channel_quant(a, b * d3 + r);
            if (zp != 0) unsupported(node, "q, k and v need symmetric quantizers (zero point 0)");
            q.out.scale[q.out.group(b, r)] = scale;
          }
        return;  // row 3d: scale 1, zero point 0 (the ones row)
      }
      case OpKind::MatMul:
        return build_matmul(i, in_quant(0), in_quant(1), q);
      case OpKind::AttnNormalize:
        return build_normalize(i, in_quant(0), q);
      default:
        unsupported(node, "no integer semantics yet");
    }
  }

  // out[head, s*dh + e, t] = in[t, s*h*dh + head*dh + e]: each row takes its source column's quantizer.
  void build_head_split(size_t i, const ActQuant& in, QNode& q) const {
    const Node& node = g_.nodes[i];
    if (in.per_tensor()) {
      q.out = in;
      return;
    }
    const int64_t h = node.heads, rows = node.out_shape[1], dh = rows / 3;
    q.out = grid_quant(h, rows, in.bits);
    for (int64_t head = 0; head < h; ++head)
      for (int64_t r = 0; r < rows; ++r)
        std::tie(q.out.scale[q.out.group(head, r)], q.out.zero_point[q.out.group(head, r)]) =
            std::pair{in.scale[in.group(0, (r / dh) * h * dh + head * dh + r % dh)],
                      in.zero_point[in.group(0, (r / dh) * h * dh + head * dh + r % dh)]};
  }

  // ClassToken: the token quantized by the output; PosEmbed: the embedding at the input's scale (int32).
  void build_token_constant(size_t i, const ActQuant& in, QNode& q) const {
    const Node& node = g_.nodes[i];
    q.out = output_quant(i);
    const double s_in = in.scale[0];
    if (node.op == OpKind::ClassToken) {
      q.requant = {requantizer_for(s_in / q.out.scale[0])};
      const QuantParams out_qp{q.out.scale[0], q.out.zero_point[0], q.out.bits, true};
      for (float v : node.params.at("token").data) q.const_codes.push_back(quantize_value(v, out_qp));
      return;
    }
    for (size_t g = 0; g < q.out.scale.size(); ++g)
      q.requant.push_back(requantizer_for(s_in / q.out.scale[g]));
    for (float v : node.params.at("pos").data) {
      const double code = std::nearbyint(v / s_in);
      if (std::abs(code) > 2147483647.0)
        unsupported(node, "the position embedding overflows int32 at the input's scale");
      q.const_codes.push_back(static_cast<int32_t>(code));
    }
  }

  void build_layer_norm(size_t i, const ActQuant& in, QNode& q) const {
    const Node& node = g_.nodes[i];
    if (ptf_alphas(in).empty()) unsupported(node, "its input needs a per-tensor or PTF quantizer");
    q.out = output_quant(i);
    const double s = *std::min_element(in.scale.begin(), in.scale.end()), sy = q.out.scale[0];
    const auto& gamma = node.params.at("ln.gamma").data;
    const auto& beta = node.params.at("ln.beta").data;
    double largest = 0;
    for (size_t c = 0; c < gamma.size(); ++c)
      largest = std::max({largest, std::abs(gamma[c] / sy), std::abs(beta[c] / sy)});
    // The largest shift (<= 30) that keeps every multiplier and bias below 2^30.
    q.ln_shift =
        largest > 0
            ? std::clamp(static_cast<int>(std::floor(std::log2(std::ldexp(1.0, 30) / largest))), 0, 30)
            : 30;
    for (size_t c = 0; c < gamma.size(); ++c) {
      q.ln_mult.push_back(round_to_int32(std::ldexp(gamma[c] / sy, q.ln_shift)));
      q.bias.push_back(round_to_int32(std::ldexp(beta[c] / sy, q.ln_shift)));
    }
    const double d = static_cast<double>(node.out_shape.back());
    q.ln_eps = static_cast<int32_t>(std::min(2147483647.0, std::nearbyint(node.norm_eps * d * d / (s * s))));
  }

  void build_softmax(const ActQuant& in, QNode& q) const {
    const VitRecipe& v = recipe_.vit;
    q.out = grid_quant(in.groups0, in.groups1, v.softmax_bits);
    q.out.log2 = v.softmax_log2;
    for (size_t g = 0; g < q.out.scale.size(); ++g) {
      if (!v.softmax_log2) {
        q.out.scale[g] = std::ldexp(1.0f, -v.softmax_bits);
        q.out.zero_point[g] = -(int32_t{1} << (v.softmax_bits - 1));
      }
      q.requant.push_back(
          requantizer_for(std::ldexp(static_cast<double>(in.scale[g]), int_ops::kSoftmaxFracBits)));
    }
  }

  void build_weighted(size_t i, const ActQuant& in, QNode& q) {
    const Node& node = g_.nodes[i];
    const bool depthwise = is_depthwise(node);
    const int64_t channels = node.out_features;
    auto in_scale = [&](int64_t c) {
      return static_cast<double>(channel_quant(in, depthwise ? c : 0).first);
    };
    if (!depthwise)
      for (float s : in.scale)
        if (s != in.scale[0])
          unsupported(node, "its input has per-channel scales (only depthwise convs allow them)");
    quantize_weights(node, weight_bits_[i], weight_scales(i, weight_bits_[i]), q);
    if (recipe_.mixed_scheme.enabled && node.groups == 1) mix_schemes(i, q);
    q.bias.assign(static_cast<size_t>(channels), 0);
    std::vector<double> acc_scale(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      const size_t k = static_cast<size_t>(c);
      acc_scale[k] = in_scale(c) * q.weight_scale[k];
      if (node.has_bias) q.bias[k] = round_to_int32(node.params.at("bias").data[k] / acc_scale[k]);
    }
    q.out = output_quant(i);
    // The output scale of feature c, found where the executor looks: a conv's features are axis 0 of
    // [C, H, W], a Linear's the last axis of [..., C] (a qkv output has one scale per part there).
    const int_ops::GridAxes axes = int_ops::grid_axes(node.out_shape);
    const int64_t feature_stride = node.op == OpKind::Linear ? 1 : numel(node.out_shape) / channels;
    auto out_scale = [&](int64_t c) {
      return static_cast<double>(q.out.scale[int_ops::group_of(q.out, axes, c * feature_stride)]);
    };
    if (node.op == OpKind::Linear && node.norm == Norm::LayerNorm) {
      q.float_layernorm = true;
      q.in_scale = in.scale[0];
      q.ln_gamma = node.params.at("ln.gamma").data;
      q.ln_beta = node.params.at("ln.beta").data;
      return;
    }
    if (!has_act_stage(node)) {
      for (int64_t c = 0; c < channels; ++c)
        q.requant.push_back(requantizer_for(acc_scale[static_cast<size_t>(c)] / out_scale(c)));
      if (node.act == Act::ReLU6)
        for (int64_t c = 0; c < channels; ++c) q.relu6_six.push_back(round_to_int32(6.0 / out_scale(c)));
      return;
    }
    if ((node.act == Act::GeluTanh || node.act == Act::GeluErf) && recipe_.vit.gelu_poly) {
      // i-GELU: 16-bit pre-activation codes at scale 2^-F, F as large as the observed range allows.
      const double amax = std::max(1e-30f, obs_.pre[i]->abs_max());
      const int f = std::clamp(static_cast<int>(std::floor(std::log2(32767.0 / amax))), 0, 20);
      q.pre_act = ActQuant::per_tensor_quant(std::ldexp(1.0f, -f), 0, 16);
      for (int64_t c = 0; c < channels; ++c) {
        q.requant.push_back(requantizer_for(std::ldexp(acc_scale[static_cast<size_t>(c)], f)));
        q.act_requant.push_back(requantizer_for(int_ops::gelu_product_scale(f) / out_scale(c)));
      }
      return;
    }
    q.pre_act = act_quant(*obs_.pre[i], recipe_, bits_of(i), false);
    const double sp = q.pre_act.scale[0];
    for (int64_t c = 0; c < channels; ++c)
      q.requant.push_back(requantizer_for(acc_scale[static_cast<size_t>(c)] / sp));
    if (node.act == Act::HSwish) {
      q.hswish_three = round_to_int32(3.0 / sp);
      q.hswish_six = round_to_int32(6.0 / sp);
      for (int64_t c = 0; c < channels; ++c)
        q.act_requant.push_back(requantizer_for(sp * sp / 6.0 / out_scale(c)));
      return;
    }
    // GELU, Sigmoid, HSigmoid, SiLU: a lookup table from pre-activation codes to output codes.
    if (!q.out.per_tensor())
      unsupported(
          node, std::string("a ") + act_name(node.act) + " lookup table needs a per-tensor output quantizer");
    const int32_t qmin = -(int32_t{1} << (q.pre_act.bits - 1));
    const int32_t size = int32_t{1} << q.pre_act.bits;
    std::vector<float> real(static_cast<size_t>(size));
    for (int32_t p = 0; p < size; ++p)
      real[static_cast<size_t>(p)] = static_cast<float>(sp * (qmin + p - q.pre_act.zero_point[0]));
    apply_activation(node.act, real.data(), size);
    const QuantParams out_qp{q.out.scale[0], q.out.zero_point[0], q.out.bits, true};
    for (float v : real) q.act_lut.push_back(quantize_value(v, out_qp));
  }

  // Auto-ViT-Acc's mixed scheme (quant/mixed_scheme.hpp): per row group (a qkv layer's head blocks of its
  // HeadSplit's head_dim rows, else the whole layer), the rows of least extra squared weight error (the
  // power-of-two row's error minus the fixed-point row's) get power-of-two codes and scale.
  void mix_schemes(size_t i, QNode& q) const {
    const Node& node = g_.nodes[i];
    const MixedSchemeRecipe& mix = recipe_.mixed_scheme;
    const auto& w = node.params.at("weight").data;
    const size_t channels = static_cast<size_t>(node.out_features), per = w.size() / channels;
    size_t group = channels;
    for (int c : roles_.consumers[i])
      if (roles_.qkv[i] && g_.nodes[static_cast<size_t>(c)].op == OpKind::HeadSplit)
        group = channels / static_cast<size_t>(3 * g_.nodes[static_cast<size_t>(c)].heads);
    std::vector<PotRow> pot(channels);
    std::vector<double> pot_error(channels), fixed_error(channels, 0.0);
    for (size_t c = 0; c < channels; ++c) {
      pot[c] = quantize_pot_row(&w[c * per], per, mix.pot_bits);
      pot_error[c] = pot[c].error;
      for (size_t k = c * per; k < (c + 1) * per; ++k) {
        const double d = w[k] - static_cast<double>(q.weight_scale[c]) * q.weight[k];
        fixed_error[c] += d * d;
      }
    }
    q.weight_pot_bits.assign(channels, 0);
    const int64_t count = pot_rows_in_group(static_cast<int64_t>(group), mix.pot_ratio);
    for (size_t g0 = 0; g0 < channels; g0 += group) {
      const auto first = static_cast<std::ptrdiff_t>(g0), last = static_cast<std::ptrdiff_t>(g0 + group);
      const std::vector<uint8_t> chosen =
          choose_pot_rows({pot_error.begin() + first, pot_error.begin() + last},
                          {fixed_error.begin() + first, fixed_error.begin() + last}, count);
      for (size_t r = 0; r < group; ++r) {
        if (!chosen[r]) continue;
        const size_t c = g0 + r;
        q.weight_pot_bits[c] = mix.pot_bits;
        q.weight_scale[c] = pot[c].scale;
        std::copy(pot[c].codes.begin(), pot[c].codes.end(),
                  q.weight.begin() + static_cast<std::ptrdiff_t>(c * per));
      }
    }
  }

  void build_matmul(size_t i, const ActQuant& a, const ActQuant& b, QNode& q) {
    const Node& node = g_.nodes[i];
    const int64_t batches = node.out_shape[0], rows = node.out_shape[1];
    // B's scale must not vary along the contraction or the output columns: one value per batch.
    auto b_scale = [&](int64_t batch) {
      const float s = b.scale[b.group(batch, node.b.row_offset)];
      for (int64_t r = 0; r < node.b.rows; ++r)
        if (b.scale[b.group(batch, node.b.row_offset + r)] != s ||
            b.zero_point[b.group(batch, node.b.row_offset + r)] != 0)
          unsupported(node, "the right operand needs one symmetric scale per head");
      return static_cast<double>(s);
    };
    auto a_scale = [&](int64_t batch, int64_t r) {
      if (from_softmax(node)) {  // log2 codes weigh 2^(E-1-e): the scale of weight 1 is s * 2^-(E-1)
        const size_t g = a.group(batch, node.a.row_offset + r);
        return a.log2 ? std::ldexp(static_cast<double>(a.scale[g]), 2 - (1 << a.bits))
                      : static_cast<double>(a.scale[g]);
      }
      // A transposed: the contraction runs over A's rows, so one scale per batch, as B.
      const int64_t first = node.a.transpose ? 0 : r, count = node.a.transpose ? node.a.rows : 1;
      const size_t g0 = a.group(batch, node.a.row_offset + first);
      for (int64_t k = first; k < first + count; ++k) {
        const size_t g = a.group(batch, node.a.row_offset + k);
        if (a.zero_point[g] != 0 || a.scale[g] != a.scale[g0])
          unsupported(node, "the left operand needs symmetric quantizers, uniform over the contraction");
      }
      return static_cast<double>(a.scale[g0]);
    };
    if (roles_.raw_matmul[i]) {  // the real value includes the node's factor (1/sqrt(dh) in ViTs)
      q.out = grid_quant(batches, rows, 32);
      for (int64_t bt = 0; bt < batches; ++bt)
        for (int64_t r = 0; r < rows; ++r)
          q.out.scale[q.out.group(bt, r)] = static_cast<float>(a_scale(bt, r) * b_scale(bt) * node.scale);
      return;
    }
    if (from_softmax(node)) {  // attention x V: one asymmetric quantizer over the output
      const ActQuant o = act_quant(out_observer(i), recipe_, recipe_.activation_bits, false);
      q.out = grid_quant(batches, rows, o.bits);
      std::fill(q.out.scale.begin(), q.out.scale.end(), o.scale[0]);
      std::fill(q.out.zero_point.begin(), q.out.zero_point.end(), o.zero_point[0]);
      for (int64_t bt = 0; bt < batches; ++bt)
        for (int64_t r = 0; r < rows; ++r)
          q.requant.push_back(requantizer_for(a_scale(bt, r) * b_scale(bt) * node.scale / o.scale[0]));
      return;
    }
    // K^T V rows and the sum-K row, per branch: symmetric quantizers from the grouped observers.
    std::map<int, ActQuant> by_key;
    for (const auto& [key, o] : obs_.groups[i])
      by_key[key] = act_quant(o, recipe_, recipe_.attention.bits, true);
    q.out = grid_quant(batches, rows, recipe_.attention.bits);
    for (int64_t bt = 0; bt < batches; ++bt)
      for (int64_t r = 0; r < rows; ++r) {
        const size_t g = q.out.group(bt, r);
        q.out.scale[g] = by_key.at(branch_of_head(bt, batches) * 2 + row_kind(r, rows - 1)).scale[0];
        q.requant.push_back(requantizer_for(a_scale(bt, r) * b_scale(bt) / q.out.scale[g]));
      }
  }

  void build_normalize(size_t i, const ActQuant& in, QNode& q) {
    const Node& node = g_.nodes[i];
    const AttentionRecipe& att = recipe_.attention;
    const int64_t heads2 = g_.nodes[static_cast<size_t>(node.inputs[0])].out_shape[0];
    const int64_t d = node.head_dim;
    q.divisor_mode = att.divisor;
    q.log2_rounding = att.log2_rounding;
    q.divisor_bits = att.divisor_bits;
    q.out = act_quant(out_observer(i), recipe_, att.bits, false);
    q.numerator = grid_quant(heads2, 1, att.bits);
    const double sy = q.out.scale[0];
    for (int64_t b = 0; b < heads2; ++b) {
      const int key = branch_of_head(b, heads2);
      const double s_num = act_quant(obs_.groups[i].at(key), recipe_, att.bits, true).scale[0];
      const double s_dividend = in.scale[in.group(b, 0)], s_divisor = in.scale[in.group(b, d)];
      q.numerator.scale[static_cast<size_t>(b)] = static_cast<float>(s_num);
      q.num_requant.push_back(requantizer_for(s_dividend / s_num));
      if (att.divisor == DivisorMode::Log2) {
        const double frac = std::ldexp(1.0, q.divisor_frac_bits);
        q.div_requant.push_back(requantizer_for(s_divisor * frac));
        q.out_requant.push_back(requantizer_for(s_num * frac / sy));
      } else {
        const Observer& div = obs_.divisors[i].at(key);
        const double s_div =
            std::max(div.max(), 1e-30f) / static_cast<double>((int64_t{1} << att.divisor_bits) - 1);
        q.div_requant.push_back(requantizer_for(s_divisor / s_div));
        q.out_requant.push_back(requantizer_for(s_num / (s_div * sy)));
      }
    }
  }

  Graph g_;
  const Recipe& recipe_;
  const std::vector<Tensor>& calib_;
  ProgressFn progress_;
  Roles roles_;
  std::vector<ChannelStats> stats_;
  std::vector<std::vector<float>> factors_;
  Observers obs_;
  std::map<int, std::vector<WeightRounding>> weight_rounding_;  // by weight width
  std::vector<double> layer_signal_;  // mixed precision: per weighted node, sum (X W)^2 (bias-free)
  std::vector<int> weight_bits_;      // per node: the width build_weighted quantizes at
};

// P²-ViT's coarse-to-fine mixed precision (docs/quantization.md): calibrate on all but the held-out
// images (both weight widths), build the all-low and all-high programs once, rank the layers by the
// sensitivity proxy, promote greedily within the BOPs budget, then evolve; each choice is scored by the
// relative squared error of its integer logits against FP32 on the held-out images.
QGraph quantize_mixed(const Graph& graph, const Recipe& recipe, const std::vector<Tensor>& images,
                      const ProgressFn& progress, MixedPrecisionReport* report) {
  const size_t held = holdout_count(images.size(), recipe.mixed.holdout);
  const std::vector<Tensor> calib(images.begin(), images.end() - static_cast<std::ptrdiff_t>(held));
  const std::vector<Tensor> holdout(images.end() - static_cast<std::ptrdiff_t>(held), images.end());
  Quantizer quantizer(graph, recipe, calib, progress);
  quantizer.calibrate();
  const QGraph high = quantizer.build_graph(recipe.mixed.high_bits);
  QGraph q = quantizer.build_graph(recipe.weight_bits);
  const std::vector<QNode> low_nodes = q.nodes;

  const std::vector<int> layers = weighted_layers(q.graph);
  std::vector<double> sensitivity;
  BopsBudget budget;
  for (int i : layers) {
    const Node& node = q.graph.nodes[static_cast<size_t>(i)];
    const int act_bits = q.nodes[static_cast<size_t>(node.inputs[0])].out.bits;
    sensitivity.push_back(quantizer.sensitivity(static_cast<size_t>(i)));
    budget.low.push_back(layer_bops(node.macs(), recipe.weight_bits, act_bits));
    budget.high.push_back(layer_bops(node.macs(), recipe.mixed.high_bits, act_bits));
  }
  const int64_t bops_low = budget.bops(BitChoice(layers.size(), false));
  budget.limit = static_cast<int64_t>(std::floor(recipe.mixed.budget * static_cast<double>(bops_low)));

  std::vector<Tensor> reference;
  for (const Tensor& img : holdout) reference.push_back(run_fp32(q.graph, img));
  const auto apply = [&](const BitChoice& choice) {
    for (size_t l = 0; l < layers.size(); ++l) {
      const size_t i = static_cast<size_t>(layers[l]);
      q.nodes[i] = choice[l] ? high.nodes[i] : low_nodes[i];
    }
  };
  // Every layer's program depends on its own width only, so the integer outputs of the first choice scored
  // (the greedy start) hold for any other choice up to the first layer whose width differs: a choice runs
  // from there on. Each node's inputs come before it (graph order).
  validate(high, QGraphUse::Compute);
  BitChoice base;
  std::vector<std::vector<QTensor>> base_outputs;  // per held-out image, every node
  const size_t n = q.nodes.size();
  const auto logits_of = [&](const BitChoice& choice, size_t k) {
    size_t first = n;
    for (size_t l = 0; l < layers.size() && first == n; ++l)
      if (choice[l] != base[l]) first = static_cast<size_t>(layers[l]);
    if (first == n) return dequantize(base_outputs[k].back(), q.nodes.back().out);
    std::vector<QTensor> fresh(n - first);
    for (size_t i = first; i < n; ++i) {
      std::vector<const QTensor*> ins;
      for (int in : q.graph.nodes[i].inputs) {
        const size_t j = static_cast<size_t>(in);
        ins.push_back(j < first ? &base_outputs[k][j] : &fresh[j - first]);
      }
      fresh[i - first] = eval_node_int(q, static_cast<int>(i), ins);
    }
    return dequantize(fresh.back(), q.nodes.back().out);
  };
  const auto score = [&](const BitChoice& choice) {
    apply(choice);
    if (base_outputs.empty()) {
      base = choice;
      for (const Tensor& img : holdout) base_outputs.push_back(run_int_all(q, quantize_input(q, img)));
    }
    double noise = 0, signal = 0;
    for (size_t k = 0; k < holdout.size(); ++k) {
      const Tensor logits = logits_of(choice, k);
      for (size_t e = 0; e < logits.data.size(); ++e) {
        const double want = reference[k].data[e], d = logits.data[e] - want;
        noise += d * d;
        signal += want * want;
      }
    }
    return signal > 0 ? noise / signal : noise;
  };
  const BitChoice start = greedy_choice(sensitivity, budget);
  const SearchResult found = evolve(start, sensitivity, budget, recipe.mixed, score, progress);
  apply(found.best);
  if (report) {
    MixedPrecisionReport& r = *report;
    r = {};
    for (size_t l = 0; l < layers.size(); ++l) {
      const Node& node = q.graph.nodes[static_cast<size_t>(layers[l])];
      r.layers.push_back({node.name, node.macs(), sensitivity[l],
                          found.best[l] ? recipe.mixed.high_bits : recipe.weight_bits});
    }
    r.bops = budget.bops(found.best);
    r.bops_low = bops_low;
    r.budget = recipe.mixed.budget;
    r.calibration_images = static_cast<int>(calib.size());
    r.holdout_images = static_cast<int>(holdout.size());
    r.greedy_score = found.start_score;
    r.best_score = found.best_score;
    r.scored = found.scored;
    r.greedy_high = static_cast<int>(std::count(start.begin(), start.end(), true));
  }
  return q;
}

}  // namespace

QGraph quantize_graph(const Graph& graph, const Recipe& recipe, const std::vector<Tensor>& calibration,
                      const ProgressFn& progress, MixedPrecisionReport* mixed) {
  if (calibration.empty())
    throw std::invalid_argument("calibration data is empty: at least one image is needed");
  for (size_t k = 0; k < calibration.size(); ++k)
    if (calibration[k].shape != graph.nodes.at(0).out_shape)
      throw std::invalid_argument("calibration image " + std::to_string(k) + " has shape " +
                                  shape_str(calibration[k].shape) + ", the model's input is " +
                                  shape_str(graph.nodes[0].out_shape));
  if (!recipe.mixed.enabled) {
    Quantizer quantizer(graph, recipe, calibration, progress);
    quantizer.calibrate();
    return quantizer.build_graph(recipe.weight_bits);
  }
  return quantize_mixed(graph, recipe, calibration, progress, mixed);
}

QualityReport evaluate_quality(const QGraph& qgraph, const std::vector<Tensor>& images,
                               const std::vector<int>& labels, const ProgressFn& progress) {
  const size_t n = qgraph.graph.nodes.size();
  struct Sums {
    double signal = 0, noise = 0, dot = 0, approx = 0;
    void add(const Tensor& x, const Tensor& y) {
      for (size_t k = 0; k < x.data.size(); ++k) {
        const double a = x.data[k], b = y.data[k];
        signal += a * a;
        noise += (a - b) * (a - b);
        dot += a * b;
        approx += b * b;
      }
    }
    double sqnr() const { return noise > 0 ? 10 * std::log10(signal / noise) : INFINITY; }
    double cosine() const { return signal > 0 && approx > 0 ? dot / std::sqrt(signal * approx) : 1.0; }
  };
  std::vector<Sums> sums(n);
  QualityReport r;
  int agree = 0, fp_correct = 0, int_correct = 0;
  auto argmax = [](const Tensor& t) {
    return std::max_element(t.data.begin(), t.data.end()) - t.data.begin();
  };
  for (size_t k = 0; k < images.size(); ++k) {
    const auto fp = run_fp32_all(qgraph.graph, images[k]);
    const auto iq = run_int_all(qgraph, quantize_input(qgraph, images[k]));
    for (size_t i = 1; i < n; ++i) sums[i].add(fp[i], dequantize(iq[i], qgraph.nodes[i].out));
    const auto fp_top = argmax(fp.back());
    const auto int_top = argmax(dequantize(iq.back(), qgraph.nodes.back().out));
    agree += fp_top == int_top;
    if (k < labels.size() && labels[k] >= 0) {
      ++r.labelled;
      fp_correct += fp_top == labels[k];
      int_correct += int_top == labels[k];
    }
    if (progress) progress("evaluation", static_cast<int>(k + 1), static_cast<int>(images.size()));
  }
  r.images = static_cast<int>(images.size());
  for (size_t i = 1; i < n; ++i)
    r.layers.push_back({qgraph.graph.nodes[i].name, sums[i].sqnr(), sums[i].cosine()});
  r.output_sqnr_db = sums[n - 1].sqnr();
  r.output_cosine = sums[n - 1].cosine();
  r.top1_agreement = images.empty() ? 0 : static_cast<double>(agree) / static_cast<double>(images.size());
  if (r.labelled) {
    r.fp32_accuracy = static_cast<double>(fp_correct) / r.labelled;
    r.int_accuracy = static_cast<double>(int_correct) / r.labelled;
  }
  return r;
}

}  // namespace vitsim::quant

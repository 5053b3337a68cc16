#include "quant/int_executor.hpp"

#include "quant/calibration.hpp"
#include "quant/conv_kernels.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/graph_walk.hpp"
#include "quant/int_ops.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace vitsim::quant {

namespace {

using namespace int_ops;

// ---------------------------------------------------------------------------------------------------
// Helpers: errors, code ranges, validation

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatMap = Eigen::Map<RowMat<T>>;
template <class T>
using ConstMatMap = Eigen::Map<const RowMat<T>>;

Eigen::Index ei(int64_t v) {
  return static_cast<Eigen::Index>(v);
}
size_t uz(int64_t v) {
  return static_cast<size_t>(v);
}

std::string where(const Node& node) {
  return "int executor: node '" + node.name + "' (" + op_name(node.op) + ")";
}

[[noreturn]] void fail(const Node& node, const std::string& what) {
  throw std::invalid_argument(where(node) + ": " + what);
}

[[noreturn]] void overflow(const Node& node, const std::string& what) {
  throw std::overflow_error(where(node) + ": " + what);
}

// The quantizer `q` must describe a tensor of `shape`: a grid over axes 0 and 1 with matching vectors.
void check_quant(const std::string& who, const std::string& what, const ActQuant& q, const Shape& shape,
                 bool allow_raw) {
  auto fail = [&](const std::string& msg) { throw std::invalid_argument(who + ": " + msg); };
  const bool narrow = q.bits >= 2 && q.bits <= 16;
  if (!narrow && !(allow_raw && q.bits == 32))
    fail(what + " has " + std::to_string(q.bits) + " bits; codes have 2..16" +
         (allow_raw ? " (or 32 for raw accumulators)" : ""));
  const GridAxes a = grid_axes(shape);
  if (q.groups0 < 1 || (q.groups0 != 1 && q.groups0 != a.n0) || q.groups1 < 1 ||
      (q.groups1 != 1 && q.groups1 != a.n1))
    fail(what + " grid " + std::to_string(q.groups0) + "x" + std::to_string(q.groups1) +
         " does not fit a tensor " + shape_str(shape) + " (each axis: 1 or the axis size)");
  const size_t count = uz(q.groups0 * q.groups1);
  if (q.scale.size() != count || q.zero_point.size() != count)
    fail(what + " grid " + std::to_string(q.groups0) + "x" + std::to_string(q.groups1) + " needs " +
         std::to_string(count) + " scales and zero points, has " + std::to_string(q.scale.size()) + " and " +
         std::to_string(q.zero_point.size()));
  if (q.bits == 32 || q.log2)
    for (int32_t zp : q.zero_point)
      if (zp != 0)
        fail(what + (q.log2 ? " holds log2 codes" : " holds raw int32 accumulators") +
             ", so its zero points must be 0");
  if (q.log2 && (q.bits < 2 || q.bits > 5))
    fail(what + " holds log2 codes of " + std::to_string(q.bits) + " bits; they have 2..5");
}

void check_quant(const Node& node, const std::string& what, const ActQuant& q, const Shape& shape,
                 bool allow_raw) {
  check_quant(where(node), what, q, shape, allow_raw);
}

void check_requant(const Node& node, const std::string& what, const std::vector<Requantizer>& rq,
                   size_t expected) {
  if (rq.size() != expected)
    fail(node,
         what + " has " + std::to_string(rq.size()) + " requantizers, expected " + std::to_string(expected));
  for (size_t i = 0; i < rq.size(); ++i)
    if (rq[i].multiplier <= 0 || rq[i].shift < 0 || rq[i].shift > 62)
      fail(node, what + "[" + std::to_string(i) + "] = {multiplier " + std::to_string(rq[i].multiplier) +
                     ", shift " + std::to_string(rq[i].shift) + "} is invalid (multiplier > 0, shift 0..62)");
}

// Smallest and largest of n values (a plain loop, which the compiler vectorizes; std::minmax_element does
// not).
std::pair<int32_t, int32_t> value_range(const int32_t* p, size_t n) {
  int32_t lo = std::numeric_limits<int32_t>::max(), hi = std::numeric_limits<int32_t>::min();
  for (size_t i = 0; i < n; ++i) {
    lo = p[i] < lo ? p[i] : lo;
    hi = p[i] > hi ? p[i] : hi;
  }
  return {lo, hi};
}

// Index of the first value outside [lo, hi], or n.
size_t first_outside(const int32_t* p, size_t n, int64_t lo, int64_t hi) {
  size_t i = 0;
  while (i < n && p[i] >= lo && p[i] <= hi) ++i;
  return i;
}

// Every code of `t` must fit `q.bits` (raw accumulators: any int32).
void check_codes(const Node& node, const std::string& what, const QTensor& t, const ActQuant& q) {
  if (q.bits == 32 || t.data.empty()) return;
  const auto [mn, mx] = value_range(t.data.data(), t.data.size());
  const int64_t lo = q.log2 ? 0 : code_min(q.bits),
                hi = q.log2 ? (int64_t{1} << q.bits) - 1 : code_max(q.bits);
  if (mn < lo || mx > hi) {
    const size_t bad = first_outside(t.data.data(), t.data.size(), lo, hi);
    fail(node, what + " holds code " + std::to_string(t.data[bad]) + " at index " + std::to_string(bad) +
                   ", outside the " + std::to_string(q.bits) + "-bit range");
  }
}

// dst[i] = src[i] - zp as T. In int32 when it cannot overflow (codes of <= 16 bits, small zero point), so
// the conversion vectorizes; in int64 otherwise.
template <class T>
void center(const int32_t* src, size_t n, int64_t zp, bool narrow, T* dst) {
  if (narrow && zp >= -(int64_t{1} << 24) && zp <= (int64_t{1} << 24)) {
    const int32_t z = static_cast<int32_t>(zp);
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i] - z);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i] - zp);
  }
}

void expect_out_shape(const Node& node, const Shape& derived) {
  if (derived != node.out_shape)
    fail(node, "inputs give output shape " + shape_str(derived) + " but the node declares " +
                   shape_str(node.out_shape));
}

// ---------------------------------------------------------------------------------------------------
// Exact GEMMs on integers
//
// Accumulation runs in the cheapest arithmetic that is provably exact for this data: every product and
// every partial sum of sum_k a[i,k] * b[k,j] is an integer bounded by bound_i = sum_k |a[i,k]| * max_j
// |b[k,j]|, so float is exact when all bounds are below 2^24, double below 2^53, int64 below 2^63 (the
// thresholds below keep a factor 2 of margin for the bound's own double rounding). The bound is tracked per
// node from the actual weights and input codes; only the final sum (bias included) must fit the contract's
// int32 accumulator, which is checked for every output (int32 wrap-around of partial sums would not change a
// final sum that fits).

enum class AccType { Float, Double, Int64 };

AccType choose_acc(const Node& node, double bound) {
  if (bound < 16777216.0) return AccType::Float;             // 2^24
  if (bound < 4503599627370496.0) return AccType::Double;    // 2^52
  if (bound < 4611686018427387904.0) return AccType::Int64;  // 2^62
  overflow(node, "worst-case accumulator bound " + std::to_string(bound) + " exceeds int64");
}

template <class F>
void with_acc(AccType t, F&& f) {
  switch (t) {
    case AccType::Float:
      f(float{});
      return;
    case AccType::Double:
      f(double{});
      return;
    case AccType::Int64:
      f(int64_t{});
      return;
  }
}

template <class F>
void with_act(Act act, F&& f) {
  switch (act) {
    case Act::None:
      f(std::integral_constant<Act, Act::None>{});
      return;
    case Act::ReLU:
      f(std::integral_constant<Act, Act::ReLU>{});
      return;
    case Act::HSwish:
      f(std::integral_constant<Act, Act::HSwish>{});
      return;
    case Act::GeluTanh:
      f(std::integral_constant<Act, Act::GeluTanh>{});
      return;
    case Act::GeluErf:
      f(std::integral_constant<Act, Act::GeluErf>{});
      return;
    case Act::ReLU6:
      f(std::integral_constant<Act, Act::ReLU6>{});
      return;
    case Act::Sigmoid:
    case Act::HSigmoid:
    case Act::SiLU:  // the same table lookup as a GELU table (int_ops.hpp, apply_stage)
      f(std::integral_constant<Act, Act::Sigmoid>{});
      return;
  }
}

// Reusable per-thread work buffers (centered inputs, im2col columns, weights, accumulators): a forward pass
// then allocates only the output codes, instead of faulting in fresh multi-megabyte buffers per layer.
enum Slot { kInputSlot, kColumnSlot, kWeightSlot, kAccSlot, kSlotCount };

template <class T>
T* scratch(Slot slot, size_t n) {
  thread_local std::vector<T> buffers[kSlotCount];
  std::vector<T>& b = buffers[slot];
  if (b.size() < n) {
    b.clear();
    b.shrink_to_fit();
    b.resize(n);
  }
  return b.data();
}

template <class T>
int64_t to_i64(T v) {
  if constexpr (std::is_integral_v<T>)
    return v;
  else
    return static_cast<int64_t>(v);  // exact: v is an integer below 2^53
}

// Accumulator of one output (already including the bias) must fit the int32 accumulator of the contract.
inline void check_acc(const Node& node, int64_t acc, const char* what, int64_t i0, int64_t i1) {
  if (acc < kInt32Min || acc > kInt32Max)
    overflow(node, std::string("accumulator ") + std::to_string(acc) + " at " + what + " (" +
                       std::to_string(i0) + ", " + std::to_string(i1) + ") is outside int32");
}

// ---------------------------------------------------------------------------------------------------
// Activation stage of Conv2d / Linear

// Validates the activation stage of a Conv2d / Linear with `channels` outputs and builds it.
ActStage make_stage(const Node& node, const QNode& qn, int64_t channels) {
  check_requant(node, "requant", qn.requant, uz(channels));
  const bool gelu = node.act == Act::GeluTanh || node.act == Act::GeluErf;
  if (node.act == Act::HSwish || gelu || act_is_table_only(node.act))
    check_quant(node, "pre-activation quantizer", qn.pre_act, Shape{}, false);  // per tensor
  if (node.act == Act::ReLU6) {
    if (qn.relu6_six.size() != uz(channels))
      fail(node, "has " + std::to_string(qn.relu6_six.size()) + " relu6_six entries, expected " +
                     std::to_string(channels));
    for (int32_t six : qn.relu6_six)
      if (six < 0) fail(node, "a relu6_six entry is " + std::to_string(six) + ", must be >= 0");
  } else if (node.act == Act::HSwish) {
    check_requant(node, "act_requant", qn.act_requant, uz(channels));
    if (qn.hswish_six < 0) fail(node, "hswish_six is " + std::to_string(qn.hswish_six) + ", must be >= 0");
  } else if (gelu && qn.act_lut.empty()) {  // i-GELU
    check_requant(node, "act_requant", qn.act_requant, uz(channels));
    const int frac = -std::ilogb(qn.pre_act.scale[0]);
    if (qn.pre_act.zero_point[0] != 0 || frac < 0 || frac > 20 ||
        qn.pre_act.scale[0] != std::ldexp(1.0f, -frac))
      fail(node,
           "i-GELU needs a pre-activation with zero point 0 and scale 2^-F, F in 0..20 (no act_lut given)");
  } else if (gelu || act_is_table_only(node.act)) {
    const std::string what = gelu ? "GELU" : act_name(node.act);
    const size_t entries = size_t{1} << qn.pre_act.bits;
    if (qn.act_lut.size() != entries)
      fail(node, what + " table has " + std::to_string(qn.act_lut.size()) + " entries, expected 2^" +
                     std::to_string(qn.pre_act.bits) + " = " + std::to_string(entries));
    for (size_t i = 0; i < entries; ++i)
      if (qn.act_lut[i] < code_min(qn.out.bits) || qn.act_lut[i] > code_max(qn.out.bits))
        fail(node, what + " table entry " + std::to_string(i) + " = " + std::to_string(qn.act_lut[i]) +
                       " is outside the output's " + std::to_string(qn.out.bits) + "-bit range");
  }
  return activation_stage(node.act, qn);
}

// Weights: size and code range. Bias: empty (zero) or one per output channel.
void check_weights(const Node& node, const QNode& qn, int64_t count, int64_t channels) {
  if (qn.weight_bits < 2 || qn.weight_bits > 16)
    fail(node, "weight_bits " + std::to_string(qn.weight_bits) + " is outside 2..16");
  if (qn.weight.size() != uz(count))
    fail(node,
         "has " + std::to_string(qn.weight.size()) + " weight codes, expected " + std::to_string(count));
  const int64_t lo = code_min(qn.weight_bits), hi = code_max(qn.weight_bits);
  const auto [mn, mx] = value_range(qn.weight.data(), qn.weight.size());
  if (!qn.weight.empty() && (mn < lo || mx > hi)) {
    const size_t i = first_outside(qn.weight.data(), qn.weight.size(), lo, hi);
    fail(node, "weight code " + std::to_string(qn.weight[i]) + " at index " + std::to_string(i) +
                   " is outside the " + std::to_string(qn.weight_bits) + "-bit range");
  }
  if (!qn.bias.empty() && qn.bias.size() != uz(channels))
    fail(node, "has " + std::to_string(qn.bias.size()) + " biases, expected " + std::to_string(channels) +
                   " (or none)");
}

// ---------------------------------------------------------------------------------------------------
// Conv2d

using detail::ConvGeom;

// acc[co, p] = sum_i w[co, i, tap] * xc[i, p + tap] (no bias), in T; returns acc [cout, ho*wo] (scratch).
template <class T>
const T* conv_accumulate(const ConvGeom& g, const QTensor& x, const ActQuant& qx,
                         const std::vector<int32_t>& weight) {
  const int64_t plane = g.h * g.w, out_plane = g.ho * g.wo;
  T* xc = scratch<T>(kInputSlot, uz(g.cin * plane));
  const bool row_grid = qx.groups1 != 1;  // zero point varies with the input row
  for (int64_t c = 0; c < g.cin; ++c)
    for (int64_t y = 0; y < (row_grid ? g.h : 1); ++y) {
      const int64_t first = c * plane + y * g.w;
      center(x.data.data() + first, uz(row_grid ? g.w : plane), qx.zero_point[qx.group(c, y)], qx.bits <= 16,
             xc + first);
    }
  T* wt = scratch<T>(kWeightSlot, weight.size());
  for (size_t i = 0; i < weight.size(); ++i) wt[i] = static_cast<T>(weight[i]);
  T* acc = scratch<T>(kAccSlot, uz(g.cout * out_plane));

  if (detail::is_depthwise(g)) {
    std::fill(acc, acc + g.cout * out_plane, T(0));
    // Skipping zero weights is exact here: the data are integers, never inf or NaN.
    detail::depthwise_conv</*SkipZeroWeights=*/true>(xc, wt, g, acc);
    return acc;
  }
  T* col = detail::is_direct(g) ? nullptr : scratch<T>(kColumnSlot, uz(detail::column_size(g)));
  detail::grouped_conv_gemm(xc, wt, g, col, acc);
  return acc;
}

// One row of outputs: bias, int32 check, activation stage. Returns false if an accumulator left int32
// (the caller reports it; the codes computed from the clamped value are discarded).
template <class T, Act A>
bool stage_row(const T* __restrict a, int32_t* __restrict y, int64_t n, int64_t bias, int64_t zp_y,
               const ChannelStage s) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = to_i64(a[i]) + bias;
    ok &= v >= kInt32Min && v <= kInt32Max;
    y[i] = apply_stage<A>(s, clamp_code(v, kInt32Min, kInt32Max), zp_y);
  }
  return ok;
}

template <class T, Act A>
void conv_epilogue(const Node& node, const QNode& qn, const ActStage& s, const ConvGeom& g, const T* acc,
                   int32_t* out) {
  const int64_t out_plane = g.ho * g.wo;
  for (int64_t c = 0; c < g.cout; ++c) {
    const int64_t bias = qn.bias.empty() ? 0 : qn.bias[uz(c)];
    const ChannelStage cs = channel_stage(s, uz(c));
    const bool row_grid = qn.out.groups1 != 1;  // zero point varies with the output row
    for (int64_t oy = 0; oy < (row_grid ? g.ho : 1); ++oy) {
      const int64_t zp_y = qn.out.zero_point[qn.out.group(c, oy)];
      const int64_t first = c * out_plane + oy * g.wo, count = row_grid ? g.wo : out_plane;
      if (!stage_row<T, A>(acc + first, out + first, count, bias, zp_y, cs))
        for (int64_t i = 0; i < count; ++i)
          check_acc(node, to_i64(acc[first + i]) + bias, "channel, output pixel", c,
                    first - c * out_plane + i);
    }
  }
}

QTensor conv2d(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects a [C,H,W] input, got " + shape_str(x.shape));
  if (node.kernel <= 0 || node.stride <= 0 || node.pad < 0 || node.groups <= 0)
    fail(node, "invalid kernel/stride/pad/groups");
  ConvGeom g{x.shape[0], x.shape[1],  x.shape[2],  node.out_features, 0,
             0,          node.kernel, node.stride, node.pad,          node.groups};
  if (g.cin != node.in_features)
    fail(node, "input has " + std::to_string(g.cin) + " channels, node expects " +
                   std::to_string(node.in_features));
  if (g.cin % g.groups || g.cout % g.groups) fail(node, "channels are not divisible by groups");
  if (node.norm == Norm::LayerNorm) fail(node, "LayerNorm after a Conv2d has no integer semantics");
  g.ho = window_outputs(g.h, g.k, g.stride, g.pad);
  g.wo = window_outputs(g.w, g.k, g.stride, g.pad);
  expect_out_shape(node, {g.cout, g.ho, g.wo});
  const int64_t cg = g.cin / g.groups, cog = g.cout / g.groups, taps = cg * g.k * g.k;
  check_weights(node, qn, g.cout * taps, g.cout);
  const ActStage stage = make_stage(node, qn, g.cout);

  // Worst-case accumulator (without bias) per output channel, from the largest |x - zp| of each input
  // channel.
  std::vector<int64_t> in_max(uz(g.cin), 0);
  const int64_t plane = g.h * g.w;
  const bool row_grid = qx.groups1 != 1;
  for (int64_t c = 0; c < g.cin; ++c)
    for (int64_t y = 0; y < (row_grid ? g.h : 1); ++y) {
      const int64_t zp = qx.zero_point[qx.group(c, y)];
      const auto [mn, mx] = value_range(x.data.data() + c * plane + y * g.w, uz(row_grid ? g.w : plane));
      if (plane > 0) in_max[uz(c)] = std::max({in_max[uz(c)], std::abs(mx - zp), std::abs(mn - zp)});
    }
  double bound = 0.0;
  const int64_t kk = g.k * g.k;
  for (int64_t co = 0; co < g.cout; ++co) {
    const int64_t first_in = (co / cog) * cg;
    const int32_t* w = qn.weight.data() + co * taps;
    double b = 0.0;  // in double: exact far beyond the thresholds of choose_acc, and cannot overflow
    for (int64_t i = 0; i < cg; ++i) {
      int64_t wsum = 0;
      for (int64_t t = 0; t < kk; ++t) wsum += std::abs(int64_t{w[i * kk + t]});
      b += static_cast<double>(wsum) * static_cast<double>(in_max[uz(first_in + i)]);
    }
    bound = std::max(bound, b);
  }

  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  with_acc(choose_acc(node, bound), [&](auto tag) {
    using T = decltype(tag);
    const T* acc = conv_accumulate<T>(g, x, qx, qn.weight);
    with_act(node.act, [&](auto act) {
      conv_epilogue<T, decltype(act)::value>(node, qn, stage, g, acc, out.data.data());
    });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Linear

template <class T, Act A>
void linear_epilogue(const Node& node, const QNode& qn, const ActStage& s, const T* acc, int64_t rows,
                     int64_t outf, int32_t* out) {
  const GridAxes a = grid_axes(node.out_shape);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < outf; ++c) {
      const int64_t flat = r * outf + c;
      const int64_t v = to_i64(acc[flat]) + (qn.bias.empty() ? 0 : qn.bias[uz(c)]);
      check_acc(node, v, "row, feature", r, c);
      out[flat] = apply_stage<A>(channel_stage(s, uz(c)), v, qn.out.zero_point[group_of(qn.out, a, flat)]);
    }
}

template <class T>
void float_layernorm_epilogue(const Node& node, const QNode& qn, const T* acc, int64_t rows, int64_t outf,
                              int32_t* out) {
  std::vector<int64_t> row_acc(uz(outf));
  std::vector<float> work(uz(outf));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < outf; ++c) {
      row_acc[uz(c)] = to_i64(acc[r * outf + c]) + (qn.bias.empty() ? 0 : qn.bias[uz(c)]);
      check_acc(node, row_acc[uz(c)], "row, feature", r, c);
    }
    const int64_t nan_at = float_layernorm_row(node, qn, r, row_acc.data(), work.data(), out + r * outf);
    if (nan_at >= 0)
      fail(node, "float LayerNorm produced NaN at row " + std::to_string(r) + ", feature " +
                     std::to_string(nan_at));
  }
}

QTensor linear(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.empty() || x.shape.back() != node.in_features || node.in_features <= 0)
    fail(node, "input " + shape_str(x.shape) + " does not end in " + std::to_string(node.in_features) +
                   " features");
  Shape derived = x.shape;
  derived.back() = node.out_features;
  expect_out_shape(node, derived);
  const int64_t in = node.in_features, outf = node.out_features, rows = numel(x.shape) / in;
  check_weights(node, qn, outf * in, outf);

  ActStage stage;
  if (qn.float_layernorm) {
    if (node.norm != Norm::LayerNorm) fail(node, "float_layernorm is set but the node has no LayerNorm");
    if (qn.weight_scale.size() != uz(outf))
      fail(node, "has " + std::to_string(qn.weight_scale.size()) + " weight scales, expected " +
                     std::to_string(outf));
    if (!(qn.in_scale > 0.0f) || !std::isfinite(qn.in_scale))
      fail(node, "float_layernorm needs a positive in_scale, got " + std::to_string(qn.in_scale));
    for (const auto& [key, values] : {std::pair{"ln_gamma", &qn.ln_gamma}, std::pair{"ln_beta", &qn.ln_beta}})
      if (values->size() != uz(outf))
        fail(node, std::string("float_layernorm needs ") + key + " with " + std::to_string(outf) + " values");
    for (float s : qn.out.scale)
      if (!(s > 0.0f) || !std::isfinite(s))
        fail(node, "output scale must be positive, got " + std::to_string(s));
  } else {
    if (node.norm == Norm::LayerNorm)
      fail(node,
           "LayerNorm inside a Linear has no integer semantics (set float_layernorm to keep it in FP32)");
    stage = make_stage(node, qn, outf);
  }

  // Worst-case accumulator per output feature, from the largest |x - zp| of each input feature.
  const GridAxes ax = grid_axes(x.shape);
  std::vector<double> in_max(uz(in), 0.0);
  for (int64_t f = 0; f < rows * in; ++f) {
    const int64_t v = int64_t{x.data[uz(f)]} - qx.zero_point[group_of(qx, ax, f)];
    in_max[uz(f % in)] = std::max(in_max[uz(f % in)], static_cast<double>(std::abs(v)));
  }
  double bound = 0.0;
  for (int64_t c = 0; c < outf; ++c) {
    double b = 0.0;
    for (int64_t i = 0; i < in; ++i)
      b += std::abs(static_cast<double>(qn.weight[uz(c * in + i)])) * in_max[uz(i)];
    bound = std::max(bound, b);
  }

  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  with_acc(choose_acc(node, bound), [&](auto tag) {
    using T = decltype(tag);
    T* xc = scratch<T>(kInputSlot, uz(rows * in));
    T* wt = scratch<T>(kWeightSlot, qn.weight.size());
    T* acc = scratch<T>(kAccSlot, uz(rows * outf));
    for (int64_t f = 0; f < rows * in; ++f)
      xc[f] = static_cast<T>(int64_t{x.data[uz(f)]} - qx.zero_point[group_of(qx, ax, f)]);
    for (size_t i = 0; i < qn.weight.size(); ++i) wt[i] = static_cast<T>(qn.weight[i]);
    MatMap<T>(acc, ei(rows), ei(outf)).noalias() =
        ConstMatMap<T>(xc, ei(rows), ei(in)) * ConstMatMap<T>(wt, ei(outf), ei(in)).transpose();
    if (qn.float_layernorm) {
      float_layernorm_epilogue<T>(node, qn, acc, rows, outf, out.data.data());
    } else {
      with_act(node.act, [&](auto act) {
        linear_epilogue<T, decltype(act)::value>(node, qn, stage, acc, rows, outf, out.data.data());
      });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// MatMul

struct Operand {
  int64_t off, rows, n, r;  // sliced rows [off, off + rows) of [B, r, n]
  bool transpose;
  int64_t mat_rows() const { return transpose ? n : rows; }
  int64_t mat_cols() const { return transpose ? rows : n; }
};

Operand operand(const Node& node, const QTensor& t, const MatOperand& op, const char* which) {
  if (t.shape.size() != 3)
    fail(node, std::string("operand ") + which + " must be [B,R,N], got " + shape_str(t.shape));
  const int64_t r = t.shape[1];
  const int64_t rows = op.rows ? op.rows : r - op.row_offset;
  if (op.row_offset < 0 || rows <= 0 || op.row_offset + rows > r)
    fail(node, std::string("operand ") + which + " row slice [" + std::to_string(op.row_offset) + ", +" +
                   std::to_string(rows) + ") is outside " + shape_str(t.shape));
  return {op.row_offset, rows, t.shape[2], r, op.transpose};
}

// The centered matrix (x - zp) of one batch of an operand, after slicing and transposition, row-major.
void materialize(const QTensor& t, const ActQuant& q, const Operand& op, int64_t batch, int64_t* dst) {
  const int64_t cols = op.mat_cols();
  for (int64_t i = 0; i < op.rows; ++i) {
    const int64_t row = op.off + i;
    const int64_t zp = q.zero_point[q.group(batch, row)];
    const int32_t* src = t.data.data() + (batch * op.r + row) * op.n;
    for (int64_t j = 0; j < op.n; ++j) {
      const int64_t v = q.log2 ? log2_weight(src[j], q.bits) : src[j] - zp;  // log2: a shift, as a weight
      if (op.transpose)
        dst[j * cols + i] = v;
      else
        dst[i * op.n + j] = v;
    }
  }
}

QTensor matmul(const Node& node, const QNode& qn, const QTensor& ta, const ActQuant& qa, const QTensor& tb,
               const ActQuant& qb) {
  const Operand a = operand(node, ta, node.a, "a"), b = operand(node, tb, node.b, "b");
  const int64_t m = a.mat_rows(), k = a.mat_cols(), nn = b.mat_cols();
  if (ta.shape[0] != tb.shape[0] || k != b.mat_rows())
    fail(node,
         "cannot multiply " + shape_str(ta.shape) + " by " + shape_str(tb.shape) + " with these slices");
  const int64_t batches = ta.shape[0];
  expect_out_shape(node, {batches, m, nn});
  const bool raw = qn.out.bits == 32;
  if (!raw) check_requant(node, "requant", qn.requant, uz(qn.out.groups0 * qn.out.groups1));
  if (qb.log2) fail(node, "only the left operand may hold log2 codes");

  std::vector<int64_t> am(uz(batches * m * k)), bm(uz(batches * k * nn));
  double bound = 0.0;
  std::vector<double> bmax(uz(k));
  for (int64_t bt = 0; bt < batches; ++bt) {
    int64_t* ab = am.data() + bt * m * k;
    int64_t* bb = bm.data() + bt * k * nn;
    materialize(ta, qa, a, bt, ab);
    materialize(tb, qb, b, bt, bb);
    for (int64_t kk = 0; kk < k; ++kk) {
      int64_t mx = 0;
      for (int64_t j = 0; j < nn; ++j) mx = std::max(mx, std::abs(bb[kk * nn + j]));
      bmax[uz(kk)] = static_cast<double>(mx);
    }
    for (int64_t i = 0; i < m; ++i) {
      double s = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) s += static_cast<double>(std::abs(ab[i * k + kk])) * bmax[uz(kk)];
      bound = std::max(bound, s);
    }
  }

  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  with_acc(choose_acc(node, bound), [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> at(am.size()), bt_(bm.size()), acc(uz(m * nn));
    for (size_t i = 0; i < am.size(); ++i) at[i] = static_cast<T>(am[i]);
    for (size_t i = 0; i < bm.size(); ++i) bt_[i] = static_cast<T>(bm[i]);
    for (int64_t bt = 0; bt < batches; ++bt) {
      MatMap<T>(acc.data(), ei(m), ei(nn)).noalias() =
          ConstMatMap<T>(at.data() + bt * m * k, ei(m), ei(k)) *
          ConstMatMap<T>(bt_.data() + bt * k * nn, ei(k), ei(nn));
      int32_t* y = out.data.data() + bt * m * nn;
      for (int64_t i = 0; i < m; ++i) {
        const size_t g = qn.out.group(bt, i);
        for (int64_t j = 0; j < nn; ++j) {
          const int64_t v = to_i64(acc[uz(i * nn + j)]);
          if (v < kInt32Min || v > kInt32Max) check_acc(node, v, "batch, row", bt, i);
          y[i * nn + j] = raw ? static_cast<int32_t>(v)
                              : requantize_code(v, qn.requant[g], qn.out.zero_point[g], qn.out.bits);
        }
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Add, Concat, GlobalAvgPool, AttnKernel, AttnNormalize

QTensor add(const Node& node, const QNode& qn, const QTensor& x0, const ActQuant& q0, const QTensor& x1,
            const ActQuant& q1) {
  if (x0.shape != x1.shape) fail(node, "cannot add " + shape_str(x0.shape) + " and " + shape_str(x1.shape));
  expect_out_shape(node, x0.shape);
  for (const auto& [what, q] :
       {std::pair{"input 0", &q0}, std::pair{"input 1", &q1}, std::pair{"the output", &qn.out}})
    if (!q->per_tensor() && (x0.shape.size() != 2 || ptf_alphas(*q).empty()))
      fail(node, std::string("Add needs per-tensor or PTF quantizers (on [T, D]); ") + what + " has neither");
  if (q0.bits == 32 || q1.bits == 32) fail(node, "Add of raw int32 accumulators has no integer semantics");
  check_requant(node, "requant", qn.requant, 2);
  if (qn.requant[0].shift != qn.requant[1].shift)
    fail(node, "the two requantizers must share one shift, got " + std::to_string(qn.requant[0].shift) +
                   " and " + std::to_string(qn.requant[1].shift));
  for (const ActQuant* q : {&q0, &q1})  // PTF factors shift the centered codes: keep them narrow
    if (!q->per_tensor() && (q->zero_point[0] < code_min(q->bits) || q->zero_point[0] > code_max(q->bits)))
      fail(node, "a PTF input's zero point must lie in its code range");
  const AddStage stage(qn, q0, q1, node.act);
  QTensor out{node.out_shape, std::vector<int32_t>(x0.data.size())};
  const size_t width = uz(x0.shape.back());
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = stage.apply(x0.data[i], x1.data[i], i % width);
  return out;
}

bool same_quant(const ActQuant& a, size_t ga, const ActQuant& b, size_t gb) {
  return a.scale[ga] == b.scale[gb] && a.zero_point[ga] == b.zero_point[gb];
}

QTensor concat(const Node& node, const QNode& qn, const std::vector<const QTensor*>& ins,
               const std::vector<const ActQuant*>& qs) {
  if (ins.empty()) fail(node, "concat of nothing");
  Shape derived = ins[0]->shape;
  if (derived.empty()) fail(node, "cannot concatenate scalars");
  for (size_t i = 1; i < ins.size(); ++i) {
    const Shape& s = ins[i]->shape;
    if (s.size() != derived.size() || !std::equal(s.begin() + 1, s.end(), derived.begin() + 1))
      fail(node, "cannot concatenate " + shape_str(derived) + " and " + shape_str(s));
    derived[0] += s[0];
  }
  expect_out_shape(node, derived);
  // Codes are copied, so the output grid must be the inputs' grids stacked along axis 0.
  const int64_t n1 = derived.size() >= 2 ? derived[1] : 1;
  int64_t off = 0;
  for (size_t j = 0; j < ins.size(); ++j) {
    const ActQuant& q = *qs[j];
    if (q.bits > qn.out.bits)
      fail(node, "input " + std::to_string(j) + " has " + std::to_string(q.bits) +
                     "-bit codes, the output only " + std::to_string(qn.out.bits));
    for (int64_t i0 = 0; i0 < ins[j]->shape[0]; ++i0)
      for (int64_t i1 = 0; i1 < n1; ++i1)
        if (!same_quant(qn.out, qn.out.group(off + i0, i1), q, q.group(i0, i1)))
          fail(node, "output grid is not the inputs' grids stacked: at (" + std::to_string(off + i0) + ", " +
                         std::to_string(i1) + ") the output has scale " +
                         std::to_string(qn.out.scale[qn.out.group(off + i0, i1)]) + ", zero point " +
                         std::to_string(qn.out.zero_point[qn.out.group(off + i0, i1)]) + "; input " +
                         std::to_string(j) + " has scale " + std::to_string(q.scale[q.group(i0, i1)]) +
                         ", zero point " + std::to_string(q.zero_point[q.group(i0, i1)]));
    off += ins[j]->shape[0];
  }
  QTensor out{node.out_shape, {}};
  out.data.reserve(uz(numel(derived)));
  for (const QTensor* t : ins) out.data.insert(out.data.end(), t->data.begin(), t->data.end());
  return out;
}

QTensor global_avg_pool(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects a [C,H,W] input, got " + shape_str(x.shape));
  expect_out_shape(node, {x.shape[0]});
  check_requant(node, "requant", qn.requant, 1);
  const int64_t c = x.shape[0], h = x.shape[1], w = x.shape[2];
  QTensor out{node.out_shape, std::vector<int32_t>(uz(c))};
  for (int64_t ch = 0; ch < c; ++ch) {
    int64_t sum = 0;
    for (int64_t y = 0; y < h; ++y) {
      const int64_t zp = qx.zero_point[qx.group(ch, y)];
      const int32_t* src = x.data.data() + (ch * h + y) * w;
      for (int64_t i = 0; i < w; ++i) sum += src[i] - zp;
    }
    if (sum < kInt32Min || sum > kInt32Max)
      overflow(node,
               "sum " + std::to_string(sum) + " of channel " + std::to_string(ch) + " is outside int32");
    out.data[uz(ch)] =
        requantize_code(sum, qn.requant[0], qn.out.zero_point[qn.out.group(ch, 0)], qn.out.bits);
  }
  return out;
}

QTensor max_pool(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects a [C,H,W] input, got " + shape_str(x.shape));
  const int64_t c = x.shape[0], h = x.shape[1], w = x.shape[2];
  const int64_t ho = window_outputs(h, node.kernel, node.stride, node.pad);
  const int64_t wo = window_outputs(w, node.kernel, node.stride, node.pad);
  expect_out_shape(node, {c, ho, wo});
  if (!qn.out.same_as(qx) || qx.groups1 != 1)
    fail(node, "the output quantizer must equal the input's, per tensor or per channel");
  QTensor out{node.out_shape, std::vector<int32_t>(uz(c * ho * wo))};
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        out.data[uz((ch * ho + oy) * wo + ox)] = max_pool_at(node, x.data.data() + ch * h * w, h, w, oy, ox);
  return out;
}

QTensor attn_kernel(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects a [2h*3d,H,W] input, got " + shape_str(x.shape));
  const int64_t d = node.head_dim;
  if (d <= 0 || x.shape[0] % (3 * d)) fail(node, "channels are not a multiple of 3*head_dim");
  const int64_t heads = x.shape[0] / (3 * d), n = x.shape[1] * x.shape[2];
  expect_out_shape(node, {heads, 3 * d + 1, n});
  for (int32_t zp : qx.zero_point)
    if (zp != 0) fail(node, "input zero points must be 0, got " + std::to_string(zp));
  if (qx.groups1 != 1) fail(node, "the input grid must not vary over the rows of the feature map");
  // Output grid: row r < 3d of head b has the scale of input channel b*3d + r; row 3d has scale 1.
  for (int64_t b = 0; b < heads; ++b)
    for (int64_t r = 0; r <= 3 * d; ++r) {
      const size_t g = qn.out.group(b, r);
      const bool ok = r < 3 * d ? same_quant(qn.out, g, qx, qx.group(b * 3 * d + r, 0))
                                : qn.out.scale[g] == 1.0f && qn.out.zero_point[g] == 0;
      if (!ok)
        fail(node, "output grid at (head " + std::to_string(b) + ", row " + std::to_string(r) +
                       ") has scale " + std::to_string(qn.out.scale[g]) + ", zero point " +
                       std::to_string(qn.out.zero_point[g]) +
                       (r < 3 * d ? "; expected its input channel's"
                                  : "; the ones row needs scale 1, zero point 0"));
    }
  if (qx.bits > qn.out.bits)
    fail(node, "input has " + std::to_string(qx.bits) + "-bit codes, the output only " +
                   std::to_string(qn.out.bits));
  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  for (int64_t b = 0; b < heads; ++b) {
    const int32_t* src = x.data.data() + b * 3 * d * n;
    int32_t* dst = out.data.data() + b * (3 * d + 1) * n;
    for (int64_t r = 0; r <= 3 * d; ++r)  // the ones row (r = 3d) reads nothing
      for (int64_t j = 0; j < n; ++j) dst[r * n + j] = attn_kernel_code(r, d, r < 3 * d ? src[r * n + j] : 0);
  }
  return out;
}

QTensor attn_normalize(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects [2h, head_dim+1, N], got " + shape_str(x.shape));
  const int64_t d = node.head_dim, heads = x.shape[0], n = x.shape[2];
  if (d <= 0 || x.shape[1] != d + 1) fail(node, "expects [2h, head_dim+1, N], got " + shape_str(x.shape));
  if (node.out_shape.size() != 3 || node.out_shape[0] != heads * d ||
      node.out_shape[1] * node.out_shape[2] != n)
    fail(node, "input " + shape_str(x.shape) + " does not fit output " + shape_str(node.out_shape));
  if (qx.bits != 32)
    fail(node, "input must be raw int32 accumulators (bits 32), has " + std::to_string(qx.bits));
  check_quant(node, "numerator quantizer", qn.numerator, Shape{heads}, false);
  for (int32_t zp : qn.numerator.zero_point)
    if (zp != 0) fail(node, "numerator zero points must be 0");
  const size_t groups = uz(qn.numerator.groups0);
  check_requant(node, "num_requant", qn.num_requant, groups);
  check_requant(node, "div_requant", qn.div_requant, groups);
  check_requant(node, "out_requant", qn.out_requant, groups);
  const bool log2 = qn.divisor_mode == DivisorMode::Log2;
  if (log2 && (qn.divisor_code_bits < 1 || qn.divisor_code_bits > 30))
    fail(node, "divisor_code_bits " + std::to_string(qn.divisor_code_bits) + " is outside 1..30");
  if (log2 && (qn.divisor_frac_bits < 0 || qn.divisor_frac_bits > 62))
    fail(node, "divisor_frac_bits " + std::to_string(qn.divisor_frac_bits) + " is outside 0..62");
  if (!log2 && (qn.divisor_bits < 1 || qn.divisor_bits > 31))
    fail(node, "divisor_bits " + std::to_string(qn.divisor_bits) + " is outside 1..31");

  const int64_t width = node.out_shape[2];
  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  for (int64_t b = 0; b < heads; ++b) {
    const NormalizeStage stage(qn, qn.numerator.group(b, 0));
    const int32_t* src = x.data.data() + b * (d + 1) * n;
    const int32_t* den = src + d * n;
    for (int64_t r = 0; r < d; ++r) {
      const int64_t c = b * d + r;
      int32_t* dst = out.data.data() + c * n;
      for (int64_t j = 0; j < n; ++j)
        dst[j] = stage.apply(src[r * n + j], den[j], qn.out.zero_point[qn.out.group(c, j / width)]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Standard-ViT ops

// Codes moved without requantization: out[o] = x[source(o)], and each output element's quantizer group
// must hold its source element's (scale, zero point).
template <class Source>
QTensor move_codes(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx, Source source) {
  const GridAxes ai = grid_axes(x.shape), ao = grid_axes(node.out_shape);
  if (qx.log2 || qx.bits > qn.out.bits)
    fail(node, "the output must hold the input's codes (" + std::to_string(qx.bits) + "-bit" +
                   (qx.log2 ? " log2" : "") + ")");
  QTensor out{node.out_shape, std::vector<int32_t>(uz(numel(node.out_shape)))};
  for (int64_t o = 0; o < static_cast<int64_t>(out.data.size()); ++o) {
    const int64_t i = source(o);
    const size_t go = group_of(qn.out, ao, o), gi = group_of(qx, ai, i);
    if (!same_quant(qn.out, go, qx, gi))
      fail(node, "output element " + std::to_string(o) + " has scale " + std::to_string(qn.out.scale[go]) +
                     ", zero point " + std::to_string(qn.out.zero_point[go]) + "; its source element " +
                     std::to_string(i) + " has scale " + std::to_string(qx.scale[gi]) + ", zero point " +
                     std::to_string(qx.zero_point[gi]));
    out.data[uz(o)] = x.data[uz(i)];
  }
  return out;
}

QTensor patch_tokens(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects a [D,H,W] input, got " + shape_str(x.shape));
  const int64_t d = x.shape[0], t = x.shape[1] * x.shape[2];
  expect_out_shape(node, {t, d});
  return move_codes(node, qn, x, qx, [&](int64_t o) { return moved_code_source(node, x.shape, o); });
}

QTensor head_split(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 2 || node.heads <= 0 || x.shape[1] % (3 * node.heads))
    fail(node, "expects [T, 3*heads*dh], got " + shape_str(x.shape));
  const int64_t t = x.shape[0], h = node.heads, dh = x.shape[1] / (3 * h);
  expect_out_shape(node, {h, 3 * dh, t});
  return move_codes(node, qn, x, qx, [&](int64_t o) { return moved_code_source(node, x.shape, o); });
}

QTensor head_merge(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 3) fail(node, "expects [h, T, dh], got " + shape_str(x.shape));
  const int64_t h = x.shape[0], t = x.shape[1], dh = x.shape[2];
  expect_out_shape(node, {t, h * dh});
  return move_codes(node, qn, x, qx, [&](int64_t o) { return moved_code_source(node, x.shape, o); });
}

QTensor token_select(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 2 || node.token_index < 0 || node.token_index >= x.shape[0])
    fail(node,
         "expects [T, D] with token " + std::to_string(node.token_index) + ", got " + shape_str(x.shape));
  expect_out_shape(node, {x.shape[1]});
  return move_codes(node, qn, x, qx, [&](int64_t o) { return moved_code_source(node, x.shape, o); });
}

QTensor channel_mul(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx, const QTensor& g,
                    const ActQuant& qg) {
  if (x.shape.size() != 3 || g.shape != Shape{x.shape[0]})
    fail(node, "expects [C, H, W] and a [C] gate, got " + shape_str(x.shape) + " and " + shape_str(g.shape));
  expect_out_shape(node, x.shape);
  if (qx.groups1 != 1 || qx.log2 || qx.bits == 32 || !qg.per_tensor() || qg.log2 || qg.bits == 32)
    fail(node, "needs a per-tensor or per-channel input and a per-tensor gate quantizer of narrow codes");
  if (!qn.out.per_tensor()) fail(node, "needs a per-tensor output quantizer");
  const int64_t channels = x.shape[0], plane = x.shape[1] * x.shape[2];
  check_requant(node, "requant", qn.requant, uz(channels));
  QTensor out{node.out_shape, std::vector<int32_t>(x.data.size())};
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t zp_x = qx.zero_point[qx.group(c, 0)], gc = g.data[uz(c)] - int64_t{qg.zero_point[0]};
    for (int64_t p = 0; p < plane; ++p) {
      const size_t i = uz(c * plane + p);
      out.data[i] =
          channel_mul_code(x.data[i] - zp_x, gc, qn.requant[uz(c)], qn.out.zero_point[0], qn.out.bits);
    }
  }
  return out;
}

void check_per_tensor_input(const Node& node, const ActQuant& qx) {
  if (!qx.per_tensor() || qx.log2 || qx.bits == 32)
    fail(node, "needs a per-tensor input quantizer of narrow codes");
}

QTensor class_token(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 2) fail(node, "expects [T, D], got " + shape_str(x.shape));
  const int64_t d = x.shape[1];
  expect_out_shape(node, {x.shape[0] + 1, d});
  check_per_tensor_input(node, qx);
  if (!qn.out.per_tensor()) fail(node, "needs a per-tensor output quantizer");
  check_requant(node, "requant", qn.requant, 1);
  if (qn.const_codes.size() != uz(d))
    fail(node,
         "has " + std::to_string(qn.const_codes.size()) + " token codes, expected " + std::to_string(d));
  const int64_t zp_y = qn.out.zero_point[0];
  for (size_t c = 0; c < qn.const_codes.size(); ++c)
    if (qn.const_codes[c] < code_min(qn.out.bits) || qn.const_codes[c] > code_max(qn.out.bits))
      fail(node, "token code " + std::to_string(c) + " is outside the output's " +
                     std::to_string(qn.out.bits) + "-bit range");
  QTensor out{node.out_shape, qn.const_codes};
  out.data.resize(uz(numel(node.out_shape)));
  for (size_t i = 0; i < x.data.size(); ++i)
    out.data[uz(d) + i] = requantize_code(x.data[i] - qx.zero_point[0], qn.requant[0], zp_y, qn.out.bits);
  return out;
}

QTensor pos_embed(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.size() != 2) fail(node, "expects [T, D], got " + shape_str(x.shape));
  expect_out_shape(node, x.shape);
  check_per_tensor_input(node, qx);
  check_requant(node, "requant", qn.requant, uz(qn.out.groups0 * qn.out.groups1));
  if (qn.const_codes.size() != x.data.size())
    fail(node, "has " + std::to_string(qn.const_codes.size()) + " embedding values, expected " +
                   std::to_string(x.data.size()));
  const GridAxes a = grid_axes(x.shape);
  QTensor out{node.out_shape, std::vector<int32_t>(x.data.size())};
  for (int64_t i = 0; i < static_cast<int64_t>(x.data.size()); ++i) {
    const size_t g = group_of(qn.out, a, i);
    const int64_t acc = int64_t{x.data[uz(i)]} - qx.zero_point[0] + qn.const_codes[uz(i)];
    check_acc(node, acc, "token, feature", i / x.shape[1], i % x.shape[1]);
    out.data[uz(i)] = requantize_code(acc, qn.requant[g], qn.out.zero_point[g], qn.out.bits);
  }
  return out;
}

QTensor layer_norm(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.empty()) fail(node, "needs a non-empty last axis");
  expect_out_shape(node, x.shape);
  const int64_t d = x.shape.back();
  if (d <= 0 || d > 65536)
    fail(node, "normalizes rows of " + std::to_string(d) + " values; 1..65536 are supported");
  if (ptf_alphas(qx).empty() || qx.bits > 8 || qx.zero_point[0] < code_min(qx.bits) ||
      qx.zero_point[0] > code_max(qx.bits))
    fail(node,
         "needs a per-tensor or PTF input quantizer of at most 8 bits with a zero point in its code range");
  if (!qn.out.per_tensor()) fail(node, "needs a per-tensor output quantizer");
  if (qn.ln_mult.size() != uz(d) || qn.bias.size() != uz(d))
    fail(node, "needs " + std::to_string(d) + " multipliers and biases, has " +
                   std::to_string(qn.ln_mult.size()) + " and " + std::to_string(qn.bias.size()));
  if (qn.ln_shift < 0 || qn.ln_shift > 30 || qn.ln_eps < 0)
    fail(node, "ln_shift " + std::to_string(qn.ln_shift) + " (0..30) or ln_eps " + std::to_string(qn.ln_eps) +
                   " (>= 0) is out of range");
  const LayerNormStage stage(qn, qx);
  QTensor out{node.out_shape, std::vector<int32_t>(x.data.size())};
  std::vector<int64_t> work(uz(d));
  for (size_t r = 0; r < x.data.size() / uz(d); ++r)
    stage.apply_row(x.data.data() + r * uz(d), out.data.data() + r * uz(d), work.data());
  return out;
}

// |fixed-point score| bound, so that a row's differences stay far inside int64.
constexpr int64_t kScoreLimit = int64_t{1} << 50;

QTensor softmax(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  if (x.shape.empty() || x.shape.back() <= 0) fail(node, "needs a non-empty last axis");
  expect_out_shape(node, x.shape);
  if (qx.log2) fail(node, "its input holds log2 codes");
  if (qn.out.groups0 != qx.groups0 || qn.out.groups1 != qx.groups1)
    fail(node, "the output grid must be the input's grid");
  const int top = (1 << qn.out.bits) - 1;
  if (qn.out.log2 ? qn.out.bits > 5 : qn.out.bits > 16) fail(node, "output codes are too wide");
  for (size_t g = 0; g < qn.out.scale.size(); ++g) {
    const bool ok = qn.out.log2 ? qn.out.scale[g] == 1.0f
                                : qn.out.scale[g] == std::ldexp(1.0f, -qn.out.bits) &&
                                      qn.out.zero_point[g] == -(top + 1) / 2;
    if (!ok)
      fail(node, qn.out.log2 ? "log2 output codes need scale 1"
                             : "uniform output codes need scale 2^-bits and zero point -2^(bits-1)");
  }
  check_requant(node, "requant", qn.requant, qn.out.scale.size());
  const GridAxes a = grid_axes(x.shape);
  const int64_t n = x.shape.back();
  QTensor out{node.out_shape, std::vector<int32_t>(x.data.size())};
  std::vector<int64_t> work(uz(n));
  for (int64_t r = 0; r < static_cast<int64_t>(x.data.size()) / n; ++r) {
    const size_t g = group_of(qx, a, r * n);  // a row lies in one group: the grid covers axes 0 and 1 only
    const int64_t zp = qx.bits == 32 ? 0 : qx.zero_point[g];
    for (int64_t i = 0; i < n; ++i) {
      work[uz(i)] = qn.requant[g].apply(x.data[uz(r * n + i)] - zp);
      if (work[uz(i)] < -kScoreLimit || work[uz(i)] > kScoreLimit)
        overflow(node, "fixed-point score " + std::to_string(work[uz(i)]) + " at row " + std::to_string(r) +
                           " is beyond +-2^50 (its requantizer is far too large)");
    }
    softmax_row(work.data(), n, qn.out, qn.out.zero_point[g], out.data.data() + r * n);
  }
  return out;
}

[[noreturn]] void no_integer_semantics(const Node& node) {
  throw std::invalid_argument("int executor: node '" + node.name + "' (" + op_name(node.op) +
                              ") has no integer semantics yet");
}

void check_qgraph(const QGraph& qgraph) {
  if (qgraph.nodes.size() != qgraph.graph.nodes.size())
    throw std::invalid_argument("int executor: graph '" + qgraph.graph.model + "' has " +
                                std::to_string(qgraph.graph.nodes.size()) + " nodes but " +
                                std::to_string(qgraph.nodes.size()) + " QNodes");
  if (qgraph.graph.nodes.empty() || qgraph.graph.nodes[0].op != OpKind::Input)
    throw std::invalid_argument("int executor: graph '" + qgraph.graph.model + "' has no input node");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Public API

QTensor quantize_input(const QGraph& qgraph, const Tensor& image) {
  check_qgraph(qgraph);
  const Node& node = qgraph.graph.nodes[0];
  const ActQuant& q = qgraph.nodes[0].out;
  if (image.shape != node.out_shape || image.size() != numel(image.shape))
    fail(node, "expects an image " + shape_str(node.out_shape) + ", got " + shape_str(image.shape));
  check_quant(node, "output", q, node.out_shape, false);
  if (!q.per_tensor()) fail(node, "the input quantizer must be per tensor");
  if (!(q.scale[0] > 0.0f) || !std::isfinite(q.scale[0]))
    fail(node, "input scale must be positive, got " + std::to_string(q.scale[0]));
  QTensor out{image.shape, std::vector<int32_t>(image.data.size())};
  for (size_t i = 0; i < image.data.size(); ++i)
    if (!quantize_fp32(image.data[i], q.scale[0], q.zero_point[0], q.bits, out.data[i]))
      fail(node, "image value at index " + std::to_string(i) + " is NaN");
  return out;
}

Tensor dequantize(const QTensor& codes, const ActQuant& quant) {
  if (codes.data.size() != uz(numel(codes.shape)))
    throw std::invalid_argument("dequantize: " + std::to_string(codes.data.size()) + " codes for shape " +
                                shape_str(codes.shape));
  check_quant(std::string("dequantize"), "quantizer", quant, codes.shape, true);
  Tensor out(codes.shape);
  const GridAxes a = grid_axes(codes.shape);
  for (int64_t i0 = 0; i0 < a.n0; ++i0)
    for (int64_t i1 = 0; i1 < a.n1; ++i1) {
      const size_t g = quant.group(i0, i1);
      const double s = quant.scale[g];
      const int64_t zp = quant.bits == 32 ? 0 : quant.zero_point[g];
      const int64_t base = (i0 * a.n1 + i1) * a.inner;
      for (int64_t k = 0; k < a.inner; ++k) {
        const int32_t c = codes.data[uz(base + k)];
        out.data[uz(base + k)] =
            static_cast<float>(quant.log2 ? s * std::ldexp(static_cast<double>(log2_weight(c, quant.bits)),
                                                           2 - (1 << quant.bits))
                                          : s * static_cast<double>(c - zp));
      }
    }
  return out;
}

QTensor eval_node_int(const QGraph& qgraph, int index, const std::vector<const QTensor*>& inputs) {
  check_qgraph(qgraph);
  if (index < 0 || static_cast<size_t>(index) >= qgraph.graph.nodes.size())
    throw std::invalid_argument("int executor: node index " + std::to_string(index) +
                                " is outside the graph");
  const Node& node = qgraph.graph.nodes[uz(index)];
  const QNode& qn = qgraph.nodes[uz(index)];
  if (!has_integer_semantics(node.op)) no_integer_semantics(node);

  // Inputs: one per graph input (the image codes for the input node), each with its producer's shape,
  // a consistent quantizer and codes in range.
  const size_t expected = node.op == OpKind::Input ? 1 : node.inputs.size();
  if (inputs.size() != expected)
    fail(node, "expects " + std::to_string(expected) + " input(s), got " + std::to_string(inputs.size()));
  std::vector<const ActQuant*> quants(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const QTensor* t = inputs[k];
    if (!t) fail(node, "null input " + std::to_string(k));
    int producer = index;
    if (node.op != OpKind::Input) {
      producer = node.inputs[k];
      if (producer < 0 || producer >= index)
        fail(node, "input " + std::to_string(producer) + " is not an earlier node");
    }
    const Shape& shape = qgraph.graph.nodes[uz(producer)].out_shape;
    const std::string what =
        "input " + std::to_string(k) + " ('" + qgraph.graph.nodes[uz(producer)].name + "')";
    if (t->shape != shape || t->data.size() != uz(numel(shape)))
      fail(node, what + " is " + shape_str(t->shape) + " with " + std::to_string(t->data.size()) +
                     " codes, expected " + shape_str(shape));
    quants[k] = &qgraph.nodes[uz(producer)].out;
    check_quant(node, what + " quantizer", *quants[k], shape, true);
    check_codes(node, what, *t, *quants[k]);
  }
  check_quant(node, "output quantizer", qn.out, node.out_shape, node.op == OpKind::MatMul);
  if (qn.out.log2 && node.op != OpKind::Softmax) fail(node, "only a Softmax outputs log2 codes");

  switch (node.op) {
    case OpKind::Input:
      return *inputs[0];
    case OpKind::Conv2d:
      return conv2d(node, qn, *inputs[0], *quants[0]);
    case OpKind::Linear:
      return linear(node, qn, *inputs[0], *quants[0]);
    case OpKind::Add:
      return add(node, qn, *inputs[0], *quants[0], *inputs[1], *quants[1]);
    case OpKind::Concat:
      return concat(node, qn, inputs, quants);
    case OpKind::GlobalAvgPool:
      return global_avg_pool(node, qn, *inputs[0], *quants[0]);
    case OpKind::AttnKernel:
      return attn_kernel(node, qn, *inputs[0], *quants[0]);
    case OpKind::MatMul:
      return matmul(node, qn, *inputs[0], *quants[0], *inputs[1], *quants[1]);
    case OpKind::AttnNormalize:
      return attn_normalize(node, qn, *inputs[0], *quants[0]);
    case OpKind::LayerNorm:
      return layer_norm(node, qn, *inputs[0], *quants[0]);
    case OpKind::Softmax:
      return softmax(node, qn, *inputs[0], *quants[0]);
    case OpKind::PatchTokens:
      return patch_tokens(node, qn, *inputs[0], *quants[0]);
    case OpKind::ClassToken:
      return class_token(node, qn, *inputs[0], *quants[0]);
    case OpKind::PosEmbed:
      return pos_embed(node, qn, *inputs[0], *quants[0]);
    case OpKind::HeadSplit:
      return head_split(node, qn, *inputs[0], *quants[0]);
    case OpKind::HeadMerge:
      return head_merge(node, qn, *inputs[0], *quants[0]);
    case OpKind::TokenSelect:
      return token_select(node, qn, *inputs[0], *quants[0]);
    case OpKind::MaxPool:
      return max_pool(node, qn, *inputs[0], *quants[0]);
    case OpKind::ChannelMul:
      return channel_mul(node, qn, *inputs[0], *quants[0], *inputs[1], *quants[1]);
  }
  no_integer_semantics(node);
}

std::vector<QTensor> run_int_all(const QGraph& qgraph, const QTensor& input) {
  validate(qgraph, QGraphUse::Compute);
  check_memory(all_outputs_bytes(qgraph.graph),
               "the integer forward of '" + qgraph.graph.model + "' (every output kept)");
  return detail::walk_graph(qgraph.graph, input, true, [&](size_t i, const std::vector<const QTensor*>& ins) {
    return eval_node_int(qgraph, static_cast<int>(i), ins);
  });
}

QTensor run_int(const QGraph& qgraph, const QTensor& input) {
  validate(qgraph, QGraphUse::Compute);
  check_memory(working_set_bytes(qgraph.graph), "the integer forward of '" + qgraph.graph.model + "'");
  return std::move(
      detail::walk_graph(qgraph.graph, input, false, [&](size_t i, const std::vector<const QTensor*>& ins) {
        return eval_node_int(qgraph, static_cast<int>(i), ins);
      }).back());
}

}  // namespace vitsim::quant

#include "quant/fp32_executor.hpp"
#include "quant/graph_walk.hpp"

#include "quant/conv_kernels.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace vitsim::quant {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMat>;
using ConstMatMap = Eigen::Map<const RowMat>;

Eigen::Index ei(int64_t v) {
  return static_cast<Eigen::Index>(v);
}
size_t uz(int64_t v) {
  return static_cast<size_t>(v);
}

[[noreturn]] void fail(const Node& node, const std::string& what) {
  throw std::invalid_argument("fp32 executor: node '" + node.name + "' (" + op_name(node.op) + "): " + what);
}

void expect_inputs(const Node& node, const std::vector<const Tensor*>& inputs, size_t count) {
  if (inputs.size() != count)
    fail(node, "expects " + std::to_string(count) + " input(s), got " + std::to_string(inputs.size()));
}

void expect_rank(const Node& node, const Tensor& t, size_t rank) {
  if (t.shape.size() != rank)
    fail(node, "expects a rank-" + std::to_string(rank) + " input, got " + shape_str(t.shape));
}

// The shape we derived from the inputs must be the one the graph promised; later nodes rely on it.
void expect_out_shape(const Node& node, const Shape& derived) {
  if (derived != node.out_shape)
    fail(node, "inputs give output shape " + shape_str(derived) + " but the node declares " +
                   shape_str(node.out_shape));
}

// Every learned tensor the node owns must be present with its declared shape (and a matching buffer).
void check_params(const Node& node) {
  for (const auto& [key, shape] : node.param_shapes()) {
    const auto it = node.params.find(key);
    if (it == node.params.end()) fail(node, "parameter '" + key + "' is missing (weights not materialized?)");
    if (it->second.shape != shape || it->second.size() != numel(shape))
      fail(node, "parameter '" + key + "' has shape " + shape_str(it->second.shape) + ", expected " +
                     shape_str(shape));
  }
}

const float* param(const Node& node, const char* key) {
  return node.params.at(key).data.data();
}

// ---------------------------------------------------------------------------------------------------
// Activations and per-channel epilogues

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;

template <Act A>
inline float activate(float x) {
  if constexpr (A == Act::ReLU) return x > 0.0f ? x : 0.0f;
  if constexpr (A == Act::HSwish) return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f;
  if constexpr (A == Act::GeluTanh)
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
  if constexpr (A == Act::GeluErf) return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  if constexpr (A == Act::ReLU6) return std::min(std::max(x, 0.0f), 6.0f);
  if constexpr (A == Act::Sigmoid) return 1.0f / (1.0f + std::exp(-x));
  if constexpr (A == Act::HSigmoid) return std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f;
  if constexpr (A == Act::SiLU) return x / (1.0f + std::exp(-x));
  return x;
}

// Per-channel affine map that bias and BatchNorm fold into: v -> v * scale + shift.
struct ChannelAffine {
  std::vector<float> scale, shift;
  bool has_scale = false;  // false: scale is all ones (no BatchNorm)
  bool has_shift = false;  // false: shift is all zeros (no bias, no BatchNorm)
};

ChannelAffine fold_bias_and_bn(const Node& node, int64_t channels) {
  ChannelAffine f;
  f.scale.assign(uz(channels), 1.0f);
  f.shift.assign(uz(channels), 0.0f);
  if (node.norm == Norm::BatchNorm) {
    const float* gamma = param(node, "bn.gamma");
    const float* beta = param(node, "bn.beta");
    const float* mean = param(node, "bn.mean");
    const float* var = param(node, "bn.var");
    for (size_t c = 0; c < uz(channels); ++c) {
      f.scale[c] = gamma[c] / std::sqrt(var[c] + node.norm_eps);
      f.shift[c] = beta[c] - mean[c] * f.scale[c];
    }
    f.has_scale = f.has_shift = true;
  }
  if (node.has_bias) {
    const float* bias = param(node, "bias");
    for (size_t c = 0; c < uz(channels); ++c) f.shift[c] += bias[c] * f.scale[c];
    f.has_shift = true;
  }
  return f;
}

// Channel-major data [channels, plane]: affine per channel, then the activation, in one pass.
template <Act A>
void channel_epilogue_impl(float* data, int64_t channels, int64_t plane, const ChannelAffine& f) {
  for (int64_t c = 0; c < channels; ++c) {
    float* v = data + c * plane;
    const float s = f.scale[uz(c)], t = f.shift[uz(c)];
    if (f.has_scale) {
      for (int64_t i = 0; i < plane; ++i) v[i] = activate<A>(v[i] * s + t);
    } else if (f.has_shift) {
      for (int64_t i = 0; i < plane; ++i) v[i] = activate<A>(v[i] + t);
    } else if (A != Act::None) {
      for (int64_t i = 0; i < plane; ++i) v[i] = activate<A>(v[i]);
    }
  }
}

void channel_epilogue(float* data, int64_t channels, int64_t plane, const ChannelAffine& f, Act act) {
  switch (act) {
    case Act::None:
      return channel_epilogue_impl<Act::None>(data, channels, plane, f);
    case Act::ReLU:
      return channel_epilogue_impl<Act::ReLU>(data, channels, plane, f);
    case Act::HSwish:
      return channel_epilogue_impl<Act::HSwish>(data, channels, plane, f);
    case Act::GeluTanh:
      return channel_epilogue_impl<Act::GeluTanh>(data, channels, plane, f);
    case Act::GeluErf:
      return channel_epilogue_impl<Act::GeluErf>(data, channels, plane, f);
    case Act::ReLU6:
      return channel_epilogue_impl<Act::ReLU6>(data, channels, plane, f);
    case Act::Sigmoid:
      return channel_epilogue_impl<Act::Sigmoid>(data, channels, plane, f);
    case Act::HSigmoid:
      return channel_epilogue_impl<Act::HSigmoid>(data, channels, plane, f);
    case Act::SiLU:
      return channel_epilogue_impl<Act::SiLU>(data, channels, plane, f);
  }
}

template <Act A>
void activate_all_impl(float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = activate<A>(v[i]);
}

void activate_all(float* v, int64_t n, Act act) {
  switch (act) {
    case Act::None:
      return;
    case Act::ReLU:
      return activate_all_impl<Act::ReLU>(v, n);
    case Act::HSwish:
      return activate_all_impl<Act::HSwish>(v, n);
    case Act::GeluTanh:
      return activate_all_impl<Act::GeluTanh>(v, n);
    case Act::GeluErf:
      return activate_all_impl<Act::GeluErf>(v, n);
    case Act::ReLU6:
      return activate_all_impl<Act::ReLU6>(v, n);
    case Act::Sigmoid:
      return activate_all_impl<Act::Sigmoid>(v, n);
    case Act::HSigmoid:
      return activate_all_impl<Act::HSigmoid>(v, n);
    case Act::SiLU:
      return activate_all_impl<Act::SiLU>(v, n);
  }
}

// ---------------------------------------------------------------------------------------------------
// Conv2d

Tensor conv2d(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  if (node.kernel <= 0 || node.stride <= 0 || node.pad < 0 || node.groups <= 0)
    fail(node, "invalid kernel/stride/pad/groups");
  detail::ConvGeom g{x.shape[0], x.shape[1],  x.shape[2],  node.out_features, 0,
                     0,          node.kernel, node.stride, node.pad,          node.groups};
  if (g.cin != node.in_features)
    fail(node, "input has " + std::to_string(g.cin) + " channels, node expects " +
                   std::to_string(node.in_features));
  if (g.cin % g.groups || g.cout % g.groups) fail(node, "channels are not divisible by groups");
  if (node.norm == Norm::LayerNorm) fail(node, "LayerNorm after a Conv2d is not supported");
  g.ho = window_outputs(g.h, g.k, g.stride, g.pad);
  g.wo = window_outputs(g.w, g.k, g.stride, g.pad);
  expect_out_shape(node, {g.cout, g.ho, g.wo});
  check_params(node);

  Tensor out(node.out_shape);  // zeroed: the depthwise kernel accumulates into it
  const float* weight = param(node, "weight");
  if (detail::is_depthwise(g)) {
    detail::depthwise_conv</*SkipZeroWeights=*/false>(x.data.data(), weight, g, out.data.data());
  } else {
    std::vector<float> col(uz(detail::column_size(g)));
    detail::grouped_conv_gemm(x.data.data(), weight, g, col.data(), out.data.data());
  }
  channel_epilogue(out.data.data(), g.cout, g.ho * g.wo, fold_bias_and_bn(node, g.cout), node.act);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Linear

Tensor linear(const Node& node, const Tensor& x) {
  if (x.shape.empty() || x.shape.back() != node.in_features)
    fail(node, "input " + shape_str(x.shape) + " does not end in " + std::to_string(node.in_features) +
                   " features");
  Shape derived = x.shape;
  derived.back() = node.out_features;
  expect_out_shape(node, derived);
  check_params(node);

  const int64_t rows = numel(x.shape) / node.in_features, in = node.in_features, outf = node.out_features;
  Tensor out(node.out_shape);
  ConstMatMap xm(x.data.data(), ei(rows), ei(in));
  ConstMatMap w(param(node, "weight"), ei(outf), ei(in));
  MatMap y(out.data.data(), ei(rows), ei(outf));
  y.noalias() = xm * w.transpose();

  // bias (and a BatchNorm, if a graph ever puts one here) act per output feature, i.e. per column
  if (node.has_bias || node.norm == Norm::BatchNorm) {
    const ChannelAffine f = fold_bias_and_bn(node, outf);
    Eigen::Map<const Eigen::RowVectorXf> scale(f.scale.data(), ei(outf)), shift(f.shift.data(), ei(outf));
    for (Eigen::Index r = 0; r < ei(rows); ++r) y.row(r) = y.row(r).cwiseProduct(scale) + shift;
  }
  if (node.norm == Norm::LayerNorm) {
    const float* gamma = param(node, "ln.gamma");
    const float* beta = param(node, "ln.beta");
    for (int64_t r = 0; r < rows; ++r) {
      float* v = out.data.data() + r * outf;
      layer_norm_row(v, v, outf, gamma, beta, node.norm_eps);
    }
  }
  activate_all(out.data.data(), out.size(), node.act);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// MatMul

struct OperandView {
  const float* base;  // batch 0, first sliced row
  int64_t rows, cols, batch_stride;
  bool transpose;
};

OperandView operand_view(const Node& node, const Tensor& t, const MatOperand& op, const char* which) {
  expect_rank(node, t, 3);
  const int64_t r = t.shape[1], n = t.shape[2];
  const int64_t rows = op.rows ? op.rows : r - op.row_offset;
  if (op.row_offset < 0 || rows <= 0 || op.row_offset + rows > r)
    fail(node, std::string("operand ") + which + " row slice [" + std::to_string(op.row_offset) + ", +" +
                   std::to_string(rows) + ") is outside " + shape_str(t.shape));
  return {t.data.data() + op.row_offset * n, rows, n, r * n, op.transpose};
}

template <bool TA, bool TB>
void batched_gemm(const OperandView& a, const OperandView& b, int64_t batches, float scale, float* out) {
  const int64_t m = TA ? a.cols : a.rows, nn = TB ? b.rows : b.cols;
  for (int64_t i = 0; i < batches; ++i) {
    ConstMatMap am(a.base + i * a.batch_stride, ei(a.rows), ei(a.cols));
    ConstMatMap bm(b.base + i * b.batch_stride, ei(b.rows), ei(b.cols));
    MatMap y(out + i * m * nn, ei(m), ei(nn));
    if constexpr (TA && TB)
      y.noalias() = scale * (am.transpose() * bm.transpose());
    else if constexpr (TA)
      y.noalias() = scale * (am.transpose() * bm);
    else if constexpr (TB)
      y.noalias() = scale * (am * bm.transpose());
    else
      y.noalias() = scale * (am * bm);
  }
}

Tensor matmul(const Node& node, const Tensor& ta, const Tensor& tb) {
  const OperandView a = operand_view(node, ta, node.a, "a");
  const OperandView b = operand_view(node, tb, node.b, "b");
  const int64_t m = a.transpose ? a.cols : a.rows, ka = a.transpose ? a.rows : a.cols;
  const int64_t kb = b.transpose ? b.cols : b.rows, nn = b.transpose ? b.rows : b.cols;
  if (ta.shape[0] != tb.shape[0] || ka != kb)
    fail(node,
         "cannot multiply " + shape_str(ta.shape) + " by " + shape_str(tb.shape) + " with these slices");
  const int64_t batches = ta.shape[0];
  expect_out_shape(node, {batches, m, nn});
  Tensor out(node.out_shape);
  float* y = out.data.data();
  if (a.transpose && b.transpose)
    batched_gemm<true, true>(a, b, batches, node.scale, y);
  else if (a.transpose)
    batched_gemm<true, false>(a, b, batches, node.scale, y);
  else if (b.transpose)
    batched_gemm<false, true>(a, b, batches, node.scale, y);
  else
    batched_gemm<false, false>(a, b, batches, node.scale, y);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Data movement and small ops

Tensor concat(const Node& node, const std::vector<const Tensor*>& inputs) {
  if (inputs.empty()) fail(node, "concat of nothing");
  Shape derived = inputs[0]->shape;
  if (derived.empty()) fail(node, "cannot concatenate scalars");
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Shape& s = inputs[i]->shape;
    if (s.size() != derived.size() || !std::equal(s.begin() + 1, s.end(), derived.begin() + 1))
      fail(node, "cannot concatenate " + shape_str(derived) + " and " + shape_str(s));
    derived[0] += s[0];
  }
  expect_out_shape(node, derived);
  Tensor out(node.out_shape);
  auto it = out.data.begin();
  for (const Tensor* t : inputs) it = std::copy(t->data.begin(), t->data.end(), it);
  return out;
}

Tensor channel_mul(const Node& node, const Tensor& x, const Tensor& gate) {
  expect_rank(node, x, 3);
  if (gate.shape != Shape{x.shape[0]})
    fail(node, "gate " + shape_str(gate.shape) + " does not fit input " + shape_str(x.shape));
  expect_out_shape(node, x.shape);
  Tensor out(node.out_shape);
  const int64_t plane = x.shape[1] * x.shape[2];
  for (int64_t c = 0; c < x.shape[0]; ++c)
    for (int64_t p = 0; p < plane; ++p)
      out.data[uz(c * plane + p)] = x.data[uz(c * plane + p)] * gate.data[uz(c)];
  return out;
}

Tensor attn_kernel(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  const int64_t d = node.head_dim;
  if (d <= 0 || x.shape[0] % (3 * d)) fail(node, "channels are not a multiple of 3*head_dim");
  const int64_t groups = x.shape[0] / (3 * d), n = x.shape[1] * x.shape[2];
  expect_out_shape(node, {groups, 3 * d + 1, n});
  Tensor out(node.out_shape);
  for (int64_t g = 0; g < groups; ++g) {
    const float* src = x.data.data() + g * 3 * d * n;
    float* dst = out.data.data() + g * (3 * d + 1) * n;
    for (int64_t i = 0; i < 2 * d * n; ++i) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;  // ReLU(q), ReLU(k)
    std::copy(src + 2 * d * n, src + 3 * d * n, dst + 2 * d * n);                    // v
    std::fill(dst + 3 * d * n, dst + (3 * d + 1) * n, 1.0f);                         // padding row
  }
  return out;
}

Tensor attn_normalize(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  const int64_t d = node.head_dim, groups = x.shape[0], n = x.shape[2];
  if (d <= 0 || x.shape[1] != d + 1) fail(node, "expects [2h, head_dim+1, N], got " + shape_str(x.shape));
  if (node.out_shape.size() != 3 || node.out_shape[0] != groups * d ||
      node.out_shape[1] * node.out_shape[2] != n)
    fail(node, "input " + shape_str(x.shape) + " does not fit output " + shape_str(node.out_shape));
  Tensor out(node.out_shape);
  for (int64_t g = 0; g < groups; ++g) {
    const float* src = x.data.data() + g * (d + 1) * n;
    const float* den = src + d * n;
    float* dst = out.data.data() + g * d * n;
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < n; ++j) dst[i * n + j] = src[i * n + j] / (den[j] + node.attn_eps);
  }
  return out;
}

Tensor layer_norm(const Node& node, const Tensor& x) {
  if (x.shape.empty() || x.shape.back() <= 0) fail(node, "needs a non-empty last axis");
  expect_out_shape(node, x.shape);
  check_params(node);
  const int64_t n = x.shape.back(), rows = x.size() / n;
  Tensor out(node.out_shape);
  for (int64_t r = 0; r < rows; ++r)
    layer_norm_row(x.data.data() + r * n, out.data.data() + r * n, n, param(node, "ln.gamma"),
                   param(node, "ln.beta"), node.norm_eps);
  return out;
}

Tensor softmax(const Node& node, const Tensor& x) {
  if (x.shape.empty() || x.shape.back() <= 0) fail(node, "needs a non-empty last axis");
  expect_out_shape(node, x.shape);
  const int64_t n = x.shape.back(), rows = x.size() / n;
  Tensor out(node.out_shape);
  for (int64_t r = 0; r < rows; ++r) {
    const float* v = x.data.data() + r * n;
    float* y = out.data.data() + r * n;
    const float mx = *std::max_element(v, v + n);  // subtract the max so exp cannot overflow
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += (y[i] = std::exp(v[i] - mx));
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
  return out;
}

Tensor global_avg_pool(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  expect_out_shape(node, {x.shape[0]});
  const int64_t plane = x.shape[1] * x.shape[2];
  Tensor out(node.out_shape);
  for (int64_t c = 0; c < x.shape[0]; ++c) {
    const float* v = x.data.data() + c * plane;
    double sum = 0.0;
    for (int64_t i = 0; i < plane; ++i) sum += v[i];
    out.data[uz(c)] = static_cast<float>(sum / static_cast<double>(plane));
  }
  return out;
}

Tensor max_pool(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  const int64_t h = x.shape[1], w = x.shape[2];
  const int64_t ho = window_outputs(h, node.kernel, node.stride, node.pad);
  const int64_t wo = window_outputs(w, node.kernel, node.stride, node.pad);
  expect_out_shape(node, {x.shape[0], ho, wo});
  Tensor out(node.out_shape);
  for (int64_t c = 0; c < x.shape[0]; ++c)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        out.data[uz((c * ho + oy) * wo + ox)] = max_pool_at(node, x.data.data() + c * h * w, h, w, oy, ox);
  return out;
}

Tensor patch_tokens(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  const int64_t d = x.shape[0], t = x.shape[1] * x.shape[2];
  expect_out_shape(node, {t, d});
  Tensor out(node.out_shape);
  MatMap(out.data.data(), ei(t), ei(d)) = ConstMatMap(x.data.data(), ei(d), ei(t)).transpose();
  return out;
}

Tensor class_token(const Node& node, const Tensor& x) {
  expect_rank(node, x, 2);
  expect_out_shape(node, {x.shape[0] + 1, x.shape[1]});
  check_params(node);
  Tensor out(node.out_shape);
  const std::vector<float>& token = node.params.at("token").data;
  std::copy(x.data.begin(), x.data.end(), std::copy(token.begin(), token.end(), out.data.begin()));
  return out;
}

Tensor pos_embed(const Node& node, const Tensor& x) {
  expect_rank(node, x, 2);
  expect_out_shape(node, x.shape);
  check_params(node);
  Tensor out(node.out_shape);
  const float* pos = param(node, "pos");
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = x.data[i] + pos[i];
  return out;
}

Tensor head_split(const Node& node, const Tensor& x) {
  expect_rank(node, x, 2);
  const int64_t t = x.shape[0], width = x.shape[1], h = node.heads;
  if (h <= 0 || width % (3 * h)) fail(node, "width is not a multiple of 3*heads");
  const int64_t dh = width / (3 * h);
  expect_out_shape(node, {h, 3 * dh, t});
  Tensor out(node.out_shape);
  // out[head, s*dh + e, t] = in[t, s*h*dh + head*dh + e]: per (s, head), a [T, dh] block transposed
  for (int64_t s = 0; s < 3; ++s)
    for (int64_t head = 0; head < h; ++head) {
      Eigen::Map<const RowMat, 0, Eigen::OuterStride<>> src(x.data.data() + s * h * dh + head * dh, ei(t),
                                                            ei(dh), Eigen::OuterStride<>(ei(width)));
      MatMap(out.data.data() + (head * 3 * dh + s * dh) * t, ei(dh), ei(t)) = src.transpose();
    }
  return out;
}

Tensor head_merge(const Node& node, const Tensor& x) {
  expect_rank(node, x, 3);
  const int64_t h = x.shape[0], t = x.shape[1], dh = x.shape[2];
  expect_out_shape(node, {t, h * dh});
  Tensor out(node.out_shape);
  for (int64_t head = 0; head < h; ++head)
    for (int64_t i = 0; i < t; ++i)
      std::copy_n(x.data.data() + (head * t + i) * dh, dh, out.data.data() + i * h * dh + head * dh);
  return out;
}

Tensor token_select(const Node& node, const Tensor& x) {
  expect_rank(node, x, 2);
  if (node.token_index < 0 || node.token_index >= x.shape[0]) fail(node, "token index out of range");
  expect_out_shape(node, {x.shape[1]});
  Tensor out(node.out_shape);
  std::copy_n(x.data.data() + node.token_index * x.shape[1], x.shape[1], out.data.data());
  return out;
}

Tensor add(const Node& node, const Tensor& lhs, const Tensor& rhs) {
  if (lhs.shape != rhs.shape)
    fail(node, "cannot add " + shape_str(lhs.shape) + " and " + shape_str(rhs.shape));
  expect_out_shape(node, lhs.shape);
  Tensor out(node.out_shape);
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = lhs.data[i] + rhs.data[i];
  activate_all(out.data.data(), out.size(), node.act);
  return out;
}

}  // namespace

Tensor eval_node_fp32(const Node& node, const std::vector<const Tensor*>& inputs) {
  for (const Tensor* t : inputs) {
    if (!t) fail(node, "null input tensor");
    if (t->size() != numel(t->shape))
      fail(node,
           "input buffer holds " + std::to_string(t->size()) + " values for shape " + shape_str(t->shape));
  }
  switch (node.op) {
    case OpKind::Input:
      // The graph input has no producer: the caller passes the image itself as the one input.
      expect_inputs(node, inputs, 1);
      expect_out_shape(node, inputs[0]->shape);
      return *inputs[0];
    case OpKind::Conv2d:
      expect_inputs(node, inputs, 1);
      return conv2d(node, *inputs[0]);
    case OpKind::Linear:
      expect_inputs(node, inputs, 1);
      return linear(node, *inputs[0]);
    case OpKind::Add:
      expect_inputs(node, inputs, 2);
      return add(node, *inputs[0], *inputs[1]);
    case OpKind::Concat:
      return concat(node, inputs);
    case OpKind::LayerNorm:
      expect_inputs(node, inputs, 1);
      return layer_norm(node, *inputs[0]);
    case OpKind::GlobalAvgPool:
      expect_inputs(node, inputs, 1);
      return global_avg_pool(node, *inputs[0]);
    case OpKind::AttnKernel:
      expect_inputs(node, inputs, 1);
      return attn_kernel(node, *inputs[0]);
    case OpKind::MatMul:
      expect_inputs(node, inputs, 2);
      return matmul(node, *inputs[0], *inputs[1]);
    case OpKind::AttnNormalize:
      expect_inputs(node, inputs, 1);
      return attn_normalize(node, *inputs[0]);
    case OpKind::Softmax:
      expect_inputs(node, inputs, 1);
      return softmax(node, *inputs[0]);
    case OpKind::PatchTokens:
      expect_inputs(node, inputs, 1);
      return patch_tokens(node, *inputs[0]);
    case OpKind::ClassToken:
      expect_inputs(node, inputs, 1);
      return class_token(node, *inputs[0]);
    case OpKind::PosEmbed:
      expect_inputs(node, inputs, 1);
      return pos_embed(node, *inputs[0]);
    case OpKind::HeadSplit:
      expect_inputs(node, inputs, 1);
      return head_split(node, *inputs[0]);
    case OpKind::HeadMerge:
      expect_inputs(node, inputs, 1);
      return head_merge(node, *inputs[0]);
    case OpKind::TokenSelect:
      expect_inputs(node, inputs, 1);
      return token_select(node, *inputs[0]);
    case OpKind::MaxPool:
      expect_inputs(node, inputs, 1);
      return max_pool(node, *inputs[0]);
    case OpKind::ChannelMul:
      expect_inputs(node, inputs, 2);
      return channel_mul(node, *inputs[0], *inputs[1]);
  }
  fail(node, "unknown op");
}

namespace {

void check_graph_input(const Graph& graph, const Tensor& input) {
  if (graph.nodes.empty() || graph.nodes[0].op != OpKind::Input)
    throw std::invalid_argument("fp32 executor: graph '" + graph.model + "' has no input node");
  if (input.shape != graph.nodes[0].out_shape || input.size() != numel(input.shape))
    throw std::invalid_argument("fp32 executor: graph '" + graph.model + "' expects input " +
                                shape_str(graph.nodes[0].out_shape) + ", got " + shape_str(input.shape));
}

}  // namespace

std::vector<Tensor> run_fp32_all(const Graph& graph, const Tensor& input) {
  check_graph_input(graph, input);
  check_memory(all_outputs_bytes(graph), "the FP32 forward of '" + graph.model + "' (every output kept)");
  return detail::walk_graph(graph, input, true, [&](size_t i, const std::vector<const Tensor*>& ins) {
    return eval_node_fp32(graph.nodes[i], ins);
  });
}

Tensor run_fp32(const Graph& graph, const Tensor& input) {
  check_graph_input(graph, input);
  check_memory(working_set_bytes(graph), "the FP32 forward of '" + graph.model + "'");
  return std::move(
      detail::walk_graph(graph, input, false, [&](size_t i, const std::vector<const Tensor*>& ins) {
        return eval_node_fp32(graph.nodes[i], ins);
      }).back());
}

void apply_activation(Act act, float* values, int64_t n) {
  activate_all(values, n, act);
}

// Statistics in double so long rows of large values stay accurate.
void layer_norm_row(const float* in, float* out, int64_t n, const float* gamma, const float* beta,
                    float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += in[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = in[i] - mean;
    sq += d * d;
  }
  const double inv_std = 1.0 / std::sqrt(sq / static_cast<double>(n) + static_cast<double>(eps));
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>((in[i] - mean) * inv_std) * gamma[i] + beta[i];
}

}  // namespace vitsim::quant

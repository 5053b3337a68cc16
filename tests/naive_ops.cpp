// Naive reference ops: every formula is spelled out as nested loops over explicit indices, accumulating in
// double, so that it can be read side by side with the documentation in quant/graph.hpp and
// quant/fp32_executor.hpp. Nothing here is shared with the Eigen executor.
#include "tests/naive_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace vitsim::test {
namespace {

using quant::Act;
using quant::MatOperand;
using quant::Node;
using quant::Norm;
using quant::OpKind;
using quant::Shape;
using quant::Tensor;

[[noreturn]] void fail(const Node& node, const std::string& what) {
  throw std::invalid_argument("naive_eval: node '" + node.name + "' (" + quant::op_name(node.op) +
                              "): " + what);
}

// A result under construction, in double; rounded to FP32 once, at the end.
struct Result {
  Shape shape;
  std::vector<double> v;

  explicit Result(Shape s) : shape(std::move(s)), v(static_cast<size_t>(quant::numel(shape)), 0.0) {}
  double& operator[](int64_t i) { return v[static_cast<size_t>(i)]; }
};

double at(const Tensor& t, int64_t i) {
  return static_cast<double>(t.data[static_cast<size_t>(i)]);
}

void check_tensor(const Node& node, const Tensor& t, const std::string& what) {
  if (t.size() != quant::numel(t.shape))
    fail(node,
         what + " holds " + std::to_string(t.size()) + " values for shape " + quant::shape_str(t.shape));
}

const Tensor& input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i) {
  if (i >= inputs.size() || inputs[i] == nullptr) fail(node, "missing input " + std::to_string(i));
  check_tensor(node, *inputs[i], "input " + std::to_string(i));
  return *inputs[i];
}

void expect_input_count(const Node& node, const std::vector<const Tensor*>& inputs, size_t n) {
  if (inputs.size() != n)
    fail(node, "expects " + std::to_string(n) + " input(s), got " + std::to_string(inputs.size()));
}

void expect_rank(const Node& node, const Tensor& t, size_t rank, const std::string& what) {
  if (t.shape.size() != rank)
    fail(node, what + " must have rank " + std::to_string(rank) + ", got " + quant::shape_str(t.shape));
}

const Tensor& param(const Node& node, const std::string& key, const Shape& shape) {
  auto it = node.params.find(key);
  if (it == node.params.end()) fail(node, "parameter '" + key + "' is not materialized");
  if (it->second.shape != shape)
    fail(node, "parameter '" + key + "' has shape " + quant::shape_str(it->second.shape) + ", expected " +
                   quant::shape_str(shape));
  check_tensor(node, it->second, "parameter '" + key + "'");
  return it->second;
}

double activate(Act act, double x) {
  const double pi = 3.14159265358979323846;
  switch (act) {
    case Act::None:
      return x;
    case Act::ReLU:
      return x > 0.0 ? x : 0.0;
    case Act::HSwish:
      return x * std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
    case Act::GeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
    case Act::GeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Act::ReLU6:
      return x < 0.0 ? 0.0 : x > 6.0 ? 6.0 : x;
    case Act::Sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case Act::HSigmoid:
      return (x < -3.0 ? 0.0 : x > 3.0 ? 6.0 : x + 3.0) / 6.0;
    case Act::SiLU:
      return x / (1.0 + std::exp(-x));
  }
  throw std::invalid_argument("naive_eval: unknown activation");
}

// LayerNorm of the `len` values starting at out[first]: biased variance, then gamma / beta.
void layer_norm_row(Result& out, int64_t first, int64_t len, double eps, const Tensor& gamma,
                    const Tensor& beta) {
  double mean = 0.0;
  for (int64_t i = 0; i < len; ++i) mean += out[first + i];
  mean /= static_cast<double>(len);
  double var = 0.0;
  for (int64_t i = 0; i < len; ++i) var += (out[first + i] - mean) * (out[first + i] - mean);
  var /= static_cast<double>(len);
  for (int64_t i = 0; i < len; ++i)
    out[first + i] = (out[first + i] - mean) / std::sqrt(var + eps) * at(gamma, i) + at(beta, i);
}

Tensor to_tensor(const Node& node, const Result& r) {
  if (r.shape != node.out_shape)
    fail(node, "computed shape " + quant::shape_str(r.shape) + " differs from the node's out_shape " +
                   quant::shape_str(node.out_shape));
  Tensor t(r.shape);
  for (size_t i = 0; i < r.v.size(); ++i) t.data[i] = static_cast<float>(r.v[i]);
  return t;
}

// --------------------------------------------------------------------------------------------------
// One function per op.

Result eval_input(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  Result out(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) out[i] = at(x, i);
  return out;
}

Result eval_conv2d(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "conv input");
  const int64_t cin = x.shape[0], h = x.shape[1], w = x.shape[2];
  const int64_t cout = node.out_features, groups = node.groups, k = node.kernel, s = node.stride,
                p = node.pad;
  if (cin != node.in_features)
    fail(node,
         "input has " + std::to_string(cin) + " channels, node says " + std::to_string(node.in_features));
  if (groups <= 0 || k <= 0 || s <= 0 || p < 0 || cin % groups || cout % groups)
    fail(node, "bad kernel / stride / pad / groups");
  const int64_t cg = cin / groups;       // input channels per group
  const int64_t cout_g = cout / groups;  // output channels per group
  const int64_t ho = (h + 2 * p - k) / s + 1;
  const int64_t wo = (w + 2 * p - k) / s + 1;
  if (ho <= 0 || wo <= 0) fail(node, "input smaller than the kernel");

  const Tensor& weight = param(node, "weight", {cout, cg, k, k});
  Result out({cout, ho, wo});
  for (int64_t co = 0; co < cout; ++co) {
    const int64_t g = co / cout_g;
    for (int64_t y = 0; y < ho; ++y) {
      for (int64_t xo = 0; xo < wo; ++xo) {
        double acc = 0.0;
        for (int64_t c = 0; c < cg; ++c) {
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = y * s - p + ky;
              const int64_t ix = xo * s - p + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // zero padding
              const double wv = at(weight, ((co * cg + c) * k + ky) * k + kx);
              const double xv = at(x, ((g * cg + c) * h + iy) * w + ix);
              acc += wv * xv;
            }
          }
        }
        out[(co * ho + y) * wo + xo] = acc;
      }
    }
  }

  if (node.has_bias) {
    const Tensor& bias = param(node, "bias", {cout});
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t i = 0; i < ho * wo; ++i) out[co * ho * wo + i] += at(bias, co);
  }
  if (node.norm == Norm::BatchNorm) {
    const Tensor& gamma = param(node, "bn.gamma", {cout});
    const Tensor& beta = param(node, "bn.beta", {cout});
    const Tensor& mean = param(node, "bn.mean", {cout});
    const Tensor& var = param(node, "bn.var", {cout});
    const double eps = static_cast<double>(node.norm_eps);
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t i = 0; i < ho * wo; ++i) {
        double& v = out[co * ho * wo + i];
        v = (v - at(mean, co)) / std::sqrt(at(var, co) + eps) * at(gamma, co) + at(beta, co);
      }
  } else if (node.norm != Norm::None) {
    fail(node, "a convolution can only be followed by BatchNorm");
  }
  for (double& v : out.v) v = activate(node.act, v);
  return out;
}

Result eval_linear(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  if (x.shape.empty()) fail(node, "linear input must have rank >= 1");
  const int64_t fin = node.in_features, fout = node.out_features;
  if (x.shape.back() != fin)
    fail(node, "input " + quant::shape_str(x.shape) + " does not end in " + std::to_string(fin));
  const int64_t rows = x.size() / fin;  // every leading index is one row

  const Tensor& weight = param(node, "weight", {fout, fin});
  Shape out_shape = x.shape;
  out_shape.back() = fout;
  Result out(out_shape);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < fout; ++o) {
      double acc = 0.0;
      for (int64_t i = 0; i < fin; ++i) acc += at(x, r * fin + i) * at(weight, o * fin + i);
      out[r * fout + o] = acc;
    }
  }
  if (node.has_bias) {
    const Tensor& bias = param(node, "bias", {fout});
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < fout; ++o) out[r * fout + o] += at(bias, o);
  }
  if (node.norm == Norm::LayerNorm) {
    const Tensor& gamma = param(node, "ln.gamma", {fout});
    const Tensor& beta = param(node, "ln.beta", {fout});
    for (int64_t r = 0; r < rows; ++r)
      layer_norm_row(out, r * fout, fout, static_cast<double>(node.norm_eps), gamma, beta);
  } else if (node.norm != Norm::None) {
    fail(node, "a linear layer can only be followed by LayerNorm");
  }
  for (double& v : out.v) v = activate(node.act, v);
  return out;
}

Result eval_add(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 2);
  const Tensor& a = input(node, inputs, 0);
  const Tensor& b = input(node, inputs, 1);
  if (a.shape != b.shape)
    fail(node, "adding " + quant::shape_str(a.shape) + " and " + quant::shape_str(b.shape));
  Result out(a.shape);
  for (int64_t i = 0; i < a.size(); ++i) out[i] = activate(node.act, at(a, i) + at(b, i));
  return out;
}

Result eval_concat(const Node& node, const std::vector<const Tensor*>& inputs) {
  if (inputs.empty()) fail(node, "concat of nothing");
  Shape out_shape = input(node, inputs, 0).shape;
  if (out_shape.empty()) fail(node, "concat inputs must have rank >= 1");
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Shape& s = input(node, inputs, i).shape;
    if (s.size() != out_shape.size() || !std::equal(s.begin() + 1, s.end(), out_shape.begin() + 1))
      fail(node, "concat of " + quant::shape_str(out_shape) + " and " + quant::shape_str(s));
    out_shape[0] += s[0];
  }
  // Index form: out[r, rest...] = in_j[r - (rows of inputs before j), rest...]
  Result out(out_shape);
  const int64_t inner = quant::numel(out_shape) / out_shape[0];  // elements per axis-0 slice
  int64_t row = 0;
  for (size_t j = 0; j < inputs.size(); ++j) {
    const Tensor& t = *inputs[j];
    for (int64_t r = 0; r < t.shape[0]; ++r)
      for (int64_t e = 0; e < inner; ++e) out[(row + r) * inner + e] = at(t, r * inner + e);
    row += t.shape[0];
  }
  return out;
}

Result eval_layer_norm(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  if (x.shape.empty()) fail(node, "layer norm input must have rank >= 1");
  const int64_t d = x.shape.back();
  const Tensor& gamma = param(node, "ln.gamma", {d});
  const Tensor& beta = param(node, "ln.beta", {d});
  Result out(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) out[i] = at(x, i);
  for (int64_t r = 0; r < x.size() / d; ++r)
    layer_norm_row(out, r * d, d, static_cast<double>(node.norm_eps), gamma, beta);
  return out;
}

Result eval_global_avg_pool(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "avgpool input");
  const int64_t c = x.shape[0], hw = x.shape[1] * x.shape[2];
  Result out({c});
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0.0;
    for (int64_t i = 0; i < hw; ++i) sum += at(x, ch * hw + i);
    out[ch] = sum / static_cast<double>(hw);
  }
  return out;
}

Result eval_channel_mul(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 2);
  const Tensor& x = input(node, inputs, 0);
  const Tensor& g = input(node, inputs, 1);
  expect_rank(node, x, 3, "channel_mul input");
  if (g.shape != Shape{x.shape[0]})
    fail(node, "gate " + quant::shape_str(g.shape) + " does not fit the input");
  Result out(x.shape);
  const int64_t plane = x.shape[1] * x.shape[2];
  for (int64_t i = 0; i < x.size(); ++i) out[i] = at(x, i) * at(g, i / plane);
  return out;
}

// Padded taps are -infinity (PyTorch's MaxPool2d), so they never win.
Result eval_max_pool(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "maxpool input");
  const int64_t c = x.shape[0], h = x.shape[1], w = x.shape[2], k = node.kernel, s = node.stride,
                p = node.pad;
  const int64_t ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
  Result out({c, ho, wo});
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        double best = -std::numeric_limits<double>::infinity();
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) best = std::max(best, at(x, (ch * h + iy) * w + ix));
          }
        out[(ch * ho + oy) * wo + ox] = best;
      }
  return out;
}

Result eval_attn_kernel(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "attention kernel input");
  const int64_t d = node.head_dim;
  if (d <= 0 || x.shape[0] % (3 * d)) fail(node, "channels not a multiple of 3*head_dim");
  const int64_t b_count = x.shape[0] / (3 * d), n = x.shape[1] * x.shape[2];
  // Input viewed as [2h, 3d, N]; output [2h, 3d+1, N].
  Result out({b_count, 3 * d + 1, n});
  for (int64_t b = 0; b < b_count; ++b) {
    for (int64_t r = 0; r < 3 * d; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        const double v = at(x, (b * 3 * d + r) * n + i);
        const bool is_q_or_k = r < 2 * d;
        out[(b * (3 * d + 1) + r) * n + i] = is_q_or_k ? (v > 0.0 ? v : 0.0) : v;
      }
    }
    for (int64_t i = 0; i < n; ++i) out[(b * (3 * d + 1) + 3 * d) * n + i] = 1.0;  // padding row of ones
  }
  return out;
}

// op(X[b]) of a MatMul operand, element (i, j), with the row slice and transposition applied.
struct OperandView {
  const Tensor* t;
  int64_t row_offset, rows, cols_in;  // slice of the stored [R, N] matrix
  bool transpose;

  int64_t out_rows() const { return transpose ? cols_in : rows; }
  int64_t out_cols() const { return transpose ? rows : cols_in; }
  double get(int64_t b, int64_t i, int64_t j) const {
    const int64_t r = transpose ? j : i;  // row within the slice
    const int64_t c = transpose ? i : j;
    const int64_t stored_rows = t->shape[1];
    return at(*t, (b * stored_rows + row_offset + r) * cols_in + c);
  }
};

OperandView operand_view(const Node& node, const Tensor& t, const MatOperand& op, const char* which) {
  expect_rank(node, t, 3, std::string("matmul operand ") + which);
  const int64_t rows = op.rows ? op.rows : t.shape[1] - op.row_offset;  // rows = 0: all rows
  if (op.row_offset < 0 || rows <= 0 || op.row_offset + rows > t.shape[1])
    fail(node, std::string("row slice of operand ") + which + " outside " + quant::shape_str(t.shape));
  return OperandView{&t, op.row_offset, rows, t.shape[2], op.transpose};
}

Result eval_matmul(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 2);
  const Tensor& ta = input(node, inputs, 0);
  const Tensor& tb = input(node, inputs, 1);
  const OperandView a = operand_view(node, ta, node.a, "A");
  const OperandView b = operand_view(node, tb, node.b, "B");
  if (ta.shape[0] != tb.shape[0]) fail(node, "operands have different batch counts");
  const int64_t batches = ta.shape[0], m = a.out_rows(), k = a.out_cols(), n = b.out_cols();
  if (b.out_rows() != k) fail(node, "contraction lengths differ");
  if (node.in_features != k)
    fail(node, "in_features " + std::to_string(node.in_features) + " is not K = " + std::to_string(k));
  const double scale = static_cast<double>(node.scale);
  Result out({batches, m, n});
  for (int64_t bi = 0; bi < batches; ++bi)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t kk = 0; kk < k; ++kk) acc += a.get(bi, i, kk) * b.get(bi, kk, j);
        out[(bi * m + i) * n + j] = scale * acc;
      }
  return out;
}

Result eval_attn_normalize(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& o = input(node, inputs, 0);
  expect_rank(node, o, 3, "normalize input");
  const int64_t d = node.head_dim, b_count = o.shape[0], n = o.shape[2];
  if (o.shape[1] != d + 1) fail(node, "input rows are not head_dim + 1");
  if (node.out_shape.size() != 3 || node.out_shape[1] * node.out_shape[2] != n)
    fail(node, "out_shape " + quant::shape_str(node.out_shape) + " does not hold H*W = " + std::to_string(n));
  const double eps = static_cast<double>(node.attn_eps);
  Result out({b_count * d, node.out_shape[1], node.out_shape[2]});
  for (int64_t b = 0; b < b_count; ++b)
    for (int64_t r = 0; r < d; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const double num = at(o, (b * (d + 1) + r) * n + i);
        const double den = at(o, (b * (d + 1) + d) * n + i) + eps;
        out[(b * d + r) * n + i] = num / den;
      }
  return out;
}

Result eval_softmax(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  if (x.shape.empty()) fail(node, "softmax input must have rank >= 1");
  const int64_t len = x.shape.back();
  Result out(x.shape);
  for (int64_t r = 0; r < x.size() / len; ++r) {
    double mx = at(x, r * len);  // subtracting the row max changes nothing mathematically; avoids overflow
    for (int64_t i = 1; i < len; ++i) mx = std::max(mx, at(x, r * len + i));
    double sum = 0.0;
    for (int64_t i = 0; i < len; ++i) sum += std::exp(at(x, r * len + i) - mx);
    for (int64_t i = 0; i < len; ++i) out[r * len + i] = std::exp(at(x, r * len + i) - mx) / sum;
  }
  return out;
}

Result eval_patch_tokens(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "patch tokens input");
  const int64_t d = x.shape[0], t_count = x.shape[1] * x.shape[2];
  Result out({t_count, d});
  for (int64_t t = 0; t < t_count; ++t)
    for (int64_t c = 0; c < d; ++c) out[t * d + c] = at(x, c * t_count + t);
  return out;
}

Result eval_class_token(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 2, "class token input");
  const int64_t t_count = x.shape[0], d = x.shape[1];
  const Tensor& token = param(node, "token", {d});
  Result out({t_count + 1, d});
  for (int64_t c = 0; c < d; ++c) out[c] = at(token, c);
  for (int64_t t = 0; t < t_count; ++t)
    for (int64_t c = 0; c < d; ++c) out[(t + 1) * d + c] = at(x, t * d + c);
  return out;
}

Result eval_pos_embed(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 2, "position embedding input");
  const Tensor& pos = param(node, "pos", x.shape);
  Result out(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) out[i] = at(x, i) + at(pos, i);
  return out;
}

Result eval_head_split(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 2, "head split input");
  const int64_t t_count = x.shape[0], cols = x.shape[1], h = node.heads;
  if (h <= 0 || cols % (3 * h)) fail(node, "columns are not 3 * heads * head_dim");
  const int64_t dh = cols / (3 * h);
  Result out({h, 3 * dh, t_count});
  for (int64_t head = 0; head < h; ++head)
    for (int64_t s = 0; s < 3; ++s)  // q, k, v
      for (int64_t e = 0; e < dh; ++e)
        for (int64_t t = 0; t < t_count; ++t)
          out[(head * 3 * dh + s * dh + e) * t_count + t] = at(x, t * cols + s * h * dh + head * dh + e);
  return out;
}

Result eval_head_merge(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 3, "head merge input");
  const int64_t h = x.shape[0], t_count = x.shape[1], dh = x.shape[2];
  if (node.heads != h)
    fail(node, "input has " + std::to_string(h) + " heads, node says " + std::to_string(node.heads));
  Result out({t_count, h * dh});
  for (int64_t t = 0; t < t_count; ++t)
    for (int64_t head = 0; head < h; ++head)
      for (int64_t e = 0; e < dh; ++e) out[t * h * dh + head * dh + e] = at(x, (head * t_count + t) * dh + e);
  return out;
}

Result eval_token_select(const Node& node, const std::vector<const Tensor*>& inputs) {
  expect_input_count(node, inputs, 1);
  const Tensor& x = input(node, inputs, 0);
  expect_rank(node, x, 2, "token select input");
  const int64_t t_count = x.shape[0], d = x.shape[1];
  if (node.token_index < 0 || node.token_index >= t_count) fail(node, "token index out of range");
  Result out({d});
  for (int64_t c = 0; c < d; ++c) out[c] = at(x, node.token_index * d + c);
  return out;
}

}  // namespace

Tensor naive_eval(const Node& node, const std::vector<const Tensor*>& inputs) {
  switch (node.op) {
    case OpKind::Input:
      return to_tensor(node, eval_input(node, inputs));
    case OpKind::Conv2d:
      return to_tensor(node, eval_conv2d(node, inputs));
    case OpKind::Linear:
      return to_tensor(node, eval_linear(node, inputs));
    case OpKind::Add:
      return to_tensor(node, eval_add(node, inputs));
    case OpKind::Concat:
      return to_tensor(node, eval_concat(node, inputs));
    case OpKind::LayerNorm:
      return to_tensor(node, eval_layer_norm(node, inputs));
    case OpKind::GlobalAvgPool:
      return to_tensor(node, eval_global_avg_pool(node, inputs));
    case OpKind::AttnKernel:
      return to_tensor(node, eval_attn_kernel(node, inputs));
    case OpKind::MatMul:
      return to_tensor(node, eval_matmul(node, inputs));
    case OpKind::AttnNormalize:
      return to_tensor(node, eval_attn_normalize(node, inputs));
    case OpKind::Softmax:
      return to_tensor(node, eval_softmax(node, inputs));
    case OpKind::PatchTokens:
      return to_tensor(node, eval_patch_tokens(node, inputs));
    case OpKind::ClassToken:
      return to_tensor(node, eval_class_token(node, inputs));
    case OpKind::PosEmbed:
      return to_tensor(node, eval_pos_embed(node, inputs));
    case OpKind::HeadSplit:
      return to_tensor(node, eval_head_split(node, inputs));
    case OpKind::HeadMerge:
      return to_tensor(node, eval_head_merge(node, inputs));
    case OpKind::TokenSelect:
      return to_tensor(node, eval_token_select(node, inputs));
    case OpKind::MaxPool:
      return to_tensor(node, eval_max_pool(node, inputs));
    case OpKind::ChannelMul:
      return to_tensor(node, eval_channel_mul(node, inputs));
  }
  fail(node, "unknown op");
}

}  // namespace vitsim::test

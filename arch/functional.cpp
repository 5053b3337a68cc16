#include "arch/functional.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "quant/int_ops.hpp"

namespace vitsim::arch {

using quant::ActQuant;
using quant::Node;
using quant::OpKind;
using quant::QNode;
using quant::QTensor;
using namespace quant::int_ops;

namespace {

// Products a PE row reduces per cycle: a GEMM output's reduction is summed in chunks of this width, each
// chunk in the adder tree, then added to the output's accumulator.
constexpr int64_t kPeWidth = 8;

size_t uz(int64_t v) {
  return static_cast<size_t>(v);
}

[[noreturn]] void fail(const Node& node, const std::string& what) {
  throw std::invalid_argument("functional model: layer '" + node.name + "' (" + quant::op_name(node.op) +
                              "): " + what);
}

bool is_depthwise(const Node& node) {
  return node.op == OpKind::Conv2d && node.groups == node.in_features && node.groups == node.out_features;
}

// sum_{i < k} product(i), as the PE array computes it.
template <class Product>
int64_t chunked_dot(int64_t k, const Product& product) {
  return pe_chunked_dot(k, kPeWidth, product);
}

// A tensor's codes minus their zero points, by flat index.
struct Centered {
  const QTensor& t;
  const ActQuant& q;
  GridAxes axes;
  Centered(const QTensor& codes, const ActQuant& quant) : t(codes), q(quant), axes(grid_axes(codes.shape)) {}
  int64_t operator()(int64_t flat) const {
    return int64_t{t.data[uz(flat)]} - q.zero_point[group_of(q, axes, flat)];
  }
};

// Rows [off, off + rows) of every batch of a [B, R, N] MatMul input, optionally transposed: the matrix
// view(b) is mat_rows x mat_cols.
struct OperandView {
  Centered x;
  int64_t off, rows, r, n;
  bool transpose;
  OperandView(const QTensor& t, const ActQuant& q, const quant::MatOperand& op)
      : x(t, q),
        off(op.row_offset),
        rows(op.rows ? op.rows : t.shape[1] - op.row_offset),
        r(t.shape[1]),
        n(t.shape[2]),
        transpose(op.transpose) {}
  int64_t mat_rows() const { return transpose ? n : rows; }
  int64_t mat_cols() const { return transpose ? rows : n; }
  int64_t at(int64_t b, int64_t i, int64_t j) const {
    const int64_t row = off + (transpose ? j : i), col = transpose ? i : j;
    return x((b * r + row) * n + col);
  }
};

}  // namespace

RegionSpace region_space(const Node& node) {
  const quant::Shape& s = node.out_shape;
  const int64_t size = quant::numel(s);
  switch (node.op) {
    case OpKind::Conv2d:
      return {s[0], s[1] * s[2]};
    case OpKind::Linear:
      return {s.back(), size / s.back()};
    case OpKind::MatMul:
    case OpKind::AttnKernel:
      return {s[0], s[2]};
    case OpKind::AttnNormalize:  // [2h*d, H, W] viewed as [2h, d, H*W]
      return {s[0] / node.head_dim, s[1] * s[2]};
    default:
      return {s.empty() ? 1 : s[0], s.empty() ? 1 : size / s[0]};
  }
}

FunctionalModel::FunctionalModel(const quant::QGraph& qgraph, QTensor input)
    : qgraph_(qgraph), layers_(qgraph.graph.nodes.size()) {
  LayerState& s = layers_.at(0);
  s.written.assign(input.data.size(), true);
  s.written_count = static_cast<int64_t>(input.data.size());
  s.codes = std::move(input);
}

FunctionalModel::LayerState& FunctionalModel::state(int layer) {
  LayerState& s = layers_.at(uz(layer));
  if (s.codes.shape.empty() && layer > 0) {
    const quant::Shape& shape = qgraph_.graph.nodes[uz(layer)].out_shape;
    s.codes = QTensor{shape, std::vector<int32_t>(uz(quant::numel(shape)))};
    s.written.assign(s.codes.data.size(), false);
  }
  return s;
}

bool FunctionalModel::complete(int layer) {
  const LayerState& s = state(layer);
  return s.written_count == static_cast<int64_t>(s.codes.data.size());
}

void FunctionalModel::write(LayerState& s, int64_t flat, int32_t code) {
  s.codes.data[uz(flat)] = code;
  if (!s.written[uz(flat)]) {
    s.written[uz(flat)] = true;
    ++s.written_count;
  }
}

const QTensor& FunctionalModel::output(int layer) {
  LayerState& s = state(layer);
  const Node& node = qgraph_.graph.nodes.at(uz(layer));
  if (node.op != OpKind::Concat || complete(layer)) return s.codes;
  // Layout only: the inputs' codes (and what of them is computed) stacked along axis 0.
  size_t at = 0;
  s.written_count = 0;
  for (int in : node.inputs) {
    const QTensor& part = output(in);
    const LayerState& from = layers_[uz(in)];
    std::copy(part.data.begin(), part.data.end(), s.codes.data.begin() + static_cast<std::ptrdiff_t>(at));
    std::copy(from.written.begin(), from.written.end(), s.written.begin() + static_cast<std::ptrdiff_t>(at));
    s.written_count += from.written_count;
    at += part.data.size();
  }
  return s.codes;
}

// Pipelined tiles (a fused pointwise block, an attention head) start while their input layer is still being
// computed: only the block or head they read must be there. Reading an element no tile wrote yet gives a
// wrong output, which mismatches() reports.
const QTensor& FunctionalModel::input(const ComputeTile& tile, size_t k) {
  return output(qgraph_.graph.nodes[uz(tile.layer)].inputs.at(k));
}

void FunctionalModel::execute(const ComputeTile& tile) {
  if (tile.layer <= 0 || uz(tile.layer) >= layers_.size())
    throw std::invalid_argument("functional model: tile of layer " + std::to_string(tile.layer) +
                                ", which is not a computed layer of the graph");
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const RegionSpace space = region_space(node);
  const Region& r = tile.region;
  if (r.c0 < 0 || r.c0 > r.c1 || r.c1 > space.channels || r.p0 < 0 || r.p0 > r.p1 || r.p1 > space.pixels)
    fail(node, "region [" + std::to_string(r.c0) + ", " + std::to_string(r.c1) + ") x [" +
                   std::to_string(r.p0) + ", " + std::to_string(r.p1) + ") is outside the output's " +
                   std::to_string(space.channels) + " x " + std::to_string(space.pixels));
  LayerState& s = state(tile.layer);
  const bool layernorm = node.op == OpKind::Linear && qgraph_.nodes[uz(tile.layer)].float_layernorm;
  switch (tile.work) {
    case TileWork::Gemm:
      if (node.op == OpKind::Conv2d) return conv_gemm(tile, s);
      if (node.op == OpKind::Linear) return linear_gemm(tile, s);
      if (node.op == OpKind::MatMul) return matmul_gemm(tile, s);
      break;
    case TileWork::Depthwise:
      if (is_depthwise(node)) return conv_depthwise(tile, s);
      break;
    case TileWork::Elementwise:
      if (layernorm) return linear_layernorm(tile, s);
      if (node.op == OpKind::Add || node.op == OpKind::AttnKernel || node.op == OpKind::AttnNormalize ||
          node.op == OpKind::GlobalAvgPool)
        return elementwise(tile, s);
      break;
  }
  fail(node, std::string("has no ") + tile_work_name(tile.work) + " tiles");
}

// Direct convolution (no im2col): output (c, p) reduces its group's input channels x taps, in the order
// of the weight layout [cout, cin / groups, k, k]. Padded taps contribute 0.
void FunctionalModel::conv_gemm(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const QTensor& x = input(tile, 0);
  const Centered xc(x, qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t h = x.shape[1], w = x.shape[2], wo = node.out_shape[2], k = node.kernel, taps = k * k;
  const int64_t cg = node.in_features / node.groups, cog = node.out_features / node.groups;
  const ActStage stage = activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  const Region& r = tile.region;
  // The operand column of one output pixel and group (the values broadcast to the lanes), gathered once
  // and reused by every output channel of the group.
  std::vector<int64_t> column(uz(cg * taps));
  for (int64_t p = r.p0; p < r.p1; ++p) {
    const int64_t y0 = (p / wo) * node.stride - node.pad, x0 = (p % wo) * node.stride - node.pad;
    int64_t gathered_group = -1;
    for (int64_t c = r.c0; c < r.c1; ++c) {
      if (c / cog != gathered_group) {
        gathered_group = c / cog;
        const int64_t first_in = gathered_group * cg;
        for (int64_t i = 0; i < cg * taps; ++i) {
          const int64_t iy = y0 + (i % taps) / k, ix = x0 + i % k;
          const bool padded = iy < 0 || iy >= h || ix < 0 || ix >= w;
          column[uz(i)] = padded ? 0 : xc(((first_in + i / taps) * h + iy) * w + ix);
        }
      }
      const int32_t* weight = qn.weight.data() + c * cg * taps;
      const int64_t acc = chunked_dot(cg * taps, [&](int64_t i) { return weight[i] * column[uz(i)]; });
      const int64_t flat = c * (node.out_shape[1] * wo) + p;
      const int64_t bias = qn.bias.empty() ? 0 : qn.bias[uz(c)];
      write(s, flat,
            apply_stage(node.act, channel_stage(stage, uz(c)), acc + bias,
                        qn.out.zero_point[group_of(qn.out, out_axes, flat)]));
    }
  }
}

// Output stationary: each PE holds one output pixel's accumulator while the kernel's taps stream in.
void FunctionalModel::conv_depthwise(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const QTensor& x = input(tile, 0);
  const Centered xc(x, qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t h = x.shape[1], w = x.shape[2], wo = node.out_shape[2], k = node.kernel;
  const ActStage stage = activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  const Region& r = tile.region;
  std::vector<int64_t> acc(uz(r.p1 - r.p0));
  for (int64_t c = r.c0; c < r.c1; ++c) {
    std::fill(acc.begin(), acc.end(), qn.bias.empty() ? 0 : qn.bias[uz(c)]);
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) {
        const int64_t weight = qn.weight[uz((c * k + ky) * k + kx)];
        for (int64_t p = r.p0; p < r.p1; ++p) {
          const int64_t iy = (p / wo) * node.stride - node.pad + ky,
                        ix = (p % wo) * node.stride - node.pad + kx;
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc[uz(p - r.p0)] += weight * xc((c * h + iy) * w + ix);
        }
      }
    const ChannelStage cs = channel_stage(stage, uz(c));
    for (int64_t p = r.p0; p < r.p1; ++p) {
      const int64_t flat = c * (node.out_shape[1] * wo) + p;
      write(
          s, flat,
          apply_stage(node.act, cs, acc[uz(p - r.p0)], qn.out.zero_point[group_of(qn.out, out_axes, flat)]));
    }
  }
}

// Rows [p0, p1) x features [c0, c1). A float_layernorm Linear keeps the sums for its LayerNorm tile.
void FunctionalModel::linear_gemm(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const Centered xc(input(tile, 0), qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t in = node.in_features, outf = node.out_features;
  const ActStage stage = qn.float_layernorm ? ActStage{} : activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  if (qn.float_layernorm && s.accumulators.empty()) {
    s.accumulators.assign(s.codes.data.size(), 0);
    s.accumulated.assign(s.codes.data.size(), false);
  }
  const Region& r = tile.region;
  for (int64_t row = r.p0; row < r.p1; ++row)
    for (int64_t c = r.c0; c < r.c1; ++c) {
      const int32_t* weight = qn.weight.data() + c * in;
      const int64_t acc = (qn.bias.empty() ? 0 : qn.bias[uz(c)]) +
                          chunked_dot(in, [&](int64_t i) { return weight[i] * xc(row * in + i); });
      const int64_t flat = row * outf + c;
      if (qn.float_layernorm) {
        s.accumulators[uz(flat)] = acc;
        s.accumulated[uz(flat)] = true;
      } else {
        write(s, flat,
              apply_stage(node.act, channel_stage(stage, uz(c)), acc,
                          qn.out.zero_point[group_of(qn.out, out_axes, flat)]));
      }
    }
}

// The LayerNorm unit: whole rows of the Gemm tiles' sums through FP32 LayerNorm, activation, quantizer.
void FunctionalModel::linear_layernorm(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const int64_t outf = node.out_features;
  const Region& r = tile.region;
  if (r.c0 != 0 || r.c1 != outf) fail(node, "a LayerNorm tile must cover whole rows (every feature)");
  const auto first = s.accumulated.begin() + static_cast<std::ptrdiff_t>(r.p0 * outf);
  if (s.accumulated.empty() || !std::all_of(first, first + (r.p1 - r.p0) * outf, [](bool b) { return b; }))
    throw std::logic_error("functional model: the LayerNorm tile of layer '" + node.name +
                           "' runs before its Gemm tiles computed every sum of its rows");
  std::vector<float> work(uz(outf));
  std::vector<int32_t> codes(uz(outf));
  for (int64_t row = r.p0; row < r.p1; ++row) {
    if (float_layernorm_row(node, qn, row, s.accumulators.data() + row * outf, work.data(), codes.data()) >=
        0)
      fail(node, "float LayerNorm produced NaN at row " + std::to_string(row));
    for (int64_t c = 0; c < outf; ++c) write(s, row * outf + c, codes[uz(c)]);
  }
}

// Heads [c0, c1) x columns [p0, p1), every row: out[b, i, j] = sum_k A(b, i, k) * B(b, k, j).
void FunctionalModel::matmul_gemm(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const OperandView a(input(tile, 0), qgraph_.nodes[uz(node.inputs[0])].out, node.a);
  const OperandView b(input(tile, 1), qgraph_.nodes[uz(node.inputs[1])].out, node.b);
  const int64_t m = a.mat_rows(), k = a.mat_cols(), n = b.mat_cols();
  const Region& r = tile.region;
  for (int64_t batch = r.c0; batch < r.c1; ++batch)
    for (int64_t i = 0; i < m; ++i) {
      const size_t g = qn.out.group(batch, i);
      for (int64_t j = r.p0; j < r.p1; ++j) {
        const int64_t acc =
            chunked_dot(k, [&](int64_t kk) { return a.at(batch, i, kk) * b.at(batch, kk, j); });
        write(s, (batch * m + i) * n + j,
              qn.out.bits == 32 ? static_cast<int32_t>(acc)
                                : requantize_code(acc, qn.requant[g], qn.out.zero_point[g], qn.out.bits));
      }
    }
}

// The auxiliary units: residual add, attention kernel, attention normalize (log2 divisor and shift, or
// divider), average pool.
void FunctionalModel::elementwise(const ComputeTile& tile, LayerState& s) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const QTensor& x = input(tile, 0);
  const ActQuant& qx = qgraph_.nodes[uz(node.inputs[0])].out;
  const Region& r = tile.region;
  const int64_t d = node.head_dim;
  switch (node.op) {
    case OpKind::Add: {
      const QTensor& x1 = input(tile, 1);
      const AddStage stage(qn, qx, qgraph_.nodes[uz(node.inputs[1])].out);
      const int64_t rest = region_space(node).pixels;
      for (int64_t c = r.c0; c < r.c1; ++c)
        for (int64_t p = r.p0; p < r.p1; ++p)
          write(s, c * rest + p, stage.apply(x.data[uz(c * rest + p)], x1.data[uz(c * rest + p)]));
      return;
    }
    case OpKind::AttnKernel: {  // [2h*3d, H, W] as [2h, 3d, N] -> [2h, 3d + 1, N]
      const int64_t n = node.out_shape[2];
      for (int64_t b = r.c0; b < r.c1; ++b)
        for (int64_t row = 0; row <= 3 * d; ++row)
          for (int64_t j = r.p0; j < r.p1; ++j)
            write(s, (b * (3 * d + 1) + row) * n + j,
                  attn_kernel_code(row, d, row < 3 * d ? x.data[uz((b * 3 * d + row) * n + j)] : 0));
      return;
    }
    case OpKind::AttnNormalize: {  // [2h, d + 1, N] accumulators -> [2h*d, H, W]
      const int64_t n = x.shape[2], width = node.out_shape[2];
      for (int64_t b = r.c0; b < r.c1; ++b) {
        const NormalizeStage stage(qn, qn.numerator.group(b, 0));
        const int32_t* divisor = x.data.data() + (b * (d + 1) + d) * n;
        for (int64_t row = 0; row < d; ++row) {
          const int64_t c = b * d + row;
          for (int64_t j = r.p0; j < r.p1; ++j)
            write(s, c * n + j,
                  stage.apply(x.data[uz((b * (d + 1) + row) * n + j)], divisor[j],
                              qn.out.zero_point[qn.out.group(c, j / width)]));
        }
      }
      return;
    }
    case OpKind::GlobalAvgPool: {
      const Centered xc(x, qx);
      const int64_t plane = x.shape[1] * x.shape[2];
      for (int64_t c = r.c0; c < r.c1; ++c) {
        int64_t sum = 0;
        for (int64_t p = 0; p < plane; ++p) sum += xc(c * plane + p);
        write(s, c, requantize_code(sum, qn.requant[0], qn.out.zero_point[qn.out.group(c, 0)], qn.out.bits));
      }
      return;
    }
    default:
      fail(node, "has no auxiliary-unit datapath");
  }
}

std::vector<int64_t> FunctionalModel::mismatches(const std::vector<QTensor>& golden) {
  if (golden.size() != layers_.size())
    throw std::invalid_argument("functional model: " + std::to_string(golden.size()) +
                                " golden tensors for a graph of " + std::to_string(layers_.size()) +
                                " layers");
  std::vector<int64_t> counts(layers_.size(), 0);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const QTensor& got = output(static_cast<int>(l));
    const std::vector<bool>& written = layers_[l].written;
    if (got.data.size() != golden[l].data.size())
      throw std::invalid_argument("functional model: golden tensor " + std::to_string(l) + " has " +
                                  std::to_string(golden[l].data.size()) + " codes, the layer " +
                                  std::to_string(got.data.size()));
    for (size_t i = 0; i < got.data.size(); ++i) counts[l] += !written[i] || got.data[i] != golden[l].data[i];
  }
  return counts;
}

}  // namespace vitsim::arch

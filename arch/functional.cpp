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

int64_t code_bytes(int bits) {
  return bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

// Rows [off, off + rows) of every batch of a [B, R, N] MatMul input, optionally transposed: the matrix
// view(b) is mat_rows x mat_cols. A log2 operand (Softmax codes e) enters as the shift 2^(E-1-e) of the
// other operand (qgraph.hpp), so its element is that power of two.
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
    const int64_t flat = (b * r + row) * n + col;
    if (!x.q.log2) return x(flat);
    const int32_t code = x.t.data[uz(flat)];
    return code == kPoison ? kPoison : log2_weight(code, x.q.bits);  // an unread code must not weigh 0
  }
};

// pe_chunked_dot with the common adder-tree widths as constants, so the inner loop is unrolled.
template <class Product>
int64_t lane_dot(int64_t k, int64_t pe, const Product& product) {
  switch (pe) {
    case 8:
      return pe_chunked_dot(k, 8, product);
    case 16:
      return pe_chunked_dot(k, 16, product);
    default:
      return pe_chunked_dot(k, pe, product);
  }
}

// Shifts a box coordinate triple along the layout dimension that holds axis 0.
void shift_axis0(int axis0, int64_t shift, int64_t& o, int64_t& m, int64_t& i) {
  (axis0 == 0 ? o : axis0 == 1 ? m : i) += shift;
}

}  // namespace

RegionSpace region_space(const Node& node) {
  const quant::Shape& s = node.out_shape;
  const int64_t size = quant::numel(s);
  if (s.size() <= 2 && !s.empty()) return {s.back(), size / s.back()};  // features x rows (program.hpp)
  switch (node.op) {
    case OpKind::Conv2d:
      return {s[0], s[1] * s[2]};
    case OpKind::MatMul:
    case OpKind::AttnKernel:
    case OpKind::HeadSplit:
    case OpKind::Softmax:
      return {s[0], s[2]};
    case OpKind::AttnNormalize:  // [2h*d, H, W] viewed as [2h, d, H*W]
      return {s[0] / node.head_dim, s[1] * s[2]};
    default:
      return {s.empty() ? 1 : s[0], s.empty() ? 1 : size / s[0]};
  }
}

std::vector<int64_t> resource_pe(const Program& program, const AccelConfig& config) {
  std::vector<int64_t> pe;
  for (const Resource& r : program.resources)
    pe.push_back(r.is_engine ? config.engines.at(uz(r.engine)).params->adder_tree_width() : 1);
  return pe;
}

FunctionalModel::FunctionalModel(const quant::QGraph& qgraph, const Program& program,
                                 const AccelConfig& config, MemoryImage& memory)
    : qgraph_(qgraph),
      program_(program),
      config_(config),
      memory_(memory),
      pe_(resource_pe(program, config)),
      dram_base_(qgraph.graph.nodes.size(), -1),
      resident_base_(qgraph.graph.nodes.size(), -1),
      landed_(qgraph.graph.nodes.size()) {
  for (const Allocation& a : program.memory_plan)
    if (a.tensor == Allocation::Tensor::Output)
      (a.space == Allocation::Space::Dram ? dram_base_ : resident_base_)[uz(a.layer)] = a.offset;
  for (size_t l = 0; l < landed_.size(); ++l) {
    const quant::Shape& shape = qgraph.graph.nodes[l].out_shape;
    landed_[l].codes = QTensor{shape, std::vector<int32_t>(uz(quant::numel(shape)), kPoison)};
    landed_[l].landed.assign(landed_[l].codes.data.size(), false);
  }
}

unsigned char* FunctionalModel::element_bytes_at(const BufferView& view, int layer, int64_t layout_offset,
                                                 int64_t bytes, int64_t packed_offset) {
  if (view.space == BufferView::Space::Slot)
    return memory_.buffers.at(view.buffer, view.address + (view.in_layout ? layout_offset : packed_offset),
                              bytes);
  const int64_t base = resident_base_[uz(layer)];
  if (base < 0)
    throw std::logic_error("functional model: layer '" + qgraph_.graph.nodes[uz(layer)].name +
                           "' is read in the resident region, where the memory plan has no range for it");
  return memory_.buffers.at(BufferKind::Activation, base + layout_offset, bytes);
}

// Visits every element of `view` in its order: visit(flat index in the view's layer, its bytes, their
// count). DRAM rows are read into a scratch row and, with `write_back`, written back after the visit.
template <class Visit>
void FunctionalModel::for_each_element(const BufferView& view, const Visit& visit, bool write_back) {
  const quant::Graph& g = qgraph_.graph;
  const Node& whole = g.nodes[uz(view.layer)];
  int64_t packed = 0;
  std::vector<unsigned char> dram_row;
  for (const Box& box : view.boxes)
    for (const StoredPart& part : stored_parts(g, view.layer, box)) {
      const Node& src = g.nodes[uz(part.layer)];
      const int64_t eb = view.accumulators ? 4 : code_bytes(qgraph_.nodes[uz(part.layer)].out.bits);
      const TensorLayout l =
          tensor_layout(src.out_shape, src.op, eb, program_.channel_blocks[uz(part.layer)]);
      const TensorLayout lw = tensor_layout(whole.out_shape, whole.op, eb);
      for (const Box& b : block_parts(l, part.box)) {
        const int64_t row_bytes = (b.i1 - b.i0) * eb;
        for (int64_t o = b.o0; o < b.o1; ++o)
          for (int64_t m = b.m0; m < b.m1; ++m) {
            unsigned char* row = nullptr;
            int64_t dram_address = -1;
            if (view.space == BufferView::Space::Dram) {
              const int64_t base = dram_base_[uz(part.layer)];
              if (base < 0)
                throw std::logic_error("functional model: layer '" + src.name + "' has no DRAM range");
              // A float_layernorm Linear keeps its codes first, its int32 sums after them.
              const int64_t codes = l.elements() * code_bytes(qgraph_.nodes[uz(part.layer)].out.bits);
              dram_address = base + (view.accumulators ? codes : 0) + l.offset(o, m, b.i0);
              dram_row.resize(uz(row_bytes));
              memory_.dram.read(dram_address, dram_row.data(), row_bytes);
              row = dram_row.data();
            } else {
              row = element_bytes_at(view, part.layer, l.offset(o, m, b.i0), row_bytes, packed);
            }
            for (int64_t i = b.i0; i < b.i1; ++i) {
              int64_t wo = o, wm = m, wi = i;
              shift_axis0(lw.axis0, part.shift, wo, wm, wi);
              visit(lw.logical(wo, wm, wi), row + (i - b.i0) * eb, eb);
            }
            if (write_back && dram_address >= 0) memory_.dram.write(dram_address, row, row_bytes);
            packed += row_bytes;
          }
      }
    }
}

void FunctionalModel::read_operands(const ComputeTile& tile) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  sums_.clear();
  for (const BufferView& view : tile.reads) {
    if (view.accumulators) {
      if (sums_.empty()) sums_.assign(uz(quant::numel(node.out_shape)), kPoison);
      for_each_element(
          view,
          [&](int64_t flat, const unsigned char* at, int64_t eb) { sums_[uz(flat)] = get_code(at, eb); },
          false);
      continue;
    }
    const size_t k = uz(view.input);
    const int source = node.inputs.at(k);
    if (input_layer_[k] != source) {  // a new operand tensor: nothing read yet
      const quant::Shape& shape = qgraph_.graph.nodes[uz(source)].out_shape;
      inputs_[k] = QTensor{shape, std::vector<int32_t>(uz(quant::numel(shape)), kPoison)};
      input_layer_[k] = source;
      touched_[k].clear();
    }
    if (view.layer != source)
      throw std::logic_error("functional model: a tile of layer '" + node.name + "' reads layer " +
                             std::to_string(view.layer) + " as its input " + std::to_string(k));
    for_each_element(
        view,
        [&](int64_t flat, const unsigned char* at, int64_t eb) {
          inputs_[k].data[uz(flat)] = get_code(at, eb);
          touched_[k].push_back(flat);
        },
        false);
  }
}

// Back to poison: the next tile sees only what it reads itself.
void FunctionalModel::poison_operands() {
  for (size_t k = 0; k < 2; ++k) {
    for (int64_t flat : touched_[k]) inputs_[k].data[uz(flat)] = kPoison;
    touched_[k].clear();
  }
}

void FunctionalModel::read_weights(const ComputeTile& tile) {
  const WeightView& w = tile.weights;
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  // Weight records are a Conv2d's or Linear's; a token op's constants (ClassToken, PosEmbed) are loaded
  // for the timing, and their unit's datapath takes them from the quantized graph (docs/engines.md).
  if (w.address < 0 || (node.op != OpKind::Conv2d && node.op != OpKind::Linear)) return;
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const int64_t outputs = node.op == OpKind::Conv2d ? node.out_shape[0] : node.out_features;
  const int64_t per_output = static_cast<int64_t>(qn.weight.size()) / outputs;
  const int64_t wb = code_bytes(qn.weight_bits), record = per_output * wb + 4;
  const int64_t channels = tile.region.c1 - tile.region.c0;
  const int64_t first = w.address + (tile.region.c0 - w.first_channel) * record;
  std::vector<unsigned char> dram_records;
  const unsigned char* bytes = nullptr;
  if (w.dram) {
    dram_records.resize(uz(channels * record));
    memory_.dram.read(first, dram_records.data(), channels * record);
    bytes = dram_records.data();
  } else {
    bytes = memory_.buffers.at(BufferKind::Weight, first, channels * record);
  }
  weights_.resize(uz(channels * per_output));
  biases_.resize(uz(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const unsigned char* r = bytes + c * record;
    for (int64_t i = 0; i < per_output; ++i) weights_[uz(c * per_output + i)] = get_code(r + i * wb, wb);
    biases_[uz(c)] = get_code(r + per_output * wb, 4);
  }
}

// Writes the staged results where the tile writes them; an output that is not stored to DRAM is read back
// from there at once (a later tile may reuse the place).
void FunctionalModel::write_results(const ComputeTile& tile) {
  const BufferView& view = tile.write;
  if (view.space == BufferView::Space::None) return;
  for_each_element(
      view,
      [&](int64_t flat, unsigned char* at, int64_t eb) {
        put_code(at, eb,
                 view.accumulators ? static_cast<int32_t>(staged_sums_[uz(flat)]) : staged_[uz(flat)]);
      },
      true);
  if (!view.accumulators && dram_base_[uz(tile.layer)] < 0) land(view);
}

void FunctionalModel::land(const BufferView& view) {
  Landed& l = landed_[uz(view.layer)];
  for_each_element(
      view,
      [&](int64_t flat, const unsigned char* at, int64_t eb) {
        l.codes.data[uz(flat)] = get_code(at, eb);
        l.landed[uz(flat)] = true;
      },
      false);
}

bool FunctionalModel::requantizes(const ComputeTile& tile) const {
  return skip_requant_tile_ < 0 || &tile != &program_.tiles[uz(skip_requant_tile_)];
}

int32_t FunctionalModel::finish(const ComputeTile& tile, quant::Act act, const ChannelStage& stage,
                                int64_t acc, int64_t zp_y, int bits) const {
  return requantizes(tile) ? apply_stage(act, stage, acc, zp_y) : quant::saturate(zp_y + acc, bits, true);
}

void FunctionalModel::execute(const ComputeTile& tile) {
  if (tile.layer <= 0 || uz(tile.layer) >= landed_.size())
    throw std::invalid_argument("functional model: tile of layer " + std::to_string(tile.layer) +
                                ", which is not a computed layer of the graph");
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const RegionSpace space = region_space(node);
  const Region& r = tile.region;
  if (r.c0 < 0 || r.c0 > r.c1 || r.c1 > space.channels || r.p0 < 0 || r.p0 > r.p1 || r.p1 > space.pixels)
    fail(node, "region [" + std::to_string(r.c0) + ", " + std::to_string(r.c1) + ") x [" +
                   std::to_string(r.p0) + ", " + std::to_string(r.p1) + ") is outside the output's " +
                   std::to_string(space.channels) + " x " + std::to_string(space.pixels));
  const bool layernorm = node.op == OpKind::Linear && qgraph_.nodes[uz(tile.layer)].float_layernorm;
  const size_t outputs = uz(quant::numel(node.out_shape));
  if (staged_.size() < outputs) staged_.resize(outputs);
  if (layernorm && staged_sums_.size() < outputs) staged_sums_.resize(outputs);
  read_operands(tile);
  read_weights(tile);
  bool ran = true;
  switch (tile.work) {
    case TileWork::Gemm:
      if (node.op == OpKind::Conv2d)
        conv_gemm(tile);
      else if (node.op == OpKind::Linear)
        linear_gemm(tile);
      else if (node.op == OpKind::MatMul)
        matmul_gemm(tile);
      else
        ran = false;
      break;
    case TileWork::Depthwise:
      if (is_depthwise(node))
        conv_depthwise(tile);
      else
        ran = false;
      break;
    case TileWork::Elementwise:
      standalone(tile);
      break;
  }
  poison_operands();
  if (!ran) fail(node, std::string("has no ") + tile_work_name(tile.work) + " tiles");
  write_results(tile);
}

// Direct convolution (no im2col): output (c, p) reduces its group's input channels x taps, in the order
// of the weight layout [cout, cin / groups, k, k]. Padded taps contribute 0.
void FunctionalModel::conv_gemm(const ComputeTile& tile) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const QTensor& x = input(0);
  const Centered xc(x, qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t h = x.shape[1], w = x.shape[2], wo = node.out_shape[2], k = node.kernel, taps = k * k;
  const int64_t cg = node.in_features / node.groups, cog = node.out_features / node.groups;
  const ActStage stage = activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  const Region& r = tile.region;
  const int64_t pe = pe_[uz(tile.resource)];
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
      const int32_t* weight = weights_.data() + (c - r.c0) * cg * taps;
      const int64_t acc =
          lane_dot(cg * taps, pe, [&](int64_t i) { return int64_t{weight[i]} * column[uz(i)]; });
      const int64_t flat = c * (node.out_shape[1] * wo) + p;
      out(flat, finish(tile, node.act, channel_stage(stage, uz(c)), acc + biases_[uz(c - r.c0)],
                       qn.out.zero_point[group_of(qn.out, out_axes, flat)], qn.out.bits));
    }
  }
}

// Output stationary: each PE holds one output pixel's accumulator while the kernel's taps stream in.
void FunctionalModel::conv_depthwise(const ComputeTile& tile) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const QTensor& x = input(0);
  const Centered xc(x, qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t h = x.shape[1], w = x.shape[2], wo = node.out_shape[2], k = node.kernel;
  const ActStage stage = activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  const Region& r = tile.region;
  std::vector<int64_t> acc(uz(r.p1 - r.p0));
  for (int64_t c = r.c0; c < r.c1; ++c) {
    std::fill(acc.begin(), acc.end(), biases_[uz(c - r.c0)]);
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) {
        const int64_t weight = weights_[uz(((c - r.c0) * k + ky) * k + kx)];
        for (int64_t p = r.p0; p < r.p1; ++p) {
          const int64_t iy = (p / wo) * node.stride - node.pad + ky,
                        ix = (p % wo) * node.stride - node.pad + kx;
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc[uz(p - r.p0)] += weight * xc((c * h + iy) * w + ix);
        }
      }
    const ChannelStage cs = channel_stage(stage, uz(c));
    for (int64_t p = r.p0; p < r.p1; ++p) {
      const int64_t flat = c * (node.out_shape[1] * wo) + p;
      out(flat, finish(tile, node.act, cs, acc[uz(p - r.p0)],
                       qn.out.zero_point[group_of(qn.out, out_axes, flat)], qn.out.bits));
    }
  }
}

// Rows [p0, p1) x features [c0, c1). A float_layernorm Linear keeps the sums for its LayerNorm tile.
void FunctionalModel::linear_gemm(const ComputeTile& tile) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const Centered xc(input(0), qgraph_.nodes[uz(node.inputs[0])].out);
  const int64_t in = node.in_features, outf = node.out_features;
  const ActStage stage = qn.float_layernorm ? ActStage{} : activation_stage(node.act, qn);
  const GridAxes out_axes = grid_axes(node.out_shape);
  const Region& r = tile.region;
  const int64_t pe = pe_[uz(tile.resource)];
  for (int64_t row = r.p0; row < r.p1; ++row)
    for (int64_t c = r.c0; c < r.c1; ++c) {
      const int32_t* weight = weights_.data() + (c - r.c0) * in;
      const int64_t acc = biases_[uz(c - r.c0)] +
                          lane_dot(in, pe, [&](int64_t i) { return int64_t{weight[i]} * xc(row * in + i); });
      const int64_t flat = row * outf + c;
      if (qn.float_layernorm)
        staged_sums_[uz(flat)] = acc;
      else
        out(flat, finish(tile, node.act, channel_stage(stage, uz(c)), acc,
                         qn.out.zero_point[group_of(qn.out, out_axes, flat)], qn.out.bits));
    }
}

// Heads [c0, c1) x columns [p0, p1), every row: out[b, i, j] = sum_k A(b, i, k) * B(b, k, j).
void FunctionalModel::matmul_gemm(const ComputeTile& tile) {
  const Node& node = qgraph_.graph.nodes[uz(tile.layer)];
  const QNode& qn = qgraph_.nodes[uz(tile.layer)];
  const OperandView a(input(0), qgraph_.nodes[uz(node.inputs[0])].out, node.a);
  const OperandView b(input(1), qgraph_.nodes[uz(node.inputs[1])].out, node.b);
  const int64_t m = a.mat_rows(), k = a.mat_cols(), n = b.mat_cols();
  const Region& r = tile.region;
  const int64_t pe = pe_[uz(tile.resource)];
  const bool requant = requantizes(tile);
  for (int64_t batch = r.c0; batch < r.c1; ++batch)
    for (int64_t i = 0; i < m; ++i) {
      const size_t g = qn.out.group(batch, i);
      for (int64_t j = r.p0; j < r.p1; ++j) {
        const int64_t acc =
            lane_dot(k, pe, [&](int64_t kk) { return a.at(batch, i, kk) * b.at(batch, kk, j); });
        out((batch * m + i) * n + j,
            qn.out.bits == 32 ? static_cast<int32_t>(acc)
            : requant         ? requantize_code(acc, qn.requant[g], qn.out.zero_point[g], qn.out.bits)
                              : quant::saturate(qn.out.zero_point[g] + acc, qn.out.bits, true));
      }
    }
}

// A standalone tile: its auxiliary unit type's datapath.
void FunctionalModel::standalone(const ComputeTile& tile) {
  const Resource& resource = program_.resources.at(uz(tile.resource));
  if (resource.is_engine)
    fail(qgraph_.graph.nodes[uz(tile.layer)], "an elementwise tile on engine '" + resource.name + "'");
  AuxTile t{qgraph_,     tile.layer,
            tile.region, {&inputs_[0], &inputs_[1]},
            &sums_,      [this](int64_t flat, int32_t code) { out(flat, code); }};
  config_.aux_units.at(uz(resource.aux)).params->compute(t);
}

void AuxTile::fail(const std::string& unit, const std::string& what) const {
  throw std::invalid_argument("functional model: layer '" + node().name + "' (" + quant::op_name(node().op) +
                              ") on auxiliary unit '" + unit + "': " + what);
}

std::vector<int64_t> FunctionalModel::mismatches(const std::vector<QTensor>& golden) {
  const quant::Graph& g = qgraph_.graph;
  if (golden.size() != landed_.size())
    throw std::invalid_argument("functional model: " + std::to_string(golden.size()) +
                                " golden tensors for a graph of " + std::to_string(landed_.size()) +
                                " layers");
  // Stored outputs (and the input image) are read back from DRAM; a Concat is its inputs, stacked.
  for (size_t l = 0; l < landed_.size(); ++l) {
    if (g.nodes[l].op == OpKind::Concat) {
      Landed& stacked = landed_[l];
      size_t at = 0;
      for (int in : g.nodes[l].inputs) {
        const Landed& part = landed_[uz(in)];
        std::copy(part.codes.data.begin(), part.codes.data.end(),
                  stacked.codes.data.begin() + static_cast<std::ptrdiff_t>(at));
        std::copy(part.landed.begin(), part.landed.end(),
                  stacked.landed.begin() + static_cast<std::ptrdiff_t>(at));
        at += part.codes.data.size();
      }
      continue;
    }
    if (dram_base_[l] < 0) continue;
    BufferView view;
    view.space = BufferView::Space::Dram;
    view.layer = static_cast<int>(l);
    view.boxes = {whole(tensor_layout(g.nodes[l].out_shape, g.nodes[l].op, 1))};
    land(view);
  }
  std::vector<int64_t> counts(landed_.size(), 0);
  first_mismatch_.clear();
  for (size_t l = 0; l < landed_.size(); ++l) {
    const Landed& got = landed_[l];
    if (got.codes.data.size() != golden[l].data.size())
      throw std::invalid_argument("functional model: golden tensor " + std::to_string(l) + " has " +
                                  std::to_string(golden[l].data.size()) + " codes, the layer " +
                                  std::to_string(got.codes.data.size()));
    for (size_t i = 0; i < got.codes.data.size(); ++i) {
      const bool bad = !got.landed[i] || got.codes.data[i] != golden[l].data[i];
      if (bad && first_mismatch_.empty()) {
        const Node& n = g.nodes[l];
        first_mismatch_ =
            "layer '" + n.name + "' (" + quant::op_name(n.op) + ", " + quant::shape_str(n.out_shape) +
            "), element " + std::to_string(i) + ": " +
            (got.landed[i] ? "got " + std::to_string(got.codes.data[i]) : std::string("never written")) +
            ", expected " + std::to_string(golden[l].data[i]);
      }
      counts[l] += bad;
    }
  }
  return counts;
}

}  // namespace vitsim::arch

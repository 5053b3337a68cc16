// The graph IR every stage consumes: a topologically ordered list of layer nodes, batch 1.
//
// A node is a *layer* as an accelerator sees it: a convolution carries its bias, its batch norm and its
// activation, because the hardware fuses them (and the reference listing of EfficientViT counts them in
// one row). Each node produces exactly one tensor; inputs name earlier nodes by index.
//
// Tensor layouts (no batch dimension):
//   feature map  [C, H, W]   channel-major, as PyTorch NCHW with N = 1
//   tokens       [T, D]      one row per token (ViT / DeiT)
//   vector       [D]         after global average pooling or class-token selection
//   head stack   [B, R, N]   attention operands: B heads, R rows, N columns
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vitsim::quant {

using Shape = std::vector<int64_t>;

/// a * b and a + b in int64 for counts (elements, MACs, parameters, bytes, cycles); throw
/// std::invalid_argument ("... exceeds the int64 range") instead of wrapping to a wrong, even negative,
/// count.
int64_t checked_mul(int64_t a, int64_t b);
int64_t checked_add(int64_t a, int64_t b);

/// Product of the extents (checked_mul).
int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "16x112x112"

/// Refuses (std::invalid_argument naming `what`) a need of more than the machine's physical memory, before
/// the allocation is attempted: an input too large for the machine is bad input (exit 2), not an
/// out-of-memory crash or a swap storm. `bytes` < 0 means "beyond int64", also refused.
void check_memory(int64_t bytes, const std::string& what);

/// A dense FP32 tensor, row-major in the layouts above.
struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.0f);
  int64_t size() const { return static_cast<int64_t>(data.size()); }
};

enum class OpKind {
  Input,          // the image, [3, H, W]
  Conv2d,         // full, depthwise, pointwise or grouped conv (+bias, +BatchNorm, +activation)
  Linear,         // y = x W^T (+bias) on the last axis (+LayerNorm, +activation)
  Add,            // elementwise sum of two inputs (residual)
  Concat,         // concatenation of all inputs along axis 0 (channels)
  LayerNorm,      // standalone LayerNorm over the last axis (ViT pre-norm)
  GlobalAvgPool,  // [C, H, W] -> [C]
  AttnKernel,     // LiteMLA kernel: [2h*3d, H, W] viewed as [2h, 3d, N] -> [2h, 3d+1, N]:
                  //   rows 0..d-1 ReLU(q), d..2d-1 ReLU(k), 2d..3d-1 v, row 3d all ones (v padded)
  MatMul,         // batched: out[b] = scale * op(A[b]) x op(B[b]); operands are row slices, see MatOperand
  AttnNormalize,  // LiteMLA: [2h, d+1, N] -> y = o[:d] / (o[d] + eps), viewed as [2h*d, H, W]
  Softmax,        // softmax over the last axis
  PatchTokens,    // [D, H, W] -> [H*W, D] (flatten + transpose of the patch-embedding output)
  ClassToken,     // [T, D] -> [T+1, D] with a learned token prepended (param "token" [D])
  PosEmbed,       // [T, D] + learned position embedding (param "pos" [T, D])
  HeadSplit,      // [T, 3*h*dh] -> [h, 3*dh, T]: input columns ordered (q|k|v, head, dh) as timm;
                  //   out[head, s*dh + e, t] = in[t, s*h*dh + head*dh + e]
  HeadMerge,      // [h, T, dh] -> [T, h*dh]: out[t, head*dh + e] = in[head, t, e]
  TokenSelect,    // [T, D] -> [D], row `token_index`
  MaxPool,        // [C, H, W] -> [C, Ho, Wo]: max over a kernel x kernel window (stride, padding: padded taps
                  //   are ignored, as ONNX / PyTorch do), geometry as Conv2d's
  ChannelMul,     // [C, H, W] x [C] -> [C, H, W]: out[c, p] = x[c, p] * g[c] (squeeze-excite's channel gate)
};

// ReLU6: min(max(x, 0), 6); Sigmoid: 1 / (1 + e^-x); HSigmoid: min(max(x + 3, 0), 6) / 6 (PyTorch's
// Hardsigmoid); SiLU: x * sigmoid(x).
enum class Act { None, ReLU, HSwish, GeluTanh, GeluErf, ReLU6, Sigmoid, HSigmoid, SiLU };
enum class Norm { None, BatchNorm, LayerNorm };

const char* op_name(OpKind op);
/// Inputs a node of `op` takes (0 for the input, 2 for add, matmul and channel_mul, one or more for concat:
/// `have` if it is at least 1, else 1; 1 otherwise).
size_t input_count(OpKind op, size_t have);
const char* act_name(Act act);
/// Whether the integer datapath computes `act` only by a lookup table of its pre-activation codes (Sigmoid,
/// HSigmoid, SiLU; GELU has a table or I-BERT's polynomial, chosen by the recipe).
constexpr bool act_is_table_only(Act act) {
  return act == Act::Sigmoid || act == Act::HSigmoid || act == Act::SiLU;
}
const char* norm_name(Norm norm);

/// One operand of a MatMul: rows [row_offset, row_offset + rows) of every batch of an input
/// [B, R, N], optionally transposed. rows = 0 means "all rows".
struct MatOperand {
  int64_t row_offset = 0;
  int64_t rows = 0;
  bool transpose = false;
};

struct Node {
  std::string name;
  OpKind op = OpKind::Input;
  std::vector<int> inputs;  // indices of earlier nodes
  Shape out_shape;

  // Conv2d / MaxPool: kernel k x k, stride, zero padding on every side; Conv2d: groups.
  int kernel = 1, stride = 1, pad = 0, groups = 1;
  // Conv2d / Linear: channels / features in and out. MatMul: in_features is the contraction length K.
  int64_t in_features = 0, out_features = 0;
  bool has_bias = false;
  Norm norm = Norm::None;  // BatchNorm after a Conv2d, LayerNorm after a Linear (or the LayerNorm op)
  float norm_eps = 1e-5f;
  Act act = Act::None;  // applied after norm (Conv2d, Linear); Add: None or ReLU (a residual add + ReLU)

  // MatMul
  MatOperand a, b;
  float scale = 1.0f;
  // AttnKernel / AttnNormalize: head dim d; AttnNormalize eps (1e-15, fp32 as in the official code)
  int64_t head_dim = 0;
  float attn_eps = 1e-15f;
  // HeadSplit / HeadMerge: number of heads
  int64_t heads = 0;
  // TokenSelect
  int64_t token_index = 0;

  /// Learned tensors, by name: "weight", "bias", "bn.gamma", "bn.beta", "bn.mean", "bn.var",
  /// "ln.gamma", "ln.beta", "token", "pos". Empty until materialized (see zoo.hpp).
  std::map<std::string, Tensor> params;

  /// Shapes of the learned tensors this node owns (what `params` holds once materialized).
  std::map<std::string, Shape> param_shapes() const;
  /// Learned parameters: weights + biases + norm gamma/beta + tokens/position embeddings.
  /// BatchNorm running statistics are buffers, not parameters (as in PyTorch's parameter count).
  int64_t param_count() const;
  /// Useful multiply-accumulates, batch 1: conv out_elems * (Cin/groups) * k^2; linear rows * in * out;
  /// matmul B * M * K * N. Normalization, activations and data movement count 0.
  int64_t macs() const;
  /// Short label of the layer type for tables: conv3x3, dw5x5, pw1x1, gconv1x1, linear, matmul, ...
  std::string label() const;
};

/// A model graph. Nodes are topologically ordered; node 0 is the input; the last node is the output.
struct Graph {
  std::string model;
  int resolution = 0;
  std::vector<Node> nodes;

  int64_t param_count() const;
  int64_t macs() const;
  const Node& output() const { return nodes.back(); }
  /// Index of the node called `name`, or -1.
  int find(const std::string& name) const;
  /// Checks structural invariants: node 0 is the input, input indices and counts, the geometry (every
  /// node's out_shape and derived fields are what GraphBuilder infers from its inputs and attributes:
  /// matmul slices inside their operands, head counts and head dims that
  /// divide), the shapes of params. Throws std::invalid_argument naming the node.
  void validate() const;
};

/// Bytes (4 per element) of the largest set of tensors one node reads and writes: a lower bound of the
/// memory that running `graph` needs, checked before a run starts.
int64_t working_set_bytes(const Graph& graph);
/// Bytes (4 per element) of all node outputs together, for executors that keep every output. Both
/// return -1 when the count exceeds int64.
int64_t all_outputs_bytes(const Graph& graph);

/// Output positions along one axis of `extent` inputs of a Conv2d or MaxPool window (floor mode, as ONNX
/// and PyTorch): (extent + 2 pad - kernel) / stride + 1; 0 or less when the window does not fit.
inline int64_t window_outputs(int64_t extent, int64_t kernel, int64_t stride, int64_t pad) {
  return (extent + 2 * pad - kernel) / stride + 1;
}

/// The MaxPool of `node` at output pixel (oy, ox) of one channel plane `x` [H, W]: the largest value among
/// the window's in-bounds taps (padded taps are skipped; the geometry guarantees at least one). One
/// definition for the FP32 and integer executors and the accelerator's max-pool unit.
template <class T>
T max_pool_at(const Node& node, const T* x, int64_t h, int64_t w, int64_t oy, int64_t ox) {
  const int64_t y0 = oy * node.stride - node.pad, x0 = ox * node.stride - node.pad;
  const int64_t y1 = std::min<int64_t>(y0 + node.kernel, h), x1 = std::min<int64_t>(x0 + node.kernel, w);
  T best = x[std::max<int64_t>(y0, 0) * w + std::max<int64_t>(x0, 0)];
  for (int64_t y = std::max<int64_t>(y0, 0); y < y1; ++y)
    for (int64_t xx = std::max<int64_t>(x0, 0); xx < x1; ++xx) best = std::max(best, x[y * w + xx]);
  return best;
}

/// Builds graphs node by node, inferring output shapes and checking every shape as it goes.
class GraphBuilder {
 public:
  GraphBuilder(std::string model, int resolution, Shape input_shape);

  /// pad < 0 means "same" padding, kernel / 2 (as the official EfficientViT get_same_padding).
  int conv(const std::string& name, int in, int64_t out_channels, int kernel, int stride, int groups,
           bool bias, Norm norm, Act act, int pad = -1);
  int linear(const std::string& name, int in, int64_t out_features, bool bias, Norm norm, Act act);
  int add(const std::string& name, int lhs, int rhs, Act act = Act::None);
  int concat(const std::string& name, const std::vector<int>& ins);
  int layer_norm(const std::string& name, int in, float eps);
  int global_avg_pool(const std::string& name, int in);
  int max_pool(const std::string& name, int in, int kernel, int stride, int pad);
  /// x [C, H, W] times the gate g [C], channel by channel.
  int channel_mul(const std::string& name, int x, int gate);
  int attn_kernel(const std::string& name, int in, int64_t head_dim);
  int matmul(const std::string& name, int a, MatOperand a_op, int b, MatOperand b_op, float scale);
  int attn_normalize(const std::string& name, int in, int64_t head_dim, int64_t height, int64_t width);
  int softmax(const std::string& name, int in);
  int patch_tokens(const std::string& name, int in);
  int class_token(const std::string& name, int in);
  int pos_embed(const std::string& name, int in);
  int head_split(const std::string& name, int in, int64_t heads);
  int head_merge(const std::string& name, int in);
  int token_select(const std::string& name, int in, int64_t index);

  const Shape& shape(int node) const;
  const Node& node(int index) const;
  Graph finish();

 private:
  int push(Node node);
  Graph graph_;
};

}  // namespace vitsim::quant

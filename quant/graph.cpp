#include "quant/graph.hpp"

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace vitsim::quant {

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::invalid_argument(std::to_string(a) + " x " + std::to_string(b) + " exceeds the int64 range");
  return r;
}

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw std::invalid_argument(std::to_string(a) + " + " + std::to_string(b) + " exceeds the int64 range");
  return r;
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n = checked_mul(n, d);
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

void check_memory(int64_t bytes, const std::string& what) {
  static const int64_t physical =
      static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
  if (bytes < 0 || (physical > 0 && bytes > physical))
    throw std::invalid_argument(what + " needs " +
                                (bytes < 0 ? std::string("more than 2^63 bytes")
                                           : "at least " + std::to_string(bytes >> 20) + " MiB") +
                                " of memory, more than this machine's " + std::to_string(physical >> 20) +
                                " MiB");
}

// Both return -1 for a count beyond int64, which check_memory refuses as such.
int64_t working_set_bytes(const Graph& graph) {
  try {
    int64_t most = 0;
    for (const Node& n : graph.nodes) {
      int64_t elems = numel(n.out_shape);
      for (int in : n.inputs)
        elems = checked_add(elems, numel(graph.nodes.at(static_cast<size_t>(in)).out_shape));
      most = std::max(most, checked_mul(elems, 4));
    }
    return most;
  } catch (const std::invalid_argument&) {
    return -1;
  }
}

int64_t all_outputs_bytes(const Graph& graph) {
  try {
    int64_t total = 0;
    for (const Node& n : graph.nodes) total = checked_add(total, checked_mul(numel(n.out_shape), 4));
    return total;
  } catch (const std::invalid_argument&) {
    return -1;
  }
}

namespace {
size_t checked_elements(const Shape& shape) {
  const int64_t n = numel(shape);
  check_memory(n > INT64_MAX / 4 ? -1 : n * 4, "a tensor " + shape_str(shape));
  return static_cast<size_t>(n);
}
}  // namespace

Tensor::Tensor(Shape s, float fill) : shape(std::move(s)), data(checked_elements(shape), fill) {}

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::Input:
      return "input";
    case OpKind::Conv2d:
      return "conv2d";
    case OpKind::Linear:
      return "linear";
    case OpKind::Add:
      return "add";
    case OpKind::Concat:
      return "concat";
    case OpKind::LayerNorm:
      return "layernorm";
    case OpKind::GlobalAvgPool:
      return "avgpool";
    case OpKind::AttnKernel:
      return "attn_kernel";
    case OpKind::MatMul:
      return "matmul";
    case OpKind::AttnNormalize:
      return "attn_normalize";
    case OpKind::Softmax:
      return "softmax";
    case OpKind::PatchTokens:
      return "patch_tokens";
    case OpKind::ClassToken:
      return "class_token";
    case OpKind::PosEmbed:
      return "pos_embed";
    case OpKind::HeadSplit:
      return "head_split";
    case OpKind::HeadMerge:
      return "head_merge";
    case OpKind::TokenSelect:
      return "token_select";
    case OpKind::MaxPool:
      return "maxpool";
    case OpKind::ChannelMul:
      return "channel_mul";
  }
  return "?";
}

const char* act_name(Act act) {
  switch (act) {
    case Act::None:
      return "";
    case Act::ReLU:
      return "relu";
    case Act::HSwish:
      return "hswish";
    case Act::GeluTanh:
      return "gelu_tanh";
    case Act::GeluErf:
      return "gelu";
    case Act::ReLU6:
      return "relu6";
    case Act::Sigmoid:
      return "sigmoid";
    case Act::HSigmoid:
      return "hsigmoid";
    case Act::SiLU:
      return "silu";
  }
  return "?";
}

const char* norm_name(Norm norm) {
  switch (norm) {
    case Norm::None:
      return "";
    case Norm::BatchNorm:
      return "BN";
    case Norm::LayerNorm:
      return "LN";
  }
  return "?";
}

std::map<std::string, Shape> Node::param_shapes() const {
  std::map<std::string, Shape> p;
  switch (op) {
    case OpKind::Conv2d:
      p["weight"] = {out_features, in_features / groups, kernel, kernel};
      break;
    case OpKind::Linear:
      p["weight"] = {out_features, in_features};
      break;
    case OpKind::LayerNorm:
      p["ln.gamma"] = p["ln.beta"] = {out_shape.back()};
      break;
    case OpKind::ClassToken:
      p["token"] = {out_shape.back()};
      break;
    case OpKind::PosEmbed:
      p["pos"] = out_shape;
      break;
    default:
      break;
  }
  if (has_bias) p["bias"] = {out_features};
  if (norm == Norm::BatchNorm) p["bn.gamma"] = p["bn.beta"] = p["bn.mean"] = p["bn.var"] = {out_features};
  if (norm == Norm::LayerNorm && op == OpKind::Linear) p["ln.gamma"] = p["ln.beta"] = {out_features};
  return p;
}

int64_t Node::param_count() const {
  int64_t n = 0;
  for (const auto& [key, shape] : param_shapes())
    if (key != "bn.mean" && key != "bn.var") n = checked_add(n, numel(shape));
  return n;
}

int64_t Node::macs() const {
  switch (op) {
    case OpKind::Conv2d:
      return checked_mul(checked_mul(numel(out_shape), in_features / groups), int64_t{kernel} * kernel);
    case OpKind::Linear:
    case OpKind::MatMul:  // in_features is the contraction length K
      return checked_mul(numel(out_shape), in_features);
    default:
      return 0;
  }
}

std::string Node::label() const {
  if (op == OpKind::Conv2d) {
    const std::string k = std::to_string(kernel) + "x" + std::to_string(kernel);
    if (groups == 1) return (kernel == 1 ? "pw" : "conv") + k;
    if (groups == in_features && groups == out_features) return "dw" + k;
    return "gconv" + k;
  }
  return op_name(op);
}

int64_t Graph::param_count() const {
  int64_t n = 0;
  for (const Node& node : nodes) n = checked_add(n, node.param_count());
  return n;
}

int64_t Graph::macs() const {
  try {
    int64_t n = 0;
    for (const Node& node : nodes) n = checked_add(n, node.macs());
    return n;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("graph '" + model + "' @" + std::to_string(resolution) +
                                ": its MAC count does not fit in int64 (" + e.what() + ")");
  }
}

int Graph::find(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name) return static_cast<int>(i);
  return -1;
}

size_t input_count(OpKind op, size_t have) {
  switch (op) {
    case OpKind::Input:
      return 0;
    case OpKind::Add:
    case OpKind::MatMul:
    case OpKind::ChannelMul:
      return 2;
    case OpKind::Concat:
      return have == 0 ? 1 : have;  // one or more
    default:
      return 1;
  }
}

namespace {
// Adds `n` to `b` the way a builder call would create it from its inputs and attributes (its shape
// and derived fields inferred, every geometric rule checked).
void replay(GraphBuilder& b, const Node& n) {
  const int in = n.inputs[0];
  switch (n.op) {
    case OpKind::Input:
      throw std::invalid_argument("only node 0 is the input");
    case OpKind::Conv2d:
      b.conv(n.name, in, n.out_features, n.kernel, n.stride, n.groups, n.has_bias, n.norm, n.act, n.pad);
      break;
    case OpKind::Linear:
      b.linear(n.name, in, n.out_features, n.has_bias, n.norm, n.act);
      break;
    case OpKind::Add:
      b.add(n.name, in, n.inputs[1], n.act);
      break;
    case OpKind::Concat:
      b.concat(n.name, n.inputs);
      break;
    case OpKind::LayerNorm:
      b.layer_norm(n.name, in, n.norm_eps);
      break;
    case OpKind::GlobalAvgPool:
      b.global_avg_pool(n.name, in);
      break;
    case OpKind::MaxPool:
      b.max_pool(n.name, in, n.kernel, n.stride, n.pad);
      break;
    case OpKind::ChannelMul:
      b.channel_mul(n.name, in, n.inputs[1]);
      break;
    case OpKind::AttnKernel:
      b.attn_kernel(n.name, in, n.head_dim);
      break;
    case OpKind::MatMul:
      b.matmul(n.name, in, n.a, n.inputs[1], n.b, n.scale);
      break;
    case OpKind::AttnNormalize:
      if (n.out_shape.size() != 3) throw std::invalid_argument("normalize output must be [2h*d,H,W]");
      b.attn_normalize(n.name, in, n.head_dim, n.out_shape[1], n.out_shape[2]);
      break;
    case OpKind::Softmax:
      b.softmax(n.name, in);
      break;
    case OpKind::PatchTokens:
      b.patch_tokens(n.name, in);
      break;
    case OpKind::ClassToken:
      b.class_token(n.name, in);
      break;
    case OpKind::PosEmbed:
      b.pos_embed(n.name, in);
      break;
    case OpKind::HeadSplit:
      b.head_split(n.name, in, n.heads);
      break;
    case OpKind::HeadMerge:
      b.head_merge(n.name, in);
      break;
    case OpKind::TokenSelect:
      b.token_select(n.name, in, n.token_index);
      break;
  }
}

// The fields a builder derives, equal in `n` and in its replay `r`.
std::string derived_mismatch(const Node& n, const Node& r) {
  const auto differs = [](const char* what, int64_t have, int64_t want) {
    return what + std::string(" ") + std::to_string(have) + ", expected " + std::to_string(want);
  };
  if (n.out_shape != r.out_shape)
    return "out_shape " + shape_str(n.out_shape) + ", expected " + shape_str(r.out_shape);
  if (n.in_features != r.in_features) return differs("in_features", n.in_features, r.in_features);
  if (n.out_features != r.out_features) return differs("out_features", n.out_features, r.out_features);
  if (n.pad != r.pad) return differs("pad", n.pad, r.pad);
  if (n.a.rows != r.a.rows) return differs("a.rows", n.a.rows, r.a.rows);
  if (n.b.rows != r.b.rows) return differs("b.rows", n.b.rows, r.b.rows);
  if (n.heads != r.heads) return differs("heads", n.heads, r.heads);
  if (n.head_dim != r.head_dim) return differs("head_dim", n.head_dim, r.head_dim);
  return "";
}
}  // namespace

void Graph::validate() const {
  const auto fail = [&](size_t i, const std::string& what) {
    throw std::invalid_argument("graph '" + model + "': node " + std::to_string(i) + " '" + nodes[i].name +
                                "': " + what);
  };
  if (nodes.empty() || nodes[0].op != OpKind::Input)
    throw std::invalid_argument("graph '" + model + "': node 0 must be the input");
  const Shape& input = nodes[0].out_shape;
  if (input.empty() || std::any_of(input.begin(), input.end(), [](int64_t d) { return d < 1; }))
    fail(0, "input shape " + shape_str(input) + " must have at least one axis, each at least 1");
  GraphBuilder replayed(model, resolution, input);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    for (int in : n.inputs)
      if (in < 0 || static_cast<size_t>(in) >= i)
        fail(i, "reads node " + std::to_string(in) + ", which is not an earlier node");
    if (n.inputs.size() != input_count(n.op, n.inputs.size()))
      fail(i,
           std::string("a ") + op_name(n.op) + " node with " + std::to_string(n.inputs.size()) + " inputs");
    if (i > 0) {
      try {
        replay(replayed, n);
      } catch (const std::invalid_argument& e) {
        fail(i, e.what());
      }
      const std::string mismatch = derived_mismatch(n, replayed.node(static_cast<int>(i)));
      if (!mismatch.empty()) fail(i, "geometry: " + mismatch + " (from its inputs and attributes)");
    }
    if (n.params.empty()) continue;
    const auto expected = n.param_shapes();
    if (expected.size() != n.params.size())
      fail(i, "has " + std::to_string(n.params.size()) + " parameter tensors, expected " +
                  std::to_string(expected.size()));
    for (const auto& [key, shape] : expected) {
      auto it = n.params.find(key);
      if (it == n.params.end() || it->second.shape != shape || it->second.size() != numel(shape))
        fail(i, "parameter '" + key + "' should have shape " + shape_str(shape));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// GraphBuilder

namespace {
[[noreturn]] void shape_error(const std::string& node, const std::string& what) {
  throw std::invalid_argument("cannot build node '" + node + "': " + what);
}

// A sliding-window node (conv, max pool) over the [C,H,W] input `s`: its geometry and its output shape.
Node window_node(const std::string& name, OpKind op, int in, const Shape& s, int kernel, int stride, int pad,
                 int64_t out_channels) {
  Node n;
  n.name = name;
  n.op = op;
  n.inputs = {in};
  n.kernel = kernel;
  n.stride = stride;
  n.pad = pad;
  n.in_features = s[0];
  n.out_features = out_channels;
  const int64_t ho = window_outputs(s[1], kernel, stride, pad);
  const int64_t wo = window_outputs(s[2], kernel, stride, pad);
  if (ho <= 0 || wo <= 0) shape_error(name, "input " + shape_str(s) + " is smaller than the kernel");
  n.out_shape = {out_channels, ho, wo};
  return n;
}
}  // namespace

GraphBuilder::GraphBuilder(std::string model, int resolution, Shape input_shape) {
  graph_.model = std::move(model);
  graph_.resolution = resolution;
  Node in;
  in.name = "input";
  in.op = OpKind::Input;
  in.out_shape = std::move(input_shape);
  graph_.nodes.push_back(std::move(in));
}

const Shape& GraphBuilder::shape(int node) const {
  return graph_.nodes.at(static_cast<size_t>(node)).out_shape;
}

const Node& GraphBuilder::node(int index) const {
  return graph_.nodes.at(static_cast<size_t>(index));
}

int GraphBuilder::push(Node node) {
  for (int in : node.inputs)
    if (in < 0 || static_cast<size_t>(in) >= graph_.nodes.size())
      shape_error(node.name, "input index " + std::to_string(in) + " does not exist");
  graph_.nodes.push_back(std::move(node));
  return static_cast<int>(graph_.nodes.size()) - 1;
}

Graph GraphBuilder::finish() {
  graph_.validate();
  return std::move(graph_);
}

int GraphBuilder::conv(const std::string& name, int in, int64_t out_channels, int kernel, int stride,
                       int groups, bool bias, Norm norm, Act act, int pad) {
  const Shape& s = shape(in);
  if (s.size() != 3) shape_error(name, "conv needs a [C,H,W] input, got " + shape_str(s));
  if (kernel < 1 || stride < 1 || groups < 1 || out_channels < 1)
    shape_error(name, "kernel, stride, groups and output channels must be at least 1");
  if (s[0] % groups || out_channels % groups)
    shape_error(name, "channels " + std::to_string(s[0]) + " -> " + std::to_string(out_channels) +
                          " are not divisible by groups " + std::to_string(groups));
  Node n = window_node(name, OpKind::Conv2d, in, s, kernel, stride, pad < 0 ? kernel / 2 : pad, out_channels);
  n.groups = groups;
  n.has_bias = bias;
  n.norm = norm;
  n.act = act;
  return push(std::move(n));
}

int GraphBuilder::linear(const std::string& name, int in, int64_t out_features, bool bias, Norm norm,
                         Act act) {
  if (out_features < 1) shape_error(name, "a linear layer needs at least one output feature");
  Node n;
  n.name = name;
  n.op = OpKind::Linear;
  n.inputs = {in};
  n.out_shape = shape(in);
  n.in_features = n.out_shape.back();
  n.out_features = out_features;
  n.out_shape.back() = out_features;
  n.has_bias = bias;
  n.norm = norm;
  n.act = act;
  return push(std::move(n));
}

int GraphBuilder::add(const std::string& name, int lhs, int rhs, Act act) {
  if (shape(lhs) != shape(rhs))
    shape_error(name, "add of " + shape_str(shape(lhs)) + " and " + shape_str(shape(rhs)));
  if (act != Act::None && act != Act::ReLU) shape_error(name, "an add's activation is none or relu");
  Node n;
  n.name = name;
  n.op = OpKind::Add;
  n.act = act;
  n.inputs = {lhs, rhs};
  n.out_shape = shape(lhs);
  return push(std::move(n));
}

int GraphBuilder::concat(const std::string& name, const std::vector<int>& ins) {
  if (ins.empty()) shape_error(name, "concat of nothing");
  Shape out = shape(ins[0]);
  for (size_t i = 1; i < ins.size(); ++i) {
    const Shape& s = shape(ins[i]);
    if (s.size() != out.size() || !std::equal(s.begin() + 1, s.end(), out.begin() + 1))
      shape_error(name, "concat of " + shape_str(out) + " and " + shape_str(s));
    out[0] += s[0];
  }
  Node n;
  n.name = name;
  n.op = OpKind::Concat;
  n.inputs = ins;
  n.out_shape = out;
  return push(std::move(n));
}

int GraphBuilder::layer_norm(const std::string& name, int in, float eps) {
  Node n;
  n.name = name;
  n.op = OpKind::LayerNorm;
  n.inputs = {in};
  n.out_shape = shape(in);
  n.norm = Norm::LayerNorm;
  n.norm_eps = eps;
  return push(std::move(n));
}

int GraphBuilder::global_avg_pool(const std::string& name, int in) {
  const Shape& s = shape(in);
  if (s.size() != 3) shape_error(name, "avgpool needs a [C,H,W] input, got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::GlobalAvgPool;
  n.inputs = {in};
  n.out_shape = {s[0]};
  return push(std::move(n));
}

int GraphBuilder::max_pool(const std::string& name, int in, int kernel, int stride, int pad) {
  const Shape& s = shape(in);
  if (s.size() != 3) shape_error(name, "maxpool needs a [C,H,W] input, got " + shape_str(s));
  if (kernel < 1 || stride < 1 || pad < 0 || pad >= kernel)
    shape_error(name, "maxpool needs kernel and stride >= 1 and padding in [0, kernel)");
  return push(window_node(name, OpKind::MaxPool, in, s, kernel, stride, pad, s[0]));
}

int GraphBuilder::channel_mul(const std::string& name, int x, int gate) {
  const Shape& s = shape(x);
  if (s.size() != 3 || shape(gate) != Shape{s[0]})
    shape_error(name, "channel_mul needs a [C,H,W] input and a [C] gate, got " + shape_str(s) + " and " +
                          shape_str(shape(gate)));
  Node n;
  n.name = name;
  n.op = OpKind::ChannelMul;
  n.inputs = {x, gate};
  n.out_shape = s;
  return push(std::move(n));
}

int GraphBuilder::attn_kernel(const std::string& name, int in, int64_t head_dim) {
  const Shape& s = shape(in);
  if (head_dim < 1) shape_error(name, "head_dim must be at least 1, got " + std::to_string(head_dim));
  if (s.size() != 3 || s[0] % (3 * head_dim))
    shape_error(name, "attention kernel needs [2h*3d,H,W] with d=" + std::to_string(head_dim) + ", got " +
                          shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::AttnKernel;
  n.inputs = {in};
  n.head_dim = head_dim;
  n.act = Act::ReLU;
  n.out_shape = {s[0] / (3 * head_dim), 3 * head_dim + 1, s[1] * s[2]};
  return push(std::move(n));
}

namespace {
// Rows x cols of one batch of a MatMul operand after slicing and transposition.
std::pair<int64_t, int64_t> operand_dims(const std::string& name, const Shape& s, const MatOperand& op) {
  if (s.size() != 3) shape_error(name, "matmul operands must be [B,R,N], got " + shape_str(s));
  const int64_t rows = op.rows ? op.rows : s[1] - op.row_offset;
  if (op.row_offset < 0 || op.row_offset >= s[1] || rows <= 0 || rows > s[1] - op.row_offset)
    shape_error(name, "row slice [" + std::to_string(op.row_offset) + ", +" + std::to_string(rows) +
                          ") outside operand " + shape_str(s));
  return op.transpose ? std::make_pair(s[2], rows) : std::make_pair(rows, s[2]);
}
}  // namespace

int GraphBuilder::matmul(const std::string& name, int a, MatOperand a_op, int b, MatOperand b_op,
                         float scale) {
  const auto [m, k] = operand_dims(name, shape(a), a_op);
  const auto [k2, nn] = operand_dims(name, shape(b), b_op);
  if (k != k2 || shape(a)[0] != shape(b)[0])
    shape_error(name, "matmul of [" + std::to_string(shape(a)[0]) + "," + std::to_string(m) + "," +
                          std::to_string(k) + "] by [" + std::to_string(shape(b)[0]) + "," +
                          std::to_string(k2) + "," + std::to_string(nn) + "]");
  Node n;
  n.name = name;
  n.op = OpKind::MatMul;
  n.inputs = {a, b};
  n.a = a_op;
  n.b = b_op;
  n.a.rows = a_op.rows ? a_op.rows : shape(a)[1] - a_op.row_offset;
  n.b.rows = b_op.rows ? b_op.rows : shape(b)[1] - b_op.row_offset;
  n.scale = scale;
  n.in_features = k;
  n.out_shape = {shape(a)[0], m, nn};
  return push(std::move(n));
}

int GraphBuilder::attn_normalize(const std::string& name, int in, int64_t head_dim, int64_t height,
                                 int64_t width) {
  const Shape& s = shape(in);
  if (head_dim < 1) shape_error(name, "head_dim must be at least 1, got " + std::to_string(head_dim));
  if (s.size() != 3 || s[1] != head_dim + 1 || s[2] != height * width)
    shape_error(name, "normalize needs [2h,d+1,H*W], got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::AttnNormalize;
  n.inputs = {in};
  n.head_dim = head_dim;
  n.out_shape = {s[0] * head_dim, height, width};
  return push(std::move(n));
}

int GraphBuilder::softmax(const std::string& name, int in) {
  Node n;
  n.name = name;
  n.op = OpKind::Softmax;
  n.inputs = {in};
  n.out_shape = shape(in);
  return push(std::move(n));
}

int GraphBuilder::patch_tokens(const std::string& name, int in) {
  const Shape& s = shape(in);
  if (s.size() != 3) shape_error(name, "patch tokens need [D,H,W], got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::PatchTokens;
  n.inputs = {in};
  n.out_shape = {s[1] * s[2], s[0]};
  return push(std::move(n));
}

int GraphBuilder::class_token(const std::string& name, int in) {
  const Shape& s = shape(in);
  if (s.size() != 2) shape_error(name, "class token needs [T,D], got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::ClassToken;
  n.inputs = {in};
  n.out_shape = {s[0] + 1, s[1]};
  return push(std::move(n));
}

int GraphBuilder::pos_embed(const std::string& name, int in) {
  if (shape(in).size() != 2) shape_error(name, "position embedding needs [T,D]");
  Node n;
  n.name = name;
  n.op = OpKind::PosEmbed;
  n.inputs = {in};
  n.out_shape = shape(in);
  return push(std::move(n));
}

int GraphBuilder::head_split(const std::string& name, int in, int64_t heads) {
  const Shape& s = shape(in);
  if (heads < 1) shape_error(name, "heads must be at least 1, got " + std::to_string(heads));
  if (s.size() != 2 || s[1] % (3 * heads))
    shape_error(name,
                "head split needs [T,3*h*dh] with h=" + std::to_string(heads) + ", got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::HeadSplit;
  n.inputs = {in};
  n.heads = heads;
  n.out_shape = {heads, s[1] / heads, s[0]};
  return push(std::move(n));
}

int GraphBuilder::head_merge(const std::string& name, int in) {
  const Shape& s = shape(in);
  if (s.size() != 3) shape_error(name, "head merge needs [h,T,dh], got " + shape_str(s));
  Node n;
  n.name = name;
  n.op = OpKind::HeadMerge;
  n.inputs = {in};
  n.heads = s[0];
  n.out_shape = {s[1], s[0] * s[2]};
  return push(std::move(n));
}

int GraphBuilder::token_select(const std::string& name, int in, int64_t index) {
  const Shape& s = shape(in);
  if (s.size() != 2 || index < 0 || index >= s[0]) shape_error(name, "token index out of range");
  Node n;
  n.name = name;
  n.op = OpKind::TokenSelect;
  n.inputs = {in};
  n.token_index = index;
  n.out_shape = {s[1]};
  return push(std::move(n));
}

}  // namespace vitsim::quant

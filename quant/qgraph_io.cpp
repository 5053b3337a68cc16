// The quantized-graph file (.vqg), format version 2 (docs/qgraph-format.md):
//
//   offset 0   8 bytes   magic "VITSIMQG"
//          8   uint32 LE format version (kQGraphFormatVersion)
//         12   uint64 LE header length H
//         20   H bytes   UTF-8 JSON header (compact, keys in a fixed order)
//     20 + H   zero padding to the next multiple of 64
//          D   the data section (small arrays), then zero padding to the next multiple of 64
//          W   the weights section (weight codes, FP32 parameters kept), to the end of the file
// Tensors are little-endian, each at a multiple of 64 from its section's start, zero padding between.
//
// The writer is deterministic (no timestamps, fixed key order, fixed tensor order). The reader checks every
// byte range against the file size before it reads or allocates, checks each section's crc32 when it reads
// the section, every header field's type and range, the QNode vector sizes against the graph, and runs
// Graph::validate(). A structure-only load does not read the weights section.
#include "quant/qgraph_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/atomic_file.hpp"
#include "quant/json_reader.hpp"
#include "quant/mixed_scheme.hpp"

namespace vitsim::quant {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kMagic[8] = {'V', 'I', 'T', 'S', 'I', 'M', 'Q', 'G'};
constexpr uint64_t kPreambleBytes = 20;  // magic + version + header length
constexpr uint64_t kAlign = 64;          // header padding and tensor alignment in the data section
constexpr size_t kInlineMax = 16;        // arrays up to this length are JSON arrays, longer ones tensors
constexpr size_t kMaxRank = 8;
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();  // any extent, channel count or index
constexpr int kMaxHeaderDepth = 256;  // nesting of the header JSON (the recipe is at most 128 deep)
constexpr int kMaxRecipeDepth = 128;
constexpr int kMaxKernel = 1 << 16;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path.empty() ? what : path + ": " + what);
}

std::string pointer_token(const std::string& key) {  // RFC 6901 escaping
  std::string s;
  for (char c : key) {
    if (c == '~')
      s += "~0";
    else if (c == '/')
      s += "~1";
    else
      s += c;
  }
  return s;
}
std::string at(const std::string& path, const std::string& key) {
  return path + "/" + pointer_token(key);
}
std::string at(const std::string& path, size_t index) {
  return path + "/" + std::to_string(index);
}

uint64_t round_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

/// Product of the extents, or false for a negative extent or an int64 overflow.
bool checked_numel(const Shape& shape, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return false;
    n *= d;
  }
  *out = n;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Stable names of the enums (the file's vocabulary; never change a spelling within a major version).

constexpr OpKind kAllOps[] = {
    OpKind::Input,     OpKind::Conv2d,        OpKind::Linear,     OpKind::Add,       OpKind::Concat,
    OpKind::LayerNorm, OpKind::GlobalAvgPool, OpKind::AttnKernel, OpKind::MatMul,    OpKind::AttnNormalize,
    OpKind::Softmax,   OpKind::PatchTokens,   OpKind::ClassToken, OpKind::PosEmbed,  OpKind::HeadSplit,
    OpKind::HeadMerge, OpKind::TokenSelect,   OpKind::MaxPool,    OpKind::ChannelMul};
constexpr Act kAllActs[] = {Act::None,  Act::ReLU,    Act::HSwish,   Act::GeluTanh, Act::GeluErf,
                            Act::ReLU6, Act::Sigmoid, Act::HSigmoid, Act::SiLU};
constexpr Norm kAllNorms[] = {Norm::None, Norm::BatchNorm, Norm::LayerNorm};
constexpr DivisorMode kAllDivisorModes[] = {DivisorMode::Log2, DivisorMode::Uniform};
constexpr Log2Rounding kAllRoundings[] = {Log2Rounding::Hardware, Log2Rounding::Sqrt2};

// Op names are graph.hpp's op_name(); kAllOps must list every OpKind (ChannelMul is the last one).
static_assert(std::size(kAllOps) == static_cast<size_t>(OpKind::ChannelMul) + 1,
              "kAllOps must list every OpKind");
static_assert(std::size(kAllActs) == static_cast<size_t>(Act::SiLU) + 1, "kAllActs must list every Act");
// The file's act keys are graph.hpp's display names (act_name), but for the two that display differently.
const char* act_key(Act act) {
  if (act == Act::None) return "none";
  if (act == Act::GeluErf) return "gelu_erf";
  return act_name(act);
}
// The switches have no default, so -Wswitch flags a new enumerator here (add it to kAll* as well).
const char* norm_key(Norm norm) {
  switch (norm) {
    case Norm::None:
      return "none";
    case Norm::BatchNorm:
      return "batchnorm";
    case Norm::LayerNorm:
      return "layernorm";
  }
  return "?";
}
const char* divisor_key(DivisorMode mode) {
  switch (mode) {
    case DivisorMode::Log2:
      return "log2";
    case DivisorMode::Uniform:
      return "uniform";
  }
  return "?";
}
const char* rounding_key(Log2Rounding rounding) {
  switch (rounding) {
    case Log2Rounding::Hardware:
      return "hardware";
    case Log2Rounding::Sqrt2:
      return "sqrt2";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------------
// Semantic checks of an in-memory QGraph, shared by the writer (which refuses to write what the reader
// would reject) and the reader. Messages start with the JSON path of the offending field.

bool is_conv_or_linear(OpKind op) {
  return op == OpKind::Conv2d || op == OpKind::Linear;
}

void check_range(const std::string& path, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    fail(path,
         std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

void check_requants(const std::string& path, const std::vector<Requantizer>& rs, size_t expected_or_zero,
                    const std::string& what) {
  if (!rs.empty() && rs.size() != expected_or_zero)
    fail(path, std::to_string(rs.size()) + " requantizers, expected " + std::to_string(expected_or_zero) +
                   " (" + what + ") or none");
  for (size_t i = 0; i < rs.size(); ++i)
    if (rs[i].multiplier <= 0 || rs[i].shift < 0 || rs[i].shift > 62)
      fail(at(path, i), "expected [multiplier, shift] with multiplier > 0 and shift in [0, 62], got [" +
                            std::to_string(rs[i].multiplier) + ", " + std::to_string(rs[i].shift) + "]");
}

void check_empty(const std::string& path, size_t size, const char* op) {
  if (size != 0)
    fail(path, "must be empty for a " + std::string(op) + " node, has " + std::to_string(size) + " entries");
}

bool act_set(const ActQuant& a) {
  return !a.scale.empty();
}

/// `shape`: the tensor the grid covers (null: any).
void check_act(const std::string& path, const ActQuant& a, const Shape* shape) {
  if (!((a.bits >= 2 && a.bits <= 16) || a.bits == 32))
    fail(path + "/bits", std::to_string(a.bits) + " is out of range (2..16, or 32 for int32 accumulators)");
  check_range(path + "/groups/0", a.groups0, 1, kMaxDim);
  check_range(path + "/groups/1", a.groups1, 1, kMaxDim);
  if (a.scale.size() != a.zero_point.size())
    fail(path, std::to_string(a.scale.size()) + " scales but " + std::to_string(a.zero_point.size()) +
                   " zero points");
  if (a.scale.empty()) {
    if (a.groups0 != 1 || a.groups1 != 1)
      fail(path + "/groups", "an unset quantizer (no scales) must be 1x1");
    return;
  }
  const int64_t n = a.groups0 * a.groups1;  // both <= 2^31
  if (static_cast<int64_t>(a.scale.size()) != n)
    fail(path + "/scale", std::to_string(a.scale.size()) + " entries, expected groups " +
                              std::to_string(a.groups0) + "x" + std::to_string(a.groups1) + " = " +
                              std::to_string(n));
  if (shape) {
    const int64_t d0 = shape->empty() ? 1 : (*shape)[0];
    const int64_t d1 = shape->size() < 2 ? 1 : (*shape)[1];
    if (a.groups0 != 1 && a.groups0 != d0)
      fail(path + "/groups/0", std::to_string(a.groups0) + " groups over an axis of " + std::to_string(d0) +
                                   " (must be 1 or the axis size)");
    if (a.groups1 != 1 && a.groups1 != d1)
      fail(path + "/groups/1", std::to_string(a.groups1) + " groups over an axis of " + std::to_string(d1) +
                                   " (must be 1 or the axis size)");
  }
  if (a.bits == 32 || a.log2)
    for (size_t i = 0; i < a.zero_point.size(); ++i)
      if (a.zero_point[i] != 0)
        fail(at(path + "/zero_point", i),
             a.log2 ? "must be 0 for log2 codes" : "must be 0 for int32 accumulators (bits 32)");
  if (a.log2 && a.bits > 5)
    fail(path + "/bits", std::to_string(a.bits) + " is out of range for log2 codes (2..5)");
}

void check_node(const Graph& g, size_t i) {
  const Node& n = g.nodes[i];
  const std::string p = at("/nodes", i);
  const char* op = op_name(n.op);
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (n.inputs[k] < 0 || static_cast<size_t>(n.inputs[k]) >= i)
      fail(at(p + "/inputs", k), "node index " + std::to_string(n.inputs[k]) + " is not an earlier node");
  if (n.inputs.size() != input_count(n.op, n.inputs.size()))
    fail(p + "/inputs", std::string("a ") + op + " node has " +
                            (n.op == OpKind::Concat ? "at least 1 input"
                                                    : std::to_string(input_count(n.op, 0)) + " input(s)") +
                            ", got " + std::to_string(n.inputs.size()));
  if (n.out_shape.empty() || n.out_shape.size() > kMaxRank)
    fail(p + "/out_shape",
         "rank " + std::to_string(n.out_shape.size()) + " (expected 1.." + std::to_string(kMaxRank) + ")");
  for (size_t k = 0; k < n.out_shape.size(); ++k)
    check_range(at(p + "/out_shape", k), n.out_shape[k], 1, kMaxDim);
  int64_t elems = 0;
  if (!checked_numel(n.out_shape, &elems)) fail(p + "/out_shape", "element count overflows int64");
  check_range(p + "/kernel", n.kernel, 1, kMaxKernel);
  check_range(p + "/stride", n.stride, 1, kMaxKernel);
  check_range(p + "/pad", n.pad, 0, kMaxKernel);
  check_range(p + "/groups", n.groups, 1, kMaxDim);
  check_range(p + "/in_features", n.in_features, 0, kMaxDim);
  check_range(p + "/out_features", n.out_features, 0, kMaxDim);
  check_range(p + "/a/row_offset", n.a.row_offset, 0, kMaxDim);
  check_range(p + "/a/rows", n.a.rows, 0, kMaxDim);
  check_range(p + "/b/row_offset", n.b.row_offset, 0, kMaxDim);
  check_range(p + "/b/rows", n.b.rows, 0, kMaxDim);
  check_range(p + "/head_dim", n.head_dim, 0, kMaxDim);
  check_range(p + "/heads", n.heads, 0, kMaxDim);
  check_range(p + "/token_index", n.token_index, 0, kMaxDim);
  if (n.op == OpKind::Conv2d && (n.in_features % n.groups != 0 || n.out_features % n.groups != 0))
    fail(p + "/groups", "channels " + std::to_string(n.in_features) + " -> " +
                            std::to_string(n.out_features) + " are not divisible by " +
                            std::to_string(n.groups) + " groups");
  // The parameters, as Graph::validate() checks them, but without overflow on corrupt extents.
  if (!n.params.empty()) {
    const auto expected = n.param_shapes();
    for (const auto& [key, tensor] : n.params) {
      auto it = expected.find(key);
      if (it == expected.end())
        fail(at(p + "/params", key), std::string("a ") + op + " node has no such parameter");
      int64_t count = 0;
      if (!checked_numel(it->second, &count) || tensor.shape != it->second || tensor.size() != count)
        fail(at(p + "/params", key),
             "shape " + shape_str(tensor.shape) + ", expected " + shape_str(it->second));
    }
    for (const auto& [key, shape] : expected)
      if (!n.params.count(key)) fail(at(p + "/params", key), "missing (shape " + shape_str(shape) + ")");
  }
}

/// The fields of the standard-ViT ops (const_codes, ln_mult, bias of a LayerNorm, ln_shift, ln_eps, log2).
void check_vit_fields(const Node& n, const QNode& q, const std::string& p) {
  const char* op = op_name(n.op);
  int64_t elems = 0;
  checked_numel(n.out_shape, &elems);  // check_node() has bounded it
  const auto sized = [&](const std::string& path, size_t size, int64_t expected, const char* what) {
    if (size != 0 && static_cast<int64_t>(size) != expected)
      fail(path, std::to_string(size) + " entries, expected " + std::to_string(expected) + " (" + what +
                     ") or none");
  };
  const int64_t last = n.out_shape.back();
  if (n.op == OpKind::ClassToken)
    sized(p + "/const_codes", q.const_codes.size(), last, "one per feature");
  else if (n.op == OpKind::PosEmbed)
    sized(p + "/const_codes", q.const_codes.size(), elems, "one per element");
  else
    check_empty(p + "/const_codes", q.const_codes.size(), op);
  if (n.op == OpKind::LayerNorm) {
    sized(p + "/ln_mult", q.ln_mult.size(), last, "one per feature");
    sized(p + "/bias", q.bias.size(), last, "one per feature");
  } else {
    check_empty(p + "/ln_mult", q.ln_mult.size(), op);
  }
  check_range(p + "/ln_shift", q.ln_shift, 0, 30);
  check_range(p + "/ln_eps", q.ln_eps, 0, std::numeric_limits<int32_t>::max());
  if (q.out.log2 && n.op != OpKind::Softmax)
    fail(p + "/out/log2", std::string("a ") + op + " node has no log2 output");
  if (q.pre_act.log2 || q.numerator.log2) fail(p, "only an output quantizer may hold log2 codes");
}

void check_qnode(const Graph& g, const QNode& q, size_t i) {
  const Node& n = g.nodes[i];
  const std::string p = at("/nodes", i) + "/q";
  const char* op = op_name(n.op);
  check_act(p + "/out", q.out, &n.out_shape);
  if (q.weight_bits < 2 || q.weight_bits > 32)
    fail(p + "/weight_bits", std::to_string(q.weight_bits) + " is out of range [2, 32]");
  const size_t channels = static_cast<size_t>(n.out_features);
  if (is_conv_or_linear(n.op)) {
    if (!q.weight.empty()) {
      int64_t count = 0;
      const Shape shape = n.param_shapes().at("weight");
      if (!checked_numel(shape, &count))
        fail(p + "/weight", "weight shape " + shape_str(shape) + " overflows");
      if (static_cast<int64_t>(q.weight.size()) != count)
        fail(p + "/weight", std::to_string(q.weight.size()) + " codes, expected " + std::to_string(count) +
                                " (shape " + shape_str(shape) + ")");
      if (q.weight_bits < 32) {
        const int32_t hi = static_cast<int32_t>((int64_t{1} << (q.weight_bits - 1)) - 1);
        const int32_t lo = -hi - 1;
        for (size_t k = 0; k < q.weight.size(); ++k)
          if (q.weight[k] < lo || q.weight[k] > hi)
            fail(p + "/weight", "code " + std::to_string(q.weight[k]) + " at element " + std::to_string(k) +
                                    " does not fit weight_bits " + std::to_string(q.weight_bits));
      }
    }
    const auto per_channel = [&](const std::string& path, size_t size) {
      if (size != 0 && size != channels)
        fail(path, std::to_string(size) + " entries, expected " + std::to_string(channels) +
                       " (one per output channel) or none");
    };
    per_channel(p + "/weight_scale", q.weight_scale.size());
    per_channel(p + "/ln_gamma", q.ln_gamma.size());
    per_channel(p + "/ln_beta", q.ln_beta.size());
    per_channel(p + "/bias", q.bias.size());
    per_channel(p + "/relu6_six", q.relu6_six.size());
    per_channel(p + "/weight_pot_bits", q.weight_pot_bits.size());
    const size_t per_row = q.weight_pot_bits.empty() ? 0 : q.weight.size() / channels;
    for (size_t c = 0; c < q.weight_pot_bits.size(); ++c) {
      const int32_t b = q.weight_pot_bits[c];
      if (b != 0 && (b < 2 || b > 5))
        fail(at(p + "/weight_pot_bits", c), std::to_string(b) + " is neither 0 (fixed point) nor 2..5");
      for (size_t k = c * per_row; b != 0 && k < (c + 1) * per_row; ++k)
        if (!is_pot_code(q.weight[k], b))
          fail(p + "/weight", "code " + std::to_string(q.weight[k]) + " at element " + std::to_string(k) +
                                  " of power-of-two row " + std::to_string(c) +
                                  " is not 0 or +-2^k, k <= " + std::to_string(pot_max_exponent(b)));
    }
    for (size_t k = 0; k < q.relu6_six.size(); ++k)
      if (q.relu6_six[k] < 0) fail(at(p + "/relu6_six", k), std::to_string(q.relu6_six[k]) + " is negative");
    if (!q.relu6_six.empty() && n.act != Act::ReLU6)
      fail(p + "/relu6_six",
           std::string("only a ReLU6 layer has a clamp at 6, this one's act is ") + act_key(n.act));
    check_requants(p + "/requant", q.requant, channels, "one per output channel");
    check_requants(p + "/act_requant", q.act_requant, channels, "one per output channel");
    check_act(p + "/pre_act", q.pre_act, nullptr);
    if (act_set(q.pre_act) && !q.pre_act.per_tensor())
      fail(p + "/pre_act/groups", "the pre-activation is per tensor");
    if (!act_set(q.pre_act)) {
      if (!q.act_lut.empty()) fail(p + "/act_lut", "a LUT needs the pre_act quantizer, which is unset");
    } else if (!q.act_lut.empty()) {
      if (q.pre_act.bits > 16) fail(p + "/pre_act/bits", "a LUT needs at most 16 bits");
      const size_t entries = size_t{1} << q.pre_act.bits;
      if (q.act_lut.size() != entries)
        fail(p + "/act_lut", std::to_string(q.act_lut.size()) +
                                 " entries, expected 2^pre_act.bits = " + std::to_string(entries));
    }
  } else {
    check_empty(p + "/weight", q.weight.size(), op);
    check_empty(p + "/weight_scale", q.weight_scale.size(), op);
    check_empty(p + "/ln_gamma", q.ln_gamma.size(), op);
    check_empty(p + "/ln_beta", q.ln_beta.size(), op);
    if (n.op != OpKind::LayerNorm) check_empty(p + "/bias", q.bias.size(), op);
    check_empty(p + "/act_requant", q.act_requant.size(), op);
    check_empty(p + "/act_lut", q.act_lut.size(), op);
    check_empty(p + "/relu6_six", q.relu6_six.size(), op);
    check_empty(p + "/weight_pot_bits", q.weight_pot_bits.size(), op);
    check_empty(p + "/pre_act/scale", q.pre_act.scale.size(), op);
    check_act(p + "/pre_act", q.pre_act, nullptr);
    if (n.op == OpKind::MatMul)
      check_requants(p + "/requant", q.requant, static_cast<size_t>(q.out.groups0 * q.out.groups1),
                     "one per output group");
    else if (n.op == OpKind::Add)
      check_requants(p + "/requant", q.requant, 2, "one per operand");
    else if (n.op == OpKind::GlobalAvgPool || n.op == OpKind::ClassToken)
      check_requants(p + "/requant", q.requant, 1, "one");
    else if (n.op == OpKind::PosEmbed || n.op == OpKind::Softmax)
      check_requants(p + "/requant", q.requant, static_cast<size_t>(q.out.groups0 * q.out.groups1),
                     "one per output group");
    else if (n.op == OpKind::ChannelMul)
      check_requants(p + "/requant", q.requant, static_cast<size_t>(n.out_shape.empty() ? 0 : n.out_shape[0]),
                     "one per channel");
    else
      check_empty(p + "/requant", q.requant.size(), op);
    if (n.op == OpKind::Add && q.requant.size() == 2 && q.requant[0].shift != q.requant[1].shift)
      fail(p + "/requant", "the two requantizers of an add must share the shift (" +
                               std::to_string(q.requant[0].shift) +
                               " != " + std::to_string(q.requant[1].shift) + ")");
  }
  check_vit_fields(n, q, p);
  if (q.float_layernorm && n.op != OpKind::Linear)
    fail(p + "/float_layernorm",
         std::string("only a linear node can keep LayerNorm in FP32, this is a ") + op);
  check_range(p + "/divisor_frac_bits", q.divisor_frac_bits, 0, 31);
  check_range(p + "/divisor_code_bits", q.divisor_code_bits, 1, 30);
  check_range(p + "/divisor_bits", q.divisor_bits, 1, 31);
  if (n.op == OpKind::AttnNormalize) {
    const Shape& in = g.nodes[static_cast<size_t>(n.inputs[0])].out_shape;
    check_act(p + "/numerator", q.numerator, &in);
    if (q.numerator.bits == 32) fail(p + "/numerator/bits", "the numerator is a narrow integer (2..16 bits)");
    for (size_t k = 0; k < q.numerator.zero_point.size(); ++k)
      if (q.numerator.zero_point[k] != 0) fail(at(p + "/numerator/zero_point", k), "must be 0");
    const size_t groups = static_cast<size_t>(q.numerator.groups0 * q.numerator.groups1);
    check_requants(p + "/num_requant", q.num_requant, groups, "one per numerator group");
    check_requants(p + "/div_requant", q.div_requant, groups, "one per numerator group");
    check_requants(p + "/out_requant", q.out_requant, groups, "one per numerator group");
  } else {
    check_act(p + "/numerator", q.numerator, nullptr);
    check_empty(p + "/numerator/scale", q.numerator.scale.size(), op);
    check_empty(p + "/num_requant", q.num_requant.size(), op);
    check_empty(p + "/div_requant", q.div_requant.size(), op);
    check_empty(p + "/out_requant", q.out_requant.size(), op);
  }
}

/// The fields the integer semantics of node `i` read must be set (the file format allows them empty).
void check_computable(const Graph& g, const QNode& q, size_t i) {
  const Node& n = g.nodes[i];
  if (!has_integer_semantics(n.op)) return;  // the executors refuse the node by name
  const std::string p = at("/nodes", i) + "/q";
  const auto require = [&](const std::string& field, bool set) {
    if (!set)
      fail(p + "/" + field,
           std::string("is empty, but the integer semantics of a ") + op_name(n.op) + " node need it");
  };
  require("out/scale", act_set(q.out));
  if (is_conv_or_linear(n.op)) {
    require("weight", !q.weight.empty());
    if (q.float_layernorm) {  // LayerNorm and the activation in FP32
      require("weight_scale", !q.weight_scale.empty());
      require("ln_gamma", !q.ln_gamma.empty());
      require("ln_beta", !q.ln_beta.empty());
      return;
    }
    require("requant", !q.requant.empty());
    if (n.act == Act::HSwish || n.act == Act::GeluTanh || n.act == Act::GeluErf || act_is_table_only(n.act))
      require("pre_act/scale", act_set(q.pre_act));
    if (act_is_table_only(n.act)) require("act_lut", !q.act_lut.empty());
    if (n.act == Act::HSwish) require("act_requant", !q.act_requant.empty());
    if (n.act == Act::ReLU6) require("relu6_six", !q.relu6_six.empty());
    if (n.act == Act::GeluTanh || n.act == Act::GeluErf)
      require("act_lut (a table) or act_requant (i-GELU)", !q.act_lut.empty() || !q.act_requant.empty());
  } else if (n.op == OpKind::Add || n.op == OpKind::GlobalAvgPool || n.op == OpKind::Softmax ||
             n.op == OpKind::ClassToken || n.op == OpKind::PosEmbed || n.op == OpKind::ChannelMul ||
             (n.op == OpKind::MatMul && q.out.bits != 32)) {
    require("requant", !q.requant.empty());
    if (n.op == OpKind::ClassToken || n.op == OpKind::PosEmbed)
      require("const_codes", !q.const_codes.empty());
  } else if (n.op == OpKind::LayerNorm) {
    require("ln_mult", !q.ln_mult.empty());
    require("bias", !q.bias.empty());
  } else if (n.op == OpKind::AttnNormalize) {
    require("numerator/scale", act_set(q.numerator));
    require("num_requant", !q.num_requant.empty());
    require("div_requant", !q.div_requant.empty());
    require("out_requant", !q.out_requant.empty());
  }
}

}  // namespace

void validate(const QGraph& qg, QGraphUse use) {
  const Graph& g = qg.graph;
  check_range("/resolution", g.resolution, 0, std::numeric_limits<int32_t>::max());
  if (!printable(g.model)) fail("/model", "\"" + excerpt(g.model) + "\" holds control characters");
  if (qg.nodes.size() != g.nodes.size())
    fail("/nodes",
         std::to_string(g.nodes.size()) + " graph nodes but " + std::to_string(qg.nodes.size()) + " QNodes");
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!printable(g.nodes[i].name))
      fail(at("/nodes", i) + "/name", "\"" + excerpt(g.nodes[i].name) + "\" holds control characters");
    check_node(g, i);
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) check_qnode(g, qg.nodes[i], i);
  g.validate();
  if (use == QGraphUse::Compute)
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      check_computable(g, qg.nodes[i], i);
      // A max pool moves codes: its output must be quantized exactly as its input (qgraph.hpp, MaxPool).
      if (g.nodes[i].op == OpKind::MaxPool &&
          (qg.nodes[i].out.groups1 != 1 ||
           !qg.nodes[i].out.same_as(qg.nodes[static_cast<size_t>(g.nodes[i].inputs[0])].out)))
        fail(at("/nodes", i) + "/q/out",
             "a maxpool's output quantizer must equal its input's, per tensor or per channel");
    }
}

namespace {

uint32_t crc32_of(const uint8_t* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, size_t{1} << 30);
    crc = crc32(crc, p, static_cast<uInt>(chunk));
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

// ---------------------------------------------------------------------------------------------------
// Writer

void put_le(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void store_le(uint8_t* out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

Json float_json(float f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  return static_cast<double>(f);  // a double holds a float exactly; nlohmann prints it round-trip exact
}

Json shape_json(const Shape& s) {
  Json j = Json::array();
  for (int64_t d : s) j.push_back(d);
  return j;
}

/// Where a tensor goes: the data section holds the small arrays every reader needs (scales, zero points,
/// biases, requantizers, LUTs); the weights section the weight codes and the FP32 parameters kept, which
/// only computing values needs (QGraphUse::Compute), so a structure-only load skips it.
enum class Place { Data, Weights };

class Writer {
 public:
  std::vector<uint8_t> data, weights;

  /// A float array: inline when short, 1-D and finite, else an f32 tensor in the data section.
  Json floats(const std::vector<float>& v) {
    const bool finite = std::all_of(v.begin(), v.end(), [](float f) { return std::isfinite(f); });
    if (v.size() <= kInlineMax && finite) {
      Json j = Json::array();
      for (float f : v) j.push_back(float_json(f));
      return j;
    }
    return float_tensor(v, {static_cast<int64_t>(v.size())}, Place::Data);
  }
  Json float_tensor(const std::vector<float>& v, const Shape& shape, Place place) {
    std::vector<uint8_t>& out = section(place);
    const uint64_t offset = begin_tensor(out);
    out.resize(out.size() + 4 * v.size());
    uint8_t* p = out.data() + offset;
    for (float f : v) {
      uint32_t bits = 0;
      std::memcpy(&bits, &f, sizeof bits);
      store_le(p, bits, 4);
      p += 4;
    }
    return ref("f32", shape, out, offset);
  }

  /// An int array: inline when short and 1-D, else a tensor in the data section.
  Json ints(const std::vector<int32_t>& v) {
    if (v.size() <= kInlineMax) return Json(v);
    return int_tensor(v, {static_cast<int64_t>(v.size())}, Place::Data);
  }
  /// Integers in the narrowest of i4 (two codes a byte), i8, i16, i32 that holds every value.
  Json int_tensor(const std::vector<int32_t>& v, const Shape& shape, Place place) {
    int32_t lo = 0, hi = 0;
    for (int32_t x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    std::vector<uint8_t>& out = section(place);
    const uint64_t offset = begin_tensor(out);
    if (lo >= -8 && hi <= 7) {
      out.resize(out.size() + (v.size() + 1) / 2, 0);
      for (size_t k = 0; k < v.size(); ++k)
        out[offset + k / 2] = static_cast<uint8_t>(out[offset + k / 2] | (static_cast<uint32_t>(v[k]) & 0xF)
                                                                             << (k % 2 ? 4 : 0));
      return ref("i4", shape, out, offset);
    }
    const int width = (lo >= -128 && hi <= 127) ? 1 : (lo >= -32768 && hi <= 32767) ? 2 : 4;
    out.resize(out.size() + static_cast<size_t>(width) * v.size());
    uint8_t* p = out.data() + offset;
    for (int32_t x : v) {
      store_le(p, static_cast<uint32_t>(x), width);
      p += width;
    }
    return ref(width == 1 ? "i8" : width == 2 ? "i16" : "i32", shape, out, offset);
  }

 private:
  std::vector<uint8_t>& section(Place place) { return place == Place::Data ? data : weights; }
  static uint64_t begin_tensor(std::vector<uint8_t>& out) {
    out.resize(static_cast<size_t>(round_up(out.size(), kAlign)), 0);
    return out.size();
  }
  static Json ref(const char* dtype, const Shape& shape, const std::vector<uint8_t>& out, uint64_t offset) {
    Json j;
    j["dtype"] = dtype;
    j["shape"] = shape_json(shape);
    j["offset"] = offset;
    j["bytes"] = out.size() - offset;
    return j;
  }
};

/// Short lists as JSON [multiplier, shift] pairs, longer ones as an [n, 2] integer tensor.
Json requants_json(Writer& w, const std::vector<Requantizer>& rs) {
  if (rs.size() <= kInlineMax / 2) {
    Json j = Json::array();
    for (const Requantizer& r : rs) j.push_back(Json::array({r.multiplier, r.shift}));
    return j;
  }
  std::vector<int32_t> flat;
  flat.reserve(2 * rs.size());
  for (const Requantizer& r : rs) flat.insert(flat.end(), {r.multiplier, static_cast<int32_t>(r.shift)});
  return w.int_tensor(flat, {static_cast<int64_t>(rs.size()), 2}, Place::Data);
}

Json act_json(Writer& w, const ActQuant& a) {
  Json j;
  j["bits"] = a.bits;
  j["groups"] = Json::array({a.groups0, a.groups1});
  j["scale"] = w.floats(a.scale);
  j["zero_point"] = w.ints(a.zero_point);
  if (a.log2) j["log2"] = true;  // optional key: absent means false
  return j;
}

Json operand_json(const MatOperand& m) {
  Json j;
  j["row_offset"] = m.row_offset;
  j["rows"] = m.rows;
  j["transpose"] = m.transpose;
  return j;
}

Json node_json(Writer& w, const Node& n, const QNode& q) {
  Json j;
  j["name"] = n.name;
  j["op"] = op_name(n.op);
  j["inputs"] = n.inputs;
  j["out_shape"] = shape_json(n.out_shape);
  j["kernel"] = n.kernel;
  j["stride"] = n.stride;
  j["pad"] = n.pad;
  j["groups"] = n.groups;
  j["in_features"] = n.in_features;
  j["out_features"] = n.out_features;
  j["has_bias"] = n.has_bias;
  j["norm"] = norm_key(n.norm);
  j["norm_eps"] = float_json(n.norm_eps);
  j["act"] = act_key(n.act);
  j["a"] = operand_json(n.a);
  j["b"] = operand_json(n.b);
  j["scale"] = float_json(n.scale);
  j["head_dim"] = n.head_dim;
  j["attn_eps"] = float_json(n.attn_eps);
  j["heads"] = n.heads;
  j["token_index"] = n.token_index;
  // No FP32 parameter (Node::params) is stored: the integer semantics read the codes, and the one FP32
  // stage, float_layernorm, its QNode's ln_gamma and ln_beta (docs/qgraph-format.md).

  Json jq;
  jq["out"] = act_json(w, q.out);
  jq["weight_bits"] = q.weight_bits;
  jq["weight"] = q.weight.empty() ? Json::array()
                                  : w.int_tensor(q.weight, n.param_shapes().at("weight"), Place::Weights);
  jq["weight_scale"] = w.floats(q.weight_scale);
  jq["bias"] = w.ints(q.bias);
  jq["requant"] = requants_json(w, q.requant);
  jq["pre_act"] = act_json(w, q.pre_act);
  jq["hswish_three"] = q.hswish_three;
  jq["hswish_six"] = q.hswish_six;
  jq["act_requant"] = requants_json(w, q.act_requant);
  jq["act_lut"] = w.ints(q.act_lut);
  jq["float_layernorm"] = q.float_layernorm;
  jq["in_scale"] = float_json(q.in_scale);
  jq["ln_gamma"] = w.floats(q.ln_gamma);
  jq["ln_beta"] = w.floats(q.ln_beta);
  jq["divisor_mode"] = divisor_key(q.divisor_mode);
  jq["log2_rounding"] = rounding_key(q.log2_rounding);
  jq["divisor_frac_bits"] = q.divisor_frac_bits;
  jq["divisor_code_bits"] = q.divisor_code_bits;
  jq["divisor_bits"] = q.divisor_bits;
  jq["numerator"] = act_json(w, q.numerator);
  jq["num_requant"] = requants_json(w, q.num_requant);
  jq["div_requant"] = requants_json(w, q.div_requant);
  jq["out_requant"] = requants_json(w, q.out_requant);
  // Optional keys of the standard-ViT ops, written only when set, so other files keep their bytes.
  if (!q.const_codes.empty()) jq["const_codes"] = w.ints(q.const_codes);
  if (!q.relu6_six.empty()) jq["relu6_six"] = w.ints(q.relu6_six);
  if (!q.weight_pot_bits.empty()) jq["weight_pot_bits"] = w.ints(q.weight_pot_bits);
  if (!q.ln_mult.empty()) jq["ln_mult"] = w.ints(q.ln_mult);
  if (q.ln_shift != 0) jq["ln_shift"] = q.ln_shift;
  if (q.ln_eps != 0) jq["ln_eps"] = q.ln_eps;
  j["q"] = std::move(jq);
  return j;
}

/// The recipe as a JSON object when the text is one (and not absurdly nested), else the text itself.
Json recipe_json_value(const std::string& text) {
  try {
    Json parsed = parse_ordered_json_text(text, "recipe", kMaxRecipeDepth);
    if (parsed.is_object()) return parsed;
  } catch (const ConfigError&) {  // not JSON: stored as a string
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Reader

const char* type_name(const Json& j) {
  return j.type_name();
}

const Json& field(const Json& obj, const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) fail(at(path, key), "missing field");
  return *it;
}

const Json& object_at(const Json& j, const std::string& path) {
  if (!j.is_object()) fail(path, std::string("expected an object, got ") + type_name(j));
  return j;
}

const Json& array_at(const Json& j, const std::string& path) {
  if (!j.is_array()) fail(path, std::string("expected an array, got ") + type_name(j));
  return j;
}

int64_t int_at(const Json& j, const std::string& path, int64_t lo, int64_t hi) {
  const auto range = [&] { return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; };
  if (!j.is_number_integer()) fail(path, "expected an integer in " + range() + ", got " + type_name(j));
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo)
      fail(path, std::to_string(u) + " is out of range " + range());
    return static_cast<int64_t>(u);
  }
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) fail(path, std::to_string(v) + " is out of range " + range());
  return v;
}

int32_t int32_at(const Json& j, const std::string& path) {
  return static_cast<int32_t>(
      int_at(j, path, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
}
int64_t int64_at(const Json& j, const std::string& path) {
  return int_at(j, path, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
}
uint64_t uint64_at(const Json& j, const std::string& path) {
  if (!j.is_number_integer() || (!j.is_number_unsigned() && j.get<int64_t>() < 0))
    fail(path, std::string("expected a non-negative integer, got ") + describe_json(j));
  return j.get<uint64_t>();
}

bool bool_at(const Json& j, const std::string& path) {
  if (!j.is_boolean()) fail(path, std::string("expected true or false, got ") + type_name(j));
  return j.get<bool>();
}

const std::string& string_at(const Json& j, const std::string& path) {
  if (!j.is_string()) fail(path, std::string("expected a string, got ") + type_name(j));
  return j.get_ref<const std::string&>();
}

float float_at(const Json& j, const std::string& path) {
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<float>::infinity();
    if (s == "-inf") return -std::numeric_limits<float>::infinity();
    fail(path, "expected a number, \"nan\", \"inf\" or \"-inf\", got \"" + excerpt(s) + "\"");
  }
  if (!j.is_number()) fail(path, std::string("expected a number, got ") + type_name(j));
  const double d = j.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max()))
    fail(path, excerpt(j.dump()) + " is outside the float range");
  return static_cast<float>(d);
}

template <class E, size_t N>
E enum_at(const Json& j, const std::string& path, const E (&all)[N], const char* (*key)(E),
          const char* what) {
  const std::string& s = string_at(j, path);
  std::string known;
  for (E e : all) {
    if (s == key(e)) return e;
    known += (known.empty() ? "" : ", ") + std::string(key(e));
  }
  fail(path, "unknown " + std::string(what) + " '" + excerpt(s) + "' (known: " + known + ")");
}

/// A section of the file as read; `bytes` is null for a section that was not read (its references are
/// still range-checked, their values not decoded).
struct DataSection {
  const char* name = "data section";
  const uint8_t* bytes = nullptr;
  uint64_t size = 0;
};
struct Sections {
  DataSection data, weights;
};

enum class DType { F32, I32, I16, I8, I4 };

bool dtype_of(const std::string& name, DType* dtype) {
  static const std::pair<const char*, DType> kNames[] = {
      {"f32", DType::F32}, {"i32", DType::I32}, {"i16", DType::I16}, {"i8", DType::I8}, {"i4", DType::I4}};
  for (const auto& [key, value] : kNames)
    if (name == key) return *dtype = value, true;
  return false;
}

/// Bytes of `count` elements: i4 packs two a byte.
uint64_t dtype_bytes(DType dtype, uint64_t count) {
  switch (dtype) {
    case DType::F32:
    case DType::I32:
      return 4 * count;
    case DType::I16:
      return 2 * count;
    case DType::I8:
      return count;
    case DType::I4:
      return count / 2 + count % 2;
  }
  return 0;
}

struct TensorRef {
  std::string dtype_name;
  DType dtype = DType::F32;
  Shape shape;
  const uint8_t* bytes = nullptr;  // null: the section was not read
  size_t count = 0;
};

/// A tensor reference of a float (f32) or an integer (i4, i8, i16, i32) array, checked against its section.
TensorRef ref_at(const Json& j, const std::string& path, const DataSection& section, bool want_float) {
  TensorRef t;
  t.dtype_name = string_at(field(j, path, "dtype"), path + "/dtype");
  if (!dtype_of(t.dtype_name, &t.dtype))
    fail(path + "/dtype", "unknown dtype '" + excerpt(t.dtype_name) + "' (known: f32, i32, i16, i8, i4)");
  if (want_float && t.dtype != DType::F32)
    fail(path + "/dtype", "expected f32 for a float array, got " + t.dtype_name);
  if (!want_float && t.dtype == DType::F32)
    fail(path + "/dtype", "expected an integer dtype (i4, i8, i16, i32), got f32");
  const Json& shape = array_at(field(j, path, "shape"), path + "/shape");
  if (shape.size() > kMaxRank)
    fail(path + "/shape", "rank " + std::to_string(shape.size()) + " > " + std::to_string(kMaxRank));
  for (size_t k = 0; k < shape.size(); ++k)
    t.shape.push_back(int_at(shape[k], at(path + "/shape", k), 0, kMaxDim));
  const uint64_t offset = uint64_at(field(j, path, "offset"), path + "/offset");
  const uint64_t bytes = uint64_at(field(j, path, "bytes"), path + "/bytes");
  if (offset > section.size || bytes > section.size - offset)
    fail(path, "bytes [" + std::to_string(offset) + ", +" + std::to_string(bytes) + ") lie outside the " +
                   section.name + " (" + std::to_string(section.size) + " bytes)");
  int64_t count = 0;
  const bool counted = checked_numel(t.shape, &count);
  // count <= 2 * bytes first, so that dtype_bytes cannot overflow.
  if (!counted || static_cast<uint64_t>(count) / 2 > bytes ||
      dtype_bytes(t.dtype, static_cast<uint64_t>(count)) != bytes)
    fail(path + "/bytes",
         std::to_string(bytes) + " bytes do not hold " + t.dtype_name + " " + shape_str(t.shape) +
             (counted && static_cast<uint64_t>(count) / 2 <= bytes
                  ? " (" + std::to_string(dtype_bytes(t.dtype, static_cast<uint64_t>(count))) + " bytes)"
                  : ""));
  if (t.dtype == DType::I4 && count % 2 == 1 && section.bytes &&
      (section.bytes[offset + bytes - 1] >> 4) != 0)
    fail(path, "the unused high nibble of the last i4 byte is not zero");
  t.bytes = section.bytes ? section.bytes + offset : nullptr;
  t.count = static_cast<size_t>(count);
  return t;
}

uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

/// A float array: inline JSON numbers or an f32 tensor (left empty when its section was not read).
/// `shape` receives its shape ([n] inline).
std::vector<float> floats_at(const Json& j, const std::string& path, const DataSection& section,
                             Shape* shape) {
  std::vector<float> v;
  if (j.is_array()) {
    v.reserve(j.size());
    for (size_t k = 0; k < j.size(); ++k) v.push_back(float_at(j[k], at(path, k)));
    *shape = {static_cast<int64_t>(v.size())};
  } else if (j.is_object()) {
    const TensorRef t = ref_at(j, path, section, true);
    *shape = t.shape;
    if (!t.bytes) return v;
    v.resize(t.count);
    for (size_t k = 0; k < t.count; ++k) {
      const uint32_t bits = le32(t.bytes + 4 * k);
      std::memcpy(&v[k], &bits, sizeof bits);
    }
  } else {
    fail(path, std::string("expected an array or a tensor reference, got ") + type_name(j));
  }
  return v;
}

/// Widens an integer tensor to int32 (one loop per dtype: this runs over every weight).
std::vector<int32_t> widen(const TensorRef& t) {
  std::vector<int32_t> v(t.count);
  const uint8_t* p = t.bytes;
  switch (t.dtype) {
    case DType::I4:
      for (size_t k = 0; k < t.count; ++k) {
        const int nibble = (p[k / 2] >> (k % 2 ? 4 : 0)) & 0xF;
        v[k] = nibble >= 8 ? nibble - 16 : nibble;
      }
      break;
    case DType::I8:
      for (size_t k = 0; k < t.count; ++k) v[k] = static_cast<int8_t>(p[k]);
      break;
    case DType::I16:
      for (size_t k = 0; k < t.count; ++k)
        v[k] = static_cast<int16_t>(static_cast<uint16_t>(p[2 * k] | p[2 * k + 1] << 8));
      break;
    case DType::I32:
    case DType::F32:  // ref_at refused f32 for an integer array
      for (size_t k = 0; k < t.count; ++k) v[k] = static_cast<int32_t>(le32(p + 4 * k));
      break;
  }
  return v;
}

/// An int32 array: inline JSON integers or an i4 / i8 / i16 / i32 tensor (left empty when its section was
/// not read).
std::vector<int32_t> ints_at(const Json& j, const std::string& path, const DataSection& section,
                             Shape* shape) {
  std::vector<int32_t> v;
  if (j.is_array()) {
    v.reserve(j.size());
    for (size_t k = 0; k < j.size(); ++k) v.push_back(int32_at(j[k], at(path, k)));
    *shape = {static_cast<int64_t>(v.size())};
  } else if (j.is_object()) {
    const TensorRef t = ref_at(j, path, section, false);
    *shape = t.shape;
    if (t.bytes) v = widen(t);
  } else {
    fail(path, std::string("expected an array or a tensor reference, got ") + type_name(j));
  }
  return v;
}

template <class T, class F>
std::vector<T> vector_at(const Json& j, const std::string& path, const DataSection& data, F read) {
  Shape shape;
  std::vector<T> v = read(j, path, data, &shape);
  if (shape.size() != 1) fail(path + "/shape", "expected a vector (rank 1), got shape " + shape_str(shape));
  return v;
}
std::vector<float> float_vector_at(const Json& j, const std::string& path, const DataSection& data) {
  return vector_at<float>(j, path, data, floats_at);
}
std::vector<int32_t> int_vector_at(const Json& j, const std::string& path, const DataSection& data) {
  return vector_at<int32_t>(j, path, data, ints_at);
}

/// Requantizers: JSON [multiplier, shift] pairs, or an [n, 2] integer tensor in the data section.
std::vector<Requantizer> requants_at(const Json& j, const std::string& path, const DataSection& data) {
  const auto bad = [&](const std::string& p, const std::string& got) {
    fail(p, "expected [multiplier, shift] with multiplier > 0 and shift in [0, 62], got " + got);
  };
  std::vector<Requantizer> rs;
  if (j.is_object()) {
    const TensorRef t = ref_at(j, path, data, false);
    if (t.shape.size() != 2 || t.shape[1] != 2)
      fail(path + "/shape", "expected [n, 2] (multiplier, shift), got " + shape_str(t.shape));
    const std::vector<int32_t> flat = widen(t);
    rs.resize(flat.size() / 2);
    for (size_t k = 0; k < rs.size(); ++k) rs[k] = Requantizer{flat[2 * k], flat[2 * k + 1]};
    return rs;  // validate() checks the ranges, as for the in-memory QGraph
  }
  array_at(j, path);
  rs.reserve(j.size());
  for (size_t k = 0; k < j.size(); ++k) {
    const Json& e = j[k];
    const std::string p = at(path, k);
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer())
      bad(p, describe_json(e));
    Requantizer r;
    if (e[0].is_number_unsigned()
            ? e[0].get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
            : (e[0].get<int64_t>() <= 0))
      bad(p, describe_json(e));
    if (e[1].is_number_unsigned() ? e[1].get<uint64_t>() > 62 : (e[1].get<int64_t>() < 0))
      bad(p, describe_json(e));
    r.multiplier = static_cast<int32_t>(e[0].get<int64_t>());
    r.shift = static_cast<int>(e[1].get<int64_t>());
    if (r.multiplier <= 0 || r.shift < 0 || r.shift > 62) bad(p, describe_json(e));
    rs.push_back(r);
  }
  return rs;
}

ActQuant act_at(const Json& j, const std::string& path, const DataSection& data) {
  object_at(j, path);
  ActQuant a;
  a.bits = static_cast<int>(int_at(field(j, path, "bits"), path + "/bits", 0, 64));
  const Json& groups = array_at(field(j, path, "groups"), path + "/groups");
  if (groups.size() != 2) fail(path + "/groups", "expected [groups0, groups1]");
  a.groups0 = int_at(groups[0], path + "/groups/0", 1, kMaxDim);
  a.groups1 = int_at(groups[1], path + "/groups/1", 1, kMaxDim);
  a.scale = float_vector_at(field(j, path, "scale"), path + "/scale", data);
  a.zero_point = int_vector_at(field(j, path, "zero_point"), path + "/zero_point", data);
  if (j.contains("log2")) a.log2 = bool_at(j["log2"], path + "/log2");
  return a;
}

MatOperand operand_at(const Json& j, const std::string& path) {
  object_at(j, path);
  MatOperand m;
  m.row_offset = int64_at(field(j, path, "row_offset"), path + "/row_offset");
  m.rows = int64_at(field(j, path, "rows"), path + "/rows");
  m.transpose = bool_at(field(j, path, "transpose"), path + "/transpose");
  return m;
}

int int_field(const Json& obj, const std::string& path, const char* key) {
  return int32_at(field(obj, path, key), at(path, key));
}
int64_t int64_field(const Json& obj, const std::string& path, const char* key) {
  return int64_at(field(obj, path, key), at(path, key));
}

/// `weight_shape` receives the shape of a weight stored as a tensor (checked after validate()).
void read_node(const Json& j, const std::string& path, const Sections& sections, Node& n, QNode& q,
               Shape& weight_shape) {
  const DataSection& data = sections.data;
  object_at(j, path);
  n.name = string_at(field(j, path, "name"), path + "/name");
  n.op = enum_at(field(j, path, "op"), path + "/op", kAllOps, op_name, "op");
  const Json& inputs = array_at(field(j, path, "inputs"), path + "/inputs");
  for (size_t k = 0; k < inputs.size(); ++k) n.inputs.push_back(int32_at(inputs[k], at(path + "/inputs", k)));
  const Json& shape = array_at(field(j, path, "out_shape"), path + "/out_shape");
  if (shape.size() > kMaxRank)
    fail(path + "/out_shape", "rank " + std::to_string(shape.size()) + " > " + std::to_string(kMaxRank));
  for (size_t k = 0; k < shape.size(); ++k)
    n.out_shape.push_back(int64_at(shape[k], at(path + "/out_shape", k)));
  n.kernel = int_field(j, path, "kernel");
  n.stride = int_field(j, path, "stride");
  n.pad = int_field(j, path, "pad");
  n.groups = int_field(j, path, "groups");
  n.in_features = int64_field(j, path, "in_features");
  n.out_features = int64_field(j, path, "out_features");
  n.has_bias = bool_at(field(j, path, "has_bias"), path + "/has_bias");
  n.norm = enum_at(field(j, path, "norm"), path + "/norm", kAllNorms, norm_key, "norm");
  n.norm_eps = float_at(field(j, path, "norm_eps"), path + "/norm_eps");
  n.act = enum_at(field(j, path, "act"), path + "/act", kAllActs, act_key, "act");
  n.a = operand_at(field(j, path, "a"), path + "/a");
  n.b = operand_at(field(j, path, "b"), path + "/b");
  n.scale = float_at(field(j, path, "scale"), path + "/scale");
  n.head_dim = int64_field(j, path, "head_dim");
  n.attn_eps = float_at(field(j, path, "attn_eps"), path + "/attn_eps");
  n.heads = int64_field(j, path, "heads");
  n.token_index = int64_field(j, path, "token_index");

  const std::string qp = path + "/q";
  const Json& jq = object_at(field(j, path, "q"), qp);
  q.out = act_at(field(jq, qp, "out"), qp + "/out", data);
  q.weight_bits = int_field(jq, qp, "weight_bits");
  const Json& jw = field(jq, qp, "weight");
  q.weight = ints_at(jw, qp + "/weight", sections.weights, &weight_shape);
  if (!jw.is_object()) weight_shape.clear();  // an inline array is flat: check_qnode() counts it
  q.weight_scale = float_vector_at(field(jq, qp, "weight_scale"), qp + "/weight_scale", data);
  q.bias = int_vector_at(field(jq, qp, "bias"), qp + "/bias", data);
  q.requant = requants_at(field(jq, qp, "requant"), qp + "/requant", data);
  q.pre_act = act_at(field(jq, qp, "pre_act"), qp + "/pre_act", data);
  q.hswish_three = int_field(jq, qp, "hswish_three");
  q.hswish_six = int_field(jq, qp, "hswish_six");
  q.act_requant = requants_at(field(jq, qp, "act_requant"), qp + "/act_requant", data);
  q.act_lut = int_vector_at(field(jq, qp, "act_lut"), qp + "/act_lut", data);
  q.float_layernorm = bool_at(field(jq, qp, "float_layernorm"), qp + "/float_layernorm");
  q.in_scale = float_at(field(jq, qp, "in_scale"), qp + "/in_scale");
  q.ln_gamma = float_vector_at(field(jq, qp, "ln_gamma"), qp + "/ln_gamma", data);
  q.ln_beta = float_vector_at(field(jq, qp, "ln_beta"), qp + "/ln_beta", data);
  q.divisor_mode = enum_at(field(jq, qp, "divisor_mode"), qp + "/divisor_mode", kAllDivisorModes, divisor_key,
                           "divisor mode");
  q.log2_rounding = enum_at(field(jq, qp, "log2_rounding"), qp + "/log2_rounding", kAllRoundings,
                            rounding_key, "log2 rounding");
  q.divisor_frac_bits = int_field(jq, qp, "divisor_frac_bits");
  q.divisor_code_bits = int_field(jq, qp, "divisor_code_bits");
  q.divisor_bits = int_field(jq, qp, "divisor_bits");
  q.numerator = act_at(field(jq, qp, "numerator"), qp + "/numerator", data);
  q.num_requant = requants_at(field(jq, qp, "num_requant"), qp + "/num_requant", data);
  q.div_requant = requants_at(field(jq, qp, "div_requant"), qp + "/div_requant", data);
  q.out_requant = requants_at(field(jq, qp, "out_requant"), qp + "/out_requant", data);
  if (jq.contains("const_codes")) q.const_codes = int_vector_at(jq["const_codes"], qp + "/const_codes", data);
  if (jq.contains("relu6_six")) q.relu6_six = int_vector_at(jq["relu6_six"], qp + "/relu6_six", data);
  if (jq.contains("weight_pot_bits"))
    q.weight_pot_bits = int_vector_at(jq["weight_pot_bits"], qp + "/weight_pot_bits", data);
  if (jq.contains("ln_mult")) q.ln_mult = int_vector_at(jq["ln_mult"], qp + "/ln_mult", data);
  if (jq.contains("ln_shift")) q.ln_shift = int_field(jq, qp, "ln_shift");
  if (jq.contains("ln_eps")) q.ln_eps = int_field(jq, qp, "ln_eps");
}

/// The `key` object of the header: a section's length and CRC-32.
struct SectionHeader {
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
};
SectionHeader section_header(const Json& header, const char* key) {
  const std::string path = std::string("/") + key;
  const Json& j = object_at(field(header, "", key), path);
  SectionHeader s;
  s.bytes = uint64_at(field(j, path, "bytes"), path + "/bytes");
  s.crc32 = static_cast<uint32_t>(
      int_at(field(j, path, "crc32"), path + "/crc32", 0, std::numeric_limits<uint32_t>::max()));
  return s;
}

QGraph load_impl(const std::string& path, QGraphUse use) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("", std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("", "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("", std::string("cannot open: ") + std::strerror(errno));
  const auto read_exact = [&](void* dst, uint64_t n, const char* what) {
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<uint64_t>(in.gcount()) != n) fail("", std::string("read error in the ") + what);
  };
  const auto read_zeros = [&](uint64_t from, uint64_t to, const char* what) {
    uint8_t pad[kAlign];
    read_exact(pad, to - from, what);
    for (uint64_t k = 0; k < to - from; ++k)
      if (pad[k] != 0)
        fail("", std::string("non-zero byte in the ") + what + " at offset " + std::to_string(from + k));
  };

  // Preamble.
  if (file_size < sizeof kMagic)
    fail("",
         "not a vitsim quantized graph: " + std::to_string(file_size) + " bytes, too short for the magic");
  uint8_t pre[kPreambleBytes];
  read_exact(pre, sizeof kMagic, "magic");
  if (std::memcmp(pre, kMagic, sizeof kMagic) != 0)
    fail("", "not a vitsim quantized graph: bad magic (expected \"VITSIMQG\")");
  if (file_size < kPreambleBytes)
    fail("", "truncated: " + std::to_string(file_size) + " bytes, the preamble alone has " +
                 std::to_string(kPreambleBytes));
  read_exact(pre + sizeof kMagic, kPreambleBytes - sizeof kMagic, "preamble");
  const uint32_t version = le32(pre + 8);
  if (version == 1)
    fail("", "format version 1 is no longer read (this build reads version " +
                 std::to_string(kQGraphFormatVersion) +
                 ", with compact weights): quantize the model again with vitsim quantize");
  if (version != static_cast<uint32_t>(kQGraphFormatVersion))
    fail("", "unsupported format version " + std::to_string(version) + " (this build reads version " +
                 std::to_string(kQGraphFormatVersion) + ")");
  const uint64_t header_len = static_cast<uint64_t>(le32(pre + 12)) | static_cast<uint64_t>(le32(pre + 16))
                                                                          << 32;
  if (header_len > file_size - kPreambleBytes)
    fail("", "header length " + std::to_string(header_len) + " exceeds the " +
                 std::to_string(file_size - kPreambleBytes) +
                 " bytes after the preamble (truncated or corrupt file)");

  // Header.
  std::string text(static_cast<size_t>(header_len), '\0');
  read_exact(text.data(), header_len, "header");
  const Json header = parse_ordered_json_text(text, "header", kMaxHeaderDepth);
  object_at(header, "(header)");
  const int64_t declared =
      int_at(field(header, "", "format_version"), "/format_version", 0, std::numeric_limits<uint32_t>::max());
  if (declared != version)
    fail("/format_version",
         std::to_string(declared) + " does not match the preamble's version " + std::to_string(version));
  string_at(field(header, "", "producer"), "/producer");
  const SectionHeader data_header = section_header(header, "data");
  const SectionHeader weights_header = section_header(header, "weights");

  // The data section, zero padding, the weights section: exactly the rest of the file.
  const uint64_t data_offset = round_up(kPreambleBytes + header_len, kAlign);
  const auto truncated = [&](const char* what, uint64_t offset, uint64_t bytes) {
    fail("", "truncated: the header declares a " + std::to_string(bytes) + "-byte " + what + " at offset " +
                 std::to_string(offset) + ", the file has " + std::to_string(file_size) + " bytes");
  };
  if (data_offset > file_size || data_header.bytes > file_size - data_offset)
    truncated("data section", data_offset, data_header.bytes);
  const uint64_t data_end = data_offset + data_header.bytes;
  const uint64_t weights_offset = round_up(data_end, kAlign);  // data_end <= file_size: no overflow
  if (weights_offset > file_size || weights_header.bytes > file_size - weights_offset)
    truncated("weights section", weights_offset, weights_header.bytes);
  if (weights_offset + weights_header.bytes != file_size)
    fail("", std::to_string(file_size - weights_offset - weights_header.bytes) +
                 " unexpected bytes after the " + std::to_string(weights_header.bytes) +
                 "-byte weights section");
  read_zeros(kPreambleBytes + header_len, data_offset, "header padding");
  std::vector<uint8_t> data_bytes(static_cast<size_t>(data_header.bytes));
  read_exact(data_bytes.data(), data_bytes.size(), "data section");
  const auto check_crc = [](const std::vector<uint8_t>& bytes, uint32_t declared_crc, const char* what) {
    const uint32_t crc = crc32_of(bytes.data(), bytes.size());
    if (crc != declared_crc)
      fail("", std::string(what) + " checksum mismatch: crc32 " + std::to_string(crc) + ", header says " +
                   std::to_string(declared_crc) + " (corrupt data)");
  };
  check_crc(data_bytes, data_header.crc32, "data section");
  Sections sections;
  sections.data = DataSection{"data section", data_bytes.data(), data_bytes.size()};
  sections.weights = DataSection{"weights section", nullptr, weights_header.bytes};
  std::vector<uint8_t> weight_bytes;
  if (use == QGraphUse::Compute) {  // a structure-only load reads no byte of the weights
    read_zeros(data_end, weights_offset, "data section padding");
    weight_bytes.resize(static_cast<size_t>(weights_header.bytes));
    read_exact(weight_bytes.data(), weight_bytes.size(), "weights section");
    check_crc(weight_bytes, weights_header.crc32, "weights section");
    sections.weights.bytes = weight_bytes.data();
  }

  QGraph qg;
  qg.graph.model = string_at(field(header, "", "model"), "/model");
  qg.graph.resolution = static_cast<int>(
      int_at(field(header, "", "resolution"), "/resolution", 0, std::numeric_limits<int32_t>::max()));
  qg.recipe_name = string_at(field(header, "", "recipe_name"), "/recipe_name");
  const Json& recipe = field(header, "", "recipe");
  if (recipe.is_object())
    qg.recipe_json = recipe.dump();
  else if (recipe.is_string())
    qg.recipe_json = recipe.get<std::string>();
  else
    fail("/recipe", std::string("expected an object or a string, got ") + type_name(recipe));
  const Json& nodes = array_at(field(header, "", "nodes"), "/nodes");
  qg.graph.nodes.resize(nodes.size());
  qg.nodes.resize(nodes.size());
  std::vector<Shape> weight_shapes(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    read_node(nodes[i], at("/nodes", i), sections, qg.graph.nodes[i], qg.nodes[i], weight_shapes[i]);
  validate(qg);  // the executors check QGraphUse::Compute themselves
  // A weight stored as a tensor has the FP32 weight layout (validate() checked its element count).
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = qg.graph.nodes[i];
    if (weight_shapes[i].empty() || !is_conv_or_linear(n.op)) continue;
    const Shape expected = n.param_shapes().at("weight");
    if (weight_shapes[i] != expected)
      fail(at("/nodes", i) + "/q/weight/shape",
           shape_str(weight_shapes[i]) + ", expected the weight layout " + shape_str(expected));
  }
  return qg;
}

/// An upper bound of the weights section's size (to reserve it once: a 1 GB model would otherwise be
/// copied on every doubling of the buffer).
size_t weights_bound(const QGraph& qg) {
  size_t n = 0;
  for (const QNode& q : qg.nodes) n += q.weight.size() + kAlign;
  return n;
}

Json section_json(const std::vector<uint8_t>& bytes) {
  Json j;
  j["bytes"] = bytes.size();
  j["crc32"] = crc32_of(bytes.data(), bytes.size());
  return j;
}

}  // namespace

void save_qgraph(const QGraph& qgraph, const std::string& path) {
  Writer w;
  std::string header;
  try {
    validate(qgraph);
    w.weights.reserve(weights_bound(qgraph));
    Json j;
    j["format_version"] = kQGraphFormatVersion;
    j["producer"] = "vitsim";
    j["model"] = qgraph.graph.model;
    j["resolution"] = qgraph.graph.resolution;
    j["recipe_name"] = qgraph.recipe_name;
    j["recipe"] = recipe_json_value(qgraph.recipe_json);
    Json nodes = Json::array();
    for (size_t i = 0; i < qgraph.graph.nodes.size(); ++i)
      nodes.push_back(node_json(w, qgraph.graph.nodes[i], qgraph.nodes[i]));
    j["data"] = section_json(w.data);
    j["weights"] = section_json(w.weights);
    j["nodes"] = std::move(nodes);
    header = j.dump();  // throws on a string that is not UTF-8
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("save_qgraph: " + path + ": cannot write this QGraph: " + e.what());
  } catch (const Json::exception& e) {
    throw std::invalid_argument("save_qgraph: " + path + ": cannot write this QGraph: " + e.what());
  }

  std::vector<uint8_t> head(kMagic, kMagic + sizeof kMagic);
  put_le(head, static_cast<uint32_t>(kQGraphFormatVersion), 4);
  put_le(head, header.size(), 8);
  head.insert(head.end(), header.begin(), header.end());
  head.resize(static_cast<size_t>(round_up(head.size(), kAlign)), 0);

  try {
    static const uint8_t kZeros[kAlign] = {};
    const size_t data_padding = static_cast<size_t>(round_up(w.data.size(), kAlign)) - w.data.size();
    write_file_atomic(path, {ByteRange{head.data(), head.size()}, ByteRange{w.data.data(), w.data.size()},
                             ByteRange{kZeros, data_padding}, ByteRange{w.weights.data(), w.weights.size()}});
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("save_qgraph: ") + e.what());
  }
}

QGraph load_qgraph(const std::string& path, QGraphUse use) {
  try {
    return load_impl(path, use);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  } catch (const Json::exception& e) {  // a type error the checks above missed: still the file's fault
    throw std::invalid_argument(path + ": header: " + e.what());
  }
}

}  // namespace vitsim::quant

// The quantized-graph file (.vqg): exact round trips (every field of Graph, Node, QNode; floats bit for
// bit), deterministic bytes, atomic writes, and a loader that rejects every kind of corruption with an
// std::invalid_argument naming the file and the problem (and never crashes: this runs under ASan in CI).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "tests/test_support.hpp"

using namespace vitsim::quant;
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Catch::Matchers::Contains;
using vitsim::test::TempDir;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

uint64_t get_le(const Bytes& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b.at(at + static_cast<size_t>(i))) << (8 * i);
  return v;
}

void set_le(Bytes& b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(at + static_cast<size_t>(i)) = static_cast<uint8_t>(v >> (8 * i));
}

size_t round_up_64(size_t n) {
  return (n + 63) / 64 * 64;
}

/// A .vqg file taken apart: preamble version, parsed header, data section, weights section.
struct Parts {
  uint32_t version = 0;
  Json header;
  Bytes data, weights;
  size_t data_offset = 0, weights_offset = 0;
};

Parts split(const Bytes& file) {
  Parts p;
  p.version = static_cast<uint32_t>(get_le(file, 8, 4));
  const size_t len = static_cast<size_t>(get_le(file, 12, 8));
  p.header = Json::parse(file.begin() + 20, file.begin() + 20 + static_cast<std::ptrdiff_t>(len));
  p.data_offset = round_up_64(20 + len);
  const size_t data_bytes = p.header["data"]["bytes"].get<size_t>();
  p.data.assign(file.begin() + static_cast<std::ptrdiff_t>(p.data_offset),
                file.begin() + static_cast<std::ptrdiff_t>(p.data_offset + data_bytes));
  p.weights_offset = round_up_64(p.data_offset + data_bytes);
  p.weights.assign(file.begin() + static_cast<std::ptrdiff_t>(p.weights_offset), file.end());
  return p;
}

Bytes join(const Parts& p) {
  const std::string text = p.header.dump();
  const size_t data_offset = round_up_64(20 + text.size());
  const size_t weights_offset = round_up_64(data_offset + p.data.size());
  Bytes b(weights_offset + p.weights.size(), 0);
  std::memcpy(b.data(), "VITSIMQG", 8);
  set_le(b, 8, p.version, 4);
  set_le(b, 12, text.size(), 8);
  std::memcpy(b.data() + 20, text.data(), text.size());
  std::copy(p.data.begin(), p.data.end(), b.begin() + static_cast<std::ptrdiff_t>(data_offset));
  std::copy(p.weights.begin(), p.weights.end(), b.begin() + static_cast<std::ptrdiff_t>(weights_offset));
  return b;
}

/// `bytes` with the section's CRC-32 in the header recomputed (an edit the checksum does not catch).
void update_crc(Json& header, const char* section, const Bytes& bytes) {
  header[section]["crc32"] =
      static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), bytes.data(), static_cast<uInt>(bytes.size())));
}

/// What a .vqg file keeps of a QGraph: no FP32 parameters (Node::params).
QGraph as_stored(QGraph qg) {
  for (Node& n : qg.graph.nodes) n.params.clear();
  return qg;
}

/// What a structure-only load gives: no weight codes either.
QGraph structure_of(QGraph qg) {
  qg = as_stored(std::move(qg));
  for (QNode& q : qg.nodes) q.weight.clear();
  return qg;
}

/// The message of the std::invalid_argument load_qgraph throws (any other exception fails the test).
std::string load_error(const std::string& path) {
  try {
    load_qgraph(path);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(loaded without an error)";
}

// ---------------------------------------------------------------------------------------------------
// Field-by-field equality; floats compare bit for bit (NaN == NaN, -0 != +0).

bool same_float(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string str(float f) {
  std::ostringstream s;
  s.precision(9);
  s << f;
  return s.str();
}

template <class T>
std::string str(const T& v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

struct Diff {
  std::string first;  // empty: equal so far
  static bool same(float a, float b) { return same_float(a, b); }
  template <class T>
  static bool same(const T& a, const T& b) {
    return a == b;
  }
  void value(const std::string& path, const std::string& a, const std::string& b, bool equal) {
    if (first.empty() && !equal) first = path + ": " + a + " != " + b;
  }
  template <class T>
  void eq(const std::string& path, const T& a, const T& b) {
    if (first.empty() && !(a == b)) first = path + ": " + str(a) + " != " + str(b);
  }
  void eq(const std::string& path, float a, float b) { value(path, str(a), str(b), same_float(a, b)); }
  template <class T>
  void vec(const std::string& path, const std::vector<T>& a, const std::vector<T>& b) {
    if (!first.empty()) return;
    if (a.size() != b.size()) {
      first = path + ": size " + std::to_string(a.size()) + " != " + std::to_string(b.size());
      return;
    }
    for (size_t i = 0; i < a.size() && first.empty(); ++i)
      if (!same(a[i], b[i])) eq(path + "[" + std::to_string(i) + "]", a[i], b[i]);
  }
  void requants(const std::string& path, const std::vector<Requantizer>& a,
                const std::vector<Requantizer>& b) {
    if (!first.empty()) return;
    if (a.size() != b.size()) {
      first = path + ": size " + std::to_string(a.size()) + " != " + std::to_string(b.size());
      return;
    }
    for (size_t i = 0; i < a.size(); ++i) {
      eq(path + "[" + std::to_string(i) + "].multiplier", a[i].multiplier, b[i].multiplier);
      eq(path + "[" + std::to_string(i) + "].shift", a[i].shift, b[i].shift);
    }
  }
  void act(const std::string& path, const ActQuant& a, const ActQuant& b) {
    eq(path + ".bits", a.bits, b.bits);
    eq(path + ".groups0", a.groups0, b.groups0);
    eq(path + ".groups1", a.groups1, b.groups1);
    vec(path + ".scale", a.scale, b.scale);
    vec(path + ".zero_point", a.zero_point, b.zero_point);
    eq(path + ".log2", a.log2, b.log2);
  }
  void operand(const std::string& path, const MatOperand& a, const MatOperand& b) {
    eq(path + ".row_offset", a.row_offset, b.row_offset);
    eq(path + ".rows", a.rows, b.rows);
    eq(path + ".transpose", a.transpose, b.transpose);
  }
};

/// "" when equal, else the first differing field, e.g. "nodes[3].q.requant[2].shift: 31 != 30".
std::string first_difference(const QGraph& x, const QGraph& y) {
  Diff d;
  d.eq("graph.model", x.graph.model, y.graph.model);
  d.eq("graph.resolution", x.graph.resolution, y.graph.resolution);
  d.eq("recipe_name", x.recipe_name, y.recipe_name);
  d.eq("recipe_json", x.recipe_json, y.recipe_json);
  d.eq("graph.nodes.size", x.graph.nodes.size(), y.graph.nodes.size());
  d.eq("nodes.size", x.nodes.size(), y.nodes.size());
  if (!d.first.empty()) return d.first;
  for (size_t i = 0; i < x.graph.nodes.size() && i < x.nodes.size(); ++i) {
    const Node& a = x.graph.nodes[i];
    const Node& b = y.graph.nodes[i];
    const std::string p = "nodes[" + std::to_string(i) + "]";
    d.eq(p + ".name", a.name, b.name);
    d.eq(p + ".op", std::string(op_name(a.op)), std::string(op_name(b.op)));
    d.vec(p + ".inputs", a.inputs, b.inputs);
    d.vec(p + ".out_shape", a.out_shape, b.out_shape);
    d.eq(p + ".kernel", a.kernel, b.kernel);
    d.eq(p + ".stride", a.stride, b.stride);
    d.eq(p + ".pad", a.pad, b.pad);
    d.eq(p + ".groups", a.groups, b.groups);
    d.eq(p + ".in_features", a.in_features, b.in_features);
    d.eq(p + ".out_features", a.out_features, b.out_features);
    d.eq(p + ".has_bias", a.has_bias, b.has_bias);
    d.eq(p + ".norm", static_cast<int>(a.norm), static_cast<int>(b.norm));
    d.eq(p + ".norm_eps", a.norm_eps, b.norm_eps);
    d.eq(p + ".act", static_cast<int>(a.act), static_cast<int>(b.act));
    d.operand(p + ".a", a.a, b.a);
    d.operand(p + ".b", a.b, b.b);
    d.eq(p + ".scale", a.scale, b.scale);
    d.eq(p + ".head_dim", a.head_dim, b.head_dim);
    d.eq(p + ".attn_eps", a.attn_eps, b.attn_eps);
    d.eq(p + ".heads", a.heads, b.heads);
    d.eq(p + ".token_index", a.token_index, b.token_index);
    d.eq(p + ".params.size", a.params.size(), b.params.size());
    for (const auto& [key, t] : a.params) {
      auto it = b.params.find(key);
      if (it == b.params.end()) {
        d.value(p + ".params", key, "(missing)", false);
        break;
      }
      d.vec(p + ".params[" + key + "].shape", t.shape, it->second.shape);
      d.vec(p + ".params[" + key + "].data", t.data, it->second.data);
    }
    const QNode& qa = x.nodes[i];
    const QNode& qb = y.nodes[i];
    const std::string q = p + ".q";
    d.act(q + ".out", qa.out, qb.out);
    d.eq(q + ".weight_bits", qa.weight_bits, qb.weight_bits);
    d.vec(q + ".weight", qa.weight, qb.weight);
    d.vec(q + ".weight_scale", qa.weight_scale, qb.weight_scale);
    d.vec(q + ".bias", qa.bias, qb.bias);
    d.requants(q + ".requant", qa.requant, qb.requant);
    d.act(q + ".pre_act", qa.pre_act, qb.pre_act);
    d.eq(q + ".hswish_three", qa.hswish_three, qb.hswish_three);
    d.eq(q + ".hswish_six", qa.hswish_six, qb.hswish_six);
    d.requants(q + ".act_requant", qa.act_requant, qb.act_requant);
    d.vec(q + ".act_lut", qa.act_lut, qb.act_lut);
    d.eq(q + ".float_layernorm", qa.float_layernorm, qb.float_layernorm);
    d.eq(q + ".in_scale", qa.in_scale, qb.in_scale);
    d.vec(q + ".ln_gamma", qa.ln_gamma, qb.ln_gamma);
    d.vec(q + ".ln_beta", qa.ln_beta, qb.ln_beta);
    d.eq(q + ".divisor_mode", static_cast<int>(qa.divisor_mode), static_cast<int>(qb.divisor_mode));
    d.eq(q + ".log2_rounding", static_cast<int>(qa.log2_rounding), static_cast<int>(qb.log2_rounding));
    d.eq(q + ".divisor_frac_bits", qa.divisor_frac_bits, qb.divisor_frac_bits);
    d.eq(q + ".divisor_code_bits", qa.divisor_code_bits, qb.divisor_code_bits);
    d.eq(q + ".divisor_bits", qa.divisor_bits, qb.divisor_bits);
    d.act(q + ".numerator", qa.numerator, qb.numerator);
    d.requants(q + ".num_requant", qa.num_requant, qb.num_requant);
    d.requants(q + ".div_requant", qa.div_requant, qb.div_requant);
    d.requants(q + ".out_requant", qa.out_requant, qb.out_requant);
    d.vec(q + ".const_codes", qa.const_codes, qb.const_codes);
    d.vec(q + ".ln_mult", qa.ln_mult, qb.ln_mult);
    d.eq(q + ".ln_shift", qa.ln_shift, qb.ln_shift);
    d.eq(q + ".ln_eps", qa.ln_eps, qb.ln_eps);
    if (!d.first.empty()) break;
  }
  return d.first;
}

// ---------------------------------------------------------------------------------------------------
// A small but complete QGraph.

struct Gen {
  std::mt19937_64 rng{12345};
  int32_t uniform(int32_t lo, int32_t hi) {
    const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo + 1);
    return static_cast<int32_t>(lo + static_cast<int64_t>(rng() % range));
  }
  std::vector<int32_t> ints(size_t n, int32_t lo, int32_t hi) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
  std::vector<float> scales(size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = std::ldexp(static_cast<float>(uniform(1 << 20, 1 << 21)), -27);
    return v;
  }
  std::vector<Requantizer> requants(size_t n) {
    std::vector<Requantizer> v(n);
    for (auto& r : v) r = requantizer_for(std::ldexp(static_cast<double>(uniform(1, 1 << 30)), -40));
    return v;
  }
  ActQuant act(int bits, int64_t g0, int64_t g1, bool zero_zp = false) {
    ActQuant a;
    a.bits = bits;
    a.groups0 = g0;
    a.groups1 = g1;
    a.scale = scales(static_cast<size_t>(g0 * g1));
    a.zero_point = zero_zp || bits == 32 ? std::vector<int32_t>(a.scale.size(), 0)
                                         : ints(a.scale.size(), -(1 << (bits - 1)), (1 << (bits - 1)) - 1);
    return a;
  }
};

struct TestGraph {
  QGraph qg;
  int stem, dw, qkv, kernel, vk, out, norm_log2, norm_uniform, sum, cat, ln, scores, pool, head;
};

TestGraph make_test_graph() {
  TestGraph t;
  GraphBuilder b("tiny-hybrid", 8, {3, 8, 8});
  // BatchNorm folded into the stem: bias, no norm. The depthwise conv keeps an explicit BatchNorm.
  t.stem = b.conv("stem", 0, 8, 3, 2, 1, true, Norm::None, Act::HSwish);         // [8,4,4]
  t.dw = b.conv("dw", t.stem, 8, 3, 1, 8, false, Norm::BatchNorm, Act::ReLU);    // [8,4,4]
  t.qkv = b.conv("qkv", t.dw, 12, 1, 1, 1, true, Norm::None, Act::GeluTanh);     // 2 heads x 3 x d=2
  t.kernel = b.attn_kernel("kernel", t.qkv, 2);                                  // [2,7,16]
  t.vk = b.matmul("vk", t.kernel, {4, 3, false}, t.kernel, {2, 2, true}, 1.0f);  // [2,3,2]
  t.out = b.matmul("out", t.vk, {}, t.kernel, {0, 2, false}, 0.5f);              // [2,3,16]
  t.norm_log2 = b.attn_normalize("norm_log2", t.out, 2, 4, 4);                   // [4,4,4]
  t.norm_uniform = b.attn_normalize("norm_uniform", t.out, 2, 4, 4);
  t.sum = b.add("sum", t.norm_log2, t.norm_uniform);
  t.cat = b.concat("cat", {t.sum, t.dw});  // [12,4,4]
  // ViT token ops: the fields of their integer programs on a few, default QNodes on the others.
  const int tokens = b.patch_tokens("tokens", t.cat);  // [16,12]
  const int cls = b.class_token("cls", tokens);        // [17,12]
  const int pos = b.pos_embed("pos", cls);
  t.ln = b.layer_norm("ln", pos, 1e-6f);
  const int ln = t.ln;
  const int qkv2 = b.linear("qkv2", ln, 12, true, Norm::None, Act::None);                 // [17,12]
  const int split = b.head_split("split", qkv2, 2);                                       // [2,6,17]
  t.scores = b.matmul("scores", split, {0, 2, true}, split, {2, 2, false}, 0.70710678f);  // [2,17,17]
  const int sm = b.softmax("softmax", t.scores);
  const int ctx = b.matmul("ctx", sm, {}, split, {4, 2, true}, 1.0f);  // [2,17,2]
  const int merge = b.head_merge("merge", ctx);                        // [17,4]
  b.token_select("select", merge, 0);                                  // [4]
  t.pool = b.global_avg_pool("pool", t.cat);                           // [12]
  t.head = b.linear("head", t.pool, 10, true, Norm::LayerNorm, Act::GeluErf);
  Graph g = b.finish();
  materialize_synthetic_weights(g, 3);
  // Floats that only an exact binary / JSON encoding survives.
  g.nodes[t.dw].norm_eps = 1e-40f;  // subnormal
  g.nodes[t.head].norm_eps = 1e-6f;
  g.nodes[t.out].attn_eps = std::numeric_limits<float>::quiet_NaN();

  Gen gen;
  std::vector<QNode> q(g.nodes.size());
  q[0].out = ActQuant();
  q[0].out.scale = {1.0f / 64};
  q[0].out.zero_point = {-3};
  // stem: 8-bit weights, HSwish, per-channel output grid.
  q[t.stem].weight = gen.ints(8 * 3 * 3 * 3, -128, 127);
  q[t.stem].weight_scale = gen.scales(8);
  q[t.stem].bias = gen.ints(8, -2000000000, 2000000000);
  q[t.stem].requant = gen.requants(8);
  q[t.stem].pre_act = gen.act(8, 1, 1);
  q[t.stem].hswish_three = 37;
  q[t.stem].hswish_six = 74;
  q[t.stem].act_requant = gen.requants(8);
  q[t.stem].out = gen.act(8, 8, 1);
  // dw: 4-bit weights, per-tensor output, float scale with -0 (exactness of inline JSON).
  q[t.dw].weight_bits = 4;
  q[t.dw].weight = gen.ints(8 * 9, -8, 7);
  q[t.dw].weight_scale = gen.scales(8);
  q[t.dw].weight_scale[7] = -0.0f;
  q[t.dw].bias = gen.ints(8, -1000, 1000);
  q[t.dw].requant = gen.requants(8);
  q[t.dw].out = gen.act(8, 1, 1);
  // qkv: 12-bit weights, GELU through a LUT, zero points 0 for the attention kernel.
  q[t.qkv].weight_bits = 12;
  q[t.qkv].weight = gen.ints(12 * 8, -2048, 2047);
  q[t.qkv].weight_scale = gen.scales(12);
  q[t.qkv].bias = gen.ints(12, -100000, 100000);
  q[t.qkv].requant = gen.requants(12);
  q[t.qkv].pre_act = gen.act(8, 1, 1);
  q[t.qkv].act_lut = gen.ints(256, -128, 127);
  q[t.qkv].out = gen.act(8, 1, 1, true);
  // kernel: a [2h, 3d+1] grid; vk: narrow output per (head, row) with a requantizer per group.
  q[t.kernel].out = gen.act(8, 2, 7, true);
  q[t.kernel].out.scale.back() = 1.0f;
  q[t.vk].out = gen.act(8, 2, 3, true);
  q[t.vk].requant = gen.requants(6);
  q[t.out].out = gen.act(32, 2, 3);
  // The two divisor modes.
  q[t.norm_log2].numerator = gen.act(8, 2, 1, true);
  q[t.norm_log2].num_requant = gen.requants(2);
  q[t.norm_log2].div_requant = gen.requants(2);
  q[t.norm_log2].out_requant = gen.requants(2);
  q[t.norm_log2].divisor_mode = DivisorMode::Log2;
  q[t.norm_log2].log2_rounding = Log2Rounding::Sqrt2;
  q[t.norm_log2].divisor_frac_bits = 7;
  q[t.norm_log2].divisor_code_bits = 5;
  q[t.norm_log2].out = gen.act(8, 1, 1);
  q[t.norm_uniform].numerator = gen.act(12, 1, 1, true);
  q[t.norm_uniform].num_requant = gen.requants(1);
  q[t.norm_uniform].div_requant = gen.requants(1);
  q[t.norm_uniform].out_requant = gen.requants(1);
  q[t.norm_uniform].divisor_mode = DivisorMode::Uniform;
  q[t.norm_uniform].divisor_bits = 10;
  q[t.norm_uniform].out = gen.act(8, 1, 1);
  q[t.sum].requant = {Requantizer{1 << 29, 31}, Requantizer{3 << 28, 31}};
  q[t.sum].out = gen.act(8, 1, 1);
  q[t.cat].out = gen.act(8, 12, 1);
  q[static_cast<size_t>(tokens)].out = gen.act(8, 1, 1);
  q[t.ln].out = gen.act(4, 17, 1);  // 17 zero points in -8..7: an i4 tensor with an odd count
  q[t.ln].ln_mult = gen.ints(12, -(1 << 30), 1 << 30);
  q[t.ln].bias = gen.ints(12, -1000, 1000);
  q[t.ln].ln_shift = 17;
  q[t.ln].ln_eps = 123456;
  q[static_cast<size_t>(cls)].const_codes = gen.ints(12, -128, 127);
  q[static_cast<size_t>(pos)].const_codes = gen.ints(17 * 12, -100000, 100000);
  q[static_cast<size_t>(sm)].out = gen.act(4, 2, 17, true);
  q[static_cast<size_t>(sm)].out.log2 = true;
  q[t.scores].out = gen.act(32, 2, 17);  // 34 groups: stored in the data section
  q[t.pool].requant = gen.requants(1);
  q[t.pool].out = gen.act(16, 1, 1);
  // head: Linear + LayerNorm kept in FP32.
  q[t.head].weight = gen.ints(10 * 12, -127, 127);
  q[t.head].weight_scale = gen.scales(10);
  q[t.head].bias = gen.ints(10, -50000, 50000);
  q[t.head].float_layernorm = true;
  q[t.head].in_scale = 0.0123f;
  q[t.head].ln_gamma = g.nodes[t.head].params.at("ln.gamma").data;
  q[t.head].ln_beta = g.nodes[t.head].params.at("ln.beta").data;
  // Floats that only an exact binary / JSON encoding survives (not all finite: an f32 tensor).
  auto& w = q[t.head].ln_gamma;
  w[0] = -0.0f;
  w[1] = std::numeric_limits<float>::denorm_min();
  w[2] = std::numeric_limits<float>::quiet_NaN();
  w[3] = -std::numeric_limits<float>::infinity();
  w[4] = std::numeric_limits<float>::max();
  w[5] = 0.1f;
  q[t.head].out = gen.act(8, 1, 1);

  t.qg.graph = std::move(g);
  t.qg.nodes = std::move(q);
  t.qg.recipe_name = "trio-vit-w8a8";
  t.qg.recipe_json =
      R"({"name":"trio-vit-w8a8","weights":{"bits":8,"granularity":"per_channel"},"eps":1e-05})";
  return t;
}

const Json& tensor_of(const Json& header, const std::string& pointer) {
  return header.at(Json::json_pointer(pointer));
}

}  // namespace

TEST_CASE("A QGraph round-trips field by field and re-saves to identical bytes", "[qgraph_io]") {
  TempDir dir("qgraph_io", "roundtrip");
  const TestGraph t = make_test_graph();
  const std::string a = dir.file("a.vqg"), b = dir.file("b.vqg");
  save_qgraph(t.qg, a);
  const QGraph loaded = load_qgraph(a);
  CHECK(first_difference(as_stored(t.qg), loaded) == "");
  save_qgraph(loaded, b);
  const Bytes bytes = read_bytes(a);
  CHECK(bytes == read_bytes(b));
  save_qgraph(t.qg, b);  // same QGraph, same bytes
  CHECK(bytes == read_bytes(b));

  // Layout: magic, version, header length, JSON, zero padding to 64, data section, zero padding to 64,
  // weights section to the end.
  REQUIRE(bytes.size() > 64);
  CHECK(std::string(bytes.begin(), bytes.begin() + 8) == "VITSIMQG");
  CHECK(get_le(bytes, 8, 4) == 2);
  const Parts p = split(bytes);
  CHECK(join(p) == bytes);  // the header re-serializes to the same text
  CHECK(p.data_offset % 64 == 0);
  CHECK(p.weights_offset % 64 == 0);
  CHECK(p.header["format_version"] == 2);
  CHECK(p.header["producer"] == "vitsim");
  CHECK(p.header["model"] == "tiny-hybrid");
  CHECK(p.header["recipe"].is_object());
  CHECK(p.header["recipe"]["weights"]["bits"] == 8);
  CHECK(p.header["weights"]["bytes"] == p.weights.size());
  CHECK(p.header["nodes"].size() == t.qg.graph.nodes.size());
  // Compact integer storage: i8 for 8-bit weights, two 4-bit codes a byte, i16 for 12-bit weights.
  const std::string stem = "/nodes/" + std::to_string(t.stem);
  const std::string head = "/nodes/" + std::to_string(t.head);
  CHECK(tensor_of(p.header, stem + "/q/weight/dtype") == "i8");
  CHECK(tensor_of(p.header, stem + "/q/weight/bytes") == 8 * 27);
  CHECK(tensor_of(p.header, stem + "/q/weight/shape") == Json::array({8, 3, 3, 3}));
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.dw) + "/q/weight/dtype") == "i4");
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.dw) + "/q/weight/bytes") == 8 * 9 / 2);
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.qkv) + "/q/weight/dtype") == "i16");
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.qkv) + "/q/act_lut/bytes") == 256);
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.ln) + "/q/out/zero_point/bytes") == 9);
  // No FP32 parameters but the float_layernorm node's LayerNorm; requantizer lists longer than 8 as [n, 2]
  // tensors.
  CHECK(!p.header["nodes"][t.stem].contains("params"));
  CHECK(tensor_of(p.header, head + "/q/ln_gamma/dtype") == "f32");
  CHECK(tensor_of(p.header, head + "/q/ln_gamma/offset").get<uint64_t>() % 64 == 0);
  CHECK(tensor_of(p.header, head + "/q/ln_beta").size() == 10);
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.qkv) + "/q/requant/shape") == Json::array({12, 2}));
  CHECK(tensor_of(p.header, stem + "/norm") == "none");
  CHECK(tensor_of(p.header, stem + "/act") == "hswish");
  CHECK(tensor_of(p.header, stem + "/q/requant/0").size() == 2);
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.dw) + "/norm") == "batchnorm");
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.scores) + "/q/out/scale/dtype") == "f32");
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.norm_uniform) + "/q/divisor_mode") == "uniform");
  CHECK(tensor_of(p.header, "/nodes/" + std::to_string(t.out) + "/attn_eps") == "nan");
}

TEST_CASE("Recipes that are not JSON objects and zoo graphs round-trip", "[qgraph_io]") {
  TempDir dir("qgraph_io", "zoo");
  for (const char* recipe : {"", "not json {", "[1, 2]", "\"quoted\""}) {
    TestGraph t = make_test_graph();
    t.qg.recipe_json = recipe;
    save_qgraph(t.qg, dir.file("r.vqg"));
    CHECK(load_qgraph(dir.file("r.vqg")).recipe_json == recipe);
  }
  // Every op of a real model, with default (empty) QNodes: what the loader checks must accept them.
  for (const auto& [model, resolution, weights] :
       {std::make_tuple("efficientvit-b0", 64, true), std::make_tuple("deit-tiny", 224, false)}) {
    INFO(model);
    QGraph qg;
    qg.graph = build_model(model, resolution);
    if (weights) materialize_synthetic_weights(qg.graph, 1);
    qg.nodes.resize(qg.graph.nodes.size());
    qg.recipe_name = "none";
    save_qgraph(qg, dir.file("z.vqg"));
    CHECK(first_difference(as_stored(qg), load_qgraph(dir.file("z.vqg"))) == "");
  }
}

TEST_CASE("save_qgraph writes atomically and reports I/O errors", "[qgraph_io]") {
  TempDir dir("qgraph_io", "atomic");
  const TestGraph t = make_test_graph();
  const std::string target = dir.file("g.vqg");
  save_qgraph(t.qg, target);
  save_qgraph(t.qg, target);  // replaces
  CHECK(dir.entries() == std::vector<std::string>{"g.vqg"});
  const Bytes before = read_bytes(target);

  // The target is a directory: the rename fails, the temporary file is removed.
  fs::create_directories(dir.path / "sub" / "x");
  const std::string sub = dir.file("sub");
  CHECK_THROWS_MATCHES(save_qgraph(t.qg, sub), std::runtime_error,
                       Catch::Matchers::Predicate<std::runtime_error>([&](const std::runtime_error& e) {
                         return std::string(e.what()).find(sub) != std::string::npos;
                       }));
  CHECK(dir.entries() == std::vector<std::string>{"g.vqg", "sub"});

  // A missing parent directory.
  const std::string missing = dir.file("missing/g.vqg");
  try {
    save_qgraph(t.qg, missing);
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Contains(missing) && Contains(std::strerror(ENOENT)));
  }

  // A directory that is not writable: the old file is untouched. (root ignores permissions: skipped.)
  TestGraph changed = make_test_graph();
  changed.qg.recipe_name = "changed";
  fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
  const bool can_write_anyway = ::access(dir.path.c_str(), W_OK) == 0;
  if (can_write_anyway) {
    WARN("running as root: the read-only directory check is skipped");
  } else {
    try {
      save_qgraph(changed.qg, target);
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      CHECK_THAT(e.what(), Contains(target) && Contains(std::strerror(EACCES)));
    }
  }
  fs::permissions(dir.path, fs::perms::owner_all, fs::perm_options::replace);
  CHECK(read_bytes(target) == before);
  CHECK(dir.entries() == std::vector<std::string>{"g.vqg", "sub"});
}

TEST_CASE("save_qgraph refuses a QGraph the loader would reject", "[qgraph_io]") {
  TempDir dir("qgraph_io", "refuse");
  const std::string path = dir.file("g.vqg");
  {
    TestGraph t = make_test_graph();
    t.qg.nodes[t.stem].requant.pop_back();
    CHECK_THROWS_MATCHES(
        save_qgraph(t.qg, path), std::invalid_argument,
        Catch::Matchers::Predicate<std::invalid_argument>([&](const std::invalid_argument& e) {
          const std::string m = e.what();
          return m.find(path) != std::string::npos &&
                 m.find("/nodes/1/q/requant: 7 requantizers, expected 8") != std::string::npos;
        }));
  }
  {
    TestGraph t = make_test_graph();
    t.qg.nodes[t.dw].weight[5] = 8;  // 4-bit codes are -8..7
    CHECK_THROWS_WITH(save_qgraph(t.qg, path),
                      Contains("/nodes/2/q/weight: code 8 at element 5 does not fit weight_bits 4"));
  }
  {
    TestGraph t = make_test_graph();
    t.qg.nodes.pop_back();
    CHECK_THROWS_WITH(save_qgraph(t.qg, path), Contains("QNodes"));
  }
  {
    TestGraph t = make_test_graph();
    t.qg.graph.model = "bad \xff utf-8";
    CHECK_THROWS_AS(save_qgraph(t.qg, path), std::invalid_argument);
  }
  CHECK(!fs::exists(path));
  CHECK(dir.entries().empty());
}

TEST_CASE("validate refuses inconsistent fields of the standard-ViT ops", "[qgraph_io]") {
  const auto refused = [](const std::function<void(QGraph&)>& edit, const std::string& what) {
    TestGraph t = make_test_graph();
    edit(t.qg);
    CHECK_THROWS_WITH(validate(t.qg), Contains(what));
  };
  const auto at = [](QGraph& qg, const char* name) -> QNode& {
    return qg.nodes[static_cast<size_t>(qg.graph.find(name))];
  };
  refused([&](QGraph& qg) { at(qg, "cls").const_codes.pop_back(); },
          "/q/const_codes: 11 entries, expected 12 (one per feature) or none");
  refused([&](QGraph& qg) { at(qg, "pos").const_codes.pop_back(); }, "expected 204 (one per element)");
  refused([&](QGraph& qg) { at(qg, "stem").ln_mult = {1}; }, "/q/ln_mult");
  refused([&](QGraph& qg) { at(qg, "ln").bias.push_back(1); }, "/q/bias: 13 entries, expected 12");
  refused([&](QGraph& qg) { at(qg, "ln").ln_shift = 31; }, "/q/ln_shift");
  refused(
      [&](QGraph& qg) {
        at(qg, "sum").out = ActQuant::per_tensor_quant(1.0f, 0, 4);
        at(qg, "sum").out.log2 = true;
      },
      "/q/out/log2: a add node has no log2 output");
  refused([&](QGraph& qg) { at(qg, "softmax").out.bits = 8; },
          "/q/out/bits: 8 is out of range for log2 codes");
  refused([&](QGraph& qg) { at(qg, "softmax").out.zero_point[3] = 1; }, "must be 0 for log2 codes");
}

TEST_CASE("load_qgraph names the file and the problem of a corrupt file", "[qgraph_io]") {
  TempDir dir("qgraph_io", "corrupt");
  const TestGraph t = make_test_graph();
  const std::string good = dir.file("good.vqg");
  save_qgraph(t.qg, good);
  const Bytes bytes = read_bytes(good);
  const Parts parts = split(bytes);
  const std::string bad = dir.file("bad.vqg");
  const auto error_of = [&](const Bytes& b) {
    write_bytes(bad, b);
    return load_error(bad);
  };
  const auto expect = [&](const Bytes& b, const std::string& what) {
    const std::string message = error_of(b);
    INFO(message);
    CHECK_THAT(message, Contains(bad + ": ") && Contains(what));
  };
  const auto edited = [&](const std::function<void(Json&)>& edit) {
    Parts p = parts;
    edit(p.header);
    return join(p);
  };
  const std::string stem = "/nodes/" + std::to_string(t.stem);
  const std::string scores = "/nodes/" + std::to_string(t.scores);  // its out/scale: an f32 tensor

  SECTION("missing file") {
    CHECK_THAT(load_error(dir.file("nope.vqg")), Contains("nope.vqg: cannot open"));
  }
  SECTION("wrong magic") {
    Bytes b = bytes;
    b[3] = 'X';
    expect(b, "bad magic");
    expect(Bytes{'V', 'I', 'T'}, "too short");
  }
  SECTION("old and future versions") {
    Bytes b = bytes;
    set_le(b, 8, 3, 4);
    expect(b, "unsupported format version 3");
    set_le(b, 8, 1, 4);
    expect(b, "format version 1 is no longer read (this build reads version 2");
    Parts p = parts;
    p.header["format_version"] = 3;
    expect(join(p), "/format_version: 3 does not match the preamble's version 2");
  }
  SECTION("absurd header length") {
    Bytes b = bytes;
    set_le(b, 12, uint64_t{1} << 63, 8);
    expect(b, "header length 9223372036854775808 exceeds");
    set_le(b, 12, ~uint64_t{0}, 8);
    expect(b, "header length 18446744073709551615 exceeds");
  }
  SECTION("truncated at several points") {
    const size_t header_len = static_cast<size_t>(get_le(bytes, 12, 8));
    expect(Bytes(bytes.begin(), bytes.begin() + 12), "truncated");  // in the preamble
    expect(Bytes(bytes.begin(), bytes.begin() + 20 + static_cast<std::ptrdiff_t>(header_len / 2)),
           "header length");
    expect(Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(parts.data_offset + 10)),
           "-byte data section at offset");
    expect(Bytes(bytes.begin(), bytes.end() - 1), "-byte weights section at offset");
    // A structure-only load does not read the weights, but checks that the file holds them.
    write_bytes(bad, Bytes(bytes.begin(), bytes.end() - 1));
    try {
      load_qgraph(bad, QGraphUse::Structure);
      FAIL("a truncated weights section loaded");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Contains("truncated") && Contains("weights section"));
    }
    Bytes longer = bytes;
    longer.push_back(0);
    expect(longer, "1 unexpected bytes after");
  }
  SECTION("flipped byte in the data section") {
    Bytes b = bytes;
    b[parts.data_offset + parts.data.size() / 2] ^= 0x10;
    expect(b, "data section checksum mismatch");
    Parts p = parts;
    p.header["data"]["crc32"] = p.header["data"]["crc32"].get<uint32_t>() ^ 1u;
    expect(join(p), "data section checksum mismatch");
  }
  SECTION("flipped byte in the weights section, and its padding") {
    Bytes b = bytes;
    b[parts.weights_offset + parts.weights.size() / 2] ^= 0x10;
    expect(b, "weights section checksum mismatch");
    // A structure-only load reads no weight byte, so it cannot see the flip.
    write_bytes(bad, b);
    CHECK(first_difference(structure_of(t.qg), load_qgraph(bad, QGraphUse::Structure)) == "");
    Bytes padded = bytes;
    REQUIRE(parts.data_offset + parts.data.size() < parts.weights_offset);
    padded[parts.data_offset + parts.data.size()] = 1;
    expect(padded, "non-zero byte in the data section padding");
  }
  SECTION("an i4 tensor's unused high nibble") {
    Parts p = parts;
    const Json& ref = tensor_of(p.header, "/nodes/" + std::to_string(t.ln) + "/q/out/zero_point");
    uint8_t& last = p.data.at(ref["offset"].get<size_t>() + ref["bytes"].get<size_t>() - 1);
    last = static_cast<uint8_t>(last | 0x10);
    update_crc(p.header, "data", p.data);
    expect(join(p), "/q/out/zero_point: the unused high nibble of the last i4 byte is not zero");
  }
  SECTION("a requantizer tensor") {
    const std::string qkv = "/nodes/" + std::to_string(t.qkv);
    Parts p = parts;
    const size_t offset = tensor_of(p.header, qkv + "/q/requant/offset").get<size_t>();
    set_le(p.data, offset + 8 * 3 + 4, 63, 4);  // the shift of requantizer 3
    update_crc(p.header, "data", p.data);
    expect(join(p),
           qkv +
               "/q/requant/3: expected [multiplier, shift] with multiplier > 0 and shift in [0, 62], "
               "got [");
    expect(edited([&](Json& h) {
             h[Json::json_pointer(qkv + "/q/requant/shape")] = Json::array({8, 3});
           }),
           qkv + "/q/requant/shape: expected [n, 2]");
  }
  SECTION("non-zero header padding") {
    Bytes b = bytes;
    const size_t header_end = 20 + static_cast<size_t>(get_le(bytes, 12, 8));
    REQUIRE(header_end < parts.data_offset);
    b[header_end] = ' ';
    expect(b, "non-zero byte in the header padding");
  }
  SECTION("malformed JSON") {
    Parts p = parts;
    Bytes b = join(p);
    b[20] = '[';  // {"format_version"... -> ["format_version"...
    expect(b, "header: malformed JSON");
    const std::string text(100000, '[');
    Bytes deep((20 + text.size() + 63) / 64 * 64, 0);
    std::copy(bytes.begin(), bytes.begin() + 12, deep.begin());
    set_le(deep, 12, text.size(), 8);
    std::memcpy(deep.data() + 20, text.data(), text.size());
    expect(deep, "nested deeper than");
  }
  SECTION("missing fields") {
    expect(edited([&](Json& h) { h["nodes"][1].erase("stride"); }), "/nodes/1/stride: missing field");
    expect(edited([&](Json& h) { h["nodes"][1]["q"].erase("act_requant"); }),
           "/nodes/1/q/act_requant: missing field");
    expect(edited([&](Json& h) { h["nodes"][3]["q"]["out"].erase("zero_point"); }),
           "/nodes/3/q/out/zero_point: missing field");
    expect(edited([&](Json& h) { h.erase("model"); }), "/model: missing field");
    expect(edited([&](Json& h) { h["data"].erase("crc32"); }), "/data/crc32: missing field");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"].erase("offset"); }),
           "/nodes/1/q/weight/offset: missing field");
    expect(edited([&](Json& h) { h["nodes"][t.head]["q"].erase("ln_beta"); }), "/q/ln_beta: missing field");
    expect(edited([&](Json& h) { h.erase("weights"); }), "/weights: missing field");
  }
  SECTION("wrong types") {
    expect(edited([&](Json& h) { h["nodes"][1]["kernel"] = "3"; }), "/nodes/1/kernel: expected an integer");
    expect(edited([&](Json& h) { h["nodes"][1]["kernel"] = 3.5; }), "/nodes/1/kernel: expected an integer");
    expect(edited([&](Json& h) { h["nodes"][1]["has_bias"] = 1; }),
           "/nodes/1/has_bias: expected true or false");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight_scale"] = 1.0; }),
           "/nodes/1/q/weight_scale: expected an array or a tensor reference");
    expect(edited([&](Json& h) { h["nodes"][1]["norm_eps"] = 1e300; }),
           "/nodes/1/norm_eps: 1e+300 is outside the float range");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"]["dtype"] = "f32"; }),
           "/nodes/1/q/weight/dtype: expected an integer dtype");
    expect(edited([&](Json& h) { h[Json::json_pointer(scores + "/q/out/scale/dtype")] = "i32"; }),
           scores + "/q/out/scale/dtype: expected f32");
    expect(edited([&](Json& h) { h["nodes"] = Json::object(); }), "/nodes: expected an array");
    expect(edited([&](Json& h) { h["nodes"][1]["inputs"][0] = 4294967296LL; }),
           "/nodes/1/inputs/0: 4294967296 is out of range");
  }
  SECTION("tensor references outside their section or of the wrong size") {
    const uint64_t size = parts.weights.size();
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"]["offset"] = size; }),
           "/nodes/1/q/weight: bytes [" + std::to_string(size) + ", +216) lie outside the weights section");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"]["offset"] = ~uint64_t{0}; }),
           "lie outside the weights section");
    expect(
        edited([&](Json& h) { h["nodes"][t.scores]["q"]["out"]["scale"]["offset"] = parts.data.size(); }),
        "/q/out/scale: bytes [" + std::to_string(parts.data.size()) + ", +136) lie outside the data section");
    expect(edited([&](Json& h) { h[Json::json_pointer(scores + "/q/out/scale/bytes")] = 132; }),
           scores + "/q/out/scale/bytes: 132 bytes do not hold f32 34 (136 bytes)");
    expect(edited([&](Json& h) { h["nodes"][t.dw]["q"]["weight"]["bytes"] = 72; }),
           "/q/weight/bytes: 72 bytes do not hold i4 8x1x3x3 (36 bytes)");
    expect(edited([&](Json& h) { h["nodes"][t.head]["q"]["ln_gamma"] = Json::array({1.0}); }),
           "/q/ln_gamma: 1 entries, expected 10 (one per output channel)");
    expect(edited([&](Json& h) {
             h["nodes"][1]["q"]["weight"]["shape"] = Json::array({8, 27});
           }),
           "/nodes/1/q/weight/shape: 8x27, expected the weight layout 8x3x3x3");
    expect(edited([&](Json& h) {
             h["nodes"][1]["q"]["weight"]["shape"] = Json::array({1 << 30, 1 << 30, 1 << 30, 1 << 30});
           }),
           "/nodes/1/q/weight/bytes: 216 bytes do not hold i8");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"]["shape"][0] = -8; }),
           "/nodes/1/q/weight/shape/0: -8 is out of range");
  }
  SECTION("unknown enum strings") {
    expect(edited([&](Json& h) { h["nodes"][1]["act"] = "swish"; }), "/nodes/1/act: unknown act 'swish'");
    expect(edited([&](Json& h) { h["nodes"][1]["op"] = "conv3d"; }), "/nodes/1/op: unknown op 'conv3d'");
    expect(edited([&](Json& h) { h["nodes"][2]["norm"] = "BN"; }), "/nodes/2/norm: unknown norm 'BN'");
    expect(edited([&](Json& h) { h["nodes"][1]["q"]["weight"]["dtype"] = "f16"; }),
           "/nodes/1/q/weight/dtype: unknown dtype 'f16'");
    expect(edited([&](Json& h) { h["nodes"][7]["q"]["divisor_mode"] = "exact"; }),
           "/nodes/7/q/divisor_mode: unknown divisor mode 'exact'");
  }
  SECTION("bad input indices and structure") {
    expect(edited([&](Json& h) { h["nodes"][3]["inputs"][0] = 5; }),
           "/nodes/3/inputs/0: node index 5 is not an earlier node");
    expect(edited([&](Json& h) { h["nodes"][3]["inputs"][0] = 3; }),
           "/nodes/3/inputs/0: node index 3 is not an earlier node");
    expect(edited([&](Json& h) { h["nodes"][3]["inputs"][0] = -1; }),
           "/nodes/3/inputs/0: node index -1 is not an earlier node");
    expect(edited([&](Json& h) { h["nodes"][9]["inputs"] = Json::array({7}); }),
           "/nodes/9/inputs: a add node has 2 input(s), got 1");
    expect(edited([&](Json& h) { h["nodes"][1]["groups"] = 0; }), "/nodes/1/groups: 0 is out of range");
    expect(edited([&](Json& h) { h["nodes"][1]["out_shape"] = Json::array(); }),
           "/nodes/1/out_shape: rank 0");
    expect(edited([&](Json& h) { h["nodes"][1]["in_features"] = 4; }),
           "/nodes/1/q/weight: 216 codes, expected 288 (shape 8x4x3x3)");
    // Graph::validate()'s own message, converted.
    expect(edited([&](Json& h) { h["nodes"] = Json::array(); }),
           "graph 'tiny-hybrid': node 0 must be the input");
  }
  SECTION("inconsistent QNode sizes and out-of-range values") {
    expect(edited([&](Json& h) {
             h[Json::json_pointer(stem + "/q/requant/3")] = Json::array({0, 31});
           }),
           "/nodes/1/q/requant/3: expected [multiplier, shift] with multiplier > 0");
    expect(edited([&](Json& h) {
             h[Json::json_pointer(stem + "/q/requant/3")] = Json::array({5, 63});
           }),
           "/nodes/1/q/requant/3: expected [multiplier, shift]");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/requant/3")] = 5; }),
           "/nodes/1/q/requant/3: expected [multiplier, shift]");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/requant")].erase(0); }),
           "/nodes/1/q/requant: 7 requantizers, expected 8 (one per output channel)");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/bias")].erase(0); }),
           "/nodes/1/q/bias: 7 entries, expected 8");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/out/bits")] = 40; }),
           "/nodes/1/q/out/bits: 40 is out of range");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/out/bits")] = 1; }),
           "/nodes/1/q/out/bits: 1 is out of range");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/weight_bits")] = 4; }),
           "/nodes/1/q/weight: code");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/weight_bits")] = 33; }),
           "/nodes/1/q/weight_bits: 33 is out of range");
    expect(edited([&](Json& h) { h[Json::json_pointer(stem + "/q/out/groups/0")] = 4; }),
           "/nodes/1/q/out/scale: 8 entries, expected groups 4x1 = 4");
    expect(edited([&](Json& h) {
             h["nodes"][2]["q"]["out"]["groups"] = Json::array({3, 1});
           }),
           "/nodes/2/q/out/scale: 1 entries, expected groups 3x1");
    expect(edited([&](Json& h) {
             h[Json::json_pointer(stem + "/q/act_lut")] = Json::array({1, 2, 3});
           }),
           "/nodes/1/q/act_lut: 3 entries, expected 2^pre_act.bits = 256");
    expect(edited([&](Json& h) { h["nodes"][t.sum]["q"]["requant"][1][1] = 30; }), "must share the shift");
    expect(edited([&](Json& h) { h["nodes"][t.norm_log2]["q"]["out_requant"].erase(0); }),
           "/q/out_requant: 1 requantizers, expected 2 (one per numerator group)");
    expect(edited([&](Json& h) { h["nodes"][t.norm_log2]["q"]["numerator"]["zero_point"][1] = 3; }),
           "/q/numerator/zero_point/1: must be 0");
    expect(edited([&](Json& h) { h["nodes"][t.out]["q"]["out"]["zero_point"][0] = 3; }),
           "must be 0 for int32 accumulators");
    expect(edited([&](Json& h) { h["nodes"][t.vk]["q"]["requant"].erase(0); }), "(one per output group)");
    expect(edited([&](Json& h) { h["nodes"][t.pool]["q"]["act_lut"] = Json::array({1}); }),
           "/q/act_lut: must be empty for a avgpool node");
    expect(edited([&](Json& h) { h["nodes"][t.pool]["q"]["float_layernorm"] = true; }),
           "only a linear node can keep LayerNorm in FP32");
    expect(edited([&](Json& h) { h["nodes"][t.norm_uniform]["q"]["divisor_bits"] = 0; }),
           "/q/divisor_bits: 0 is out of range [1, 31]");
  }
  // The untouched file still loads.
  CHECK(first_difference(as_stored(t.qg), load_qgraph(good)) == "");
}

TEST_CASE("load_qgraph survives random truncation and byte flips", "[qgraph_io]") {
  TempDir dir("qgraph_io", "fuzz");
  const TestGraph t = make_test_graph();
  const std::string good = dir.file("good.vqg"), bad = dir.file("bad.vqg");
  save_qgraph(t.qg, good);
  const Bytes bytes = read_bytes(good);
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 200; ++i) {
    const size_t len = static_cast<size_t>(rng() % bytes.size());
    write_bytes(bad, Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len)));
    const std::string message = load_error(bad);
    INFO("truncated to " << len << " bytes: " << message);
    CHECK_THAT(message, Contains(bad + ": "));
  }
  int loaded = 0, rejected = 0;
  for (int i = 0; i < 200; ++i) {
    Bytes b = bytes;
    const size_t at = static_cast<size_t>(rng() % b.size());
    b[at] = static_cast<uint8_t>(b[at] ^ (1 + rng() % 255));
    write_bytes(bad, b);
    INFO("byte " << at << " flipped");
    try {
      load_qgraph(bad);  // a harmless flip (e.g. a letter of a node name) may load
      ++loaded;
    } catch (const std::invalid_argument& e) {
      ++rejected;
      CHECK_THAT(e.what(), Contains(bad + ": "));
    }
  }
  CHECK(loaded + rejected == 200);
  CHECK(rejected > 150);
}

// Checks the FP32 executor (quant/fp32_executor.hpp) against the naive reference ops (tests/naive_ops.hpp):
// op by op on small random graphs, then node by node through whole models of the zoo.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/fp32_executor.hpp"
#include "quant/graph.hpp"
#include "quant/zoo.hpp"
#include "tests/naive_ops.hpp"

namespace {

using vitsim::quant::Act;
using vitsim::quant::Graph;
using vitsim::quant::GraphBuilder;
using vitsim::quant::MatOperand;
using vitsim::quant::Node;
using vitsim::quant::Norm;
using vitsim::quant::OpKind;
using vitsim::quant::Shape;
using vitsim::quant::shape_str;
using vitsim::quant::Tensor;

// The executor computes in FP32, the reference in double: allow FP32 rounding, relative to max(1, |ref|).
constexpr double kRelTol = 1e-5;

const std::vector<Act> kAllActs = {Act::None,  Act::ReLU,    Act::HSwish,   Act::GeluTanh, Act::GeluErf,
                                   Act::ReLU6, Act::Sigmoid, Act::HSigmoid, Act::SiLU};

std::string act_str(Act act) {
  const std::string s = vitsim::quant::act_name(act);
  return s.empty() ? "none" : s;
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -2.0f, float hi = 2.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(shape);
  for (float& v : t.data) v = dist(rng);
  return t;
}

// Fills every learned tensor the node declares with deterministic values; BatchNorm variances positive.
void fill_params(Node& node, std::mt19937& rng) {
  node.params.clear();
  for (const auto& [key, shape] : node.param_shapes())
    node.params[key] =
        key == "bn.var" ? random_tensor(shape, rng, 0.25f, 2.0f) : random_tensor(shape, rng, -1.0f, 1.0f);
}

// "[2,0,5]": a flat row-major index as a multi-index, so a failure points at channel / row / column.
std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

bool close(float got, float want) {
  const double a = static_cast<double>(got), b = static_cast<double>(want);
  return std::abs(a - b) <= kRelTol * std::max(1.0, std::abs(b));  // false for NaN
}

// Compares the executor's output with the reference element by element. Emits one assertion per tensor
// (not per element), naming the node and the first and the worst offending element. Returns true if equal.
bool check_close(const Node& node, const Tensor& got, const Tensor& want) {
  INFO("node '" << node.name << "' (" << vitsim::quant::op_name(node.op) << ", " << node.label() << ")");
  INFO("executor shape " << shape_str(got.shape) << ", reference shape " << shape_str(want.shape));
  const bool shapes_ok = got.shape == want.shape && got.data.size() == want.data.size();
  CHECK(shapes_ok);
  if (!shapes_ok) return false;

  int64_t bad = 0, first = -1, worst = -1;
  double worst_err = 0.0;
  for (int64_t i = 0; i < want.size(); ++i) {
    const float a = got.data[static_cast<size_t>(i)], b = want.data[static_cast<size_t>(i)];
    if (close(a, b)) continue;
    ++bad;
    if (first < 0) first = i;
    const double err = std::abs(static_cast<double>(a) - static_cast<double>(b)) /
                       std::max(1.0, std::abs(static_cast<double>(b)));
    const bool worse =
        std::isnan(err) ? !std::isnan(worst_err) : (worst < 0 || err > worst_err);  // NaN is worst
    if (worse) {
      worst = i;
      worst_err = err;
    }
  }
  if (bad == 0) {
    SUCCEED();
    return true;
  }
  const auto at = [](const Tensor& t, int64_t i) {
    return static_cast<double>(t.data[static_cast<size_t>(i)]);
  };
  INFO(bad << " of " << want.size() << " elements differ by more than " << kRelTol << " relative");
  INFO(std::setprecision(9) << "first at " << first << " " << index_str(want.shape, first) << ": executor "
                            << at(got, first) << ", reference " << at(want, first));
  INFO(std::setprecision(9) << "worst at " << worst << " " << index_str(want.shape, worst) << ": executor "
                            << at(got, worst) << ", reference " << at(want, worst) << " (relative error "
                            << worst_err << ")");
  CHECK(bad == 0);
  return false;
}

// Evaluates node `index` of `graph` with the executor and with the reference and compares. The node gets
// fresh random params; its inputs are `inputs` if given, else random tensors of the shapes the builder
// inferred for its input nodes.
void check_node(Graph& graph, int index, std::mt19937& rng, std::vector<Tensor> inputs = {}) {
  Node& node = graph.nodes.at(static_cast<size_t>(index));
  fill_params(node, rng);
  if (inputs.empty())
    for (int in : node.inputs)
      inputs.push_back(random_tensor(graph.nodes.at(static_cast<size_t>(in)).out_shape, rng));
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);

  const Tensor want = vitsim::test::naive_eval(node, ptrs);
  Tensor got;
  try {
    got = vitsim::quant::eval_node_fp32(node, ptrs);
  } catch (const std::exception& e) {
    FAIL_CHECK("eval_node_fp32 threw on node '" << node.name << "': " << e.what());
    return;
  }
  check_close(node, got, want);
}

// A node of shape [B, m, n] built from an input [B, R, N] with m, n <= R (a matmul of two row slices).
// Op tests use it to give the node under test inputs of arbitrary shapes; the values fed are random anyway.
int shaped3(GraphBuilder& gb, int src, int64_t m, int64_t n) {
  static int counter = 0;
  return gb.matmul("shape" + std::to_string(counter++), src, {0, m, false}, src, {0, n, true}, 1.0f);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         (a.data.empty() || std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Conv2d

namespace {
struct ConvCase {
  int64_t cin, h, w, cout;
  int kernel, stride, groups;
  bool bias;
  Norm norm;
  Act act;
};

std::string describe(const ConvCase& c) {
  std::ostringstream s;
  s << "conv " << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << ", k" << c.kernel << " s"
    << c.stride << " g" << c.groups << (c.bias ? " +bias" : "") << (c.norm == Norm::BatchNorm ? " +BN" : "")
    << " act " << act_str(c.act);
  return s.str();
}

void check_conv(const ConvCase& c, std::mt19937& rng) {
  INFO(describe(c));
  GraphBuilder gb("conv-test", 0, {c.cin, c.h, c.w});
  const int node = gb.conv("conv", 0, c.cout, c.kernel, c.stride, c.groups, c.bias, c.norm, c.act);
  Graph g = gb.finish();
  check_node(g, node, rng);
}
}  // namespace

TEST_CASE("conv2d matches the naive reference", "[fp32][conv2d]") {
  std::mt19937 rng(1001);
  SECTION("hand-picked shapes: stride 2, kernels 1/3/5, full / depthwise / grouped, odd sizes") {
    const std::vector<ConvCase> cases = {
        {3, 9, 7, 8, 3, 2, 1, false, Norm::BatchNorm, Act::HSwish},    // stem-like, odd H != W
        {8, 7, 7, 8, 3, 1, 8, false, Norm::BatchNorm, Act::HSwish},    // depthwise 3x3
        {8, 9, 11, 8, 5, 2, 8, false, Norm::None, Act::None},          // depthwise 5x5 stride 2
        {8, 6, 5, 8, 5, 1, 8, true, Norm::None, Act::None},            // depthwise 5x5, aggregation-like
        {12, 5, 6, 12, 1, 1, 3, false, Norm::None, Act::None},         // grouped 1x1
        {12, 6, 5, 6, 3, 1, 3, true, Norm::BatchNorm, Act::ReLU},      // grouped 3x3, fewer outputs
        {6, 4, 4, 10, 1, 1, 1, true, Norm::None, Act::ReLU},           // pointwise
        {16, 8, 7, 24, 1, 2, 1, false, Norm::BatchNorm, Act::None},    // pointwise stride 2
        {4, 5, 5, 4, 5, 1, 2, true, Norm::BatchNorm, Act::GeluTanh},   // grouped 5x5
        {5, 3, 3, 7, 3, 2, 1, false, Norm::None, Act::GeluErf},        // tiny, stride 2
        {4, 1, 1, 6, 3, 1, 1, true, Norm::BatchNorm, Act::HSwish},     // 1x1 image, 3x3 kernel: all padding
        {3, 2, 3, 4, 5, 2, 1, false, Norm::None, Act::None},           // kernel larger than the image
        {6, 10, 9, 12, 3, 2, 6, false, Norm::BatchNorm, Act::HSwish},  // channel multiplier 2 per group
    };
    for (const ConvCase& c : cases) check_conv(c, rng);
  }
  SECTION("every activation with and without bias and BatchNorm") {
    for (Act act : kAllActs)
      for (Norm norm : {Norm::None, Norm::BatchNorm})
        for (bool bias : {false, true}) check_conv({6, 5, 7, 4, 3, 1, 2, bias, norm, act}, rng);
  }
  SECTION("BatchNorm honours the node's eps") {
    GraphBuilder gb("conv-eps", 0, {4, 5, 5});
    const int node = gb.conv("conv", 0, 4, 3, 1, 1, false, Norm::BatchNorm, Act::None);
    Graph g = gb.finish();
    g.nodes[static_cast<size_t>(node)].norm_eps = 0.5f;  // large enough to matter at tolerance 1e-5
    INFO("conv with BatchNorm eps 0.5");
    check_node(g, node, rng);
  }
  SECTION("random shapes") {
    std::uniform_int_distribution<int> pick(0, 1000);
    for (int i = 0; i < 12; ++i) {
      const int kind = pick(rng) % 3;  // 0 full, 1 depthwise, 2 grouped
      const int groups = kind == 0 ? 1 : kind == 1 ? 1 + pick(rng) % 8 : 2 + pick(rng) % 3;
      const int64_t cin = kind == 1 ? groups : groups * (1 + pick(rng) % 4);
      const int64_t cout = kind == 1 ? groups : groups * (1 + pick(rng) % 4);
      const ConvCase c{cin,
                       1 + pick(rng) % 10,
                       1 + pick(rng) % 10,
                       cout,
                       1 + 2 * (pick(rng) % 3),
                       1 + pick(rng) % 2,
                       groups,
                       pick(rng) % 2 == 0,
                       pick(rng) % 2 ? Norm::BatchNorm : Norm::None,
                       kAllActs[static_cast<size_t>(pick(rng) % kAllActs.size())]};
      check_conv(c, rng);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Linear

namespace {
void check_linear(const Shape& in_shape, int64_t out_features, bool bias, Norm norm, Act act,
                  std::mt19937& rng, float eps = 1e-5f) {
  INFO("linear " << shape_str(in_shape) << " -> " << out_features << (bias ? " +bias" : "")
                 << (norm == Norm::LayerNorm ? " +LN" : "") << " act " << act_str(act) << " eps " << eps);
  GraphBuilder gb("linear-test", 0, in_shape);
  const int node = gb.linear("linear", 0, out_features, bias, norm, act);
  Graph g = gb.finish();
  g.nodes[static_cast<size_t>(node)].norm_eps = eps;
  check_node(g, node, rng);
}
}  // namespace

TEST_CASE("linear matches the naive reference", "[fp32][linear]") {
  std::mt19937 rng(1002);
  SECTION("token matrices, vectors and rank-3 inputs") {
    check_linear({7, 12}, 9, true, Norm::None, Act::None, rng);
    check_linear({1, 5}, 3, false, Norm::None, Act::None, rng);
    check_linear({16}, 10, true, Norm::None, Act::None, rng);          // classifier on a pooled vector
    check_linear({24}, 12, false, Norm::LayerNorm, Act::HSwish, rng);  // EfficientViT head-like
    check_linear({3, 4, 6}, 5, true, Norm::None, Act::GeluErf, rng);   // leading axes are rows
    check_linear({5, 8}, 1, true, Norm::None, Act::None, rng);         // one output feature
    check_linear({9, 33}, 17, true, Norm::LayerNorm, Act::None, rng, 1e-6f);
    check_linear({4, 6}, 8, false, Norm::LayerNorm, Act::None, rng, 0.5f);  // eps must be honoured
  }
  SECTION("every activation with and without bias and LayerNorm") {
    for (Act act : kAllActs)
      for (Norm norm : {Norm::None, Norm::LayerNorm})
        for (bool bias : {false, true}) check_linear({5, 7}, 6, bias, norm, act, rng);
  }
  SECTION("random shapes") {
    std::uniform_int_distribution<int64_t> dim(1, 20);
    std::uniform_int_distribution<int> pick(0, 1000);
    for (int i = 0; i < 8; ++i) {
      const Shape in = pick(rng) % 3 == 0 ? Shape{dim(rng)} : Shape{dim(rng), dim(rng)};
      check_linear(in, dim(rng), pick(rng) % 2 == 0, pick(rng) % 2 ? Norm::LayerNorm : Norm::None,
                   kAllActs[static_cast<size_t>(pick(rng) % kAllActs.size())], rng);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Elementwise and reshaping ops

TEST_CASE("add matches the naive reference", "[fp32][add]") {
  std::mt19937 rng(1003);
  {
    INFO("add of two feature maps 5x7x3");
    GraphBuilder gb("add-test", 0, {5, 7, 3});
    const int other = gb.conv("conv", 0, 5, 1, 1, 1, false, Norm::None, Act::None);
    const int node = gb.add("add", 0, other);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("add + ReLU (a ResNet block's end) of two feature maps 4x5x6");
    GraphBuilder gb("add-test", 0, {4, 5, 6});
    const int other = gb.conv("conv", 0, 4, 1, 1, 1, false, Norm::None, Act::None);
    const int node = gb.add("add", 0, other, Act::ReLU);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("add of two token matrices 6x10");
    GraphBuilder gb("add-test", 0, {6, 10});
    const int other = gb.linear("linear", 0, 10, false, Norm::None, Act::None);
    const int node = gb.add("add", other, 0);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("add of two vectors 13");
    GraphBuilder gb("add-test", 0, {13});
    const int other = gb.linear("linear", 0, 13, false, Norm::None, Act::None);
    const int node = gb.add("add", 0, other);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
}

TEST_CASE("concat matches the naive reference", "[fp32][concat]") {
  std::mt19937 rng(1004);
  {
    INFO("concat of feature maps with 2, 5 and 3 channels, 3x5");
    GraphBuilder gb("concat-test", 0, {4, 3, 5});
    const int a = gb.conv("a", 0, 2, 1, 1, 1, false, Norm::None, Act::None);
    const int b = gb.conv("b", 0, 5, 1, 1, 1, false, Norm::None, Act::None);
    const int c = gb.conv("c", 0, 3, 1, 1, 1, false, Norm::None, Act::None);
    const int node = gb.concat("concat", {a, b, c});
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("concat of two equal feature maps (EfficientViT qkv + aggregation)");
    GraphBuilder gb("concat-test", 0, {6, 4, 4});
    const int agg = gb.conv("agg", 0, 6, 5, 1, 6, false, Norm::None, Act::None);
    const int node = gb.concat("concat", {0, agg});
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("concat of token matrices 4x6 and 5x6");
    GraphBuilder gb("concat-test", 0, {4, 6});
    const int more = gb.class_token("cls", 0);
    const int node = gb.concat("concat", {more, 0});
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  {
    INFO("concat of a single input");
    GraphBuilder gb("concat-test", 0, {3, 2, 5});
    const int node = gb.concat("concat", {0});
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
}

TEST_CASE("layer norm matches the naive reference", "[fp32][layernorm]") {
  std::mt19937 rng(1005);
  struct Case {
    Shape shape;
    float eps;
    float offset;  // added to every input: rows with a mean far from 0
  };
  const std::vector<Case> cases = {{{7, 12}, 1e-6f, 0.0f},   {{1, 5}, 1e-5f, 0.0f},   {{10}, 1e-6f, 0.0f},
                                   {{3, 4, 6}, 1e-6f, 0.0f}, {{5, 1}, 1e-6f, 0.0f},   {{6, 9}, 1e-6f, 3.0f},
                                   {{4, 8}, 0.5f, 0.0f},     {{197, 16}, 1e-6f, 0.0f}};
  for (const Case& c : cases) {
    INFO("layer norm over " << shape_str(c.shape) << " eps " << c.eps << " input offset " << c.offset);
    GraphBuilder gb("ln-test", 0, c.shape);
    const int node = gb.layer_norm("ln", 0, c.eps);
    Graph g = gb.finish();
    Tensor x = random_tensor(c.shape, rng);
    for (float& v : x.data) v += c.offset;
    check_node(g, node, rng, {x});
  }
}

TEST_CASE("ReLU6 clamps at both ends: a depthwise conv on inputs large enough to pass 6", "[fp32][conv2d]") {
  std::mt19937 rng(1011);
  GraphBuilder gb("relu6-test", 0, {6, 7, 7});
  const int node = gb.conv("dw", 0, 6, 3, 1, 6, false, Norm::BatchNorm, Act::ReLU6);
  Graph g = gb.finish();
  Tensor x = random_tensor({6, 7, 7}, rng);
  for (float& v : x.data) v *= 20.0f;
  check_node(g, node, rng, {x});
}

TEST_CASE("max pooling matches the naive reference", "[fp32][maxpool]") {
  std::mt19937 rng(1012);
  struct Case {
    Shape in;
    int kernel, stride, pad;
  };
  for (const Case& c : std::vector<Case>{{{4, 9, 9}, 3, 2, 1},     // ResNet's stem pool, odd size
                                         {{3, 8, 6}, 2, 2, 0},     // 2x2 stride 2, H != W
                                         {{2, 5, 5}, 3, 1, 1},     // stride 1, every border window padded
                                         {{5, 2, 3}, 3, 2, 2},     // padding almost the kernel
                                         {{1, 7, 7}, 1, 3, 0}}) {  // stride larger than the kernel
    INFO("maxpool k" << c.kernel << " s" << c.stride << " p" << c.pad << " of " << shape_str(c.in));
    GraphBuilder gb("pool-test", 0, c.in);
    const int node = gb.max_pool("pool", 0, c.kernel, c.stride, c.pad);
    Graph g = gb.finish();
    Tensor x = random_tensor(c.in, rng);
    for (float& v : x.data) v -= 5.0f;  // all negative: a padded zero would win if padding were zeros
    check_node(g, node, rng, {x});
  }
}

TEST_CASE("channel multiply (squeeze-excite's gate) matches the naive reference", "[fp32][channel_mul]") {
  std::mt19937 rng(1013);
  for (const Shape& s : std::vector<Shape>{{5, 7, 3}, {1, 1, 1}, {16, 2, 2}}) {
    INFO("channel_mul of " << shape_str(s));
    GraphBuilder gb("mul-test", 0, s);
    const int node = gb.channel_mul("mul", 0, gb.global_avg_pool("gate", 0));
    Graph g = gb.finish();
    check_node(g, node, rng);  // random map and gate
  }
}

TEST_CASE("global average pooling matches the naive reference", "[fp32][avgpool]") {
  std::mt19937 rng(1006);
  for (const Shape& s : std::vector<Shape>{{5, 7, 3}, {1, 1, 1}, {16, 2, 2}, {3, 9, 11}}) {
    INFO("avgpool of " << shape_str(s));
    GraphBuilder gb("pool-test", 0, s);
    const int node = gb.global_avg_pool("pool", 0);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
}

TEST_CASE("softmax matches the naive reference", "[fp32][softmax]") {
  std::mt19937 rng(1007);
  struct Case {
    Shape shape;
    float range;  // inputs ~ U(-range, range); a large range needs the max subtracted to avoid overflow
  };
  for (const Case& c : std::vector<Case>{{{3, 7, 7}, 3.0f},
                                         {{5, 9}, 3.0f},
                                         {{11}, 3.0f},
                                         {{2, 4, 1}, 3.0f},
                                         {{4, 6}, 200.0f},
                                         {{2, 5, 13}, 60.0f}}) {
    INFO("softmax over " << shape_str(c.shape) << ", inputs in +-" << c.range);
    GraphBuilder gb("softmax-test", 0, c.shape);
    const int node = gb.softmax("softmax", 0);
    Graph g = gb.finish();
    check_node(g, node, rng, {random_tensor(c.shape, rng, -c.range, c.range)});
  }
}

TEST_CASE("patch tokens, class token, position embedding match the naive reference", "[fp32][vit]") {
  std::mt19937 rng(1008);
  for (const Shape& s : std::vector<Shape>{{4, 3, 5}, {8, 1, 1}, {1, 2, 7}, {6, 4, 4}}) {
    INFO("patch tokens of " << shape_str(s));
    GraphBuilder gb("patch-test", 0, s);
    const int node = gb.patch_tokens("tokens", 0);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  for (const Shape& s : std::vector<Shape>{{5, 6}, {1, 3}, {9, 1}}) {
    INFO("class token and position embedding on " << shape_str(s));
    GraphBuilder gb("cls-test", 0, s);
    const int cls = gb.class_token("cls", 0);
    const int pos = gb.pos_embed("pos", cls);
    Graph g = gb.finish();
    check_node(g, cls, rng);
    check_node(g, pos, rng);
  }
}

TEST_CASE("head split, head merge and token select match the naive reference", "[fp32][vit]") {
  std::mt19937 rng(1009);
  struct SplitCase {
    int64_t tokens, heads, head_dim;
  };
  for (const SplitCase& c : std::vector<SplitCase>{{5, 2, 3}, {7, 3, 4}, {4, 1, 2}, {1, 4, 1}, {10, 2, 8}}) {
    INFO("head split of " << c.tokens << " tokens, " << c.heads << " heads of " << c.head_dim);
    GraphBuilder gb("split-test", 0, {c.tokens, 3 * c.heads * c.head_dim});
    const int node = gb.head_split("split", 0, c.heads);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  for (const Shape& s : std::vector<Shape>{{2, 5, 3}, {3, 4, 4}, {1, 6, 2}, {4, 1, 3}}) {
    INFO("head merge of " << shape_str(s));
    GraphBuilder gb("merge-test", 0, s);
    const int node = gb.head_merge("merge", 0);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  for (int64_t index : {0, 3, 6}) {
    INFO("token select of row " << index << " of 7x5");
    GraphBuilder gb("select-test", 0, {7, 5});
    const int node = gb.token_select("select", 0, index);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
}

// ---------------------------------------------------------------------------------------------------
// Attention ops

TEST_CASE("attention kernel and normalize match the naive reference", "[fp32][attention]") {
  std::mt19937 rng(1010);
  struct Case {
    int64_t heads2, head_dim, h, w;  // heads2 = 2h: the q/k/v groups of qkv and of the aggregated branch
  };
  for (const Case& c : std::vector<Case>{{2, 4, 3, 5}, {4, 8, 2, 2}, {1, 1, 1, 3}, {2, 3, 7, 7}}) {
    INFO("attention kernel: " << c.heads2 << " groups, d " << c.head_dim << ", " << c.h << "x" << c.w);
    GraphBuilder gb("attn-test", 0, {c.heads2 * 3 * c.head_dim, c.h, c.w});
    const int node = gb.attn_kernel("kernel", 0, c.head_dim);
    Graph g = gb.finish();
    check_node(g, node, rng);
  }
  for (const Case& c : std::vector<Case>{{2, 4, 3, 5}, {4, 8, 2, 2}, {1, 1, 1, 3}, {2, 3, 7, 7}}) {
    INFO("attention normalize: " << c.heads2 << " groups, d " << c.head_dim << ", " << c.h << "x" << c.w);
    const Shape in_shape{c.heads2, c.head_dim + 1, c.h * c.w};
    GraphBuilder gb("norm-test", 0, in_shape);
    const int node = gb.attn_normalize("normalize", 0, c.head_dim, c.h, c.w);
    Graph g = gb.finish();
    // The last row is the denominator: positive, as sum_j ReLU(k) ReLU(q) is in LiteMLA.
    Tensor o = random_tensor(in_shape, rng);
    std::uniform_real_distribution<float> positive(0.05f, 3.0f);
    for (int64_t b = 0; b < c.heads2; ++b)
      for (int64_t i = 0; i < c.h * c.w; ++i)
        o.data[static_cast<size_t>((b * (c.head_dim + 1) + c.head_dim) * c.h * c.w + i)] = positive(rng);
    // One column all zero, as where every q is cut by the ReLU: 0 / (0 + eps) = 0.
    for (int64_t r = 0; r <= c.head_dim; ++r) o.data[static_cast<size_t>(r * c.h * c.w)] = 0.0f;
    check_node(g, node, rng, {o});
  }
}

namespace {
struct MatMulCase {
  int64_t batches, m, k, n;
  bool ta, tb;
  int64_t a_offset, a_extra, b_offset, b_extra;  // rows before / after each operand's slice
  float scale;
  bool all_rows;  // slices given as rows = 0 ("up to the end"); needs *_extra = 0
};

std::string describe(const MatMulCase& c) {
  std::ostringstream s;
  s << "matmul " << c.batches << " x [" << c.m << "x" << c.k << "] x [" << c.k << "x" << c.n << "]"
    << (c.ta ? " A^T" : "") << (c.tb ? " B^T" : "") << ", A rows from " << c.a_offset << " (+" << c.a_extra
    << " after), B rows from " << c.b_offset << " (+" << c.b_extra << " after), scale " << c.scale
    << (c.all_rows ? ", rows = 0" : "");
  return s.str();
}

void check_matmul(const MatMulCase& c, std::mt19937& rng) {
  INFO(describe(c));
  const int64_t a_slice = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  const int64_t b_slice = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  const int64_t a_rows = c.a_offset + a_slice + c.a_extra, b_rows = c.b_offset + b_slice + c.b_extra;
  const int64_t r = std::max({a_rows, a_cols, b_rows, b_cols});
  GraphBuilder gb("matmul-test", 0, {c.batches, r, 2});
  const int a = shaped3(gb, 0, a_rows, a_cols);
  const int b = shaped3(gb, 0, b_rows, b_cols);
  const int node = gb.matmul("mm", a, {c.a_offset, a_slice, c.ta}, b, {c.b_offset, b_slice, c.tb}, c.scale);
  Graph g = gb.finish();
  if (c.all_rows) {
    g.nodes[static_cast<size_t>(node)].a.rows = 0;
    g.nodes[static_cast<size_t>(node)].b.rows = 0;
  }
  check_node(g, node, rng);
}
}  // namespace

TEST_CASE("matmul matches the naive reference", "[fp32][matmul]") {
  std::mt19937 rng(1011);
  SECTION("every transpose combination, with and without row slices") {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_matmul({2, 3, 4, 5, ta, tb, 0, 0, 0, 0, 1.0f, false}, rng);
        check_matmul({3, 5, 2, 7, ta, tb, 2, 1, 1, 3, 0.37f, false}, rng);
        check_matmul({1, 1, 6, 1, ta, tb, 1, 0, 0, 2, -2.0f, false}, rng);
      }
  }
  SECTION("rows = 0 means every row from the offset on") {
    check_matmul({2, 3, 4, 5, false, true, 2, 0, 1, 0, 1.0f, true}, rng);
    check_matmul({2, 4, 3, 2, true, false, 0, 0, 3, 0, 0.5f, true}, rng);
  }
  SECTION("random shapes") {
    std::uniform_int_distribution<int64_t> dim(1, 9), off(0, 3);
    std::uniform_int_distribution<int> coin(0, 1);
    for (int i = 0; i < 10; ++i)
      check_matmul({1 + off(rng), dim(rng), dim(rng), dim(rng), coin(rng) == 1, coin(rng) == 1, off(rng),
                    off(rng), off(rng), off(rng), 0.25f + static_cast<float>(dim(rng)) * 0.125f, false},
                   rng);
  }
  SECTION("LiteMLA pattern: v' k^T then (v' k^T) q on the attention kernel output") {
    const int64_t d = 4, groups = 2, hw = 6;
    GraphBuilder gb("litemla-test", 0, {groups * 3 * d, 2, 3});
    const int kernel = gb.attn_kernel("kernel", 0, d);
    const int vk = gb.matmul("matmul_vk", kernel, {2 * d, d + 1, false}, kernel, {d, d, true}, 1.0f);
    const int out = gb.matmul("matmul_out", vk, {0, 0, false}, kernel, {0, d, false}, 1.0f);
    Graph g = gb.finish();
    INFO("LiteMLA, d " << d << ", " << groups << " groups, " << hw << " tokens");
    check_node(g, vk, rng);
    check_node(g, out, rng);
  }
  SECTION("softmax attention pattern: q^T k scaled, then attn v^T on the head split output") {
    const int64_t tokens = 7, heads = 2, dh = 4;
    GraphBuilder gb("mhsa-test", 0, {tokens, 3 * heads * dh});
    const int split = gb.head_split("split", 0, heads);
    const int qk = gb.matmul("matmul_qk", split, {0, dh, true}, split, {dh, dh, false}, 0.5f);
    const int attn = gb.softmax("softmax", qk);
    const int av = gb.matmul("matmul_av", attn, {0, 0, false}, split, {2 * dh, dh, true}, 1.0f);
    Graph g = gb.finish();
    INFO("softmax attention, " << tokens << " tokens, " << heads << " heads of " << dh);
    check_node(g, qk, rng);
    check_node(g, av, rng);
  }
}

// ---------------------------------------------------------------------------------------------------
// Error handling

TEST_CASE("eval_node_fp32 rejects inputs of the wrong shape", "[fp32][errors]") {
  std::mt19937 rng(1012);
  GraphBuilder gb("errors", 0, {4, 6, 6});
  const int conv = gb.conv("conv", 0, 8, 3, 1, 1, true, Norm::BatchNorm, Act::ReLU);
  const int pool = gb.global_avg_pool("pool", conv);
  const int fc = gb.linear("fc", pool, 5, true, Norm::None, Act::None);
  const int add = gb.add("add", conv, conv);
  Graph g = gb.finish();
  for (Node& node : g.nodes) fill_params(node, rng);
  const auto node = [&](int i) -> const Node& { return g.nodes[static_cast<size_t>(i)]; };

  const Tensor good_image = random_tensor({4, 6, 6}, rng);
  const Tensor wrong_channels = random_tensor({3, 6, 6}, rng);
  const Tensor wrong_size = random_tensor({4, 5, 6}, rng);
  const Tensor wrong_rank = random_tensor({4, 36}, rng);
  const Tensor conv_out = random_tensor({8, 6, 6}, rng);
  const Tensor other_map = random_tensor({8, 6, 5}, rng);
  const Tensor vector7 = random_tensor({7}, rng);

  REQUIRE_NOTHROW(vitsim::quant::eval_node_fp32(node(conv), {&good_image}));  // the control case works
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(conv), {&wrong_channels}), std::invalid_argument);
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(conv), {&wrong_size}), std::invalid_argument);
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(conv), {&wrong_rank}), std::invalid_argument);
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(fc), {&vector7}), std::invalid_argument);
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(add), {&conv_out, &other_map}), std::invalid_argument);
  CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(node(pool), {&wrong_rank}), std::invalid_argument);

  SECTION("attention kernel with channels that are not a multiple of 3d") {
    GraphBuilder kb("kernel-errors", 0, {12, 3, 3});
    const int kernel = kb.attn_kernel("kernel", 0, 2);
    Graph kg = kb.finish();
    const Tensor ok = random_tensor({12, 3, 3}, rng);
    const Tensor ten_channels = random_tensor({10, 3, 3}, rng);
    REQUIRE_NOTHROW(vitsim::quant::eval_node_fp32(kg.nodes[static_cast<size_t>(kernel)], {&ok}));
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(kg.nodes[static_cast<size_t>(kernel)], {&ten_channels}),
                    std::invalid_argument);
  }

  SECTION("matmul operands whose row slice does not fit or whose K differs") {
    GraphBuilder mb("matmul-errors", 0, {2, 6, 3});
    const int mm = mb.matmul("mm", 0, {1, 3, false}, 0, {0, 3, false}, 1.0f);  // [3x3] x [3x3]
    Graph mg = mb.finish();
    const Node& m = mg.nodes[static_cast<size_t>(mm)];
    const Tensor ok = random_tensor({2, 6, 3}, rng);
    const Tensor short_rows = random_tensor({2, 3, 3}, rng);  // slice [1, 4) no longer fits
    const Tensor wrong_k = random_tensor({2, 6, 4}, rng);
    const Tensor wrong_batch = random_tensor({3, 6, 3}, rng);
    REQUIRE_NOTHROW(vitsim::quant::eval_node_fp32(m, {&ok, &ok}));
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(m, {&short_rows, &ok}), std::invalid_argument);
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(m, {&wrong_k, &ok}), std::invalid_argument);
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(m, {&ok, &wrong_batch}), std::invalid_argument);
  }
  SECTION("token ops with the wrong number of tokens or features") {
    GraphBuilder tb("token-errors", 0, {5, 12});
    const int pos = tb.pos_embed("pos", 0);
    const int split = tb.head_split("split", 0, 2);
    Graph tg = tb.finish();
    for (Node& n : tg.nodes) fill_params(n, rng);
    const Tensor six_tokens = random_tensor({6, 12}, rng);
    const Tensor odd_width = random_tensor({5, 10}, rng);
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(tg.nodes[static_cast<size_t>(pos)], {&six_tokens}),
                    std::invalid_argument);
    CHECK_THROWS_AS(vitsim::quant::eval_node_fp32(tg.nodes[static_cast<size_t>(split)], {&odd_width}),
                    std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------------------------------
// Whole models

namespace {
struct ModelCase {
  std::string name;
  int resolution;
};

// Small instances of each model family: EfficientViT B (LiteMLA, hswish) and L (GELU) at 64x64, and DeiT-T,
// the smallest softmax-attention ViT, at its only resolution.
const std::vector<ModelCase>& test_models() {
  static const std::vector<ModelCase> models = {
      {"efficientvit-b0", 64}, {"efficientvit-l1", 64}, {"deit-tiny", 224}};
  return models;
}

Graph synthetic_model(const ModelCase& m) {
  Graph g = vitsim::quant::build_model(m.name, m.resolution);
  vitsim::quant::materialize_synthetic_weights(g, 0);
  return g;
}
}  // namespace

TEST_CASE("whole models: every node matches the naive reference on the executor's own inputs",
          "[fp32][model]") {
  for (const ModelCase& m : test_models()) {
    DYNAMIC_SECTION(m.name << " @" << m.resolution) {
      const Graph g = synthetic_model(m);
      const Tensor image = vitsim::quant::synthetic_input(g, 0);
      const std::vector<Tensor> outs = vitsim::quant::run_fp32_all(g, image);
      REQUIRE(outs.size() == g.nodes.size());
      INFO("model " << m.name << " @" << m.resolution);
      CHECK(bitwise_equal(outs[0], image));

      // Each node is recomputed from the executor's outputs of its inputs, so an error shows at the node
      // that makes it instead of accumulating downstream.
      int failing_nodes = 0;
      for (size_t i = 1; i < g.nodes.size(); ++i) {
        const Node& node = g.nodes[i];
        std::vector<const Tensor*> ins;
        for (int in : node.inputs) ins.push_back(&outs.at(static_cast<size_t>(in)));
        const Tensor want = vitsim::test::naive_eval(node, ins);
        INFO("node #" << i);
        if (!check_close(node, outs[i], want) && ++failing_nodes >= 10) {
          FAIL("stopping after 10 failing nodes");
        }
      }
    }
  }
}

TEST_CASE("run_fp32 returns run_fp32_all's last output bit for bit", "[fp32][model]") {
  for (const ModelCase& m : test_models()) {
    DYNAMIC_SECTION(m.name << " @" << m.resolution) {
      const Graph g = synthetic_model(m);
      const Tensor image = vitsim::quant::synthetic_input(g, 0);
      const std::vector<Tensor> all = vitsim::quant::run_fp32_all(g, image);
      const Tensor last = vitsim::quant::run_fp32(g, image);
      REQUIRE(!all.empty());
      INFO("run_fp32 shape " << shape_str(last.shape) << ", run_fp32_all last shape "
                             << shape_str(all.back().shape));
      CHECK(last.shape == g.output().out_shape);
      CHECK(bitwise_equal(last, all.back()));
    }
  }
}

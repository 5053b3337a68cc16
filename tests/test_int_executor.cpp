// Integer reference executor (quant/int_executor.hpp): small QGraphs built by hand, checked against values
// derived by hand from the INTEGER SEMANTICS of quant/qgraph.hpp (derivations in the comments), then a
// property test against a naive int64 reference written here straight from those formulas.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "qgraph_by_hand.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/graph.hpp"
#include "quant/int_executor.hpp"
#include "quant/qgraph.hpp"
#include "quant/requant.hpp"
#include "quant/zoo.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim::quant;

// ---------------------------------------------------------------------------------------------------
// Helpers

using vitsim::test::grid;
using vitsim::test::make_qgraph;
using vitsim::test::pt;
using vitsim::test::qt;

std::string str(const std::vector<int32_t>& v) {
  std::ostringstream os;
  os << "{";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "}";
  return os.str();
}

// Exact equality of codes; on failure reports the shape, the first mismatches and both vectors (if short).
void check_same(const QTensor& got, const std::vector<int32_t>& want, const std::string& context) {
  INFO(context);
  INFO("shape " << shape_str(got.shape));
  REQUIRE(got.data.size() == want.size());
  size_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < want.size(); ++i)
    if (got.data[i] != want[i] && bad++ < 5)
      first << " [" << i << "] got " << got.data[i] << " want " << want[i] << ";";
  const std::string both = want.size() <= 64 ? "got  " + str(got.data) + "\nwant " + str(want) : "(long)";
  INFO(both);
  INFO(bad << " mismatches:" << first.str());
  CHECK(bad == 0);
}

// ---------------------------------------------------------------------------------------------------
// Naive reference: int64 loops straight from qgraph.hpp, independent of int_executor.cpp.

int64_t qmin_of(int bits) {
  return -(int64_t{1} << (bits - 1));
}
int64_t qmax_of(int bits) {
  return (int64_t{1} << (bits - 1)) - 1;
}
int64_t sat(int64_t v, int bits) {
  return std::min(std::max(v, qmin_of(bits)), qmax_of(bits));
}
// round(x * m / 2^s), half towards +infinity, written as a floor division.
int64_t rq_apply(const Requantizer& r, int64_t x) {
  const int64_t num = x * r.multiplier, den = int64_t{1} << r.shift;
  const int64_t t = num + den / 2 * (r.shift > 0 ? 1 : 0);
  return t >= 0 ? t / den : -((-t + den - 1) / den);
}

// Activation stage of a Conv2d / Linear (None, ReLU, ReLU6, HSwish, GELU).
int64_t ref_stage(const Node& node, const QNode& qn, int64_t acc, size_t c, int64_t zp_y) {
  const int64_t r = rq_apply(qn.requant[c], acc);
  switch (node.act) {
    case Act::None:
      return sat(zp_y + r, qn.out.bits);
    case Act::ReLU:
      return std::max(sat(zp_y + r, qn.out.bits), zp_y);
    case Act::ReLU6:
      return std::min(std::max(sat(zp_y + r, qn.out.bits), zp_y), zp_y + qn.relu6_six[c]);
    case Act::HSwish: {
      const int64_t zp_p = qn.pre_act.zero_point[0];
      const int64_t p = sat(zp_p + r, qn.pre_act.bits) - zp_p;
      const int64_t t = std::min<int64_t>(std::max<int64_t>(p + qn.hswish_three, 0), qn.hswish_six);
      return sat(zp_y + rq_apply(qn.act_requant[c], p * t), qn.out.bits);
    }
    default: {
      const int64_t p = sat(qn.pre_act.zero_point[0] + r, qn.pre_act.bits);
      return qn.act_lut[static_cast<size_t>(p - qmin_of(qn.pre_act.bits))];
    }
  }
}

std::vector<int32_t> ref_conv(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  const int64_t cin = x.shape[0], h = x.shape[1], w = x.shape[2];
  const int64_t cout = node.out_shape[0], ho = node.out_shape[1], wo = node.out_shape[2];
  const int64_t k = node.kernel, s = node.stride, p = node.pad, cg = cin / node.groups,
                cog = cout / node.groups;
  std::vector<int32_t> y;
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        int64_t acc = qn.bias.empty() ? 0 : qn.bias[static_cast<size_t>(co)];
        for (int64_t i = 0; i < cg; ++i) {
          const int64_t ci = (co / cog) * cg + i;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // padded taps: real zeros
              const int64_t xv = x.data[static_cast<size_t>((ci * h + iy) * w + ix)];
              const int64_t zp = qx.zero_point[qx.group(ci, iy)];
              acc += int64_t{qn.weight[static_cast<size_t>(((co * cg + i) * k + ky) * k + kx)]} * (xv - zp);
            }
        }
        if (acc < INT32_MIN || acc > INT32_MAX) FAIL("reference accumulator outside int32: " << acc);
        y.push_back(static_cast<int32_t>(
            ref_stage(node, qn, acc, static_cast<size_t>(co), qn.out.zero_point[qn.out.group(co, oy)])));
      }
  return y;
}

// Linear on a rank-1 [in] or rank-2 [T, in] input.
std::vector<int32_t> ref_linear(const Node& node, const QNode& qn, const QTensor& x, const ActQuant& qx) {
  const bool rank1 = x.shape.size() == 1;
  const int64_t rows = rank1 ? 1 : x.shape[0], in = node.in_features, outf = node.out_features;
  std::vector<int32_t> y;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < outf; ++c) {
      int64_t acc = qn.bias.empty() ? 0 : qn.bias[static_cast<size_t>(c)];
      for (int64_t i = 0; i < in; ++i) {
        const int64_t zp = qx.zero_point[rank1 ? qx.group(i, 0) : qx.group(r, i)];
        acc += int64_t{qn.weight[static_cast<size_t>(c * in + i)]} *
               (x.data[static_cast<size_t>(r * in + i)] - zp);
      }
      const int64_t zp_y = qn.out.zero_point[rank1 ? qn.out.group(c, 0) : qn.out.group(r, c)];
      y.push_back(static_cast<int32_t>(ref_stage(node, qn, acc, static_cast<size_t>(c), zp_y)));
    }
  return y;
}

// Element (i, k) of one batch of a MatMul operand view, centered, per graph.hpp's MatOperand.
int64_t ref_operand(const QTensor& t, const ActQuant& q, const MatOperand& op, int64_t b, int64_t i,
                    int64_t k) {
  const int64_t row = op.row_offset + (op.transpose ? k : i), col = op.transpose ? i : k;
  const int64_t v = t.data[static_cast<size_t>((b * t.shape[1] + row) * t.shape[2] + col)];
  return v - q.zero_point[q.group(b, row)];
}

std::vector<int32_t> ref_matmul(const Node& node, const QNode& qn, const QTensor& a, const ActQuant& qa,
                                const QTensor& bt, const ActQuant& qb) {
  const int64_t batches = node.out_shape[0], m = node.out_shape[1], n = node.out_shape[2],
                kk = node.in_features;
  std::vector<int32_t> y;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int64_t acc = 0;
        for (int64_t k = 0; k < kk; ++k)
          acc += ref_operand(a, qa, node.a, b, i, k) * ref_operand(bt, qb, node.b, b, k, j);
        if (acc < INT32_MIN || acc > INT32_MAX) FAIL("reference accumulator outside int32: " << acc);
        const size_t g = qn.out.group(b, i);
        y.push_back(static_cast<int32_t>(
            qn.out.bits == 32 ? acc : sat(qn.out.zero_point[g] + rq_apply(qn.requant[g], acc), qn.out.bits)));
      }
  return y;
}

std::vector<int32_t> random_codes(std::mt19937_64& rng, size_t n, int bits) {
  std::uniform_int_distribution<int32_t> d(static_cast<int32_t>(qmin_of(bits)),
                                           static_cast<int32_t>(qmax_of(bits)));
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

int32_t rand_int(std::mt19937_64& rng, int32_t lo, int32_t hi) {
  return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
}

// A quantizer for a tensor of `shape`: per tensor, per axis-0 channel, or a full axis-0 x axis-1 grid.
ActQuant random_grid(std::mt19937_64& rng, const Shape& shape, int bits, int kind) {
  const int64_t g0 = kind >= 1 ? shape[0] : 1, g1 = kind >= 2 && shape.size() >= 2 ? shape[1] : 1;
  std::vector<float> s(static_cast<size_t>(g0 * g1), 0.1f);
  std::vector<int32_t> zp(s.size());
  const int32_t r = static_cast<int32_t>(qmax_of(bits) / 4);
  for (auto& z : zp) z = rand_int(rng, -r, r);
  return grid(g0, g1, s, zp, bits);
}

// Random activation stage for node `n` with `channels` outputs, summing `fan_in` products of `bits`-bit
// codes: requantizers that map the typical accumulator to tens of codes (some saturate).
void random_stage(std::mt19937_64& rng, const Node& n, QNode& q, int64_t channels, int64_t fan_in = 16,
                  int bits = 8) {
  const double typical = std::sqrt(static_cast<double>(fan_in)) * std::ldexp(1.0, 2 * (bits - 1)) / 3.0;
  std::uniform_real_distribution<double> f(0.3, 3.0);
  q.requant.clear();
  for (int64_t c = 0; c < channels; ++c) q.requant.push_back(requantizer_for(f(rng) * 40.0 / typical));
  if (n.act == Act::ReLU6) {
    q.relu6_six.clear();
    for (int64_t c = 0; c < channels; ++c) q.relu6_six.push_back(rand_int(rng, 0, 60));
  }
  if (n.act == Act::None || n.act == Act::ReLU || n.act == Act::ReLU6) return;
  q.pre_act = pt(0.05f, rand_int(rng, -20, 20), 8);
  if (n.act == Act::HSwish) {
    q.hswish_three = 60;
    q.hswish_six = 120;
    q.act_requant.clear();
    for (int64_t c = 0; c < channels; ++c) q.act_requant.push_back(requantizer_for(f(rng) / 300.0));
  } else {
    q.act_lut = random_codes(rng, size_t{1} << q.pre_act.bits, q.out.bits);
  }
}

// ---------------------------------------------------------------------------------------------------
// Hand-derived cases

TEST_CASE("Conv 1x1 with per-input-channel zero points and ReLU", "[int]") {
  GraphBuilder b("t", 0, {2, 1, 3});
  const int conv = b.conv("pw", 0, 2, 1, 1, 1, true, Norm::None, Act::ReLU);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = grid(2, 1, {0.5f, 0.5f}, {3, -2});  // zp_x = 3 (channel 0), -2 (channel 1)
  QNode& c = q.nodes[static_cast<size_t>(conv)];
  c.weight = {1, 2,    // w[0] = (1, 2)
              -3, 1};  // w[1] = (-3, 1)
  c.bias = {4, -1};
  c.requant = {shift_requantizer(1), Requantizer{3, 2}};  // acc / 2 and acc * 3 / 4
  c.out = grid(2, 1, {1.0f, 1.0f}, {-5, 10});
  // x: channel 0 {5, 3, 0} -> centered {2, 0, -3}; channel 1 {-2, 4, -7} -> centered {0, 6, -5}.
  const QTensor x = qt({2, 1, 3}, {5, 3, 0, -2, 4, -7});
  // acc0 = 4 + xc0 + 2 xc1 = {6, 16, -9};   /2 (half up): {3, 8, -4};  -5 + . = {-2, 3, -9}; ReLU max(., -5):
  //   {-2, 3, -5}
  // acc1 = -1 - 3 xc0 + xc1 = {-7, 5, 3};   *3/4: {-5.25 -> -5, 3.75 -> 4, 2.25 -> 2};  10 + . = {5, 14, 12};
  //   ReLU max(., 10): {10, 14, 12}
  check_same(eval_node_int(q, conv, {&x}), {-2, 3, -5, 10, 14, 12}, "pointwise conv");
}

TEST_CASE("Depthwise 3x3, stride 2, padding 1, nonzero input zero points: border pixels", "[int]") {
  GraphBuilder b("t", 0, {2, 5, 5});
  const int dw = b.conv("dw", 0, 2, 3, 2, 2, true, Norm::None, Act::None);  // pad 1 -> 3x3 output
  QGraph q = make_qgraph(b.finish());
  REQUIRE(q.graph.nodes[static_cast<size_t>(dw)].out_shape == Shape{2, 3, 3});
  q.nodes[0].out = grid(2, 1, {0.1f, 0.2f}, {10, -3});  // per-channel scales are allowed for a depthwise conv
  QNode& c = q.nodes[static_cast<size_t>(dw)];
  c.weight = {1, 1, 1, 1, 1, 1, 1, 1, 1,    // channel 0: box filter
              1, 0, 0, 0, 0, 0, 0, 0, -1};  // channel 1: top-left tap minus bottom-right tap
  c.bias = {0, 5};
  c.requant = {shift_requantizer(2), shift_requantizer(0)};  // channel 0: / 4; channel 1: identity
  c.out = grid(2, 1, {1.0f, 1.0f}, {0, 1});
  // Centered input v[y][x] = 5y + x + 1 (1..25) in both channels: codes v + 10 and v - 3.
  std::vector<int32_t> codes;
  for (int32_t zp : {10, -3})
    for (int32_t v = 1; v <= 25; ++v) codes.push_back(v + zp);
  const QTensor x = qt({2, 5, 5}, codes);
  // Output (oy, ox) reads rows 2oy-1..2oy+1, cols 2ox-1..2ox+1; outside [0, 4] taps are real zeros (not -zp).
  //   v:  1  2  3  4  5 /  6  7  8  9 10 / 11 12 13 14 15 / 16 17 18 19 20 / 21 22 23 24 25
  // Channel 0 box sums: (0,0) 1+2+6+7 = 16; (0,1) 2+3+4+7+8+9 = 33; (0,2) 4+5+9+10 = 28;
  //   (1,0) 6+7+11+12+16+17 = 69; (1,1) 7+8+9+12+13+14+17+18+19 = 117; (1,2) 9+10+14+15+19+20 = 87;
  //   (2,0) 16+17+21+22 = 76; (2,1) 17+18+19+22+23+24 = 123; (2,2) 19+20+24+25 = 88.
  //   / 4 rounding half up: 4, 8.25->8, 7, 17.25->17, 29.25->29, 21.75->22, 19, 30.75->31, 22.
  // Channel 1: v[2oy-1][2ox-1] - v[2oy+1][2ox+1] (0 outside): (0,0) 0-7; (0,1) 0-9; (0,2) 0-0; (1,0) 0-17;
  //   (1,1) 7-19; (1,2) 9-0; (2,0) 0-0; (2,1) 17-0; (2,2) 19-0 = {-7,-9,0,-17,-12,9,0,17,19};
  //   + bias 5 = {-2,-4,5,-12,-7,14,5,22,24}; + zp 1 = {-1,-3,6,-11,-6,15,6,23,25}.
  check_same(eval_node_int(q, dw, {&x}), {4, 8, 7, 17, 29, 22, 19, 31, 22, -1, -3, 6, -11, -6, 15, 6, 23, 25},
             "depthwise 3x3 s2");
}

// A 1x1 conv with one input and one output channel, weight 1, no bias, identity requantizer: acc = x.
struct IdentityConv {
  QGraph q;
  int conv = 0;
  explicit IdentityConv(Act act, int64_t width) {
    GraphBuilder b("t", 0, {1, 1, width});
    conv = b.conv("c", 0, 1, 1, 1, 1, false, Norm::None, act);
    q = make_qgraph(b.finish());
    q.nodes[0].out = pt(1.0f, 0, 16);
    QNode& c = node();
    c.weight = {1};
    c.requant = {shift_requantizer(0)};
  }
  QNode& node() { return q.nodes[static_cast<size_t>(conv)]; }
};

TEST_CASE("HSwish activation stage", "[int]") {
  const std::vector<int32_t> acc = {-200, -5, -3, -1, 0, 1, 2, 4, 130};
  IdentityConv ic(Act::HSwish, static_cast<int64_t>(acc.size()));
  QNode& c = ic.node();
  c.pre_act = pt(1.0f, 2, 8);  // zp_p = 2
  c.hswish_three = 3;
  c.hswish_six = 6;
  c.act_requant = {shift_requantizer(1)};  // p * t / 2
  c.out = pt(1.0f, -1, 4);                 // 4-bit output: [-8, 7]
  // p = sat8(2 + acc) - 2: {-128-2 = -130, -5, -3, -1, 0, 1, 2, 4, 127-2 = 125}
  // t = clamp(p + 3, 0, 6): {0, 0, 0, 2, 3, 4, 5, 6, 6};  p * t = {0, 0, 0, -2, 0, 4, 10, 24, 750}
  // / 2 (half up): {0, 0, 0, -1, 0, 2, 5, 12, 375};  y = sat4(-1 + .) = {-1, -1, -1, -2, -1, 1, 4, 7, 7}
  const QTensor x = qt({1, 1, 9}, acc);
  check_same(eval_node_int(ic.q, ic.conv, {&x}), {-1, -1, -1, -2, -1, 1, 4, 7, 7}, "hswish");
}

TEST_CASE("GELU lookup-table stage", "[int]") {
  const std::vector<int32_t> acc = {-10, -5, -4, 0, 2, 3, 10};
  IdentityConv ic(Act::GeluErf, static_cast<int64_t>(acc.size()));
  QNode& c = ic.node();
  c.pre_act = pt(0.5f, 1, 3);  // 3-bit pre-activation codes [-4, 3], zp_p = 1
  c.act_lut.clear();
  for (int32_t i = 0; i < 8; ++i) c.act_lut.push_back(10 * i - 30);  // lut[i] = 10 i - 30
  c.out = pt(0.1f, 0, 8);
  // p = sat3(1 + acc) = {-4, -4, -3, 1, 3, 3, 3};  index p - qmin = p + 4 = {0, 0, 1, 5, 7, 7, 7}
  // y = 10 * index - 30 = {-30, -30, -20, 20, 40, 40, 40}
  const QTensor x = qt({1, 1, 7}, acc);
  check_same(eval_node_int(ic.q, ic.conv, {&x}), {-30, -30, -20, 20, 40, 40, 40}, "gelu lut");
  c.act_lut.pop_back();
  CHECK_THROWS_WITH(eval_node_int(ic.q, ic.conv, {&x}),
                    Catch::Contains("'c'") && Catch::Contains("GELU table"));
}

TEST_CASE("ChannelMul: codes times their channel's gate, one requantizer per channel", "[int]") {
  GraphBuilder b("t", 0, {2, 1, 3});
  const int gate = b.global_avg_pool("gate", 0);
  const int mul = b.channel_mul("mul", 0, gate);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = grid(2, 1, {0.5f, 0.25f}, {1, -2});  // x per channel: zp 1, zp -2
  q.nodes[static_cast<size_t>(gate)].out = pt(0.1f, -3);
  QNode& n = q.nodes[static_cast<size_t>(mul)];
  n.requant = {Requantizer{3, 2}, Requantizer{5, 1}};  // channel 0: * 3 / 4, channel 1: * 5 / 2
  n.out = pt(0.2f, 4);
  const QTensor x = qt({2, 1, 3}, {3, 1, 0, -2, 5, 127}), g = qt({2}, {1, -5});
  // centered x {2, 0, -1 | 0, 7, 129}, gates 4 and -2: products {8, 0, -4 | 0, -14, -258}
  // channel 0: * 3 / 4 = {6, 0, -3};  channel 1: * 5 / 2 = {0, -35, -645};  + 4, saturated to 8 bits
  check_same(eval_node_int(q, mul, {&x, &g}), {10, 4, 1, 4, -31, -128}, "channel_mul");
  q.nodes[static_cast<size_t>(gate)].out = grid(2, 1, {0.1f, 0.1f}, {-3, -3});
  CHECK_THROWS_WITH(eval_node_int(q, mul, {&x, &g}),
                    Catch::Contains("'mul'") && Catch::Contains("per-tensor gate"));
}

// The tables of the activations that only a table computes, as the PTQ engine builds them: each entry, the
// function of its pre-activation code's value, must lie within half an output step of the exact function
// (computed here independently, in double), clamped to the output's range.
TEST_CASE("Sigmoid, hard sigmoid and SiLU tables are within half an output step of the function",
          "[int][ptq]") {
  const std::vector<std::pair<Act, double (*)(double)>> acts = {
      {Act::Sigmoid, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {Act::HSigmoid, [](double v) { return std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; }},
      {Act::SiLU, [](double v) { return v / (1.0 + std::exp(-v)); }}};
  for (const auto& [act, f] : acts) {
    INFO(act_name(act));
    GraphBuilder b("t", 8, {4, 8, 8});
    const int conv = b.conv("c", 0, 6, 3, 1, 1, true, Norm::None, act, 1);
    const QGraph q = vitsim::test::quantize(b.finish(), "trio-w8a8", 2);
    const QNode& qn = q.nodes[static_cast<size_t>(conv)];
    REQUIRE(qn.act_lut.size() == 256);
    const double sp = qn.pre_act.scale[0], sy = qn.out.scale[0];
    const double zp_p = qn.pre_act.zero_point[0], zp_y = qn.out.zero_point[0];
    int64_t distinct = 0;
    for (size_t i = 0; i < 256; ++i) {
      const double want =
          std::clamp(f(sp * (static_cast<double>(i) - 128 - zp_p)), sy * (-128 - zp_y), sy * (127 - zp_y));
      const double got = sy * (qn.act_lut[i] - zp_y);
      INFO("pre-activation code " << static_cast<int64_t>(i) - 128 << ": table " << got << ", function "
                                  << want);
      CHECK(std::abs(got - want) <= 0.5 * sy * (1 + 1e-6));
      distinct += i > 0 && qn.act_lut[i] != qn.act_lut[i - 1];
    }
    CHECK(distinct > 32);  // the table resolves the function, not a few levels of it
  }
}

TEST_CASE("Add with different input scales: shared shift, saturation", "[int]") {
  GraphBuilder b("t", 0, {1, 1, 9});
  const int other = b.conv("other", 0, 1, 1, 1, 1, false, Norm::None, Act::None);
  const int add = b.add("add", 0, other);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.3f, 3);                            // a: zp 3
  q.nodes[static_cast<size_t>(other)].out = pt(0.5f, -2);  // b: zp -2
  QNode& n = q.nodes[static_cast<size_t>(add)];
  n.requant = {Requantizer{3, 2}, Requantizer{5, 2}};  // y = sat(5 + round((3 (a - 3) + 5 (b + 2)) / 4))
  n.out = pt(0.4f, 5);
  const QTensor a = qt({1, 1, 9}, {7, 3, 0, 127, -128, 1, 2, 4, 5});
  const QTensor bb = qt({1, 1, 9}, {0, -2, -3, 127, -128, -1, -2, -2, -2});
  // 3*4 + 5*2 = 22 -> 5.5 -> 6 -> 11;   0 -> 5;   -9 - 5 = -14 -> -3.5 -> -3 -> 2;
  // 3*124 + 5*129 = 1017 -> 254.25 -> 254 -> 259 -> 127;   -393 - 630 = -1023 -> -255.75 -> -256 -> -128;
  // -6 + 5 = -1 -> -0.25 -> 0 -> 5;   -3 -> -0.75 -> -1 -> 4;   3 -> 0.75 -> 1 -> 6;   6 -> 1.5 -> 2 -> 7
  check_same(eval_node_int(q, add, {&a, &bb}), {11, 5, 2, 127, -128, 5, 4, 6, 7}, "add");
  n.requant[1].shift = 3;
  CHECK_THROWS_WITH(eval_node_int(q, add, {&a, &bb}),
                    Catch::Contains("'add'") && Catch::Contains("share one shift"));
}

TEST_CASE("Add + ReLU (a ResNet block's): the sum's codes kept at or above the output zero point", "[int]") {
  GraphBuilder b("t", 0, {1, 1, 4});
  const int other = b.conv("other", 0, 1, 1, 1, 1, false, Norm::None, Act::None);
  const int add = b.add("add", 0, other, Act::ReLU);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.5f, 0);
  q.nodes[static_cast<size_t>(other)].out = pt(0.5f, 0);
  QNode& n = q.nodes[static_cast<size_t>(add)];
  n.requant = {Requantizer{1, 0}, Requantizer{1, 0}};  // y = sat(zp_y + a + b), then max(y, zp_y)
  n.out = pt(1.0f, -3);
  const QTensor a = qt({1, 1, 4}, {5, -9, 2, 126}), bb = qt({1, 1, 4}, {1, 2, -2, 100});
  // sums 6, -7, 0, 226 -> 3, -10, -3, 223 -> sat 127 -> ReLU: 3, -3, -3, 127
  check_same(eval_node_int(q, add, {&a, &bb}), {3, -3, -3, 127}, "add + relu");
}

TEST_CASE("MaxPool 3x3 stride 2 pad 1 on codes: padded taps skipped, the input's quantizer kept", "[int]") {
  GraphBuilder b("t", 0, {2, 3, 3});
  const int pool = b.max_pool("pool", 0, 3, 2, 1);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = grid(2, 1, {0.5f, 0.25f}, {-100, 7});  // per channel: codes below zp are negative values
  QNode& n = q.nodes[static_cast<size_t>(pool)];
  n.out = q.nodes[0].out;
  // channel 0: all codes below the zero point (negative values): a padded zero must not win.
  const QTensor x = qt({2, 3, 3}, {-128, -127, -126, -125, -124, -123, -122, -121, -120,  //
                                   9, 1, 2, 3, 4, 5, 6, 7, 8});
  // output 2x2: windows rows/cols {0,1} / {1,2} (centre 1) clipped at the borders
  check_same(eval_node_int(q, pool, {&x}), {-124, -123, -121, -120, 9, 5, 7, 8}, "maxpool");
  n.out.zero_point[1] = 0;  // a different quantizer would need requantization
  CHECK_THROWS_WITH(eval_node_int(q, pool, {&x}),
                    Catch::Contains("'pool'") && Catch::Contains("must equal the input's"));
}

TEST_CASE("Concat of two different grids copies codes: the output grid must be the stack", "[int]") {
  GraphBuilder b("t", 0, {2, 1, 2});
  const int other = b.conv("other", 0, 1, 1, 1, 1, false, Norm::None, Act::None);
  const int cat = b.concat("cat", {0, other});
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = grid(2, 1, {0.5f, 0.25f}, {1, 2});      // per channel
  q.nodes[static_cast<size_t>(other)].out = pt(0.1f, -3);  // per tensor
  QNode& n = q.nodes[static_cast<size_t>(cat)];
  n.out = grid(3, 1, {0.5f, 0.25f, 0.1f}, {1, 2, -3});
  const QTensor x0 = qt({2, 1, 2}, {1, -7, 100, -128}), x1 = qt({1, 1, 2}, {127, 0});
  check_same(eval_node_int(q, cat, {&x0, &x1}), {1, -7, 100, -128, 127, 0}, "concat");
  n.out.zero_point[2] = 0;  // not the input's zero point: copying codes would change the values
  CHECK_THROWS_WITH(eval_node_int(q, cat, {&x0, &x1}),
                    Catch::Contains("'cat'") && Catch::Contains("stacked"));
}

TEST_CASE("GlobalAvgPool rounds half towards +infinity", "[int]") {
  GraphBuilder b("t", 0, {3, 2, 2});
  const int gap = b.global_avg_pool("gap", 0);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.1f, 1);
  QNode& n = q.nodes[static_cast<size_t>(gap)];
  n.requant = {shift_requantizer(2)};  // s_x / (H W s_y) = 1/4
  n.out = pt(0.1f, 3);
  // centered sums: {0,1,2,3} = 6 -> 1.5 -> 2;  {-6,0,0,-1} = -7 -> -1.75 -> -2;  {-1,-1,-2,-2} = -6 -> -1.5
  // -> -1
  const QTensor x = qt({3, 2, 2}, {1, 2, 3, 4, -5, 1, 1, 0, 0, 0, -1, -1});
  check_same(eval_node_int(q, gap, {&x}), {5, 1, 2}, "avgpool (zp_y 3 + {2, -2, -1})");
}

TEST_CASE("AttnKernel: ReLU on q and k rows, v copied, ones row", "[int]") {
  GraphBuilder b("t", 0, {6, 1, 2});  // 2 heads, d = 1
  const int k = b.attn_kernel("kernel", 0, 1);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = grid(6, 1, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {0, 0, 0, 0, 0, 0});
  QNode& n = q.nodes[static_cast<size_t>(k)];
  n.out = grid(2, 4, {0.1f, 0.2f, 0.3f, 1.0f, 0.4f, 0.5f, 0.6f, 1.0f}, std::vector<int32_t>(8, 0));
  // head 0: q {-3, 4}, k {5, -6}, v {-7, 8};  head 1: q {0, -1}, k {2, 3}, v {-4, -5}
  const QTensor x = qt({6, 1, 2}, {-3, 4, 5, -6, -7, 8, 0, -1, 2, 3, -4, -5});
  check_same(eval_node_int(q, k, {&x}), {0, 4, 5, 0, -7, 8, 1, 1, 0, 0, 2, 3, -4, -5, 1, 1}, "attn kernel");
  n.out.scale[3] = 0.5f;  // the ones row must have scale 1
  CHECK_THROWS_WITH(eval_node_int(q, k, {&x}), Catch::Contains("'kernel'") && Catch::Contains("ones row"));
  n.out.scale[3] = 1.0f;
  q.nodes[0].out.zero_point[2] = 1;  // v of head 0 asymmetric: max(x, 0) would not be ReLU
  CHECK_THROWS_WITH(eval_node_int(q, k, {&x}), Catch::Contains("zero points must be 0"));
}

TEST_CASE("LiteMLA matmul pair: v'k^T, then (v'k^T) q with raw int32 outputs", "[int]") {
  const int64_t heads = 2, d = 2, hh = 2, ww = 3, n = hh * ww;
  GraphBuilder b("t", 0, {heads * 3 * d, hh, ww});
  const int kern = b.attn_kernel("kernel", 0, d);
  const int vk = b.matmul("vk", kern, {2 * d, d + 1, false}, kern, {d, d, true}, 1.0f);
  const int out = b.matmul("out", vk, {0, 0, false}, kern, {0, d, false}, 1.0f);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.05f, 0);
  q.nodes[static_cast<size_t>(kern)].out =
      grid(heads, 3 * d + 1,
           {0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 1.0f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 1.0f},
           std::vector<int32_t>(14, 0));
  q.nodes[static_cast<size_t>(vk)].out =
      grid(heads, d + 1, std::vector<float>(6, 0.0025f), std::vector<int32_t>(6, 0), 32);
  q.nodes[static_cast<size_t>(out)].out =
      grid(heads, d + 1, std::vector<float>(6, 1e-4f), std::vector<int32_t>(6, 0), 32);

  std::mt19937_64 rng(7);
  const QTensor x = qt({heads * 3 * d, hh, ww}, random_codes(rng, static_cast<size_t>(heads * 3 * d * n), 8));
  const std::vector<QTensor> all = run_int_all(q, x);
  const QTensor& kt = all[static_cast<size_t>(kern)];
  auto at = [&](int64_t bb, int64_t r, int64_t c) -> int64_t {
    return kt.data[static_cast<size_t>((bb * (3 * d + 1) + r) * n + c)];
  };
  // vk[b, i, j] = sum_n v'[b, i, n] k[b, j, n]   (v' = rows 2d..3d of the kernel output, k = rows d..2d-1)
  std::vector<int32_t> want_vk, want_out;
  for (int64_t bb = 0; bb < heads; ++bb)
    for (int64_t i = 0; i <= d; ++i)
      for (int64_t j = 0; j < d; ++j) {
        int64_t s = 0;
        for (int64_t c = 0; c < n; ++c) s += at(bb, 2 * d + i, c) * at(bb, d + j, c);
        want_vk.push_back(static_cast<int32_t>(s));
      }
  // out[b, i, c] = sum_j vk[b, i, j] q[b, j, c]
  for (int64_t bb = 0; bb < heads; ++bb)
    for (int64_t i = 0; i <= d; ++i)
      for (int64_t c = 0; c < n; ++c) {
        int64_t s = 0;
        for (int64_t j = 0; j < d; ++j)
          s += int64_t{want_vk[static_cast<size_t>((bb * (d + 1) + i) * d + j)]} * at(bb, j, c);
        want_out.push_back(static_cast<int32_t>(s));
      }
  INFO("input codes " << str(x.data));
  check_same(all[static_cast<size_t>(vk)], want_vk, "v'k^T");
  check_same(all[static_cast<size_t>(out)], want_out, "(v'k^T) q");
  // The ones row of v' makes the last row of v'k^T the column sums of k.
  for (int64_t bb = 0; bb < heads; ++bb)
    for (int64_t j = 0; j < d; ++j) {
      int64_t s = 0;
      for (int64_t c = 0; c < n; ++c)
        s += std::max<int64_t>(x.data[static_cast<size_t>((bb * 3 * d + d + j) * n + c)], 0);
      INFO("head " << bb << ", k row " << j);
      CHECK(all[static_cast<size_t>(vk)].data[static_cast<size_t>((bb * (d + 1) + d) * d + j)] == s);
    }
}

// Graph input [2 heads, d + 1 = 3, N = 6] of raw accumulators -> AttnNormalize -> [4, 1, 6].
struct NormalizeCase {
  QGraph q;
  int norm = 0;
  NormalizeCase() {
    GraphBuilder b("t", 0, {2, 3, 6});
    norm = b.attn_normalize("normalize", 0, 2, 1, 6);
    q = make_qgraph(b.finish());
    q.nodes[0].out = grid(2, 3, std::vector<float>(6, 1e-3f), std::vector<int32_t>(6, 0), 32);
    QNode& n = node();
    n.numerator = grid(2, 1, {0.01f, 0.01f}, {0, 0}, 8);
    n.out = pt(0.05f, 2, 8);
  }
  QNode& node() { return q.nodes[static_cast<size_t>(norm)]; }
};

TEST_CASE("AttnNormalize Log2: both rounding modes, zero divisor, clamped exponent", "[int]") {
  NormalizeCase nc;
  QNode& n = nc.node();
  n.divisor_mode = DivisorMode::Log2;
  n.divisor_code_bits = 4;  // e in [0, 15]
  // head 0: m = sat8(o), D = o, y = round(3 m / 2^(1 + e));  head 1: m = round(o / 2), D = round(o / 4), y =
  // round(m / 2^e)
  n.num_requant = {shift_requantizer(0), shift_requantizer(1)};
  n.div_requant = {shift_requantizer(0), shift_requantizer(2)};
  n.out_requant = {Requantizer{3, 1}, shift_requantizer(0)};
  const QTensor x = qt({2, 3, 6},
                       {                                // head 0 dividends (rows 0, 1), divisor row 2
                        50, 100, -7, 300, 88, 1000000,  //
                        -128, 0, 255, -300, 16, -16,    //
                        0, 23, 1, 12, 11, 100000,  // D: 0 (e = 0), 23 (hw 4 / sqrt2 5), 1 (0), 12 (4), 11
                                                   // (3), 2^16.6 (15) head 1
                        64, 9, -9, 33, 7, 5,       //
                        -64, -9, 0, 0, 0, 0,       //
                        92, 0, 2, 44, 48, 6});     // D = round(o/4): 23, 0, 1 (0.5 up), 11, 12, 2 (1.5 up)
  // head 0, row 0: m = {50, 100, -7, 127, 88, 127}; 3m = {150, 300, -21, 381, 264, 381}
  //   / 2^(1+e): hw e = {0,4,0,4,3,15}: 75, 9.375->9, -10.5->-10, 11.9->12, 16.5->17, 0.006->0
  //              sqrt2 e = {0,5,0,4,3,15}: col 1: 300/64 = 4.69 -> 5
  // head 0, row 1: m = {-128, 0, 127, -128, 16, -16}: -192, 0, 190.5->191, -12, 3, -0.0007->0
  // head 1, row 0: m = round_up(o/2) = {32, 5, -4, 17, 4, 3}; e hw {4,0,0,3,4,1} / sqrt2 {5,0,0,3,4,1}:
  //   hw: 2, 5, -4, 2.125->2, 0.25->0, 1.5->2;  sqrt2 col 0: 32/32 = 1
  // head 1, row 1: m = {-32, -4, 0, 0, 0, 0}: hw -2, -4, 0...; sqrt2 col 0: -1
  // y = sat8(2 + .)
  SECTION("Hardware rounding (1.5 * 2^i)") {
    n.log2_rounding = Log2Rounding::Hardware;
    check_same(eval_node_int(nc.q, nc.norm, {&x}),
               {77, 11, -8, 14, 19, 2, -128, 2, 127, -10, 5, 2, 4, 7, -2, 4, 2, 4, 0, -2, 2, 2, 2, 2},
               "log2 hw");
  }
  SECTION("Sqrt2 rounding (round(log2 x))") {
    n.log2_rounding = Log2Rounding::Sqrt2;
    check_same(eval_node_int(nc.q, nc.norm, {&x}),
               {77, 7, -8, 14, 19, 2, -128, 2, 127, -10, 5, 2, 3, 7, -2, 4, 2, 4, 1, -2, 2, 2, 2, 2},
               "log2 sqrt2");
  }
  SECTION("Total shift beyond 62 bits rounds to 0") {
    n.out_requant = {Requantizer{1 << 30, 62}, Requantizer{1 << 30, 62}};  // shift 62 + e up to 15
    check_same(eval_node_int(nc.q, nc.norm, {&x}), std::vector<int32_t>(24, 2), "log2 huge shift");
  }
  SECTION("Input must be raw accumulators") {
    nc.q.nodes[0].out.bits = 16;
    const QTensor small = qt({2, 3, 6}, std::vector<int32_t>(36, 1));
    CHECK_THROWS_WITH(eval_node_int(nc.q, nc.norm, {&small}),
                      Catch::Contains("'normalize'") && Catch::Contains("raw int32"));
  }
}

TEST_CASE("AttnNormalize Uniform: half-away rounding, D = 0 saturates", "[int]") {
  NormalizeCase nc;
  QNode& n = nc.node();
  n.divisor_mode = DivisorMode::Uniform;
  n.divisor_bits = 4;  // D = sat_unsigned(., 4) in [0, 15]
  // head 0: y = round_half_away(3 m / (2 D));  head 1: y = round_half_away(m / D)
  n.num_requant = {shift_requantizer(0), shift_requantizer(0)};
  n.div_requant = {shift_requantizer(0), shift_requantizer(0)};
  n.out_requant = {Requantizer{3, 1}, shift_requantizer(0)};
  const QTensor x =
      qt({2, 3, 6},
         {50, -50, 0,  5,   100,  7,    //
          -7, 7,   -7, -7,  -5,   0,    //
          0,  0,   0,  7,   20,   -3,   // D = {0, 0, 0, 7, 15 (saturated), 0 (negative saturates to 0)}
          5,  -5,  6,  100, -200, 127,  // m = sat8: {5, -5, 6, 100, -128, 127}
          1,  -1,  2,  -2,  0,    -8,   //
          2,  2,   4,  3,   1,    15});
  // head 0 row 0: D=0,m>0 -> 127; D=0,m<0 -> -128; D=0,m=0 -> quotient 0 -> zp 2; 15/14 = 1.07 -> 1 -> 3;
  //   300/30 = 10 -> 12; D=0,m>0 -> 127
  // head 0 row 1: -128; 127; -128; -21/14 = -1.5 -> -2 -> 0; -15/30 = -0.5 -> -1 -> 1; D=0,m=0 -> 2
  // head 1 row 0: 5/2 = 2.5 -> 3 -> 5; -2.5 -> -3 -> -1; 6/4 = 1.5 -> 2 -> 4; 33.3 -> 33 -> 35; -128 -> -126;
  //   127/15 = 8.47 -> 8 -> 10
  // head 1 row 1: 0.5 -> 1 -> 3; -0.5 -> -1 -> 1; 0.5 -> 1 -> 3; -0.67 -> -1 -> 1; 0 -> 2; -0.53 -> -1 -> 1
  check_same(eval_node_int(nc.q, nc.norm, {&x}),
             {127, -128, 2, 3, 12, 127, -128, 127, -128, 0, 1, 2, 5, -1, 4, 35, -126, 10, 3, 1, 3, 1, 2, 1},
             "uniform divisor");
}

TEST_CASE("Linear + LayerNorm kept in FP32 (float_layernorm), rank-2 input", "[int]") {
  GraphBuilder b("t", 0, {2, 3});
  const int fc = b.linear("fc", 0, 3, true, Norm::LayerNorm, Act::HSwish);
  QGraph q = make_qgraph(b.finish());
  Node& node = q.graph.nodes[static_cast<size_t>(fc)];
  node.params["ln.gamma"] = Tensor({3}, 1.0f);
  node.params["ln.beta"] = Tensor({3}, 0.0f);
  node.params["ln.beta"].data[1] = 0.5f;
  q.nodes[0].out = pt(0.5f, 2);
  QNode& n = q.nodes[static_cast<size_t>(fc)];
  n.float_layernorm = true;
  n.in_scale = 0.5f;
  n.ln_gamma = node.params.at("ln.gamma").data;
  n.ln_beta = node.params.at("ln.beta").data;
  n.weight = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  n.weight_scale = {1.0f, 1.0f, 2.0f};
  n.bias = {1, -1, 0};
  n.out = pt(0.05f, 1);
  // x - zp: row 0 {-3, 1, 1}, row 1 {5, 7, 3};  acc = x + bias: {-2, 0, 1}, {6, 6, 3}
  // v = acc * 0.5 * ws: {-1, 0, 1}, {3, 3, 3}
  // LN: row 0 mean 0, var 2/3 -> {-1.2247, 0, 1.2247} + beta {0, 0.5, 0}; row 1 constant -> beta {0, 0.5, 0}
  // hswish x (x+3)/6: -1.2247 -> -0.36237, 0.5 -> 0.29167, 1.2247 -> 0.86234; 0 -> 0
  // / 0.05, round: -7.25 -> -7, 5.83 -> 6, 17.25 -> 17, 0;  + zp 1: {-6, 7, 18}, {1, 7, 1}
  const QTensor x = qt({2, 3}, {-1, 3, 3, 7, 9, 5});
  check_same(eval_node_int(q, fc, {&x}), {-6, 7, 18, 1, 7, 1}, "float layernorm");
  n.float_layernorm = false;
  CHECK_THROWS_WITH(eval_node_int(q, fc, {&x}),
                    Catch::Contains("'fc'") && Catch::Contains("float_layernorm"));
}

TEST_CASE("Input quantization and dequantization", "[int]") {
  GraphBuilder b("t", 0, {1, 1, 6});
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.5f, -1, 4);
  Tensor img({1, 1, 6});
  img.data = {0.25f, 0.75f, -1.25f, 100.0f, -100.0f, 1.0f};
  // /0.5 = {0.5, 1.5, -2.5, 200, -200, 2} -> half even {0, 2, -2, 200, -200, 2} -> +zp -1, sat4 [-8, 7]
  const QTensor codes = quantize_input(q, img);
  check_same(codes, {-1, 1, -3, 7, -8, 1}, "quantize_input");
  const Tensor back = dequantize(codes, q.nodes[0].out);
  CHECK(back.data == std::vector<float>{0.0f, 1.0f, -1.0f, 4.0f, -3.5f, 1.0f});
  img.data[2] = std::nanf("");
  CHECK_THROWS_WITH(quantize_input(q, img), Catch::Contains("NaN"));
}

TEST_CASE("Accumulator overflow is detected and names the node", "[int]") {
  GraphBuilder b("t", 0, {2, 1, 1});
  const int conv = b.conv("big", 0, 1, 1, 1, 1, false, Norm::None, Act::None);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(1.0f, -32768, 16);
  QNode& c = q.nodes[static_cast<size_t>(conv)];
  c.weight_bits = 16;
  c.weight = {32767, 32767};
  c.requant = {requantizer_for(1e-6)};
  c.out = pt(1.0f, 0);
  // (32767 + 32768) * 32767 * 2 = 4 294 836 225 > 2^31 - 1
  const QTensor x = qt({2, 1, 1}, {32767, 32767});
  CHECK_THROWS_AS(eval_node_int(q, conv, {&x}), std::overflow_error);
  CHECK_THROWS_WITH(eval_node_int(q, conv, {&x}), Catch::Contains("'big'") && Catch::Contains("int32"));
  // Half the input fits: 65535 * 32767 = 2 147 385 345 < 2^31.
  const QTensor y = qt({2, 1, 1}, {32767, -32768});
  CHECK_NOTHROW(eval_node_int(q, conv, {&y}));

  // A raw int32 MatMul output that does not fit.
  GraphBuilder mb("t", 0, {1, 2, 2});
  const int mm = mb.matmul("mm", 0, {0, 0, false}, 0, {0, 0, false}, 1.0f);
  QGraph mq = make_qgraph(mb.finish());
  mq.nodes[0].out = pt(1.0f, 0, 32);
  mq.nodes[static_cast<size_t>(mm)].out = pt(1.0f, 0, 32);
  const QTensor m = qt({1, 2, 2}, {1 << 20, 1 << 20, 1 << 20, 1 << 20});  // 2 * 2^40
  CHECK_THROWS_AS(eval_node_int(mq, mm, {&m, &m}), std::overflow_error);
  CHECK_THROWS_WITH(eval_node_int(mq, mm, {&m, &m}),
                    Catch::Contains("'mm'") && Catch::Contains("outside int32"));
}

TEST_CASE("Exact in every accumulation width: float, double and int64 GEMM paths", "[int]") {
  // [1, 1, K] x [1, K, 1] with raw int32 operands. Alternating signs cancel, so the worst-case bound
  // sum |a||b| grows past 2^24, 2^53 while the true sum stays small (and odd, to catch any rounding).
  const int64_t k = 64;
  GraphBuilder b("t", 0, {1, 2, k});
  const int mm = b.matmul("mm", 0, {0, 1, false}, 0, {1, 1, true}, 1.0f);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(1.0f, 0, 32);
  q.nodes[static_cast<size_t>(mm)].out = pt(1.0f, 0, 32);
  // bound 64 * big * big2: 2^19.3 (float), 2^46 (double), 2^56 (int64)
  for (int32_t big : {100, 1 << 20, 1 << 30}) {
    const int32_t big2 = big == (1 << 30) ? (1 << 20) : big;
    std::vector<int32_t> codes(static_cast<size_t>(2 * k));
    int64_t want = 0;
    for (int64_t i = 0; i < k; ++i) {
      codes[static_cast<size_t>(i)] = (i % 2 ? -big : big) + (i == 0 ? 1 : 0);  // a
      codes[static_cast<size_t>(k + i)] = big2;                                 // b
      want += int64_t{codes[static_cast<size_t>(i)]} * big2;
    }
    INFO("operand magnitude " << big << " x " << big2 << ", exact dot product " << want);
    REQUIRE(want == big2);
    const QTensor x = qt({1, 2, k}, codes);
    check_same(eval_node_int(q, mm, {&x, &x}), {static_cast<int32_t>(want)}, "dot product");
  }
}

TEST_CASE("Standard-ViT ops without their integer program are rejected by name", "[int]") {
  GraphBuilder b("t", 0, {4, 8});
  const int sm = b.softmax("attn.softmax", 0);
  const int ln = b.layer_norm("pre.ln", 0, 1e-6f);
  QGraph q = make_qgraph(b.finish());
  for (auto& n : q.nodes) n.out = pt(0.1f, 0);
  const QTensor x = qt({4, 8}, std::vector<int32_t>(32, 1));
  CHECK_THROWS_AS(eval_node_int(q, sm, {&x}), std::invalid_argument);
  CHECK_THROWS_WITH(eval_node_int(q, sm, {&x}), Catch::Contains("node 'attn.softmax' (softmax)") &&
                                                    Catch::Contains("uniform output codes"));
  CHECK_THROWS_WITH(eval_node_int(q, ln, {&x}),
                    Catch::Contains("node 'pre.ln' (layernorm)") && Catch::Contains("8 multipliers"));
  CHECK_THROWS_WITH(run_int(q, x), Catch::Contains("/nodes/1/q/requant") && Catch::Contains("softmax node"));
}

TEST_CASE("Inconsistent QNodes are rejected with the node's name", "[int]") {
  GraphBuilder b("t", 0, {4, 3, 3});
  const int conv = b.conv("c3", 0, 2, 3, 1, 1, true, Norm::None, Act::None);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.1f, 0);
  QNode& c = q.nodes[static_cast<size_t>(conv)];
  c.weight.assign(2 * 4 * 9, 1);
  c.bias = {0, 0};
  c.requant = {shift_requantizer(4), shift_requantizer(4)};
  c.out = pt(0.1f, 0);
  const QTensor x = qt({4, 3, 3}, std::vector<int32_t>(36, 2));
  REQUIRE_NOTHROW(eval_node_int(q, conv, {&x}));
  auto expect_error = [&](const char* what) {
    CHECK_THROWS_AS(eval_node_int(q, conv, {&x}), std::invalid_argument);
    CHECK_THROWS_WITH(eval_node_int(q, conv, {&x}), Catch::Contains("'c3'") && Catch::Contains(what));
  };
  SECTION("weights") {
    c.weight.pop_back();
    expect_error("weight codes");
  }
  SECTION("weight range") {
    c.weight[5] = 128;
    expect_error("outside the 8-bit range");
  }
  SECTION("bias") {
    c.bias.push_back(1);
    expect_error("biases");
  }
  SECTION("requantizers") {
    c.requant.pop_back();
    expect_error("requantizers");
  }
  SECTION("requantizer shift") {
    c.requant[1].shift = 63;
    expect_error("invalid");
  }
  SECTION("output grid") {
    c.out = grid(3, 1, {1, 1, 1}, {0, 0, 0});
    expect_error("does not fit");
  }
  SECTION("grid vectors") {
    c.out.zero_point.push_back(0);
    expect_error("zero points");
  }
  SECTION("input codes") {
    const QTensor bad = qt({4, 3, 3}, std::vector<int32_t>(36, 300));
    CHECK_THROWS_WITH(eval_node_int(q, conv, {&bad}), Catch::Contains("'c3'") && Catch::Contains("code 300"));
  }
  SECTION("input shape") {
    const QTensor bad = qt({4, 3, 2}, std::vector<int32_t>(24, 0));
    CHECK_THROWS_WITH(eval_node_int(q, conv, {&bad}), Catch::Contains("'c3'") && Catch::Contains("4x3x3"));
  }
  SECTION("QNode count") {
    q.nodes.pop_back();
    CHECK_THROWS_AS(eval_node_int(q, conv, {&x}), std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------------------------------
// Property tests against the naive reference

TEST_CASE("Property: random convs equal the naive int64 reference", "[int]") {
  std::mt19937_64 rng(42);
  const Act acts[] = {Act::None, Act::ReLU, Act::HSwish, Act::GeluTanh, Act::ReLU6};
  for (int iter = 0; iter < 120; ++iter) {
    const int kind = iter % 4;  // full, depthwise, grouped, pointwise
    const int k = kind == 3 ? 1 : std::vector<int>{1, 3, 5}[static_cast<size_t>(rand_int(rng, 0, 2))];
    const int stride = rand_int(rng, 1, 2), pad = kind == 3 ? 0 : rand_int(rng, 0, k / 2 + 1);
    const int groups = kind == 1 ? 0 : (kind == 2 ? 2 : 1);
    const int64_t cin = kind == 2 ? 2 * rand_int(rng, 1, 3) : rand_int(rng, 1, 6);
    const int64_t cout = kind == 1 ? cin : (kind == 2 ? 2 * rand_int(rng, 1, 3) : rand_int(rng, 1, 7));
    const int64_t h = rand_int(rng, k, 9), w = rand_int(rng, k, 9);
    const int bits = std::vector<int>{4, 8, 12}[static_cast<size_t>(rand_int(rng, 0, 2))];
    const Act act = acts[rand_int(rng, 0, 4)];
    GraphBuilder b("t", 0, {cin, h, w});
    const int g = groups == 0 ? static_cast<int>(cin) : groups;
    const int conv = b.conv("conv", 0, cout, k, stride, g, true, Norm::None, act, pad);
    QGraph q = make_qgraph(b.finish());
    const Node& node = q.graph.nodes[static_cast<size_t>(conv)];
    q.nodes[0].out = random_grid(rng, {cin, h, w}, bits, rand_int(rng, 0, 2));
    QNode& c = q.nodes[static_cast<size_t>(conv)];
    c.weight_bits = bits;
    c.weight = random_codes(rng, static_cast<size_t>(cout * (cin / g) * k * k), bits);
    for (int64_t i = 0; i < cout; ++i) c.bias.push_back(rand_int(rng, -5000, 5000));
    c.out = random_grid(rng, node.out_shape, 8, rand_int(rng, 0, 2));
    random_stage(rng, node, c, cout, cin / g * k * k, bits);
    const QTensor x = qt({cin, h, w}, random_codes(rng, static_cast<size_t>(cin * h * w), bits));
    std::ostringstream ctx;
    ctx << "iter " << iter << ": conv " << cin << "x" << h << "x" << w << " -> " << shape_str(node.out_shape)
        << ", k " << k << ", stride " << stride << ", pad " << pad << ", groups " << g << ", " << bits
        << "-bit codes, act " << static_cast<int>(act);
    check_same(eval_node_int(q, conv, {&x}), ref_conv(node, c, x, q.nodes[0].out), ctx.str());
  }
}

TEST_CASE("Property: random linears (rank 1 and 2) equal the naive int64 reference", "[int]") {
  std::mt19937_64 rng(43);
  const Act acts[] = {Act::None, Act::ReLU, Act::HSwish, Act::GeluErf};
  for (int iter = 0; iter < 80; ++iter) {
    const bool rank1 = iter % 2 == 0;
    const int64_t t = rand_int(rng, 1, 5), in = rand_int(rng, 1, 20), outf = rand_int(rng, 1, 12);
    const int bits = std::vector<int>{4, 8, 12}[static_cast<size_t>(rand_int(rng, 0, 2))];
    const Act act = acts[rand_int(rng, 0, 3)];
    const Shape in_shape = rank1 ? Shape{in} : Shape{t, in};
    GraphBuilder b("t", 0, in_shape);
    const int fc = b.linear("fc", 0, outf, iter % 3 != 0, Norm::None, act);
    QGraph q = make_qgraph(b.finish());
    const Node& node = q.graph.nodes[static_cast<size_t>(fc)];
    q.nodes[0].out = random_grid(rng, in_shape, bits, rand_int(rng, 0, 2));
    QNode& c = q.nodes[static_cast<size_t>(fc)];
    c.weight_bits = bits;
    c.weight = random_codes(rng, static_cast<size_t>(outf * in), bits);
    if (node.has_bias)
      for (int64_t i = 0; i < outf; ++i) c.bias.push_back(rand_int(rng, -5000, 5000));
    c.out = random_grid(rng, node.out_shape, 8, rand_int(rng, 0, 2));
    random_stage(rng, node, c, outf, in, bits);
    const QTensor x = qt(in_shape, random_codes(rng, static_cast<size_t>(numel(in_shape)), bits));
    std::ostringstream ctx;
    ctx << "iter " << iter << ": linear " << shape_str(in_shape) << " -> " << shape_str(node.out_shape)
        << ", " << bits << "-bit codes, act " << static_cast<int>(act) << ", input grid "
        << q.nodes[0].out.groups0 << "x" << q.nodes[0].out.groups1;
    check_same(eval_node_int(q, fc, {&x}), ref_linear(node, c, x, q.nodes[0].out), ctx.str());
  }
}

TEST_CASE("Property: random matmuls (slices, transposes, raw or requantized) equal the naive reference",
          "[int]") {
  std::mt19937_64 rng(44);
  for (int iter = 0; iter < 100; ++iter) {
    const int64_t batches = rand_int(rng, 1, 3), m = rand_int(rng, 1, 6), kk = rand_int(rng, 1, 9),
                  n = rand_int(rng, 1, 7);
    const bool ta = rand_int(rng, 0, 1) == 1, tb = rand_int(rng, 0, 1) == 1, raw = rand_int(rng, 0, 1) == 1;
    // Operand a: [B, Ra, Na] holding m x k (or its transpose) at a random row offset; same for b.
    const int64_t a_off = rand_int(rng, 0, 2), b_off = rand_int(rng, 0, 2);
    const int64_t a_rows = ta ? kk : m, a_cols = ta ? m : kk, b_rows = tb ? n : kk, b_cols = tb ? kk : n;
    const Shape sa{batches, a_off + a_rows + rand_int(rng, 0, 2), a_cols},
        sb{batches, b_off + b_rows + rand_int(rng, 0, 1), b_cols};
    GraphBuilder b("t", 0, {1});
    // Two "producers" for the operands: any op's out_shape works for eval_node_int; use concats of the input.
    Graph g = b.finish();
    Node pa;
    pa.name = "a";
    pa.op = OpKind::Concat;
    pa.inputs = {0};
    pa.out_shape = sa;
    Node pb = pa;
    pb.name = "b";
    pb.out_shape = sb;
    Node mm;
    mm.name = "mm";
    mm.op = OpKind::MatMul;
    mm.inputs = {1, 2};
    mm.a = {a_off, a_rows, ta};
    mm.b = {b_off, b_rows, tb};
    mm.in_features = kk;
    mm.out_shape = {batches, m, n};
    g.nodes = {g.nodes[0], pa, pb, mm};
    QGraph q = make_qgraph(g);
    q.nodes[0].out = pt(1.0f, 0);
    const int abits = raw && rand_int(rng, 0, 1) ? 32 : 8;
    q.nodes[1].out = abits == 32 ? pt(1.0f, 0, 32) : random_grid(rng, sa, 8, rand_int(rng, 0, 2));
    q.nodes[2].out = random_grid(rng, sb, 8, rand_int(rng, 0, 2));
    QNode& qm = q.nodes[3];
    if (raw) {
      qm.out = pt(1.0f, 0, 32);
    } else {
      qm.out = random_grid(rng, mm.out_shape, 8, rand_int(rng, 0, 2));
      for (size_t i = 0; i < qm.out.scale.size(); ++i)
        qm.requant.push_back(requantizer_for(std::ldexp(1.0, -rand_int(rng, 4, 10)) * 1.3));
    }
    std::vector<int32_t> acodes = random_codes(rng, static_cast<size_t>(numel(sa)), abits == 32 ? 18 : 8);
    const QTensor xa = qt(sa, acodes), xb = qt(sb, random_codes(rng, static_cast<size_t>(numel(sb)), 8));
    std::ostringstream ctx;
    ctx << "iter " << iter << ": a " << shape_str(sa) << " rows [" << a_off << ", +" << a_rows << ")"
        << (ta ? "^T" : "") << ", b " << shape_str(sb) << " rows [" << b_off << ", +" << b_rows << ")"
        << (tb ? "^T" : "") << ", out " << shape_str(mm.out_shape) << (raw ? " raw" : " requantized")
        << ", a bits " << abits;
    check_same(eval_node_int(q, 3, {&xa, &xb}), ref_matmul(mm, qm, xa, q.nodes[1].out, xb, q.nodes[2].out),
               ctx.str());
  }
}

// ---------------------------------------------------------------------------------------------------
// Whole graphs: a synthetic quantization of a zoo model (deterministic, plausible ranges, not calibrated)

// Fills every QNode of `graph` (params materialized) with deterministic integers so that codes stay in
// range. Structure only matters here: timing and determinism, not accuracy.
QGraph synthetic_qgraph(Graph graph, uint64_t seed) {
  std::mt19937_64 rng(seed);
  QGraph q = make_qgraph(std::move(graph));
  const float s = 0.05f;
  for (size_t i = 0; i < q.graph.nodes.size(); ++i) {
    const Node& n = q.graph.nodes[i];
    QNode& qn = q.nodes[i];
    auto in_q = [&](size_t k) -> const ActQuant& { return q.nodes[static_cast<size_t>(n.inputs[k])].out; };
    qn.out = pt(s, 0);
    switch (n.op) {
      case OpKind::Input:
        qn.out = pt(0.03f, 0);
        break;
      case OpKind::Conv2d:
      case OpKind::Linear: {
        const int64_t fan_in =
            n.op == OpKind::Conv2d ? n.in_features / n.groups * n.kernel * n.kernel : n.in_features;
        const int64_t count = n.out_features * fan_in;
        qn.weight = random_codes(rng, static_cast<size_t>(count), 8);
        qn.weight_scale.assign(static_cast<size_t>(n.out_features), 0.01f);
        qn.bias.assign(static_cast<size_t>(n.out_features), 0);
        for (auto& bb : qn.bias) bb = rand_int(rng, -200, 200);
        // acc std ~ sqrt(fan_in) * 73 * 20: bring it to ~20 codes
        const double f = 20.0 / (std::sqrt(static_cast<double>(fan_in)) * 73.0 * 20.0);
        qn.requant.assign(static_cast<size_t>(n.out_features), requantizer_for(f));
        if (n.op == OpKind::Linear && n.norm == Norm::LayerNorm) {
          qn.float_layernorm = true;
          qn.in_scale = in_q(0).scale[0];
          qn.ln_gamma = n.params.at("ln.gamma").data;
          qn.ln_beta = n.params.at("ln.beta").data;
          qn.requant.clear();
        } else if (n.act == Act::HSwish) {
          qn.pre_act = pt(s, 0);
          qn.hswish_three = 60;
          qn.hswish_six = 120;
          qn.act_requant.assign(static_cast<size_t>(n.out_features), requantizer_for(s / 6.0));
        } else if (n.act == Act::GeluTanh || n.act == Act::GeluErf) {
          qn.pre_act = pt(s, 0);
          for (int32_t p = -128; p < 128; ++p) qn.act_lut.push_back(std::max(p, -10));
        }
        break;
      }
      case OpKind::Add:
        qn.requant = {Requantizer{1 << 30, 31}, Requantizer{1 << 30, 31}};  // (a + b) / 2
        break;
      case OpKind::Concat: {
        int64_t rows = 0;
        for (int in : n.inputs) rows += q.graph.nodes[static_cast<size_t>(in)].out_shape[0];
        qn.out = grid(rows, 1, std::vector<float>(static_cast<size_t>(rows), s),
                      std::vector<int32_t>(static_cast<size_t>(rows), 0));
        break;
      }
      case OpKind::AttnKernel: {
        const int64_t heads = n.out_shape[0], rows = n.out_shape[1];
        qn.out = grid(heads, rows, std::vector<float>(static_cast<size_t>(heads * rows), s),
                      std::vector<int32_t>(static_cast<size_t>(heads * rows), 0));
        for (int64_t h = 0; h < heads; ++h) qn.out.scale[static_cast<size_t>(h * rows + rows - 1)] = 1.0f;
        break;
      }
      case OpKind::MatMul:
        qn.out = pt(1.0f, 0, 32);
        break;
      case OpKind::AttnNormalize: {
        const int64_t heads = q.graph.nodes[static_cast<size_t>(n.inputs[0])].out_shape[0];
        qn.numerator = grid(heads, 1, std::vector<float>(static_cast<size_t>(heads), s),
                            std::vector<int32_t>(static_cast<size_t>(heads), 0));
        qn.num_requant.assign(static_cast<size_t>(heads), requantizer_for(1.0 / 16384));
        qn.div_requant.assign(static_cast<size_t>(heads), requantizer_for(1.0 / 1024));
        qn.out_requant.assign(static_cast<size_t>(heads), requantizer_for(64.0));
        break;
      }
      case OpKind::GlobalAvgPool: {
        const Shape& sh = q.graph.nodes[static_cast<size_t>(n.inputs[0])].out_shape;
        qn.requant = {requantizer_for(1.0 / static_cast<double>(sh[1] * sh[2]))};
        break;
      }
      default:
        break;
    }
  }
  return q;
}

TEST_CASE("Determinism: two runs give identical codes: run_int equals run_int_all", "[int]") {
  Graph g = build_model("efficientvit-b0", 64);
  materialize_synthetic_weights(g, 3);
  const Tensor img = synthetic_input(g, 3);
  const QGraph q = synthetic_qgraph(std::move(g), 5);
  const QTensor x = quantize_input(q, img);
  const std::vector<QTensor> first = run_int_all(q, x), second = run_int_all(q, x);
  REQUIRE(first.size() == q.graph.nodes.size());
  for (size_t i = 0; i < first.size(); ++i) {
    INFO("node " << i << " '" << q.graph.nodes[i].name << "'");
    CHECK(first[i].shape == q.graph.nodes[i].out_shape);
    CHECK(first[i].data == second[i].data);
  }
  const QTensor last = run_int(q, x);
  CHECK(last.shape == first.back().shape);
  CHECK(last.data == first.back().data);
  // Node by node through eval_node_int gives the same codes too.
  for (size_t i = 1; i < first.size(); ++i) {
    std::vector<const QTensor*> ins;
    for (int in : q.graph.nodes[i].inputs) ins.push_back(&first[static_cast<size_t>(in)]);
    INFO("node " << i << " '" << q.graph.nodes[i].name << "'");
    CHECK(eval_node_int(q, static_cast<int>(i), ins).data == first[i].data);
  }
  // The codes are not degenerate (the synthetic ranges keep activations alive).
  const auto [mn, mx] = std::minmax_element(last.data.begin(), last.data.end());
  CHECK(*mn < *mx);
}

}  // namespace

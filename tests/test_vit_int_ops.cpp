// Integer semantics of the standard-ViT ops (quant/qgraph.hpp): LayerNorm with PTF, Softmax (I-BERT exp,
// log2 and uniform codes), i-GELU, the PTF residual add, the log2 attention x V, and the token ops.
// Each op is pinned on a small case computed by hand in the comments, then compared with its FP32
// counterpart (fp32_executor.hpp) within a tolerance derived in the comment above the check; last, PTQ
// of a small DeiT-style graph end to end.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "qgraph_by_hand.hpp"
#include "quant/dataset.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/int_executor.hpp"
#include "quant/int_ops.hpp"
#include "quant/ptq.hpp"
#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim::quant;

using vitsim::test::make_qgraph;
using vitsim::test::pt;
using vitsim::test::qt;

// A PTF-style grid over the last axis of [T, D].
ActQuant row_grid(std::vector<float> scale, std::vector<int32_t> zp) {
  const auto n = static_cast<int64_t>(scale.size());
  return vitsim::test::grid(1, n, std::move(scale), std::move(zp));
}

std::vector<int32_t> eval(const QGraph& q, int node, std::vector<const QTensor*> ins) {
  return eval_node_int(q, node, ins).data;
}

using Codes = std::vector<int32_t>;

// ---------------------------------------------------------------------------------------------------
// Exact cases

TEST_CASE("Integer LayerNorm with PTF factors, eps, half-away rounding", "[vit-int]") {
  GraphBuilder b("t", 0, {2, 4});
  const int ln = b.layer_norm("ln", 0, 1e-6f);
  QGraph q = make_qgraph(b.finish());
  // Scales 0.5 * {1, 2, 1, 4}: alphas {0, 1, 0, 2}, one zero point 1.
  q.nodes[0].out = row_grid({0.5f, 1.0f, 0.5f, 2.0f}, {1, 1, 1, 1});
  QNode& n = q.nodes[static_cast<size_t>(ln)];
  n.out = pt(0.1f, -3);
  n.ln_shift = 2;
  n.ln_mult = {4, 8, -4, 2};  // gamma / s_y = {1, 2, -1, 0.5}, times 2^2
  n.bias = {2, 4, 2, -1};     // beta / s_y = {0.5, 1, 0.5, -0.25}, times 2^2
  // Row 0, q = {3, 0, 5, 2}: x = (q - 1) << alpha = {2, -2, 4, 4}; S1 = 8, S2 = 40; V = 4*40 - 64 = 96,
  // r = isqrt(96) = 9; d = 4x - S1 = {0, -16, 8, 8}; den = r * 4 = 36:
  //   (0*4 + 2*9)/36 = 0.5 -> 1;  (-128 + 36)/36 = -2.56 -> -3;  (-32 + 18)/36 = -0.39 -> 0;  (16 - 9)/36 ->
  //   0 y = -3 + {1, -3, 0, 0} = {-2, -6, -3, -3}
  // Row 1, q = {1, 1, 1, 1}: x = 0, V = 0, r = max(1, 0) = 1, d = 0: bias / 4 = {0.5, 1, 0.5, -0.25}
  //   -> {1, 1, 1, 0} (0.5 rounds away from zero): y = {-2, -2, -2, -3}
  const QTensor x = qt({2, 4}, {3, 0, 5, 2, 1, 1, 1, 1});
  CHECK(eval(q, ln, {&x}) == Codes{-2, -6, -3, -3, -2, -2, -2, -3});
  // ln_eps = 4: row 0 V = 100, r = 10, den 40: 20/40 -> 1; (-128 + 40)/40 = -2.2 -> -2; -12/40 -> 0; 6/40 ->
  // 0. Row 1: V = 4, r = 2, den 8: bias * 2 / 8, as before.
  n.ln_eps = 4;
  CHECK(eval(q, ln, {&x}) == Codes{-2, -5, -3, -3, -2, -2, -2, -3});
  // A scale that is not a power-of-two multiple of the smallest is no PTF quantizer.
  q.nodes[0].out.scale[3] = 1.5f;
  CHECK_THROWS_WITH(eval(q, ln, {&x}), Catch::Contains("'ln'") && Catch::Contains("PTF"));
}

TEST_CASE("Integer Softmax: I-BERT exp, uniform and log2 codes", "[vit-int]") {
  // The exp constants at 10 fractional bits: floor(ln2 * 1024) = 709, floor(1.353 * 1024) = 1385,
  // floor(0.344 / 0.3585 * 2^20) = 1006164.
  const int_ops::ExpConstants k = int_ops::exp_constants();
  CHECK(k.ln2 == 709);
  CHECK(k.b == 1385);
  CHECK(k.c == 1006164);

  GraphBuilder b("t", 0, {1, 2, 4});
  const int sm = b.softmax("sm", 0);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(1.0f / 1024, 0, 32);  // raw int32 scores, already at 2^-10
  QNode& n = q.nodes[static_cast<size_t>(sm)];
  n.requant = {shift_requantizer(0)};
  // Row 0, x = {0, -709, -100, -2000}, max 0:
  //   d = 0:     z = 0, p = 0:      1385^2 + 1006164 = 2924389
  //   d = -709:  z = 1, p = 0:      2924389 >> 1 = 1462194
  //   d = -100:  z = 0, p = -100:   1285^2 + 1006164 = 2657389
  //   d = -2000: z = 2, p = -582:   (803^2 + 1006164) >> 2 = 1650973 >> 2 = 412743;   S = 7456715
  // Row 1, x = {5, -19995, 5, 5}: d = {0, -20000, 0, 0}; z = 28 for -20000 gives E = 0; S = 3 * 2924389.
  const QTensor x = qt({1, 2, 4}, {0, -709, -100, -2000, 5, -19995, 5, 5});
  // Uniform 8 bits: round(E * 256 / S) = {100.40, 50.20, 91.23, 14.17} -> {100, 50, 91, 14}, minus 128;
  // row 1: 256 / 3 = 85.33 -> 85, and 0.
  n.out = pt(1.0f / 256, -128, 8);
  CHECK(eval(q, sm, {&x}) == Codes{-28, -78, -37, -114, -43, -128, -43, -43});
  // Log2 4 bits: round(S / E) = {2.55 -> 3, 5.10 -> 5, 2.81 -> 3, 18.07 -> 18}; exponent = leading one,
  // plus one if the next bit is set: 3 -> 2, 5 -> 2, 3 -> 2, 18 -> 4. Row 1: S / E = 3 -> 2; E = 0 -> 15.
  n.out = pt(1.0f, 0, 4);
  n.out.log2 = true;
  CHECK(eval(q, sm, {&x}) == Codes{2, 2, 2, 4, 2, 15, 2, 2});
  // The requantizer maps the input codes to the fixed-point scores: factor 1/2 halves every score.
  n.requant = {Requantizer{1, 1}};
  const QTensor doubled = qt({1, 2, 4}, {0, -1418, -200, -4000, 10, -39990, 10, 10});
  CHECK(eval(q, sm, {&doubled}) == Codes{2, 2, 2, 4, 2, 15, 2, 2});
  n.out.scale = {0.5f};
  CHECK_THROWS_WITH(eval(q, sm, {&x}), Catch::Contains("'sm'") && Catch::Contains("scale 1"));
}

TEST_CASE("i-GELU stage on a Linear (I-BERT's polynomial)", "[vit-int]") {
  // F = 0 (pre-activation scale 1): S_e = 1/sqrt(2); b = floor(-1.769 * sqrt(2)) = floor(-2.50) = -3;
  // c = floor(1 / (-0.2888 / 2)) = floor(-6.93) = -7; shift 0 (|2c| < 2^16).
  const int_ops::GeluConstants k = int_ops::gelu_constants(0);
  CHECK(k.b == -3);
  CHECK(k.c == -7);
  CHECK(k.shift == 0);
  GraphBuilder b("t", 0, {6, 1});
  const int fc = b.linear("fc", 0, 1, false, Norm::None, Act::GeluErf);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(1.0f, 0, 16);
  QNode& n = q.nodes[static_cast<size_t>(fc)];
  n.weight = {1};
  n.requant = {shift_requantizer(0)};
  n.pre_act = pt(1.0f, 0, 16);
  n.act_requant = {shift_requantizer(1)};  // p * h / 2
  n.out = pt(1.0f, 0, 8);
  // h(p) = -(sgn(p) * L(|p|) + c), L(u) = (min(u, 3) - 3)^2 - 7:
  //   p = 0: L = 2, h = 5;  1: L = -3, h = 10;  -1: -L = 3, h = 4;  3: L = -7, h = 14;  -3: -L = 7, h = 0;
  //   5: L = -7, h = 14.  p * h = {0, 10, -4, 42, 0, 70}, / 2 half up = {0, 5, -2, 21, 0, 35}
  const QTensor x = qt({6, 1}, {0, 1, -1, 3, -3, 5});
  CHECK(eval(q, fc, {&x}) == Codes{0, 5, -2, 21, 0, 35});
}

TEST_CASE("Residual add with PTF input and output quantizers", "[vit-int]") {
  GraphBuilder b("t", 0, {1, 3});
  const int other = b.linear("other", 0, 3, false, Norm::None, Act::None);
  const int add = b.add("add", 0, other);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = row_grid({0.1f, 0.2f, 0.8f}, {1, 1, 1});  // alphas {0, 1, 3}
  q.nodes[static_cast<size_t>(other)].out = pt(0.3f, -2);
  QNode& n = q.nodes[static_cast<size_t>(add)];
  n.out = row_grid({0.4f, 0.2f, 0.8f}, {0, 0, 0});  // alphas {1, 0, 2}
  n.requant = {Requantizer{3, 2}, Requantizer{5, 2}};
  // a = {3, 5, 2}, b = {0, 1, -2}:
  //   c0: 3 * ((3-1) << 0) + 5 * 2 = 16, >> (2 + 1) = 2
  //   c1: 3 * ((5-1) << 1) + 5 * 3 = 39, >> (2 + 0): 9.75 -> 10
  //   c2: 3 * ((2-1) << 3) + 5 * 0 = 24, >> (2 + 2): 1.5 -> 2 (half up)
  const QTensor a = qt({1, 3}, {3, 5, 2}), bb = qt({1, 3}, {0, 1, -2});
  CHECK(eval(q, add, {&a, &bb}) == Codes{2, 10, 2});
  n.out.zero_point = {0, 1, 0};  // a PTF quantizer has one zero point
  CHECK_THROWS_WITH(eval(q, add, {&a, &bb}), Catch::Contains("'add'") && Catch::Contains("PTF"));
}

TEST_CASE("Attention x V with log2 codes: weights 2^(14 - e), the top code is 0", "[vit-int]") {
  GraphBuilder b("t", 0, {1, 2, 3});
  const int sm = b.softmax("sm", 0);
  const int mm = b.matmul("av", sm, {}, 0, {0, 0, true}, 1.0f);  // [1,2,3] x [1,2,3]^T
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.5f, 0);
  q.nodes[static_cast<size_t>(sm)].out = pt(1.0f, 0, 4);
  q.nodes[static_cast<size_t>(sm)].out.log2 = true;
  QNode& n = q.nodes[static_cast<size_t>(mm)];
  n.out = pt(1.0f, 0, 32);
  // A = [[0, 1, 15], [2, 14, 3]] weighs [[2^14, 2^13, 0], [2^12, 1, 2^11]]; B = X^T, X = [[4, 16, 100],
  // [-8, 2, 100]]: row 0: 4*16384 + 16*8192 = 196608, -8*16384 + 2*8192 = -114688;
  // row 1: 4*4096 + 16 + 100*2048 = 221200, -8*4096 + 2 + 204800 = 172034
  const QTensor a = qt({1, 2, 3}, {0, 1, 15, 2, 14, 3}), x = qt({1, 2, 3}, {4, 16, 100, -8, 2, 100});
  CHECK(eval(q, mm, {&a, &x}) == Codes{196608, -114688, 221200, 172034});
  const QTensor bad = qt({1, 2, 3}, {0, 1, 16, 2, 14, 3});  // 16 does not fit 4-bit log2 codes
  CHECK_THROWS_WITH(eval(q, mm, {&bad, &x}), Catch::Contains("'av'") && Catch::Contains("16"));
}

TEST_CASE("Token ops: class token, position embedding, patch tokens, head split and merge, select",
          "[vit-int]") {
  GraphBuilder b("t", 0, {2, 1, 3});
  const int tok = b.patch_tokens("tok", 0);   // [3, 2]
  const int cls = b.class_token("cls", tok);  // [4, 2]
  const int pos = b.pos_embed("pos", cls);
  const int qkv = b.linear("qkv", pos, 6, false, Norm::None, Act::None);           // [4, 6]
  const int split = b.head_split("split", qkv, 2);                                 // [2, 3, 4]
  const int mm = b.matmul("mm", split, {0, 1, true}, split, {0, 1, false}, 1.0f);  // [2, 4, 4]
  const int merge = b.head_merge("merge", mm);                                     // [4, 8]
  const int sel = b.token_select("sel", merge, 1);
  QGraph q = make_qgraph(b.finish());
  q.nodes[0].out = pt(0.5f, 0);
  q.nodes[static_cast<size_t>(tok)].out = pt(0.5f, 0);
  // PatchTokens: out[t, d] = in[d, t].
  const QTensor img = qt({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(eval(q, tok, {&img}) == Codes{1, 4, 2, 5, 3, 6});
  q.nodes[static_cast<size_t>(tok)].out = pt(0.25f, 0);  // codes are moved, so the scale must be kept
  CHECK_THROWS_WITH(eval(q, tok, {&img}), Catch::Contains("'tok'") && Catch::Contains("source element"));
  q.nodes[static_cast<size_t>(tok)].out = pt(0.5f, 1);

  // ClassToken: row 0 = the token codes; then sat(zp_y + rq(x - zp_x)), rq = 1/2, zp_y = -1:
  //   x = {5, 2, -3, 0, 1, 1} - 1 = {4, 1, -4, -1, 0, 0} -> {2, 0.5 -> 1, -2, -0.5 -> 0, 0, 0} -> -1 + .
  QNode& c = q.nodes[static_cast<size_t>(cls)];
  c.out = pt(1.0f, -1);
  c.requant = {Requantizer{1, 1}};
  c.const_codes = {7, -7};
  const QTensor t3 = qt({3, 2}, {5, 2, -3, 0, 1, 1});
  CHECK(eval(q, cls, {&t3}) == Codes{7, -7, 1, 0, -3, -1, -1, -1});

  // PosEmbed (input: cls's codes, zp_x = -1): sat(zp_y + rq[c](x - zp_x + pos)), rq = {1/2, 3/4} per channel,
  // zp_y = 2: x + 1 + pos = {16, -3, 2, 11, 3, 4, 1, 2} -> channel 0 halves {16, 2, 3, 1} -> {8, 1, 1.5 -> 2,
  // 0.5 -> 1}; channel 1 takes 3/4 of {-3, 11, 4, 2} -> {-2.25 -> -2, 8.25 -> 8, 3, 1.5 -> 2}; plus 2
  QNode& p = q.nodes[static_cast<size_t>(pos)];
  p.out = row_grid({2.0f, 1.0f}, {2, 2});
  p.requant = {Requantizer{1, 1}, Requantizer{3, 2}};
  p.const_codes = {10, -3, 0, 7, 0, 0, -1, -2};
  const QTensor t4 = qt({4, 2}, {5, -1, 1, 3, 2, 3, 1, 3});
  CHECK(eval(q, pos, {&t4}) == Codes{10, 0, 3, 10, 4, 5, 3, 4});

  // HeadSplit [4, 6] -> [2, 3, 4]: out[head, s, t] = in[t, 2s + head]; the q|k|v column grid becomes rows.
  q.nodes[static_cast<size_t>(qkv)].out = row_grid({1, 1, 2, 2, 4, 4}, {0, 0, 0, 0, 0, 0});
  QNode& s = q.nodes[static_cast<size_t>(split)];
  s.out.groups0 = 2;
  s.out.groups1 = 3;
  s.out.scale = {1, 2, 4, 1, 2, 4};
  s.out.zero_point.assign(6, 0);
  Codes in6;
  for (int t = 0; t < 4; ++t)
    for (int col = 0; col < 6; ++col) in6.push_back(10 * t + col);
  const QTensor t6 = qt({4, 6}, in6);
  CHECK(eval(q, split, {&t6}) ==
        Codes{0, 10, 20, 30, 2, 12, 22, 32, 4, 14, 24, 34, 1, 11, 21, 31, 3, 13, 23, 33, 5, 15, 25, 35});
  s.out.scale = {1, 4, 2, 1, 2, 4};
  CHECK_THROWS_WITH(eval(q, split, {&t6}), Catch::Contains("'split'") && Catch::Contains("source element"));

  // HeadMerge [2, 4, 4] -> [4, 8]: out[t, 4 head + e] = in[head, t, e]; TokenSelect: row 1.
  q.nodes[static_cast<size_t>(mm)].out = pt(1.0f, 0);
  q.nodes[static_cast<size_t>(merge)].out = pt(1.0f, 0);
  q.nodes[static_cast<size_t>(sel)].out = pt(1.0f, 0);
  Codes in32;
  for (int i = 0; i < 32; ++i) in32.push_back(i);
  const QTensor t32 = qt({2, 4, 4}, in32);
  const Codes merged = eval(q, merge, {&t32});
  CHECK(merged == Codes{0, 1, 2,  3,  16, 17, 18, 19, 4,  5,  6,  7,  20, 21, 22, 23,
                        8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31});
  const QTensor m = qt({4, 8}, merged);
  CHECK(eval(q, sel, {&m}) == Codes{4, 5, 6, 7, 20, 21, 22, 23});
}

// ---------------------------------------------------------------------------------------------------
// Against FP32

// Dequantized integer output vs the FP32 op on the dequantized integer input: only the integer op's own
// error is measured.
Tensor fp32_of(const Node& node, const std::vector<Tensor>& ins) {
  std::vector<const Tensor*> p;
  for (const Tensor& t : ins) p.push_back(&t);
  return eval_node_fp32(node, p);
}

TEST_CASE("Integer LayerNorm tracks FP32 within one output step", "[vit-int]") {
  // 16 rows of 64 channels whose ranges differ by up to 8x (what PTF is for); PTF alphas by channel.
  const int64_t rows = 16, d = 64;
  GraphBuilder b("t", 0, {rows, d});
  const int ln = b.layer_norm("ln", 0, 1e-6f);
  Graph g = b.finish();
  materialize_synthetic_weights(g, 5);
  QGraph q = make_qgraph(g);
  const float s = 0.01f;
  std::vector<float> scale;
  for (int64_t c = 0; c < d; ++c) scale.push_back(std::ldexp(s, static_cast<int>(c % 4)));
  q.nodes[0].out = row_grid(scale, std::vector<int32_t>(static_cast<size_t>(d), 3));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> code(-128, 127);
  QTensor x{{rows, d}, {}};
  for (int64_t i = 0; i < rows * d; ++i) x.data.push_back(code(rng));
  // The PTQ's formulas (qgraph.hpp): output range [-4, 4] at 8 bits, shift 20.
  QNode& n = q.nodes[static_cast<size_t>(ln)];
  n.out = pt(8.0f / 255, 0);
  n.ln_shift = 20;
  const Node& node = q.graph.nodes[static_cast<size_t>(ln)];
  for (int64_t c = 0; c < d; ++c) {
    n.ln_mult.push_back(static_cast<int32_t>(
        std::lround(node.params.at("ln.gamma").data[static_cast<size_t>(c)] / n.out.scale[0] * (1 << 20))));
    n.bias.push_back(static_cast<int32_t>(
        std::lround(node.params.at("ln.beta").data[static_cast<size_t>(c)] / n.out.scale[0] * (1 << 20))));
  }
  n.ln_eps = static_cast<int32_t>(std::lround(1e-6 * d * d / (s * s)));
  const Tensor got = dequantize(eval_node_int(q, ln, {&x}), n.out);
  const Tensor want = fp32_of(node, {dequantize(x, q.nodes[0].out)});
  // Error sources: the final rounding (half a step), isqrt's floor (relative 1/r, r = D * std / s >= 64 *
  // 0.7 / 0.01 here, so < 0.03 of a step for outputs below 128 steps), multiplier rounding (2^-20
  // relative). One output step bounds them; saturation is excluded by the [-4, 4] range.
  double worst = 0;
  for (size_t i = 0; i < got.data.size(); ++i)
    if (std::abs(want.data[i]) < 4.0f) worst = std::max(worst, std::abs(double{got.data[i]} - want.data[i]));
  INFO("worst error " << worst << ", step " << n.out.scale[0]);
  CHECK(worst <= n.out.scale[0]);
}

TEST_CASE("Integer Softmax tracks FP32: uniform within 1.2% + half a step, log2 within its rounding",
          "[vit-int]") {
  const int64_t heads = 2, rows = 8, n = 50;
  GraphBuilder b("t", 0, {heads, rows, n});
  const int sm = b.softmax("sm", 0);
  QGraph q = make_qgraph(b.finish());
  const float s_in = 0.0007f;  // raw int32 scores; |score| <= 6
  q.nodes[0].out = pt(s_in, 0, 32);
  QNode& node = q.nodes[static_cast<size_t>(sm)];
  node.requant = {requantizer_for(s_in * 1024.0)};
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> score(-8500, 8500);
  QTensor x{{heads, rows, n}, {}};
  for (int64_t i = 0; i < heads * rows * n; ++i) x.data.push_back(score(rng));
  const Tensor want = fp32_of(q.graph.nodes[1], {dequantize(x, q.nodes[0].out)});

  // Uniform 8-bit: each exp has relative error <= 0.31% (the polynomial on (-ln2, 0], max over a fine grid
  // in FP64) and <= 0.05% from the 2^-10 score grid; the floor of >> z loses < 2^z / 1.46e6 (L >= c + (b -
  // ln2)^2): < 0.07% for z <= 10, and for larger z the exp is below 2^-10 of the row's largest, so that error
  // is far below the half-step term. A ratio of two exps is then within 2 * 0.43% < 1.2%; plus half an output
  // step (2^-9).
  node.out = pt(1.0f / 256, -128, 8);
  const Tensor uni = dequantize(eval_node_int(q, sm, {&x}), node.out);
  double worst = 0;
  for (size_t i = 0; i < uni.data.size(); ++i)
    worst = std::max(worst, std::abs(double{uni.data[i]} - want.data[i]) - 0.012 * want.data[i] - 1.0 / 512);
  CHECK(worst <= 0.0);

  // Log2 4-bit: round(S/E) then the leading one rounded up at 1.5 * 2^i puts 2^-e within [0.625, 1.5) of
  // the exact S/E's reciprocal (worst at S/E = 2.5: 3 -> 2^-2); times the exps' 1.2%. Below 2^-14 the code
  // may be the top one (0).
  node.out = pt(1.0f, 0, 4);
  node.out.log2 = true;
  const Tensor lg = dequantize(eval_node_int(q, sm, {&x}), node.out);
  int checked = 0;
  for (size_t i = 0; i < lg.data.size(); ++i) {
    const double p = want.data[i], got = lg.data[i];
    if (got == 0.0) {
      CHECK(p < std::ldexp(1.5 * 1.012, -14));
    } else {
      ++checked;
      CHECK(got / p >= 0.625 * 0.988);
      CHECK(got / p < 1.5 * 1.012);
    }
  }
  CHECK(checked > 100);
}

TEST_CASE("i-GELU tracks FP32 GELU within the polynomial's error", "[vit-int]") {
  const int frac = 11;  // pre-activation range +-16
  std::vector<int32_t> acc;
  for (int32_t v = -16000; v <= 16000; v += 37) acc.push_back(v);
  GraphBuilder b("t", 0, {static_cast<int64_t>(acc.size()), 1});
  const int fc = b.linear("fc", 0, 1, false, Norm::None, Act::GeluErf);
  QGraph q = make_qgraph(b.finish());
  const double s_acc = 1.0 / 1000;  // accumulators are x * 1000
  q.nodes[0].out = pt(static_cast<float>(s_acc), 0, 16);
  QNode& n = q.nodes[static_cast<size_t>(fc)];
  n.weight = {1};
  n.weight_bits = 2;
  n.out = pt(16.5f / 127, -1, 8);
  n.pre_act = pt(std::ldexp(1.0f, -frac), 0, 16);
  n.requant = {requantizer_for(std::ldexp(s_acc, frac))};
  n.act_requant = {requantizer_for(int_ops::gelu_product_scale(frac) / n.out.scale[0])};
  const QTensor x{{static_cast<int64_t>(acc.size()), 1}, acc};
  const Tensor got = dequantize(eval_node_int(q, fc, {&x}), n.out);
  // I-BERT's erf polynomial is within 0.01816 of GELU (max over [-8, 8] in FP64 by its formula); the
  // pre-activation grid 2^-11 moves GELU by at most 1.13 * 2^-12 (its slope); the output rounds by half a
  // step.
  const double tolerance = 0.01816 + 1.13 * std::ldexp(1.0, -frac - 1) + 0.5 * n.out.scale[0];
  double worst = 0;
  for (size_t i = 0; i < acc.size(); ++i) {
    const double v = acc[i] * s_acc;
    worst = std::max(worst, std::abs(got.data[i] - 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))));
  }
  INFO("worst " << worst << " tolerance " << tolerance);
  CHECK(worst <= tolerance);
}

// ---------------------------------------------------------------------------------------------------
// PTQ of a small DeiT-style graph (the zoo's build_vit, scaled down)

Graph tiny_vit() {
  const int64_t dim = 32, heads = 2, dh = dim / heads;
  GraphBuilder b("tiny-vit", 32, {3, 32, 32});
  int x = b.conv("patch_embed.proj", 0, dim, 8, 8, 1, true, Norm::None, Act::None, 0);
  x = b.patch_tokens("patch_embed.tokens", x);
  x = b.class_token("cls_token", x);
  x = b.pos_embed("pos_embed", x);
  for (int i = 0; i < 2; ++i) {
    const std::string p = "blocks." + std::to_string(i);
    int y = b.layer_norm(p + ".norm1", x, 1e-6f);
    y = b.linear(p + ".attn.qkv", y, 3 * dim, true, Norm::None, Act::None);
    const int h = b.head_split(p + ".attn.split", y, heads);
    int attn = b.matmul(p + ".attn.matmul_qk", h, {0, dh, true}, h, {dh, dh, false}, 0.25f);
    attn = b.softmax(p + ".attn.softmax", attn);
    y = b.matmul(p + ".attn.matmul_av", attn, {0, 0, false}, h, {2 * dh, dh, true}, 1.0f);
    y = b.head_merge(p + ".attn.merge", y);
    y = b.linear(p + ".attn.proj", y, dim, true, Norm::None, Act::None);
    x = b.add(p + " (+attn)", y, x);
    y = b.layer_norm(p + ".norm2", x, 1e-6f);
    y = b.linear(p + ".mlp.fc1", y, 4 * dim, true, Norm::None, Act::GeluErf);
    y = b.linear(p + ".mlp.fc2", y, dim, true, Norm::None, Act::None);
    x = b.add(p + " (+mlp)", y, x);
  }
  x = b.layer_norm("norm", x, 1e-6f);
  x = b.token_select("cls_select", x, 0);
  b.linear("head", x, 10, true, Norm::None, Act::None);
  Graph g = b.finish();
  materialize_synthetic_weights(g, 4);
  return g;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string kRecipeDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs/quant";

TEST_CASE("PTQ of a DeiT-style graph: vit-w8a8 runs on integers, round-trips the file, tracks FP32",
          "[vit-int][ptq]") {
  const Graph g = tiny_vit();
  const auto calib = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  const auto eval_images = synthetic_images(4, g.nodes[0].out_shape, 12).images;
  const Recipe vit = find_recipe("vit-w8a8", kRecipeDir);
  const QGraph q = quantize_graph(g, vit, calib);
  // The recipe's choices are in the program: log2 softmax codes, PTF on the LayerNorm inputs, i-GELU.
  const auto node = [&](const std::string& name) -> const QNode& {
    return q.nodes[static_cast<size_t>(q.graph.find(name))];
  };
  CHECK(node("blocks.0.attn.softmax").out.log2);
  CHECK(node("blocks.0.attn.softmax").out.bits == 4);
  CHECK(ptf_alphas(node("blocks.0 (+attn)").out).size() == 32);
  CHECK(node("blocks.0.mlp.fc1").act_lut.empty());
  CHECK(node("blocks.0.mlp.fc1").act_requant.size() == 128);

  // Synthetic weights give near-uniform attention (p ~ 1/17), where 4-bit log2 and 8-bit uniform codes are
  // both coarse (docs/quant-quality.md): the precise checks are the per-op ones above and below; here the
  // logits only have to keep more signal than noise (SQNR > 3 dB, noise power below half the signal's).
  const QualityReport r = evaluate_quality(q, eval_images, {});
  INFO("vit-w8a8 logits SQNR " << r.output_sqnr_db << " dB");
  CHECK(r.output_sqnr_db > 3.0);
  const QGraph naive = quantize_graph(g, find_recipe("naive-w8a8", kRecipeDir), calib);
  CHECK_FALSE(naive.nodes[static_cast<size_t>(naive.graph.find("blocks.0.attn.softmax"))].out.log2);
  CHECK(evaluate_quality(naive, eval_images, {}).output_sqnr_db > 3.0);

  vitsim::test::TempDir dir("vit_int", "roundtrip");
  save_qgraph(q, dir.file("v.vqg"));
  const QGraph loaded = load_qgraph(dir.file("v.vqg"));
  const Tensor img = eval_images[0];
  CHECK(run_int(loaded, quantize_input(loaded, img)).data == run_int(q, quantize_input(q, img)).data);
  // Deterministic: a second quantization gives the same file.
  save_qgraph(quantize_graph(g, vit, calib), dir.file("w.vqg"));
  CHECK(slurp(dir.file("v.vqg")) == slurp(dir.file("w.vqg")));
}

TEST_CASE("Every ViT op of a quantized graph tracks FP32 on the same inputs, within its tolerance",
          "[vit-int][ptq]") {
  const Graph g = tiny_vit();
  const auto calib = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  for (const char* recipe : {"vit-w8a8", "naive-w8a8", "p2vit-w8a8", "p2vit-w4a8"}) {
    INFO(recipe);
    const QGraph q = quantize_graph(g, find_recipe(recipe, kRecipeDir), calib);
    const Tensor img = synthetic_images(1, g.nodes[0].out_shape, 13).images[0];
    const std::vector<QTensor> codes = run_int_all(q, quantize_input(q, img));
    int checked = 0;
    for (size_t i = 1; i < q.graph.nodes.size(); ++i) {
      const Node& node = q.graph.nodes[i];
      const QNode& qn = q.nodes[i];
      std::vector<Tensor> ins;
      for (int in : node.inputs)
        ins.push_back(dequantize(codes[static_cast<size_t>(in)], q.nodes[static_cast<size_t>(in)].out));
      const Tensor want = fp32_of(node, ins);
      const Tensor got = dequantize(codes[i], qn.out);
      const int_ops::GridAxes axes = int_ops::grid_axes(node.out_shape);
      const auto step = [&](size_t k) {
        return double{qn.out.scale[int_ops::group_of(qn.out, axes, static_cast<int64_t>(k))]};
      };
      const auto in_range = [&](size_t k) {  // FP32 values the output codes can hold (no saturation)
        const size_t gidx = int_ops::group_of(qn.out, axes, static_cast<int64_t>(k));
        const double lo =
            qn.out.scale[gidx] * double(int_ops::code_min(qn.out.bits) - qn.out.zero_point[gidx]);
        const double hi =
            qn.out.scale[gidx] * double(int_ops::code_max(qn.out.bits) - qn.out.zero_point[gidx]);
        return want.data[k] >= lo && want.data[k] <= hi;
      };
      // A Linear's error from its quantized weights and rounded bias at output element k ([rows, features]
      // layout): sum_j |x_j| |w_j - w_hat_j| (half a step per weight when none is clipped, as with
      // calibrated scales; a power-of-two scale below max|w| / qmax clips), plus half the bias's step.
      const auto weight_error = [&](size_t k) {
        const int64_t features = node.out_features, in = node.in_features;
        const int64_t row = static_cast<int64_t>(k) / features, c = static_cast<int64_t>(k) % features;
        const double w_step = qn.weight_scale[static_cast<size_t>(c)];
        const auto& w = node.params.at("weight").data;
        double bound = 0;
        for (int64_t j = 0; j < in; ++j) {
          const size_t wk = static_cast<size_t>(c * in + j);
          bound += std::abs(ins[0].data[static_cast<size_t>(row * in + j)]) *
                   std::abs(w[wk] - w_step * qn.weight[wk]);
        }
        return bound + 0.5 * w_step * q.nodes[static_cast<size_t>(node.inputs[0])].out.scale[0] +
               1e-5 * std::abs(want.data[k]);
      };
      // LayerNorm divides by r = floor(sqrt(V)) instead of sqrt(V) (docs/quantization.md), V = D S2 - S1^2 +
      // eps_i over the row's input codes in units of the base scale s: the output (y - beta) is off by at
      // most |y - beta| / r. Large for rows of small variance at a coarse input scale (the class token).
      const auto layer_norm_floor_error = [&](size_t k) {
        const int64_t d = node.out_shape.back(), row = static_cast<int64_t>(k) / d;
        const ActQuant& in_q = q.nodes[static_cast<size_t>(node.inputs[0])].out;
        const double s = *std::min_element(in_q.scale.begin(), in_q.scale.end());
        double s1 = 0, s2 = 0;
        for (int64_t c = 0; c < d; ++c) {
          const double x = std::nearbyint(ins[0].data[static_cast<size_t>(row * d + c)] / s);
          s1 += x;
          s2 += x * x;
        }
        const double r = std::max(1.0, std::floor(std::sqrt(double(d) * s2 - s1 * s1 + qn.ln_eps)));
        const double beta = node.params.at("ln.beta").data[static_cast<size_t>(static_cast<int64_t>(k) % d)];
        return std::abs(want.data[k] - beta) / r;
      };
      for (size_t k = 0; k < got.data.size(); ++k) {
        const double w = want.data[k], d = std::abs(got.data[k] - w);
        double tolerance = -1;  // < 0: not checked here
        switch (node.op) {
          case OpKind::PatchTokens:
          case OpKind::HeadSplit:
          case OpKind::HeadMerge:
          case OpKind::TokenSelect:
            tolerance = 0;  // codes moved with their quantizers: the same real values
            break;
          case OpKind::ClassToken:  // one rounding of the token or of the requantized patch
          case OpKind::Add:         // one rounding after exact integer sums (factors within 2^-30)
          case OpKind::MatMul:      // raw: exact sums in FP32 rounding; requantized: one rounding
            tolerance =
                qn.out.bits == 32 ? 1e-5 * std::max(1.0, std::abs(w)) : 0.5 * step(k) + 1e-5 * std::abs(w);
            break;
          case OpKind::LayerNorm:  // half a step, plus |y - beta| / r from the square root's floor
            tolerance = 0.5 * step(k) + layer_norm_floor_error(k) + 1e-5 * std::abs(w);
            break;
          case OpKind::PosEmbed:  // the embedding on the input's grid (half an input step), then one rounding
            tolerance =
                0.5 * q.nodes[static_cast<size_t>(node.inputs[0])].out.scale[0] + 0.5 * step(k) + 1e-6;
            break;
          case OpKind::Linear:  // one output rounding after exact sums, plus the weights' and the bias's
                                // errors, summed over the input row
            if (node.act == Act::None && !qn.float_layernorm) tolerance = 0.5 * step(k) + weight_error(k);
            break;
          case OpKind::Softmax:  // the exps' 1.2% and the output rounding; log2: 2^-e within [0.617, 1.518]
                                 // of p
            tolerance = !qn.out.log2 ? 0.012 * w + std::ldexp(0.5, -qn.out.bits)
                                     : (got.data[k] == 0.0f ? std::ldexp(1.52, -14) : 0.52 * w);
            break;
          default:
            break;
        }
        if (tolerance < 0 || !(node.op == OpKind::Softmax || in_range(k))) continue;
        ++checked;
        if (d > tolerance) {
          FAIL_CHECK(node.name << " element " << k << ": integer " << got.data[k] << ", FP32 " << w
                               << ", tolerance " << tolerance);
          break;
        }
      }
    }
    CHECK(checked > 10000);
  }
}

}  // namespace

namespace {

TEST_CASE("PoT smoothing: power-of-two factors folded into LayerNorm and the next Linear, FP32 unchanged",
          "[vit-int][ptq][p2vit]") {
  const Graph g = tiny_vit();
  const auto calib = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  Recipe recipe = find_recipe("p2vit-w8a8", kRecipeDir);
  recipe.smoothing.enabled = true;
  const QGraph q = quantize_graph(g, recipe, calib);
  // Powers of two scale FP32 values exactly: the smoothed graph computes the same logits, bit for bit.
  for (const Tensor& img : synthetic_images(2, g.nodes[0].out_shape, 12).images)
    CHECK(run_fp32(q.graph, img).data == run_fp32(g, img).data);
  const auto params = [](const Graph& graph, const std::string& name) -> const auto& {
    return graph.nodes[static_cast<size_t>(graph.find(name))].params;
  };
  int moved = 0;
  for (const auto& [norm, linear] :
       {std::pair{"blocks.0.norm1", "blocks.0.attn.qkv"}, std::pair{"blocks.1.norm2", "blocks.1.mlp.fc1"}}) {
    const auto& gamma0 = params(g, norm).at("ln.gamma").data;
    const auto& gamma1 = params(q.graph, norm).at("ln.gamma").data;
    const auto& beta0 = params(g, norm).at("ln.beta").data;
    const auto& beta1 = params(q.graph, norm).at("ln.beta").data;
    const auto& w0 = params(g, linear).at("weight").data;
    const auto& w1 = params(q.graph, linear).at("weight").data;
    const size_t width = gamma0.size();
    for (size_t j = 0; j < width; ++j) {
      const float f = gamma0[j] / gamma1[j];  // s_j: X_j / s_j
      int e = 0;
      INFO(norm << " channel " << j << ": factor " << f);
      REQUIRE(std::frexp(f, &e) == 0.5f);
      CHECK(beta1[j] * f == beta0[j]);
      for (size_t o = 0; o < w0.size() / width; ++o) CHECK(w1[o * width + j] == w0[o * width + j] * f);
      moved += f != 1.0f;
    }
  }
  CHECK(moved > 0);
  // The final LayerNorm feeds the class-token select, not a Linear: untouched.
  CHECK(params(q.graph, "norm").at("ln.gamma").data == params(g, "norm").at("ln.gamma").data);
}

}  // namespace

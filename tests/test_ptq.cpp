// PTQ end to end on small zoo models: BatchNorm folding, the Trio-ViT passes' structure, determinism,
// quality bounds, and errors for data and graphs that cannot be quantized.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "quant/dataset.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/int_executor.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"

using namespace vitsim::quant;

namespace {
const std::string kRecipeDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs/quant";

Graph small_model(const std::string& name = "efficientvit-b0", int res = 64) {
  Graph g = build_model(name, res);
  materialize_synthetic_weights(g, 3);
  return g;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double worst = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    worst = std::max(
        worst, std::abs(a.data[i] - b.data[i]) / std::max(1.0, static_cast<double>(std::abs(b.data[i]))));
  return worst;
}
}  // namespace

TEST_CASE("fold_batchnorm keeps the FP32 function and removes every BatchNorm", "[ptq]") {
  const Graph g = small_model();
  const Graph folded = fold_batchnorm(g);
  for (const Node& n : folded.nodes) CHECK(n.norm != Norm::BatchNorm);
  const Tensor x = synthetic_input(g, 5);
  CHECK(max_rel_diff(run_fp32(folded, x), run_fp32(g, x)) < 1e-4);
}

TEST_CASE("trio-w8a8 applies migration, filter shifting and per-branch attention quantizers", "[ptq]") {
  const Graph g = small_model();
  const auto calib = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  const QGraph q = quantize_graph(g, find_recipe("trio-w8a8", kRecipeDir), calib);
  REQUIRE(q.nodes.size() == g.nodes.size());
  // Channel-wise migration: the expand conv feeding an MBConv depthwise conv has per-channel scales.
  const QNode& expand = q.nodes[static_cast<size_t>(q.graph.find("S1/b0.main.expand"))];
  CHECK(expand.out.groups0 == 32);
  CHECK(std::adjacent_find(expand.out.scale.begin(), expand.out.scale.end(), std::not_equal_to<>()) !=
        expand.out.scale.end());
  // Filter-wise shifting: the depthwise output has one scale and per-channel zero points (the shifts).
  const QNode& dw = q.nodes[static_cast<size_t>(q.graph.find("S1/b0.main.dw"))];
  CHECK(dw.out.groups0 == 32);
  CHECK(std::adjacent_find(dw.out.scale.begin(), dw.out.scale.end(), std::not_equal_to<>()) ==
        dw.out.scale.end());
  // Per-branch quantizers: the concat holds two different scales, the qkv and the aggregated branch.
  const QNode& cat = q.nodes[static_cast<size_t>(q.graph.find("S3/b1.mla.cat+reshape"))];
  CHECK(cat.out.scale.front() != cat.out.scale.back());
  const QNode& norm = q.nodes[static_cast<size_t>(q.graph.find("S3/b1.mla.normalize"))];
  CHECK(norm.divisor_mode == DivisorMode::Log2);
}

TEST_CASE("naive-w8a8 uses one quantizer per attention tensor and a uniform divisor", "[ptq]") {
  const Graph g = small_model();
  const auto calib = synthetic_images(2, g.nodes[0].out_shape, 11).images;
  const QGraph q = quantize_graph(g, find_recipe("naive-w8a8", kRecipeDir), calib);
  const QNode& cat = q.nodes[static_cast<size_t>(q.graph.find("S3/b1.mla.cat+reshape"))];
  CHECK(cat.out.scale.front() == cat.out.scale.back());
  CHECK(q.nodes[static_cast<size_t>(q.graph.find("S3/b1.mla.normalize"))].divisor_mode ==
        DivisorMode::Uniform);
  CHECK(q.nodes[static_cast<size_t>(q.graph.find("S1/b0.main.expand"))].out.per_tensor());
}

TEST_CASE("Quantization is deterministic and the integer model tracks FP32", "[ptq]") {
  const Graph g = small_model();
  const auto calib = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  const Recipe recipe = find_recipe("trio-w8a8", kRecipeDir);
  const QGraph a = quantize_graph(g, recipe, calib);
  const QGraph b = quantize_graph(g, recipe, calib);
  const Tensor x = synthetic_input(g, 9);
  CHECK(run_int(a, quantize_input(a, x)).data == run_int(b, quantize_input(b, x)).data);
  const QualityReport r = evaluate_quality(a, synthetic_images(3, g.nodes[0].out_shape, 21).images, {});
  INFO("output SQNR " << r.output_sqnr_db << " dB, cosine " << r.output_cosine);
  // 8-bit weights and activations on a 64x64 B0: the logits keep most of the signal.
  CHECK(r.output_sqnr_db > 10.0);
  CHECK(r.layers.size() == g.nodes.size() - 1);
  CHECK(r.layers.front().sqnr_db > 25.0);  // the stem conv: one quantization step from the input
}

TEST_CASE("PTQ rejects bad calibration data", "[ptq]") {
  const Graph g = small_model();
  const Recipe recipe = find_recipe("trio-w8a8", kRecipeDir);
  CHECK_THROWS_WITH(quantize_graph(g, recipe, {}), Catch::Contains("calibration data is empty"));
  CHECK_THROWS_WITH(quantize_graph(g, recipe, {Tensor({3, 32, 32})}),
                    Catch::Contains("calibration image 0 has shape 3x32x32") && Catch::Contains("3x64x64"));
}

namespace {
bool is_power_of_two(float s) {
  int e = 0;
  return s > 0 && std::frexp(s, &e) == 0.5f;
}
}  // namespace

TEST_CASE("P2-ViT recipes: on DeiT-Tiny every scale is a power of two and every requantizer a shift",
          "[ptq][p2vit]") {
  Graph g = build_model("deit-tiny", 224);
  materialize_synthetic_weights(g, 3);
  const auto calib = synthetic_images(2, g.nodes[0].out_shape, 11).images;
  for (const char* name : {"p2vit-w8a8", "p2vit-w4a8", "vit-w8a8"}) {
    const Recipe recipe = find_recipe(name, kRecipeDir);
    const bool pot = recipe.scales == ScaleKind::PowerOfTwo;
    const QGraph q = quantize_graph(g, recipe, calib);
    int requantizers = 0, shifts = 0, scales = 0, pot_scales = 0;
    std::string first_multiplier, first_scale;  // the first offender of each kind, for the message
    for (size_t i = 0; i < q.nodes.size(); ++i) {
      const QNode& n = q.nodes[i];
      const std::string& node = q.graph.nodes[i].name;
      // The pure-shift form: multiplier 1 (a right shift), or 2^m with no shift (a left shift); the two
      // inputs of a residual add share one shift, so there the smaller multiplier is 1 or the shift 0.
      const bool add = q.graph.nodes[i].op == OpKind::Add;
      int32_t smallest = 0;
      for (const Requantizer& r : n.requant)
        smallest = smallest ? std::min(smallest, r.multiplier) : r.multiplier;
      for (const auto* list : {&n.requant, &n.act_requant, &n.num_requant, &n.div_requant, &n.out_requant})
        for (const Requantizer& r : *list) {
          ++requantizers;
          const bool shift =
              is_pure_shift(r) && (r.multiplier == 1 || r.shift == 0 || (add && smallest == 1));
          shifts += shift;
          if (!shift && first_multiplier.empty())
            first_multiplier =
                node + ": multiplier " + std::to_string(r.multiplier) + ", shift " + std::to_string(r.shift);
        }
      for (const auto* list : {&n.out.scale, &n.pre_act.scale, &n.weight_scale})
        for (float s : *list) {
          ++scales;
          pot_scales += is_power_of_two(s);
          if (!is_power_of_two(s) && first_scale.empty()) first_scale = node + ": scale " + std::to_string(s);
        }
    }
    INFO(name << ": " << shifts << " of " << requantizers << " requantizers are shifts, " << pot_scales
              << " of " << scales << " scales powers of two");
    CHECK(requantizers > 1000);  // 12 blocks: per-channel qkv, proj, fc1, fc2 requantizers and more
    if (pot) {
      INFO("first requantizer that is not a shift: " << first_multiplier);
      CHECK(shifts == requantizers);
      INFO("first scale that is not a power of two: " << first_scale);
      CHECK(pot_scales == scales);
      const QNode& fc1 = q.nodes[static_cast<size_t>(q.graph.find("blocks.0.mlp.fc1"))];
      CHECK(fc1.act_lut.size() == 256);  // GELU by table: no output requantizer
      CHECK(fc1.weight_bits == recipe.weight_bits);
    } else {  // float scales: the check above would see multipliers (it is not vacuous)
      CHECK(shifts < requantizers / 10);
    }
  }
}

TEST_CASE("Adaptive PoT rounding is never worse than plain rounding on the calibration data",
          "[ptq][p2vit]") {
  GraphBuilder b("two-convs", 8, {3, 8, 8});
  const int c1 = b.conv("c1", 0, 16, 3, 1, 1, true, Norm::None, Act::None, 1);
  const int c2 = b.conv("c2", c1, 8, 1, 1, 1, true, Norm::None, Act::None, 0);
  Graph g = b.finish();
  materialize_synthetic_weights(g, 5);
  // At most the 8 images the weight search scores on, so "the calibration data" is all of them.
  const auto calib = synthetic_images(8, g.nodes[0].out_shape, 11).images;
  for (const char* name : {"p2vit-w4a8", "p2vit-w8a8"}) {
    const Recipe adaptive = find_recipe(name, kRecipeDir);
    REQUIRE(adaptive.pot_rounding == PotRounding::Adaptive);
    Recipe plain = adaptive;
    plain.pot_rounding = PotRounding::Nearest;
    const QGraph qa = quantize_graph(g, adaptive, calib), qp = quantize_graph(g, plain, calib);
    std::vector<std::vector<Tensor>> fp;
    for (const Tensor& img : calib) fp.push_back(run_fp32_all(qa.graph, img));
    int moved = 0, better = 0;
    // Weights: each output channel's squared error on the FP32 inputs (linear part, bias cancels).
    for (const int i : {c1, c2}) {
      const Node& node = qa.graph.nodes[static_cast<size_t>(i)];
      const auto channel_errors = [&](const QNode& qn) {
        Node deq = node;
        for (size_t k = 0; k < qn.weight.size(); ++k)
          deq.params.at("weight").data[k] = static_cast<float>(qn.weight[k]) *
                                            qn.weight_scale[k * qn.weight_scale.size() / qn.weight.size()];
        std::vector<double> err(qn.weight_scale.size(), 0.0);
        for (const auto& outs : fp) {
          const std::vector<const Tensor*> ins{&outs[static_cast<size_t>(node.inputs[0])]};
          const Tensor want = eval_node_fp32(node, ins), got = eval_node_fp32(deq, ins);
          const size_t plane = want.data.size() / err.size();
          for (size_t k = 0; k < want.data.size(); ++k)
            err[k / plane] += std::pow(static_cast<double>(got.data[k]) - want.data[k], 2);
        }
        return err;
      };
      const QNode &a = qa.nodes[static_cast<size_t>(i)], &p = qp.nodes[static_cast<size_t>(i)];
      const std::vector<double> ea = channel_errors(a), ep = channel_errors(p);
      for (size_t c = 0; c < ea.size(); ++c) {
        INFO(name << " " << node.name << " channel " << c << ": adaptive scale " << a.weight_scale[c]
                  << " error " << ea[c] << ", plain scale " << p.weight_scale[c] << " error " << ep[c]);
        CHECK(ea[c] <= ep[c] * (1 + 1e-6));
        moved += a.weight_scale[c] != p.weight_scale[c];
        better += ea[c] < ep[c] * (1 - 1e-3);
      }
    }
    // Activations (per tensor): the quantizer's squared error on every calibration value it sees.
    for (const int i : {0, c1, c2}) {
      const auto act_error = [&](const QNode& qn) {
        const QuantParams qp8{qn.out.scale[0], qn.out.zero_point[0], qn.out.bits, true};
        double err = 0;
        for (const auto& outs : fp)
          for (float x : outs[static_cast<size_t>(i)].data)
            err += std::pow(x - dequantize_value(quantize_value(x, qp8), qp8), 2);
        return err;
      };
      const QNode &a = qa.nodes[static_cast<size_t>(i)], &p = qp.nodes[static_cast<size_t>(i)];
      const double ea = act_error(a), ep = act_error(p);
      INFO(name << " " << qa.graph.nodes[static_cast<size_t>(i)].name << ": adaptive scale " << a.out.scale[0]
                << " error " << ea << ", plain scale " << p.out.scale[0] << " error " << ep);
      CHECK(ea <= ep * (1 + 1e-6));
      moved += a.out.scale[0] != p.out.scale[0];
      better += ea < ep * (1 - 1e-3);
    }
    INFO(name << ": " << moved << " exponents moved away from plain rounding, " << better
              << " strictly better");
    CHECK(better > 0);  // the search did something, so the bounds above are not vacuous
    CHECK(better <= moved);
  }
}

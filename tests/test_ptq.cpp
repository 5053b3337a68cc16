// PTQ end to end on small zoo models: BatchNorm folding, the Trio-ViT passes' structure, determinism,
// quality bounds, and errors for data and graphs that cannot be quantized.
#include <catch2/catch.hpp>
#include <cmath>

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

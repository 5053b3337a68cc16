// P²-ViT's coarse-to-fine mixed precision (recipe p2vit-mixed, quant/mixed_precision.hpp): BOPs by hand,
// the budget and determinism of the search, the sensitivity ranking on a constructed case, and the
// held-out split kept out of the calibration statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "functional_support.hpp"
#include "quant/dataset.hpp"
#include "quant/mixed_precision.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"

using namespace vitsim::quant;

namespace {

const std::string kRecipeDir = vitsim::test::config_dir() + "/quant";

// conv 3 -> 6, 3x3, pad 1 on 3x8x8, then conv 6 -> 4, 1x1. c1's output channel 5 is all zeros (weights and
// bias 0). With `outliers`, each output channel of c2 gets weight 50 max|w_c| on that channel: it takes the
// quantizer's range but adds nothing to the output, so at 4 bits (one step about 7 max|w_c|) c2's other
// weights round to 0 or to the nearest step and the output keeps little; at 8 bits (about 0.4 max|w_c|)
// it keeps most.
Graph two_convs(bool outliers) {
  GraphBuilder b("two-convs", 8, {3, 8, 8});
  const int c1 = b.conv("c1", 0, 6, 3, 1, 1, true, Norm::None, Act::None, 1);
  b.conv("c2", c1, 4, 1, 1, 1, true, Norm::None, Act::None, 0);
  Graph g = b.finish();
  materialize_synthetic_weights(g, 5);
  auto& w1 = g.nodes[1].params.at("weight").data;  // [6, 3, 3, 3]
  std::fill(w1.begin() + 5 * 27, w1.end(), 0.0f);
  g.nodes[1].params.at("bias").data[5] = 0.0f;
  if (outliers) {
    auto& w = g.nodes[2].params.at("weight").data;  // [4, 6]
    for (size_t c = 0; c < 4; ++c) {
      float amax = 0;
      for (size_t j = 0; j < 6; ++j) amax = std::max(amax, std::abs(w[c * 6 + j]));
      w[c * 6 + 5] = 50.0f * amax;
    }
  }
  return g;
}

Recipe mixed_recipe() {
  return find_recipe("p2vit-mixed", kRecipeDir);
}

// A synthetic search problem: layer l costs l + 1 BOPs low and 2 (l + 1) high.
BopsBudget toy_budget(size_t layers, double factor) {
  BopsBudget b;
  for (size_t l = 0; l < layers; ++l) {
    b.low.push_back(static_cast<int64_t>(l + 1));
    b.high.push_back(2 * static_cast<int64_t>(l + 1));
  }
  b.limit = static_cast<int64_t>(std::floor(factor * static_cast<double>(b.bops(BitChoice(layers, false)))));
  return b;
}

}  // namespace

TEST_CASE("Mixed precision: BOPs of a quantized graph are MACs x weight bits x activation bits",
          "[ptq][mixed]") {
  const Graph g = two_convs(false);
  const auto calib = synthetic_images(2, g.nodes[0].out_shape, 11).images;
  const QGraph q = quantize_graph(g, find_recipe("p2vit-w4a8", kRecipeDir), calib);
  // By hand: c1 has 6 x 8 x 8 outputs of 3 x 3 x 3 taps, c2 4 x 8 x 8 outputs of 6 taps; 8-bit inputs.
  const int64_t macs1 = 6 * 8 * 8 * 27, macs2 = 4 * 8 * 8 * 6;
  CHECK(weight_bops(q) == (macs1 + macs2) * 4 * 8);
  CHECK(weight_bops(q, 8) == (macs1 + macs2) * 8 * 8);
  CHECK(weighted_layers(q.graph) == std::vector<int>{1, 2});
  QGraph mixed = q;
  mixed.nodes[2].weight_bits = 8;
  CHECK(weight_bops(mixed) == macs1 * 4 * 8 + macs2 * 8 * 8);
}

TEST_CASE("Mixed precision: the search never exceeds the budget and is deterministic", "[ptq][mixed]") {
  const size_t layers = 12;
  std::vector<double> sensitivity;
  for (size_t l = 0; l < layers; ++l) sensitivity.push_back(static_cast<double>((l * 7) % 5) + 0.5);
  for (const double factor : {1.0, 1.1, 1.3}) {
    const BopsBudget budget = toy_budget(layers, factor);
    MixedPrecisionRecipe params;
    params.population = 6;
    params.generations = 5;
    int over = 0, calls = 0;
    std::vector<BitChoice> seen;  // every choice scored, in order
    // A score whose optimum lies outside the budget (every layer high): only repair keeps choices in it.
    const auto score = [&](const BitChoice& c) {
      ++calls;
      over += !budget.fits(c);
      seen.push_back(c);
      double s = 0;
      for (size_t l = 0; l < layers; ++l) s += c[l] ? 0.0 : 1.0 + 0.1 * static_cast<double>(l % 3);
      return s;
    };
    const BitChoice start = greedy_choice(sensitivity, budget);
    CHECK(budget.fits(start));
    const SearchResult a = evolve(start, sensitivity, budget, params, score);
    INFO("budget factor " << factor << ": " << calls << " choices scored");
    CHECK(over == 0);
    CHECK(calls == a.scored);
    if (factor == 1.0)
      CHECK(calls == 1);  // only the all-low choice fits
    else
      CHECK(calls > 1);
    CHECK(budget.fits(a.best));
    CHECK(a.best_score <= a.start_score);
    // Same seed: the same choices scored in the same order, the same result.
    const std::vector<BitChoice> first_run = seen;
    seen.clear();
    const SearchResult b = evolve(start, sensitivity, budget, params, score);
    CHECK(seen == first_run);
    CHECK(a.best == b.best);
    CHECK(a.best_score == b.best_score);
  }
  // Greedy: by decreasing sensitivity, skipping what does not fit. Layers 0..3 cost 1..4 low, 2..8 high;
  // the limit floor(1.5 * 10) = 15 leaves 5 BOPs to spend: layer 2 (sensitivity 9, +3) fits, layer 3
  // (+4) does not, layer 0 (+1) does, layer 1 (+2) does not (1 left).
  const BopsBudget small = toy_budget(4, 1.5);
  CHECK(greedy_choice({2.0, 1.0, 9.0, 5.0}, small) == BitChoice{true, false, true, false});
  BitChoice all{true, true, true, true};
  repair(all, {2.0, 1.0, 9.0, 5.0}, small);
  CHECK(small.fits(all));
}

TEST_CASE("Mixed precision on a quantized model: same seed, same bits, and the budget holds",
          "[ptq][mixed]") {
  const Graph g = two_convs(true);
  const auto images = synthetic_images(6, g.nodes[0].out_shape, 11).images;
  Recipe recipe = mixed_recipe();
  recipe.mixed.budget = 1.5;  // room for c2 (13 % of the model's MACs) but not for c1
  MixedPrecisionReport ra, rb;
  const QGraph a = quantize_graph(g, recipe, images, {}, &ra);
  const QGraph b = quantize_graph(g, recipe, images, {}, &rb);
  REQUIRE(ra.layers.size() == 2);
  CHECK(a.nodes[1].weight_bits == b.nodes[1].weight_bits);
  CHECK(a.nodes[2].weight_bits == b.nodes[2].weight_bits);
  CHECK(a.nodes[2].weight == b.nodes[2].weight);
  CHECK(ra.best_score == rb.best_score);
  // What the report says is what the graph holds, and within the budget.
  CHECK(ra.layers[0].weight_bits == a.nodes[1].weight_bits);
  CHECK(ra.layers[1].weight_bits == a.nodes[2].weight_bits);
  CHECK(ra.bops == weight_bops(a));
  CHECK(ra.bops_low == weight_bops(a, 4));
  CHECK(static_cast<double>(ra.bops) <= 1.5 * static_cast<double>(ra.bops_low));
  // The outlier layer is the sensitive one (next test) and fits: it gets 8 bits, c1 stays at 4.
  CHECK(a.nodes[2].weight_bits == 8);
  CHECK(a.nodes[1].weight_bits == 4);
  CHECK(ra.holdout_images + ra.calibration_images == 6);
}

TEST_CASE("Mixed precision: a layer with outlier weights ranks as the most sensitive", "[ptq][mixed]") {
  const auto images = synthetic_images(4, Shape{3, 8, 8}, 11).images;
  MixedPrecisionReport plain, outlier;
  quantize_graph(two_convs(false), mixed_recipe(), images, {}, &plain);
  quantize_graph(two_convs(true), mixed_recipe(), images, {}, &outlier);
  REQUIRE(outlier.layers.size() == 2);
  INFO("sensitivities: plain c1 " << plain.layers[0].sensitivity << ", c2 " << plain.layers[1].sensitivity
                                  << "; with outliers c1 " << outlier.layers[0].sensitivity << ", c2 "
                                  << outlier.layers[1].sensitivity);
  // 4-bit weights lose more than 8-bit ones on every layer.
  CHECK(plain.layers[0].sensitivity > 0);
  CHECK(plain.layers[1].sensitivity > 0);
  // c1 is the same layer in both graphs; c2's outliers leave its other weights one or two 4-bit codes.
  CHECK(outlier.layers[0].sensitivity == Approx(plain.layers[0].sensitivity));
  CHECK(outlier.layers[1].sensitivity > 10 * outlier.layers[0].sensitivity);
  CHECK(outlier.layers[1].sensitivity > 10 * plain.layers[1].sensitivity);
}

TEST_CASE("Mixed precision: the held-out images are no calibration data", "[ptq][mixed]") {
  CHECK(holdout_count(8, 0.25) == 2);
  CHECK(holdout_count(2, 0.25) == 1);
  CHECK(holdout_count(4, 0.95) == 3);
  CHECK(holdout_count(10, 0.05) == 1);
  CHECK_THROWS_WITH(holdout_count(1, 0.25), Catch::Contains("at least 2 calibration images"));

  const Graph g = two_convs(false);
  auto images = synthetic_images(4, g.nodes[0].out_shape, 11).images;
  images.back().data[0] = 1000.0f;  // far outside the others' range: min-max would follow it
  const std::vector<Tensor> first3(images.begin(), images.begin() + 3);
  const QGraph mixed = quantize_graph(g, mixed_recipe(), images);
  const QGraph calibrated = quantize_graph(g, find_recipe("p2vit-w4a8", kRecipeDir), first3);
  const QGraph all = quantize_graph(g, find_recipe("p2vit-w4a8", kRecipeDir), images);
  CHECK(mixed.nodes[0].out.same_as(calibrated.nodes[0].out));
  CHECK_FALSE(mixed.nodes[0].out.same_as(all.nodes[0].out));  // the check would see the image
  CHECK_THROWS_WITH(quantize_graph(g, mixed_recipe(), {images[0]}),
                    Catch::Contains("at least 2 calibration images"));
}

TEST_CASE(
    "p2vit-mixed on the trained ViT fixture: both widths chosen, bit exact on vit-gemm with a GELU "
    "table",
    "[ptq][mixed][functional]") {
  const std::string dir = std::string(VITSIM_TEST_DATA_DIR) + "/fashion_vit";
  const Graph graph = import_onnx(dir + "/model.onnx");
  const ImageSet images = load_fashion_mnist(dir + "/subset", "train", 8, 0, 28, 3);
  MixedPrecisionReport report;
  const QGraph q = quantize_graph(graph, mixed_recipe(), images.images, {}, &report);
  int high = 0;
  const std::vector<int> layers = weighted_layers(q.graph);
  REQUIRE(layers.size() == report.layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    high += report.layers[l].weight_bits == 8;
    CHECK(q.nodes[static_cast<size_t>(layers[l])].weight_bits == report.layers[l].weight_bits);
  }
  INFO(high << " of " << report.layers.size() << " layers at 8 bits, BOPs " << report.bops << " of "
            << report.bops_low);
  CHECK(high > 0);
  CHECK(high < static_cast<int>(report.layers.size()));
  CHECK(static_cast<double>(weight_bops(q)) <= 1.1 * static_cast<double>(weight_bops(q, 4)));

  nlohmann::json j = read_json_file(vitsim::test::config_dir() + "/accel/vit-gemm.json");
  j["name"] = "vit-gemm-gelu-table";
  j["aux_units"]["gelu"]["method"] = "table";
  const vitsim::arch::AccelConfig c = vitsim::arch::parse_accel_config(j, "vit-gemm + GELU table");
  const vitsim::arch::Program p = vitsim::sim::compile(q, c);
  const vitsim::test::BytesOutcome out = vitsim::test::run_bytes(q, c, p, images.images[0]);
  INFO(out.first);
  CHECK(out.total == 0);
}

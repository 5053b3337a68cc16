// Auto-ViT-Acc's mixed-scheme quantization and engine (docs/quantization.md, "Auto-ViT-Acc's mixed-scheme
// weights"; docs/engines.md, "Mixed"): power-of-two codes on hand values; the recipe's row split on
// the trained ViT fixture (the ratio in every head and layer, the rule that picks the rows, an independent
// shift-add computation of a layer equal to the integer executor's); the compiler's per-tile count of
// power-of-two rows; the fixture on auto-vit-acc bit exact on real bytes in both timing modes; an engine
// whose shifters are narrower than the recipe's codes refused with a MappingError.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "arch/timing_mode.hpp"
#include "functional_support.hpp"
#include "quant/dataset.hpp"
#include "quant/int_executor.hpp"
#include "quant/mixed_scheme.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/dse/autotune.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim;
using quant::OpKind;

const std::string kVitFixture = std::string(VITSIM_TEST_DATA_DIR) + "/fashion_vit";

// The trained ViT fixture (docs/fixture.md: 4 blocks, 4 heads of 16, 17 tokens) quantized with
// autovitacc-mixed at `ratio`, calibrated on its first 8 training images.
quant::QGraph mixed_fixture(double ratio) {
  const quant::Graph g = quant::import_onnx(kVitFixture + "/model.onnx");
  const quant::Shape& input = g.nodes.at(0).out_shape;
  const auto calib = quant::load_fashion_mnist(kVitFixture + "/subset", "train", 8, 0,
                                               static_cast<int>(input.at(1)), static_cast<int>(input.at(0)));
  quant::Recipe r = quant::find_recipe("autovitacc-mixed", test::config_dir() + "/quant");
  r.mixed_scheme.pot_ratio = ratio;
  return quant::quantize_graph(g, r, calib.images);
}

// Squared error of a row quantized to 8-bit fixed point (max|w| / 127, round half even, clamped).
double fixed_error(const float* w, size_t n) {
  float amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::abs(w[i]));
  const float s = amax > 0 ? amax / 127.0f : 1.0f;
  double e = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = w[i] - static_cast<double>(s) * std::clamp(std::nearbyint(w[i] / s), -128.0f, 127.0f);
    e += d * d;
  }
  return e;
}

}  // namespace

TEST_CASE("Power-of-two codes: nearest of 0, 1, 2, .., 2^kmax, midpoints down", "[mixed][ptq]") {
  CHECK(quant::pot_max_exponent(4) == 6);
  CHECK(quant::pot_max_exponent(2) == 0);
  CHECK(quant::pot_code(0.5f, 1.0f, 4) == 0);
  CHECK(quant::pot_code(0.51f, 1.0f, 4) == 1);
  CHECK(quant::pot_code(1.5f, 1.0f, 4) == 1);
  CHECK(quant::pot_code(1.51f, 1.0f, 4) == 2);
  CHECK(quant::pot_code(3.1f, 1.0f, 4) == 4);
  CHECK(quant::pot_code(-5.0f, 1.0f, 4) == -4);
  CHECK(quant::pot_code(-7.0f, 1.0f, 4) == -8);
  CHECK(quant::pot_code(1000.0f, 1.0f, 4) == 64);
  CHECK(quant::pot_code(1000.0f, 1.0f, 3) == 4);
  CHECK(quant::is_pot_code(64, 4));
  CHECK(quant::is_pot_code(-1, 4));
  CHECK(quant::is_pot_code(0, 4));
  CHECK_FALSE(quant::is_pot_code(128, 4));
  CHECK_FALSE(quant::is_pot_code(3, 4));
  CHECK_FALSE(quant::is_pot_code(8, 3));
  // A row: max|w| 0.5 maps to 2^6, so the scale is 0.5 / 64; 0.03 is 3.84 steps (4), 0.2 is 25.6 (32).
  const float row[] = {0.5f, -0.25f, 0.03f, 0.2f};
  const quant::PotRow p = quant::quantize_pot_row(row, 4, 4);
  CHECK(p.scale == 0.5f / 64);
  CHECK(p.codes == std::vector<int32_t>{64, -32, 4, 32});
  const double s = 0.5 / 64;
  CHECK(p.error == Approx(std::pow(0.03 - 4 * s, 2) + std::pow(0.2 - 32 * s, 2)));
  CHECK(quant::pot_rows_in_group(64, 0.5) == 32);
  CHECK(quant::pot_rows_in_group(3, 0.5) == 2);  // 1.5 rounds up
  CHECK(quant::pot_rows_in_group(10, 0.0) == 0);
}

TEST_CASE(
    "autovitacc-mixed: every head and layer splits its rows at the ratio, the rows of least extra error",
    "[mixed][ptq]") {
  for (const double ratio : {0.5, 0.25}) {
    const quant::QGraph q = mixed_fixture(ratio);
    int layers = 0;
    for (size_t i = 0; i < q.nodes.size(); ++i) {
      const quant::Node& n = q.graph.nodes[i];
      if (n.op != OpKind::Linear && !(n.op == OpKind::Conv2d && n.groups == 1)) continue;
      ++layers;
      const quant::QNode& qn = q.nodes[i];
      const size_t rows = static_cast<size_t>(n.out_features), per = qn.weight.size() / rows;
      REQUIRE(qn.weight_pot_bits.size() == rows);
      // The fixture: 4 heads of 16; a qkv layer splits each of its 12 head blocks alike.
      const size_t group = n.name.find("attn.qkv") != std::string::npos ? 16 : rows;
      const auto& w = n.params.at("weight").data;
      for (size_t g0 = 0; g0 < rows; g0 += group) {
        int64_t pot = 0;
        double worst_pot = -INFINITY, best_fixed = INFINITY;
        for (size_t c = g0; c < g0 + group; ++c) {
          const double extra =
              quant::quantize_pot_row(&w[c * per], per, 4).error - fixed_error(&w[c * per], per);
          if (qn.weight_pot_bits[c] == 4) {
            ++pot;
            worst_pot = std::max(worst_pot, extra);
            for (size_t k = c * per; k < (c + 1) * per; ++k) REQUIRE(quant::is_pot_code(qn.weight[k], 4));
          } else {
            REQUIRE(qn.weight_pot_bits[c] == 0);
            best_fixed = std::min(best_fixed, extra);
          }
        }
        INFO(n.name << " rows " << g0 << ".." << g0 + group << " at ratio " << ratio);
        CHECK(pot == static_cast<int64_t>(std::floor(ratio * static_cast<double>(group) + 0.5)));
        CHECK(worst_pot <= best_fixed);
      }
    }
    CHECK(layers == 1 + 4 * 4 + 1);  // patch embedding, qkv / proj / fc1 / fc2 per block, classifier
  }
}

TEST_CASE("autovitacc-mixed: a layer's shift-add rows computed apart equal the integer executor's codes",
          "[mixed][ptq]") {
  const quant::QGraph q = mixed_fixture(0.5);
  const quant::QTensor input = quant::quantize_input(q, quant::synthetic_input(q.graph, 5));
  const auto outs = quant::run_int_all(q, input);
  const int layer = q.graph.find("blocks.0.mlp.fc2");  // no activation stage, per-tensor output
  const quant::Node& n = q.graph.nodes[static_cast<size_t>(layer)];
  const quant::QNode& qn = q.nodes[static_cast<size_t>(layer)];
  const int src = n.inputs[0];
  const quant::QTensor& x = outs[static_cast<size_t>(src)];
  const int32_t zp_x = q.nodes[static_cast<size_t>(src)].out.zero_point[0], zp_y = qn.out.zero_point[0];
  const int64_t in = n.in_features, rows = n.out_features, tokens = x.shape[0];
  int64_t shifted_rows = 0, compared = 0;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < rows; ++c) {
      int64_t acc = qn.bias[static_cast<size_t>(c)];
      const bool pot = qn.weight_pot_bits[static_cast<size_t>(c)] > 0;
      shifted_rows += pot && t == 0;
      for (int64_t i = 0; i < in; ++i) {
        const int64_t a = x.data[static_cast<size_t>(t * in + i)] - zp_x;
        const int32_t code = qn.weight[static_cast<size_t>(c * in + i)];
        if (!pot) {
          acc += a * code;
        } else if (code != 0) {  // sign and shift: 2^k = 1 << k
          int k = 0;
          while ((1 << k) < std::abs(code)) ++k;
          acc += code < 0 ? -(a * (int64_t{1} << k)) : a * (int64_t{1} << k);
        }
      }
      const int64_t y = std::clamp<int64_t>(zp_y + qn.requant[static_cast<size_t>(c)].apply(acc), -128, 127);
      REQUIRE(y == outs[static_cast<size_t>(layer)].data[static_cast<size_t>(t * rows + c)]);
      ++compared;
    }
  CHECK(shifted_rows == rows / 2);
  CHECK(compared == tokens * rows);
}

TEST_CASE(
    "The ViT fixture (autovitacc-mixed) runs bit exact on auto-vit-acc's real bytes in both timing modes",
    "[mixed][functional][vit]") {
  const quant::QGraph q = mixed_fixture(0.5);
  const arch::AccelConfig c = arch::load_accel_config(test::config_dir() + "/accel/auto-vit-acc.json");
  const arch::Program p = sim::compile(q, c);
  // Every GEMM tile of a weighted layer counts the power-of-two rows of its channel range.
  int64_t counted = 0;
  for (const arch::ComputeTile& t : p.tiles) {
    const quant::QNode& qn = q.nodes[static_cast<size_t>(t.layer)];
    if (t.work != arch::TileWork::Gemm || qn.weight_pot_bits.empty()) continue;
    int64_t pot = 0;
    for (int64_t ch = t.region.c0; ch < t.region.c1; ++ch)
      pot += qn.weight_pot_bits[static_cast<size_t>(ch)] > 0;
    REQUIRE(t.pot_n == pot);
    counted += pot;
  }
  CHECK(counted > 0);
  const quant::Tensor image = quant::synthetic_input(q.graph, 5);
  for (const arch::TimingMode mode : {arch::TimingMode::Fast, arch::TimingMode::Cycle}) {
    const test::BytesOutcome out = test::run_bytes(q, c, p, image, -1, nullptr, mode);
    INFO(arch::timing_mode_name(mode) << ": " << out.first);
    CHECK(out.total == 0);
  }
}

TEST_CASE("The mixed engine's DSPs count its DSP lanes only, its shift-add lanes are LUTs",
          "[mixed][resources]") {
  const arch::AccelConfig c = arch::load_accel_config(test::config_dir() + "/accel/auto-vit-acc.json");
  const arch::ResourceEstimate r = arch::estimate_resources(c);
  // pe 16 x 6 DSP lanes x 16 replicas = 1,536 multipliers, 2 per DSP, and the auxiliary units' 416 DSPs.
  CHECK(r.dsps == 1536 / 2 + 64 + 32 + 256 + 64);
  // Both lane kinds form products: 16 x (6 + 6) x 16 = 3,072 per cycle, which the peak and the MAC
  // utilization count (so the utilization cannot pass 100%); only the DSP lanes' 1,536 take DSPs.
  CHECK(c.multipliers() == 3072);
  CHECK(c.dsp_multipliers() == 1536);
  CHECK(c.engine_dsps() == 768);
  CHECK(c.peak_gops() == Approx(2.0 * 3072 * 0.2));
  // 16 x 6 x 16 power-of-two product units of 40 LUTs each, as synthesized (configs/synth/resources.csv;
  // the formula's shifter of a 14-bit output in 3 stages of 2:1 muxes would be 42: test_resource_model.cpp);
  // 12 x 16 lanes of both kinds with a 16-input adder tree of 16-bit products (8 x 17 + 4 x 18 + 2 x 19 +
  // 20 = 266 LUTs) and a 32-bit accumulator.
  int64_t shifters = -1, trees = -1, accumulators = -1;
  for (const arch::ResourceItem& item : r.items) {
    if (item.component == "gemm shift-add shifters (synthesized, 40 LUTs each)") shifters = item.luts;
    if (item.component == "gemm adder trees") trees = item.luts;
    if (item.component == "gemm lane accumulators") accumulators = item.luts;
  }
  CHECK(shifters == 16 * 6 * 16 * 40);
  CHECK(trees == 12 * 16 * 266);
  CHECK(accumulators == 12 * 16 * 32);
}

TEST_CASE("A mixed engine whose shifters are narrower than the recipe's power-of-two codes is refused",
          "[mixed][mapping]") {
  const quant::QGraph q = mixed_fixture(0.5);
  nlohmann::json j = quant::read_json_file(test::config_dir() + "/accel/auto-vit-acc.json");
  j["engines"][0]["pot_bits"] = 3;
  const arch::AccelConfig narrow = arch::parse_accel_config(j, "narrow");
  CHECK_THROWS_AS(sim::compile(q, narrow), sim::MappingError);
  CHECK_THROWS_WITH(sim::compile(q, narrow), Catch::Contains("with 4-bit power-of-two weight rows"));
}

TEST_CASE(
    "autotune on the ViT fixture: the smallest fitting design that reaches the target, both lane kinds "
    "balanced",
    "[mixed][autotune]") {
  const quant::Graph g = quant::import_onnx(kVitFixture + "/model.onnx");
  const quant::Shape& input = g.nodes.at(0).out_shape;
  sim::AutotuneSpec spec;
  spec.graph = g;
  spec.calibration = quant::load_fashion_mnist(kVitFixture + "/subset", "train", 2, 0,
                                               static_cast<int>(input.at(1)), static_cast<int>(input.at(0)))
                         .images;
  spec.device = arch::load_device(test::config_dir() + "/devices/zcu102.json");
  spec.recipe = quant::find_recipe("autovitacc-mixed", test::config_dir() + "/quant");
  spec.base = quant::read_json_file(test::config_dir() + "/accel/auto-vit-acc.json");
  spec.base_name = "auto-vit-acc";
  spec.replicas = {4, 8};
  spec.dsp_lanes = {2, 4, 8};
  // Any target is met by the smallest candidate; then a target above it needs a larger one.
  spec.fps = 1;
  const sim::AutotuneResult first = sim::autotune(spec);
  REQUIRE(first.chosen == 0);
  spec.fps = first.candidates[0].fps * 1.5;
  const sim::AutotuneResult r = sim::autotune(spec);
  REQUIRE(r.chosen > 0);
  const sim::AutotuneCandidate& c = r.candidates[static_cast<size_t>(r.chosen)];
  for (int i = 0; i < r.chosen; ++i) CHECK(r.candidates[static_cast<size_t>(i)].fps < spec.fps);
  // The chosen config fits the device, and one more LUT lane would not (the most that fit).
  const auto fits = [&](const nlohmann::json& j) {
    return arch::fits(arch::estimate_resources(arch::parse_accel_config(j, "chosen")), spec.device);
  };
  CHECK(fits(c.config));
  nlohmann::json wider = c.config;
  wider["engines"][0]["lut_lanes"] = c.lut_lanes + 1;
  CHECK_FALSE(fits(wider));
  // Its frame rate, simulated again from the fixture quantized at its ratio, reaches the target.
  quant::Recipe recipe = spec.recipe;
  recipe.mixed_scheme.pot_ratio = c.ratio;
  const quant::QGraph q = quant::quantize_graph(g, recipe, spec.calibration);
  CHECK(sim::simulate(q, arch::parse_accel_config(c.config, "chosen"), sim::SimOptions{}).fps() >= spec.fps);
  // Bad input: a recipe without mixed_scheme, a base without a mixed engine.
  sim::AutotuneSpec bad = spec;
  bad.recipe = quant::find_recipe("vit-w8a8", test::config_dir() + "/quant");
  CHECK_THROWS_WITH(sim::autotune(bad), Catch::Contains("has no mixed_scheme"));
  bad = spec;
  bad.base = quant::read_json_file(test::config_dir() + "/accel/vit-gemm.json");
  CHECK_THROWS_WITH(sim::autotune(bad), Catch::Contains("of type \"mixed\""));
}

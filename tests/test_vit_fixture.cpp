// The trained Fashion-MNIST ViT fixture (tests/data/fashion_vit/, docs/fixture.md) quantized with vit-w8a8,
// p2vit-w8a8, p2vit-w4a8 and p2vit-mixed on its committed image subset: accuracy against bounds derived from
// the accuracy table of docs/quant-quality.md, and the integer forward pass.
//
// The table (tools/quant_quality_table.py, also written to fashion_vit/quant_quality.json) is measured on
// the whole 10,000-image test set after calibrating on the first 256 training images; subset/ holds those
// 256 training images and the first 1,000 test images, so this test builds the very quantized graph of the
// table and evaluates it on a fixed sample of the test set. A sample of n images estimates an accuracy p
// with a standard error sqrt(p (1 - p) / n): the bounds are the table's values minus three of those. The asan
// preset evaluates a tenth of the sample (test::sample_count), with bounds that widen accordingly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "quant/dataset.hpp"
#include "quant/int_executor.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/recipe.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace vitsim::quant;

const fs::path kVitFixtureDir = fs::path(VITSIM_TEST_DATA_DIR) / "fashion_vit";
const std::string kRecipeDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs/quant";

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) FAIL("cannot open " << p << " (written by tools/quant_quality_table.py --vit-fixture-only)");
  return nlohmann::json::parse(f);
}

// The table's value minus three standard errors of an n-image sample.
double lower_bound(double table_value, size_t n) {
  return table_value - 3.0 * std::sqrt(table_value * (1.0 - table_value) / static_cast<double>(n));
}

}  // namespace

TEST_CASE(
    "vit-w8a8 and P2-ViT recipes on the trained ViT fixture: accuracy within the table's bounds, "
    "integer forward runs",
    "[ptq][onnx]") {
  const nlohmann::json table = read_json(kVitFixtureDir / "quant_quality.json");
  const int calib_count = table.at("calibration").at("first_images");
  const fs::path subset = kVitFixtureDir / "subset";

  const Graph graph = import_onnx((kVitFixtureDir / "model.onnx").string());
  const Shape& input = graph.nodes.at(0).out_shape;
  const int res = static_cast<int>(input.at(1)), channels = static_cast<int>(input.at(0));
  const ImageSet calib = load_fashion_mnist(subset.string(), "train", calib_count, 0, res, channels);
  const ImageSet eval =
      load_fashion_mnist(subset.string(), "test", vitsim::test::sample_count(1000), 0, res, channels);
  const size_t n = eval.images.size();
  REQUIRE(n == static_cast<size_t>(vitsim::test::sample_count(1000)));
  for (const char* recipe : {"vit-w8a8", "p2vit-w8a8", "p2vit-w4a8", "p2vit-mixed"}) {
    const nlohmann::json& row = table.at("recipes").at(recipe);
    const QGraph qg = quantize_graph(graph, find_recipe(recipe, kRecipeDir), calib.images);
    const QualityReport q = evaluate_quality(qg, eval.images, eval.labels);
    INFO("on " << n << " test images: FP32 " << q.fp32_accuracy << ", " << recipe << " " << q.int_accuracy
               << ", agreement " << q.top1_agreement << "; full test set: FP32 " << table.at("fp32_accuracy")
               << ", " << recipe << " " << row.at("accuracy") << ", agreement " << row.at("top1_agreement"));
    CHECK(q.fp32_accuracy >= lower_bound(table.at("fp32_accuracy"), n));
    CHECK(q.int_accuracy >= lower_bound(row.at("accuracy"), n));
    CHECK(q.top1_agreement >= lower_bound(row.at("top1_agreement"), n));

    // The integer forward pass on its own (quantized input -> logit codes): ten codes per image, and on the
    // first images its argmax (one per-tensor scale, so the argmax of the real logits) is right as often as
    // the table's accuracy allows for that many images.
    int correct = 0;
    const size_t first = 64;
    for (size_t i = 0; i < first; ++i) {
      const QTensor logits = run_int(qg, quantize_input(qg, eval.images[i]));
      REQUIRE(logits.shape == Shape{10});
      const auto top = std::max_element(logits.data.begin(), logits.data.end()) - logits.data.begin();
      correct += top == eval.labels[i];
    }
    CHECK(static_cast<double>(correct) / first >= lower_bound(row.at("accuracy"), first));
  }
}

// PTQ recipes: every bundled recipe loads; bad recipes fail with the file, JSON path, expectation and value.
#include <catch2/catch.hpp>
#include <filesystem>

#include "quant/json_reader.hpp"
#include "quant/recipe.hpp"

using namespace vitsim::quant;

namespace {
const std::string kRecipeDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs/quant";
}

TEST_CASE("Every bundled recipe loads and says what it is", "[recipe]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kRecipeDir)) {
    INFO(entry.path());
    const Recipe r = load_recipe(entry.path().string());
    CHECK(r.name == entry.path().stem().string());
    CHECK_FALSE(r.description.empty());
    ++count;
  }
  CHECK(count >= 4);
  const Recipe trio = find_recipe("trio-w8a8", kRecipeDir);
  CHECK(trio.migration.enabled);
  CHECK(trio.filter_shift);
  CHECK(trio.attention.divisor == DivisorMode::Log2);
  CHECK(trio.attention.per_branch);
  const Recipe naive = find_recipe("naive-w8a8", kRecipeDir);
  CHECK_FALSE(naive.attention.per_branch);
  CHECK(naive.attention.divisor == DivisorMode::Uniform);
  CHECK(find_recipe("trio-w4a8", kRecipeDir).weight_bits == 4);
  CHECK(find_recipe("trio-w8a4", kRecipeDir).activation_bits == 4);
  CHECK(trio.scales == ScaleKind::Float);
  for (const char* name : {"p2vit-w8a8", "p2vit-w4a8"}) {
    const Recipe p2 = find_recipe(name, kRecipeDir);
    CHECK(p2.scales == ScaleKind::PowerOfTwo);
    CHECK(p2.pot_rounding == PotRounding::Adaptive);
    CHECK_FALSE(p2.vit.gelu_poly);  // i-GELU's output factor is no power of two: a table instead
    CHECK(p2.vit.softmax_log2);
    CHECK(p2.vit.ptf);
  }
  CHECK(find_recipe("p2vit-w4a8", kRecipeDir).weight_bits == 4);
  const Recipe mixed = find_recipe("p2vit-mixed", kRecipeDir);
  CHECK(mixed.mixed.enabled);
  CHECK(mixed.weight_bits == 4);
  CHECK(mixed.mixed.high_bits == 8);
  CHECK(mixed.mixed.budget == 1.1);
  CHECK_FALSE(find_recipe("p2vit-w4a8", kRecipeDir).mixed.enabled);
}

TEST_CASE("Recipe errors name the origin, the JSON path, the expectation and the value", "[recipe]") {
  auto error_of = [](const std::string& text) {
    try {
      parse_recipe(text, "r.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of(R"({"name": "x", "weight_bits": 9})"),
             Catch::Contains("r.json: /weight_bits: expected an integer in [2, 8], found 9"));
  CHECK_THAT(error_of(R"({"name": "x", "weight_bits": "8"})"),
             Catch::Contains("/weight_bits: expected an integer, found string"));
  CHECK_THAT(error_of(R"({"name": "x", "attention": {"divisr": "log2"}})"),
             Catch::Contains("/attention/divisr: unknown key"));
  CHECK_THAT(error_of(R"({"name": "x", "attention": {"divisor": "exact"}})"),
             Catch::Contains("/attention/divisor: expected one of log2, uniform, found \"exact\""));
  CHECK_THAT(error_of(R"({"name": "x", "calibrator": "median"})"), Catch::Contains("/calibrator:"));
  CHECK_THAT(error_of(R"({"weight_bits": 8})"), Catch::Contains("/name: required key is missing"));
  CHECK_THAT(error_of(R"({"name": "x", "activation_bits": 1})"), Catch::Contains("/activation_bits"));
  CHECK_THAT(error_of(R"({"name": "x",)"), Catch::Contains("r.json: malformed JSON"));
  CHECK_THAT(error_of(R"([1, 2])"), Catch::Contains("expected an object"));
  CHECK_THAT(error_of(R"({"name": "x", "scales": "log"})"),
             Catch::Contains("/scales: expected one of float, power-of-two, found \"log\""));
  CHECK_THAT(error_of(R"({"name": "x", "pot_rounding": "adaptive"})"),
             Catch::Contains("/pot_rounding: adaptive rounding picks power-of-two exponents"));
  CHECK(error_of(R"({"name": "x", "scales": "power-of-two", "pot_rounding": "adaptive"})") == "no error");
  CHECK_THAT(error_of(R"({"name": "x", "smoothing": {"enabled": true, "alpha": 1.5}})"),
             Catch::Contains("/smoothing/alpha: expected a number in [0, 1], found 1.5"));
  CHECK_THAT(error_of(R"({"name": "x", "smoothing": {"alpha": 0.5, "beta": 1}})"),
             Catch::Contains("/smoothing/beta: unknown key"));
  const std::string pot = R"("name": "x", "scales": "power-of-two", "weight_bits": 4, )";
  CHECK_THAT(error_of(R"({"name": "x", "weight_bits": 4, "mixed_precision": {"enabled": true}})"),
             Catch::Contains("/mixed_precision: mixed precision ranks layers by the power-of-two"));
  CHECK_THAT(error_of("{" + pot + R"("mixed_precision": {"enabled": true, "high_bits": 4}})"),
             Catch::Contains("/mixed_precision/high_bits: the promoted width must exceed weight_bits (4), "
                             "found 4"));
  CHECK_THAT(error_of("{" + pot + R"("mixed_precision": {"budget": 0.9}})"),
             Catch::Contains("/mixed_precision/budget: expected a number in [1, 16], found 0.9"));
  CHECK_THAT(error_of("{" + pot + R"("mixed_precision": {"population": 1}})"),
             Catch::Contains("/mixed_precision/population: expected an integer in [2, 256], found 1"));
  CHECK_THAT(error_of("{" + pot + R"("mixed_precision": {"generation": 3}})"),
             Catch::Contains("/mixed_precision/generation: unknown key"));
  CHECK(error_of("{" + pot + R"("mixed_precision": {"enabled": true}})") == "no error");
  CHECK_THROWS_WITH(find_recipe("no-such-recipe", kRecipeDir),
                    Catch::Contains("known: ") && Catch::Contains("trio-w8a8"));
}

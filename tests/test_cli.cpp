// The vitsim command line: output content and the exit-code contract (0 ok, 2 bad input).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/cli/cli.hpp"
#include "sim/cli/cmd_simulate.hpp"
#include "test_support.hpp"

using vitsim::test::Run;
using vitsim::test::run_vitsim;

TEST_CASE("vitsim models lists the zoo with params and MACs", "[cli]") {
  const Run r = run_vitsim({"models"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("efficientvit-b1") && Catch::Contains("9,102,024") &&
                        Catch::Contains("519,214,592") && Catch::Contains("deit-small"));
  const Run j = run_vitsim({"models", "--json"});
  REQUIRE(j.code == 0);
  const auto models = nlohmann::json::parse(j.out);
  CHECK(models.size() == 11);
  CHECK(models[1]["macs_at_default_resolution"] == 519214592);
  CHECK(models[1]["resolution_multiple_of"] == 32);
  CHECK(models[8]["resolution_multiple_of"] == 16);  // deit-small: 16 x 16 patches
}

TEST_CASE("vitsim graph prints the per-layer table and totals", "[cli]") {
  const Run r = run_vitsim({"graph", "--model", "efficientvit-b1", "--res", "224"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("S3/b1.mla.matmul_vk") && Catch::Contains("852,992") &&
                        Catch::Contains("total: params 9,102,024, MACs 519,214,592"));
  const Run j = run_vitsim({"graph", "-m", "efficientvit-b0", "-r", "256", "--json"});
  REQUIRE(j.code == 0);
  const auto g = nlohmann::json::parse(j.out);
  CHECK(g["resolution"] == 256);
  CHECK(g["layers"][0]["name"] == "stem.0");
  CHECK(g["layers"][0]["conv"]["stride"] == 2);
}

TEST_CASE("Bad input exits with code 2 and one clear message", "[cli]") {
  const Run unknown_model = run_vitsim({"graph", "--model", "resnet50"});
  CHECK(unknown_model.code == 2);
  CHECK_THAT(unknown_model.err, Catch::Contains("unknown model 'resnet50'"));
  CHECK(unknown_model.out.empty());

  const Run bad_res = run_vitsim({"graph", "--model", "efficientvit-b1", "--res", "100"});
  CHECK(bad_res.code == 2);
  CHECK_THAT(bad_res.err, Catch::Contains("multiple of 32"));

  const Run not_a_number = run_vitsim({"graph", "--res", "big"});
  CHECK(not_a_number.code == 2);
  CHECK_THAT(not_a_number.err, Catch::Contains("--res"));

  const Run unknown_flag = run_vitsim({"models", "--frobnicate"});
  CHECK(unknown_flag.code == 2);
  CHECK_THAT(unknown_flag.err, Catch::Contains("frobnicate"));

  const Run no_command = run_vitsim({});
  CHECK(no_command.code == 2);
  CHECK_THAT(no_command.err, Catch::Contains("subcommand"));

  // validate --only names a section it can run alone, and a partial run never writes docs/validation.md.
  const Run unknown_section = run_vitsim({"validate", "--only", "published"});
  CHECK(unknown_section.code == 2);
  CHECK_THAT(unknown_section.err, Catch::Contains("--only") && Catch::Contains("random"));
  const std::string out = std::filesystem::temp_directory_path() / "vitsim_only_random.md";
  const Run partial_out = run_vitsim({"validate", "--only", "random", "--out", out});
  CHECK(partial_out.code == 2);
  CHECK_THAT(partial_out.err, Catch::Contains("--only"));
  CHECK_FALSE(std::filesystem::exists(out));
  // --count takes a positive number and only cuts the random section.
  const Run zero_count = run_vitsim({"validate", "--only", "random", "--count", "0"});
  CHECK(zero_count.code == 2);
  CHECK_THAT(zero_count.err, Catch::Contains("--count"));
  const Run count_alone = run_vitsim({"validate", "--count", "3"});
  CHECK(count_alone.code == 2);
  CHECK_THAT(count_alone.err, Catch::Contains("--count") && Catch::Contains("--only"));
}

TEST_CASE("Help and version exit 0", "[cli]") {
  const Run help = run_vitsim({"--help"});
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("graph") && Catch::Contains("models"));
  const Run sub_help = run_vitsim({"graph", "--help"});
  CHECK(sub_help.code == 0);
  CHECK_THAT(sub_help.out, Catch::Contains("--model"));
  CHECK(run_vitsim({"--version"}).code == 0);
}

TEST_CASE("vitsim forward runs the FP32 executor and reports time and top-5", "[cli]") {
  const Run r = run_vitsim({"forward", "--model", "efficientvit-b0", "--res", "64", "--repeat", "1"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("forward: best") && Catch::Contains("top-5 logits"));
}

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("vitsim-cli-" + std::to_string(::getpid()) + "-" + name))
      .string();
}
}  // namespace

TEST_CASE("vitsim quantize writes a loadable quantized graph and a quality report", "[cli][ptq]") {
  const std::string out = temp_path("b0.vqg");
  const Run r = run_vitsim({"quantize", "-m", "efficientvit-b0", "-r", "64", "--calib-count", "2",
                            "--eval-count", "2", "--out", out});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("quantized with trio-w8a8") && Catch::Contains("output SQNR"));
  const vitsim::quant::QGraph q = vitsim::quant::load_qgraph(out);
  CHECK(q.recipe_name == "trio-w8a8");
  std::ifstream report(out + ".quality.json");
  CHECK(nlohmann::json::parse(report)["images"] == 2);
  std::filesystem::remove(out);
  std::filesystem::remove(out + ".quality.json");
}

TEST_CASE("vitsim quantize takes DeiT with vit-w8a8 by default, forward runs it on integers", "[cli][ptq]") {
  const std::string out = temp_path("deit.vqg");
  const Run r =
      run_vitsim({"quantize", "-m", "deit-tiny", "--calib-count", "1", "--eval-count", "1", "--out", out});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("quantized with vit-w8a8") && Catch::Contains("output SQNR"));
  const Run f = run_vitsim({"forward", "--qgraph", out, "--repeat", "1"});
  INFO(f.err);
  CHECK(f.code == 0);
  CHECK_THAT(f.out, Catch::Contains("deit-tiny integer forward (vit-w8a8"));
  std::filesystem::remove(out);
  std::filesystem::remove(out + ".quality.json");
}

TEST_CASE("An ONNX ViT gets the ViT defaults: vit-w8a8, then vit-gemm, bit exact through the datapath",
          "[cli][ptq][onnx]") {
  const std::string out = temp_path("fashion_vit.vqg");
  const std::string onnx = std::string(VITSIM_TEST_DATA_DIR) + "/fashion_vit/model.onnx";
  const Run q =
      run_vitsim({"quantize", "--onnx", onnx, "--calib-count", "2", "--eval", "none", "--out", out});
  INFO(q.err);
  REQUIRE(q.code == 0);
  CHECK_THAT(q.out, Catch::Contains("quantized with vit-w8a8"));
  const Run s = run_vitsim({"simulate", "--qgraph", out, "--functional"});
  INFO(s.err);
  CHECK(s.code == 0);
  CHECK_THAT(s.out, Catch::Contains("vit-w8a8 on vit-gemm") &&
                        Catch::Contains("functional: 0 mismatching output elements"));
  std::filesystem::remove(out);
}

TEST_CASE("The ViT defaults follow the graph's ops: every zoo DeiT and ViT gets them, no EfficientViT does",
          "[cli]") {
  // The family names the zoo gives its models, against what is_standard_vit reads from the graph's ops.
  for (const vitsim::quant::ZooEntry& entry : vitsim::quant::zoo_models()) {
    INFO(entry.name);
    const bool vit_family = entry.family == "deit" || entry.family == "vit";
    const vitsim::quant::Graph graph = vitsim::quant::build_model(entry.name, entry.default_resolution);
    CHECK(vitsim::sim::default_recipe(graph) == (vit_family ? "vit-w8a8" : "trio-w8a8"));
    CHECK(vitsim::sim::default_accel(graph) == (vit_family ? "vit-gemm" : "trio-vit"));
  }
}

TEST_CASE("vitsim quantize: bad recipes, models, data and paths exit 2 with a clear message", "[cli][ptq]") {
  const std::string out = temp_path("bad.vqg");
  auto quantize = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"quantize", "-m",   "efficientvit-b0", "-r", "32", "--calib-count", "1",
                                     "--eval",   "none", "--out",           out};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vitsim(args);
  };
  const Run unknown_recipe = quantize({"--recipe", "trio-w16a16"});
  CHECK(unknown_recipe.code == 2);
  CHECK_THAT(unknown_recipe.err, Catch::Contains("unknown recipe 'trio-w16a16'"));

  const std::string recipe = temp_path("recipe.json");
  std::ofstream(recipe) << R"({"name": "bad", "weight_bits": 12})";
  const Run bad_bits = quantize({"--recipe", recipe});
  CHECK(bad_bits.code == 2);
  CHECK_THAT(bad_bits.err,
             Catch::Contains(recipe + ": /weight_bits: expected an integer in [2, 8], found 12"));

  std::ofstream(recipe) << R"({"name": "bad", "attention": {"divisor": "log2", "rounding": "up"}})";
  const Run unknown_key = quantize({"--recipe", recipe});
  CHECK(unknown_key.code == 2);
  CHECK_THAT(unknown_key.err, Catch::Contains("/attention/rounding: unknown key"));

  const std::string onnx = temp_path("corrupt.onnx");
  std::ofstream(onnx) << "this is not a protobuf \x01\x02\x03";
  const Run corrupt = quantize({"--onnx", onnx});
  CHECK(corrupt.code == 2);
  CHECK_THAT(corrupt.err, Catch::Contains(onnx));

  const Run bad_source = quantize({"--calib", "imagenet"});
  CHECK(bad_source.code == 2);
  CHECK_THAT(bad_source.err, Catch::Contains("unknown image source 'imagenet'"));

  const Run no_images = quantize({"--calib-count", "0"});
  CHECK(no_images.code == 2);
  CHECK_THAT(no_images.err, Catch::Contains("--calib-count"));

  const Run unwritable = run_vitsim({"quantize", "-m", "efficientvit-b0", "-r", "32", "--calib-count", "1",
                                     "--eval", "none", "--out", "/nonexistent-dir/x.vqg"});
  CHECK(unwritable.code == 2);
  CHECK_THAT(unwritable.err, Catch::Contains("/nonexistent-dir/x.vqg"));
  CHECK_FALSE(std::filesystem::exists(out));
  std::filesystem::remove(recipe);
  std::filesystem::remove(onnx);
}

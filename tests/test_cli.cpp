// The vitsim command line: output content and the exit-code contract (0 ok, 2 bad input).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/cli.hpp"

namespace {
struct Run {
  int code;
  std::string out, err;
};

Run run_vitsim(std::vector<std::string> args) {
  args.insert(args.begin(), "vitsim");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  const int code = vitsim::sim::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}
}  // namespace

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

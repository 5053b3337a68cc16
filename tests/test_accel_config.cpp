// Accelerator configs (configs/accel/*.json): loading, totals, the engine registry, and one exact
// "<file>: <json path>: ..." message per error class; the `vitsim accel` command.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "arch/accel_config.hpp"
#include "arch/engine_types.hpp"
#include "arch/functional.hpp"
#include "quant/zoo.hpp"
#include "sim/cli/cli.hpp"
#include "sim/compile/inputs.hpp"
#include "test_support.hpp"

using vitsim::arch::AccelConfig;
using vitsim::quant::ConfigError;

using vitsim::test::Run;
using vitsim::test::run_vitsim;

namespace {
std::string accel_dir() {
  return vitsim::sim::config_dir() + "/accel";
}

nlohmann::json trio_json() {
  return vitsim::quant::read_json_file(accel_dir() + "/trio-vit.json");
}

// Writes `j` (or raw text) to a temp file, loads it, and returns the error message ("" if it loaded).
std::string load_error(const vitsim::test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("bad.json");
  std::ofstream(path) << text;
  try {
    vitsim::arch::load_accel_config(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
std::string load_error(const vitsim::test::TempDir& dir, const nlohmann::json& j) {
  return load_error(dir, j.dump(2));
}
}  // namespace

TEST_CASE("The bundled accelerator configs load and validate", "[accel]") {
  for (const char* name : {"trio-vit", "small-test", "systolic-32x32-os"}) {
    const AccelConfig c = vitsim::sim::find_accel(name);
    CHECK(c.name == name);
    CHECK_FALSE(c.engines.empty());
    // The Trio-ViT units (trio-vit with the max pool of CNNs); the systolic baseline also runs DeiT (gelu,
    // softmax, token_ops) and CNNs (maxpool, act_table, channel_mul).
    const std::string n = name;
    CHECK(c.aux_units.size() == (n == "systolic-32x32-os" ? 14u : n == "trio-vit" ? 9u : 8u));
    CHECK(c.buffers.size() == vitsim::arch::kBufferKinds);
    CHECK_FALSE(c.notes.empty());
  }
  const AccelConfig s = vitsim::sim::find_accel("systolic-32x32-os");
  REQUIRE(s.engines.size() == 1);
  const auto* sa = dynamic_cast<const vitsim::arch::SystolicParams*>(s.engines[0].params.get());
  REQUIRE(sa);
  CHECK(sa->rows == 32);
  CHECK(sa->cols == 32);
  CHECK(sa->dataflow == vitsim::arch::Dataflow::OutputStationary);
  CHECK(s.multipliers() == 1024);
}

TEST_CASE("trio-vit: 2048 multipliers, 1024 + aux DSPs, 819.2 peak GOPS", "[accel]") {
  const AccelConfig c = vitsim::sim::find_accel("trio-vit");
  CHECK(c.clock_mhz == 200);
  CHECK(c.dsp_packing == 2);
  CHECK(c.multipliers() == 2048);
  CHECK(c.engine_dsps() == 1024);
  CHECK(c.aux_dsps() == 64 + 32 + 4);  // requantizer, hswish, layernorm
  CHECK(c.dsps() == 1024 + c.aux_dsps());
  CHECK(c.dsps() <= 2520);  // fits the ZCU102
  CHECK(c.peak_gops() == Approx(819.2).epsilon(1e-12));
  CHECK(c.dram.bandwidth_gbps == 19.2);
  CHECK(c.dram_bytes_per_cycle() == Approx(96.0));
  CHECK(c.onchip_bytes() <= 32100000 / 8);  // within the XCZU9EG's 32.1 Mb of BRAM

  const auto* mat = dynamic_cast<const vitsim::arch::MatParams*>(c.engine("mat")->params.get());
  const auto* rmac = dynamic_cast<const vitsim::arch::RmacParams*>(c.engine("rmac")->params.get());
  REQUIRE(mat);
  REQUIRE(rmac);
  CHECK(mat->pe == 8);
  CHECK(mat->lanes == 8);
  CHECK(mat->replicas == 16);
  CHECK(mat->adder_tree_stages == 3);
  CHECK(mat->multipliers() == 1024);
  CHECK(rmac->multipliers() == 1024);
  CHECK(rmac->supports(vitsim::arch::TileWork::Depthwise, 3, 1));
  CHECK(rmac->supports(vitsim::arch::TileWork::Depthwise, 5, 2));
  CHECK_FALSE(rmac->supports(vitsim::arch::TileWork::Depthwise, 7, 1));
  CHECK(rmac->supports(vitsim::arch::TileWork::Gemm, 1, 1));
  CHECK_FALSE(mat->supports(vitsim::arch::TileWork::Depthwise, 3, 1));
  CHECK(rmac->assist_pointwise);
  CHECK(c.engine("nope") == nullptr);
}

TEST_CASE(
    "vit-gemm: one GEMM engine of trio-vit's 2,048 multipliers with Softmax, LayerNorm, GELU and "
    "token-op units",
    "[accel]") {
  const AccelConfig c = vitsim::sim::find_accel("vit-gemm");
  REQUIRE(c.engines.size() == 1);
  CHECK(c.engines[0].type == "mat");
  CHECK(c.multipliers() == vitsim::sim::find_accel("trio-vit").multipliers());
  for (const char* type : {"requantizer", "residual_add", "softmax", "layernorm", "gelu", "token_ops"})
    CHECK(c.aux_index(type) >= 0);
  CHECK(c.aux_units.size() == 6);
  CHECK(c.aux("gelu").params->summary() == "polynomial");  // as vit-w8a8 quantizes GELU
  // The engine's packed multipliers, then the units' DSPs: requantizer, layernorm, gelu, softmax.
  CHECK(c.dsps() == 2048 / 2 + 64 + 32 + 256 + 64);
}

TEST_CASE("The unit registry lists the engine and auxiliary unit types", "[accel]") {
  using Role = vitsim::arch::UnitType::Role;
  const auto& registry = vitsim::arch::UnitRegistry::instance();
  CHECK(registry.names(Role::Engine) ==
        std::vector<std::string>{"fp32_mat", "mat", "mixed", "ps_mac", "rmac", "shift_array", "systolic"});
  CHECK(registry.names(Role::Aux) ==
        std::vector<std::string>{"act_table", "avgpool", "channel_mul", "gelu", "hswish", "layernorm",
                                 "log2_quantizer", "maxpool", "relu", "requant_shifter", "requantizer",
                                 "residual_add", "shift_subtractor", "softmax", "token_ops"});
  REQUIRE(registry.find("mat"));
  CHECK_FALSE(registry.find("mat")->description.empty());
  CHECK(registry.find("tpu") == nullptr);
  // GELU is its own type, no longer the Hswish unit's.
  CHECK(registry.performers(vitsim::arch::AuxStep::Gelu) == "gelu");
  CHECK(registry.performers(vitsim::arch::AuxStep::Hswish) == "hswish");
  CHECK(registry.performers(vitsim::arch::AuxStep::AttnKernel) == "relu");
}

TEST_CASE("The unit registry refuses a second type of the same name and a type without its parser",
          "[accel]") {
  vitsim::arch::UnitType gelu;
  gelu.name = "gelu";
  gelu.role = vitsim::arch::UnitType::Role::Aux;
  gelu.parse_aux = [](vitsim::quant::JsonReader&) { return std::unique_ptr<vitsim::arch::AuxUnitParams>(); };
  gelu.steps = {vitsim::arch::AuxStep::Gelu};
  auto& registry = vitsim::arch::UnitRegistry::instance();
  CHECK_THROWS_WITH(registry.add(gelu), "unit type 'gelu' registered twice");
  vitsim::arch::UnitType orphan = gelu;
  orphan.name = "orphan";
  orphan.parse_aux = nullptr;
  CHECK_THROWS_WITH(registry.add(orphan), "unit type 'orphan' needs exactly the parser of its role");
  CHECK(registry.find("orphan") == nullptr);
}

TEST_CASE("A config lists only the auxiliary units it has, in registration order", "[accel]") {
  nlohmann::json j = trio_json();
  j["aux_units"].erase("hswish");
  j["aux_units"]["softmax"] = {{"throughput", 8}, {"latency", 6}, {"dsps", 8}};
  j["aux_units"]["gelu"] = {{"throughput", 16}, {"latency", 3}};
  const AccelConfig c = vitsim::arch::parse_accel_config(j, "mem");
  std::vector<std::string> types;
  for (const auto& a : c.aux_units) types.push_back(a.type);
  CHECK(types == std::vector<std::string>{"requantizer", "relu", "residual_add", "log2_quantizer",
                                          "shift_subtractor", "avgpool", "layernorm", "gelu", "softmax",
                                          "maxpool"});
  CHECK(c.aux_for(vitsim::arch::AuxStep::Hswish) == -1);
  CHECK(c.aux_for(vitsim::arch::AuxStep::Gelu) == c.aux_index("gelu"));
  CHECK(c.aux("softmax").params->passes() == 3);
  CHECK(c.aux("layernorm").params->passes() == 2);
  CHECK(c.aux("gelu").params->passes() == 1);
  CHECK(c.aux_dsps() == 64 + 0 + 0 + 0 + 0 + 0 + 4 + 0 + 8);  // trio-vit's minus hswish's 32, plus softmax's
  CHECK_THROWS_AS(c.aux("hswish"), std::out_of_range);
}

TEST_CASE("mat adder-tree stages are ceil(log2(pe))", "[accel]") {
  for (const auto& [pe, stages] :
       std::vector<std::pair<int, int>>{{1, 0}, {2, 1}, {3, 2}, {8, 3}, {9, 4}, {64, 6}}) {
    nlohmann::json j = trio_json();
    j["engines"][0]["pe"] = pe;
    const AccelConfig c = vitsim::arch::parse_accel_config(j, "mem");
    CHECK(dynamic_cast<const vitsim::arch::MatParams&>(*c.engines[0].params).adder_tree_stages == stages);
  }
}

TEST_CASE("Accelerator config errors name the file and the JSON path", "[accel]") {
  vitsim::test::TempDir dir("accel", "errors");
  const std::string f = dir.file("bad.json");
  nlohmann::json j;

  SECTION("unknown key at a nested path") {
    j = trio_json();
    j["engines"][1]["pipeline"]["multipy"] = 2;
    CHECK_THAT(load_error(dir, j), Catch::StartsWith(f + ": /engines/1/pipeline/multipy: unknown key"));
    j = trio_json();
    j["buffers"]["weight"]["bank"] = 4;
    CHECK_THAT(load_error(dir, j), Catch::StartsWith(f + ": /buffers/weight/bank: unknown key"));
    j = trio_json();
    j["aux_units"]["tanh"] = {{"throughput", 1}, {"latency", 1}};
    CHECK_THAT(load_error(dir, j),
               Catch::StartsWith(f + ": /aux_units/tanh: unknown auxiliary unit type "
                                     "(registered types: act_table, avgpool, channel_mul, gelu, hswish,"));
    j = trio_json();
    j["aux_units"]["gelu"] = {{"throughput", 1}, {"latency", 1}, {"pe", 8}};
    CHECK_THAT(load_error(dir, j), Catch::StartsWith(f + ": /aux_units/gelu/pe: unknown key"));
    j["aux_units"]["gelu"] = {{"throughput", 1}, {"latency", 1}, {"method", "spline"}};
    CHECK_THAT(load_error(dir, j), Catch::StartsWith(f + ": /aux_units/gelu/method: expected one of"));
  }
  SECTION("wrong type") {
    j = trio_json();
    j["engines"][0]["lanes"] = "8";
    CHECK(load_error(dir, j) == f + ": /engines/0/lanes: expected an integer, found string (\"8\")");
    j = trio_json();
    j["dram"] = {{"bandwidth_gbps", "fast"}, {"latency_ns", 100}};  // the ideal bus
    CHECK(load_error(dir, j) == f + ": /dram/bandwidth_gbps: expected a number, found string (\"fast\")");
    j = trio_json();
    j["engines"][1]["kernels"][1] = 5.5;
    CHECK(load_error(dir, j) == f + ": /engines/1/kernels/1: expected an integer, found a number (5.5)");
  }
  SECTION("out of range") {
    j = trio_json();
    j["engines"][1]["pe"] = 0;
    CHECK(load_error(dir, j) == f + ": /engines/1/pe: expected an integer in [1, 4096], found 0");
    j = trio_json();
    j["clock_mhz"] = -5;
    CHECK(load_error(dir, j) == f + ": /clock_mhz: expected a number in [1, 10000], found -5");
    j = trio_json();
    j["buffers"]["output"]["capacity_bytes"] = 1000;
    CHECK(
        load_error(dir, j) ==
        f + ": /buffers/output/capacity_bytes: expected a multiple of banks x word_bytes = 128, found 1000");
    j = trio_json();
    j["dram"]["burst_bytes"] = 48;
    CHECK(load_error(dir, j) == f + ": /dram/burst_bytes: expected a power of two, found 48");
    j = trio_json();
    j["engines"][1]["kernels"] = {3, 4};
    CHECK(load_error(dir, j) == f + ": /engines/1/kernels/1: expected an odd kernel size, found 4");
    j = trio_json();
    j["engines"][0]["dataflow"] = "os";  // a systolic key on a mat engine
    CHECK_THAT(load_error(dir, j), Catch::StartsWith(f + ": /engines/0/dataflow: unknown key"));
  }
  SECTION("unknown engine type lists the registered types") {
    j = trio_json();
    j["engines"][1]["type"] = "tensor-core";
    CHECK(load_error(dir, j) == f + ": /engines/1/type: unknown engine type \"tensor-core\" (registered "
                                    "types: fp32_mat, mat, mixed, ps_mac, rmac, shift_array, systolic)");
  }
  SECTION("duplicate engine names") {
    j = trio_json();
    j["engines"][1]["name"] = "mat";
    CHECK(load_error(dir, j) == f + ": /engines/1/name: duplicate engine name \"mat\"");
  }
  SECTION("missing required field") {
    j = trio_json();
    j["engines"][0].erase("pe");
    CHECK(load_error(dir, j) == f + ": /engines/0/pe: required key is missing");
    j = trio_json();
    j.erase("aux_units");
    CHECK(load_error(dir, j) == f + ": /aux_units: required key is missing");
    j = trio_json();
    j["aux_units"]["relu"].erase("latency");
    CHECK(load_error(dir, j) == f + ": /aux_units/relu/latency: required key is missing");
    j = trio_json();
    j.erase("dram");
    CHECK(load_error(dir, j) == f + ": /dram: required key is missing");
    j = trio_json();
    j["engines"] = nlohmann::json::array();
    CHECK(load_error(dir, j) == f + ": /engines: expected at least one engine, found an empty array");
    j = trio_json();
    j["engines"][0] = 7;
    CHECK(load_error(dir, j) == f + ": /engines/0: expected an object, found an integer (7)");
  }
  SECTION("malformed JSON") {
    CHECK_THAT(load_error(dir, std::string("{\"name\": \"x\",, }")),
               Catch::StartsWith(f + ": malformed JSON: ") && Catch::Contains("line 1"));
  }
  SECTION("missing file") {
    try {
      vitsim::arch::load_accel_config(dir.file("absent.json"));
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(dir.file("absent.json") + ": cannot open the file"));
    }
    try {
      vitsim::sim::find_accel("no-such-accel");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(),
                 Catch::StartsWith("no-such-accel: cannot open the file") &&
                     Catch::Contains("known: auto-vit-acc, autovitacc-fp32-baseline, p2-vit, small-memory, "
                                     "small-test, "
                                     "systolic-32x32-os, trio-vit"));
    }
  }
}

TEST_CASE("vitsim accel prints the summary and exits 2 on a bad config", "[accel][cli]") {
  const Run r = run_vitsim({"accel", "--config", "trio-vit"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("total multipliers: 2,048") &&
                        Catch::Contains("DSPs: 1,124 = 2,048 / 2 + 100") &&
                        Catch::Contains("peak: 819.2 GOPS") &&
                        Catch::Contains("on-chip buffers: 2,113,536 bytes") &&
                        Catch::Contains("DRAM: DDR4 ddr4-2400-x64") && Catch::Contains("peak 19.20 GB/s") &&
                        Catch::Contains("(524,288 resident)") && Catch::Contains("mat (mat)") &&
                        Catch::Contains("rmac (rmac)"));
  CHECK(r.err.empty());

  const Run j =
      run_vitsim({"accel", "-c", vitsim::sim::config_dir() + "/accel/systolic-32x32-os.json", "--json"});
  REQUIRE(j.code == 0);
  const auto doc = nlohmann::json::parse(j.out);
  CHECK(doc["totals"]["multipliers"] == 1024);
  CHECK(doc["engines"][0]["dataflow"] == "os");

  vitsim::test::TempDir dir("accel", "cli");
  nlohmann::json bad = trio_json();
  bad["engines"][0]["replicas"] = -1;
  std::ofstream(dir.file("bad.json")) << bad.dump();
  const Run b = run_vitsim({"accel", "--config", dir.file("bad.json")});
  CHECK(b.code == 2);
  CHECK(b.out.empty());
  CHECK(b.err == "vitsim: error: " + dir.file("bad.json") +
                     ": /engines/0/replicas: expected an integer in [1, 4096], found -1\n");

  const Run missing = run_vitsim({"accel"});
  CHECK(missing.code == 2);
}

TEST_CASE("docs/config-reference.md shows arch/unit_softmax.cpp as it is, but for its comments",
          "[accel][docs]") {
  const std::string root = std::string(VITSIM_TEST_DATA_DIR) + "/../..";
  std::ifstream doc_file(root + "/docs/config-reference.md"), source_file(root + "/arch/unit_softmax.cpp");
  std::stringstream doc, source;
  doc << doc_file.rdbuf();
  std::string uncommented, line;
  while (std::getline(source_file, line))
    if (line.find_first_not_of(' ') == std::string::npos ||
        line.compare(line.find_first_not_of(' '), 2, "//") != 0)
      uncommented += line + "\n";
  const std::string text = doc.str(), begin = "in full but for its comments:\n\n```cpp\n";
  const size_t at = text.find(begin);
  REQUIRE(at != std::string::npos);
  const size_t from = at + begin.size();
  CHECK(text.substr(from, text.find("```", from) - from) == uncommented.substr(uncommented.find("#include")));
}

TEST_CASE("A unit's datapath runs only the layers of its steps", "[accel]") {
  const AccelConfig all =
      vitsim::arch::load_accel_config(std::string(VITSIM_TEST_DATA_DIR) + "/accel/all-units.json");
  vitsim::quant::QGraph vit;
  vit.graph = vitsim::quant::build_model("deit-tiny", 224);
  vit.nodes.resize(vit.graph.nodes.size());
  auto first = [&](vitsim::quant::OpKind op) {
    for (size_t i = 0; i < vit.graph.nodes.size(); ++i)
      if (vit.graph.nodes[i].op == op) return static_cast<int>(i);
    FAIL("no such op in deit-tiny");
    return -1;
  };
  const vitsim::arch::AuxTile softmax{vit, first(vitsim::quant::OpKind::Softmax), {}, {}, nullptr, {}};
  const vitsim::arch::AuxTile layernorm{vit, first(vitsim::quant::OpKind::LayerNorm), {}, {}, nullptr, {}};
  CHECK_THROWS_WITH(all.aux("softmax").params->compute(layernorm),
                    Catch::Contains("on auxiliary unit 'softmax': this unit runs only Softmax layers"));
  CHECK_THROWS_WITH(all.aux("token_ops").params->compute(softmax),
                    Catch::Contains("on auxiliary unit 'token_ops': this unit runs only the ViT token ops"));
  // A chain-only unit has no standalone datapath at all.
  CHECK_THROWS_WITH(all.aux("gelu").params->compute(softmax),
                    "auxiliary unit type 'gelu' has no functional datapath");
}

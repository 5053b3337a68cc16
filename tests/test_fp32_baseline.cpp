// FP32 datapaths (number_format "fp32", engine type fp32_mat; docs/engines.md, "FP32 datapath"): the
// closed form on a small tile derived by hand, its DSPs and LUTs, the 4-byte elements of the compiled
// program against the graph's shapes, both timing modes on the ViT fixture, the config rules, and the
// refusal of --functional.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "arch/engine_types.hpp"
#include "arch/resource_model.hpp"
#include "arch/tile_timing.hpp"
#include "quant/dataset.hpp"
#include "quant/onnx_import.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim;

// The example of docs/engines.md, "FP32 datapath": pe 4, lanes 2, replicas 2, unit stages, add_latency 4.
arch::Fp32MatParams small_fp32() {
  arch::Fp32MatParams p;
  p.pe = 4, p.lanes = 2, p.replicas = 2, p.add_latency = 4, p.dsps_per_mac = 5, p.luts_per_mac = 711;
  p.adder_tree_stages = arch::ceil_log2(p.pe);
  return p;
}

// Steps the tile's state machine to its end at the fixed port share.
arch::TileCost stepped(const arch::GroupPipeline& g, const arch::PortShare& ports) {
  const auto stepper = arch::group_pipeline_stepper(g, ports, {});
  int64_t steps = 1;
  while (!stepper->step() && steps < 10000) ++steps;
  CHECK(stepper->counted().cycles == steps);
  return stepper->counted();
}

nlohmann::json baseline_json() {
  return quant::read_json_file(test::config_dir() + "/accel/autovitacc-fp32-baseline.json");
}

// The trained ViT fixture (tests/data/fashion_vit/, docs/fixture.md), vit-w8a8 on 1 synthetic image.
quant::QGraph fixture() {
  const quant::Graph g = quant::import_onnx(std::string(VITSIM_TEST_DATA_DIR) + "/fashion_vit/model.onnx");
  const auto calib = quant::synthetic_images(1, g.nodes[0].out_shape, 9).images;
  return quant::quantize_graph(g, quant::find_recipe("vit-w8a8", test::config_dir() + "/quant"), calib);
}

}  // namespace

TEST_CASE("FP32 MAT: 4-byte operands and FP32 adders in the output-group pipeline", "[tile_timing][fp32]") {
  const arch::Fp32MatParams p = small_fp32();
  arch::ComputeTile t;
  t.work = arch::TileWork::Gemm;
  t.m = 4, t.n = 4, t.k = 8;
  // groups ceil(4/2) x ceil(4/2) = 4, waves ceil(8/4) = 2; a wave fetches 4 x 2 FP32 activations and 4 x 2
  // FP32 weights = 32 bytes each; depth = 4 unit stages + (2 tree stages + ceil(log2 4) fold stages) x 4.
  const arch::GroupPipeline g = p.group_pipeline(t);
  // {groups, waves, act_bytes, weight_bytes, depth, group_outputs}
  CHECK(std::vector<int64_t>{g.groups, g.waves, g.act_bytes, g.weight_bytes, g.depth, g.group_outputs} ==
        std::vector<int64_t>{4, 2, 32, 32, 20, 4});
  // Ports of 32 bytes a cycle: one fetch cycle a wave, (4 - 1) x 2 + 2 + 19 = 27 cycles.
  const arch::PortShare wide{32, 32}, narrow{16, 16};
  CHECK(arch::group_pipeline_cost(g, wide, {}) == arch::TileCost{27, 0, 0});
  CHECK(stepped(g, wide) == arch::TileCost{27, 0, 0});
  // 16 bytes a cycle: two fetch cycles a wave, (4 - 1) x 4 + 4 + 19 = 35 cycles, 4 x 2 x 1 = 8 port stalls.
  CHECK(arch::group_pipeline_cost(g, narrow, {}) == arch::TileCost{35, 8, 0});
  CHECK(stepped(g, narrow) == arch::TileCost{35, 8, 0});
  // An adder of latency 1 has nothing to fold: MAT's depth, 4 + 2.
  arch::Fp32MatParams one = p;
  one.add_latency = 1;
  CHECK(one.group_pipeline(t).depth == 6);

  // 16 multiply-adds: 16 x 5 DSPs, none packed as INT8 multipliers, 16 x 711 LUTs.
  CHECK(p.multipliers() == 16);
  CHECK(p.dsp_multipliers() == 0);
  CHECK(p.fp32_dsps() == 80);
  int64_t luts = 0;
  for (const arch::FabricPart& part : p.fabric()) luts += part.luts;
  CHECK(luts == 16 * 711);
}

TEST_CASE("autovitacc-fp32-baseline: loads, validates, fits the ZCU102 and counts its FP32 DSPs",
          "[accel][fp32]") {
  const arch::AccelConfig c = sim::find_accel("autovitacc-fp32-baseline");
  CHECK(c.number_format == arch::NumberFormat::Fp32);
  REQUIRE(c.engines.size() == 1);
  CHECK(c.engines[0].type == "fp32_mat");
  CHECK(c.aux_index("requantizer") < 0);
  CHECK(c.multipliers() == 16 * 4 * 4);
  // 256 multiply-adds of 5 DSPs, then layernorm 32, gelu 256 and softmax 64.
  CHECK(c.dsps() == 256 * 5 + 32 + 256 + 64);
  CHECK(c.element_bytes(8) == 4);
  CHECK(c.element_bytes(4) == 4);
  const arch::ResourceEstimate r = arch::estimate_resources(c);
  CHECK(r.dsps == c.dsps());
  CHECK(arch::fits(r, arch::find_device("zcu102", sim::config_dir())));
  CHECK_FALSE(c.notes.empty());

  // The format and the engines must agree, both ways.
  nlohmann::json j = baseline_json();
  j["number_format"] = "int";
  CHECK_THROWS_WITH(arch::parse_accel_config(j, "x"),
                    "x: /engines/0/type: engine type \"fp32_mat\" is an FP32 datapath: it needs "
                    "\"number_format\": \"fp32\"");
  j = quant::read_json_file(test::config_dir() + "/accel/auto-vit-acc.json");
  j["number_format"] = "fp32";
  CHECK_THROWS_WITH(arch::parse_accel_config(j, "x"),
                    "x: /engines/0/type: engine type \"mixed\" is not an FP32 datapath, and number_format "
                    "is \"fp32\"");
  j = baseline_json();
  j["engines"][0].erase("add_latency");
  CHECK_THROWS_WITH(arch::parse_accel_config(j, "x"), Catch::StartsWith("x: /engines/0/add_latency:"));
}

TEST_CASE("FP32 format: every tensor element is 4 bytes, no requantizer, both timing modes agree",
          "[compiler][fp32]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig fp32 = sim::find_accel("autovitacc-fp32-baseline");
  // Its integer twin: the same array as MAT in number format int, with vit-gemm's requantizer.
  nlohmann::json j = baseline_json();
  j["number_format"] = "int";
  j["engines"][0] = {{"name", "gemm"}, {"type", "mat"}, {"pe", 16}, {"lanes", 4}, {"replicas", 4}};
  j["aux_units"]["requantizer"] = {{"throughput", 128}, {"latency", 4}, {"dsps", 64}};
  const arch::AccelConfig twin = arch::parse_accel_config(j, "twin");
  for (const auto* config : {&fp32, &twin}) {
    const int64_t bytes = config == &fp32 ? 4 : 1;
    const arch::Program p = sim::compile(q, *config, {});
    int linears = 0;
    for (const arch::Allocation& a : p.memory_plan) {
      const quant::Node& n = q.graph.nodes[static_cast<size_t>(a.layer)];
      if (a.tensor == arch::Allocation::Tensor::Weights && n.op == quant::OpKind::Linear) {
        ++linears;  // the weights, then a 4-byte bias per output feature
        CHECK(a.bytes == n.out_features * n.in_features * bytes + 4 * n.out_features);
      }
      if (n.op == quant::OpKind::Input) CHECK(a.bytes == quant::numel(n.out_shape) * bytes);
    }
    CHECK(linears > 0);
    // A Linear's outputs pass the requantizer (none in FP32), then its GELU unit if it has one.
    for (const arch::ComputeTile& t : p.tiles) {
      const quant::Node& n = q.graph.nodes[static_cast<size_t>(t.layer)];
      if (t.work != arch::TileWork::Gemm || n.op != quant::OpKind::Linear ||
          q.nodes[static_cast<size_t>(t.layer)].float_layernorm)
        continue;
      const size_t gelu = n.act == quant::Act::GeluTanh || n.act == quant::Act::GeluErf ? 1 : 0;
      CHECK(t.aux_chain.size() == gelu + (config == &fp32 ? 0 : 1));
    }
  }
  // One engine and ideal memory: nothing is shared, so fast mode equals cycle mode exactly.
  sim::SimOptions o;
  o.compile.ideal_memory = true;
  const sim::SimReport fast = sim::simulate(q, fp32, o);
  o.timing = arch::TimingMode::Cycle;
  const sim::SimReport cycle = sim::simulate(q, fp32, o);
  CHECK(fast.cycles == cycle.cycles);
  CHECK(fast.cycles > 0);
}

TEST_CASE("FP32 format: --functional is refused with exit 2 before any work", "[cli][fp32]") {
  const test::Run r = test::run_vitsim({"run", "--model", "deit-tiny", "--accel", "autovitacc-fp32-baseline",
                                        "--recipe", "vit-w8a8", "--functional"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("config 'autovitacc-fp32-baseline' has an FP32 datapath"));
  CHECK(r.out.empty());
  sim::SimOptions o;
  o.functional = true;
  CHECK_THROWS_AS(sim::simulate(fixture(), sim::find_accel("autovitacc-fp32-baseline"), o),
                  std::invalid_argument);
}

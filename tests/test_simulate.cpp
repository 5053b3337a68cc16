// The SystemC simulation end to end: the two timing modes agree cycle for cycle where nothing is shared
// (one engine), cycle mode's reports are consistent, functional simulation is bit-exact
// against the integer reference executor, hand-derived closed forms hold with ideal memory, the watchdog
// names a unit that makes no progress, and the CLI's simulate / run commands.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "arch/accelerator.hpp"
#include "arch/engine_types.hpp"
#include "quant/dataset.hpp"
#include "quant/json_reader.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;
using arch::TimingMode;

namespace {

const std::string kConfigDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs";

using test::quantize;
using test::random_layer;

// configs/accel/small-memory.json (MAT + R-MAC like trio-vit, but with small buffers, a slow DRAM and narrow
// ports, so tiles are small and DRAM, port and output-path stalls all occur), with `engines` if given.
arch::AccelConfig small_memory_config(const std::string& engines = "") {
  nlohmann::json j = quant::read_json_file(kConfigDir + "/accel/small-memory.json");
  if (!engines.empty()) j["engines"] = nlohmann::json::parse(engines);
  return arch::parse_accel_config(j, "small-memory (test)");
}

arch::AccelConfig small_systolic_config(const std::string& dataflow) {
  return small_memory_config(R"([{"name": "sa", "type": "systolic", "rows": 8, "cols": 4, "dataflow": ")" +
                             dataflow + R"("}])");
}

sim::SimReport run(const quant::QGraph& q, const arch::AccelConfig& c, TimingMode mode,
                   bool functional = false, bool ideal = false) {
  sim::SimOptions o;
  o.timing = mode;
  o.functional = functional;
  o.compile.ideal_memory = ideal;
  return sim::simulate(q, c, o);
}

// Everything a report says except which mode produced it.
nlohmann::json comparable(const sim::SimReport& r) {
  nlohmann::json j = r.to_json();
  j.erase("timing");
  return j;
}

// Total and per-layer cycles (and every statistic) equal in both modes; returns the fast report. Only for
// a single engine (with ideal memory, or memory whose DMA writes never take ports the engine wants).
sim::SimReport require_modes_agree(const quant::QGraph& q, const arch::AccelConfig& c, bool ideal) {
  const sim::SimReport fast = run(q, c, TimingMode::Fast, false, ideal);
  const sim::SimReport cycle = run(q, c, TimingMode::Cycle, false, ideal);
  INFO(q.graph.model << " on " << c.name);
  REQUIRE(fast.cycles == cycle.cycles);
  for (size_t i = 0; i < fast.layers.size(); ++i) {
    INFO("layer " << fast.layers[i].name);
    REQUIRE(fast.layers[i].start == cycle.layers[i].start);
    REQUIRE(fast.layers[i].end == cycle.layers[i].end);
  }
  REQUIRE(comparable(fast) == comparable(cycle));
  return fast;
}

int64_t total_stalls(const sim::SimReport& r, int64_t sim::CycleBreakdown::*field) {
  int64_t s = 0;
  for (const sim::ResourceStats& res : r.resources) s += res.cycles.*field;
  return s;
}

}  // namespace

// Cycle mode is the reference: its counts emerge from per-cycle units and arbiters. Fast mode prices closed
// forms. Where nothing is shared (one engine, ideal memory) the two must agree exactly on every layer;
// elsewhere fast mode is a measured approximation (docs/validation.md).
TEST_CASE("Cycle mode on EfficientViT-B0 and B1 @224: consistent reports, fast mode within 2% on trio-vit",
          "[simulate][modes]") {
  for (const char* model : {"efficientvit-b0", "efficientvit-b1"}) {
    const quant::QGraph q = quantize(quant::build_model(model, 224));
    const sim::SimReport cycle =
        run(q, sim::find_accel(kConfigDir + "/accel/trio-vit.json"), TimingMode::Cycle);
    const sim::SimReport fast =
        run(q, sim::find_accel(kConfigDir + "/accel/trio-vit.json"), TimingMode::Fast);
    INFO(model << ": cycle " << cycle.cycles << ", fast " << fast.cycles);
    CHECK(cycle.macs == q.graph.macs());
    for (const sim::ResourceStats& r : cycle.resources) {
      const sim::CycleBreakdown& c = r.cycles;
      INFO(r.name);
      CHECK(c.busy + c.stall_port + c.stall_aux + c.stall_dram + c.stall_dependency + c.idle == cycle.cycles);
    }
    CHECK(std::abs(fast.cycles - cycle.cycles) * 50 <= cycle.cycles);
  }
  // On the small memory every stall kind occurs in cycle mode too.
  const sim::SimReport small =
      run(quantize(quant::build_model("efficientvit-b0", 224)), small_memory_config(), TimingMode::Cycle);
  CHECK(total_stalls(small, &sim::CycleBreakdown::stall_dram) > 0);
  CHECK(total_stalls(small, &sim::CycleBreakdown::stall_port) > 0);
  CHECK(total_stalls(small, &sim::CycleBreakdown::stall_aux) > 0);
}

TEST_CASE("Timing modes agree on EfficientViT-B0 @64 on the systolic baseline, all dataflows",
          "[simulate][modes]") {
  const quant::QGraph q = quantize(quant::build_model("efficientvit-b0", 64));
  for (const char* df : {"os", "ws", "is"}) require_modes_agree(q, small_systolic_config(df), true);
}

namespace {

void random_layers_agree(const arch::AccelConfig& config, int kind, int count, uint64_t seed, bool ideal) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const quant::QGraph q = quantize(random_layer(rng, kind), "naive-w8a8");
    INFO("case " << i << ": " << q.graph.nodes.back().name << " input "
                 << quant::shape_str(q.graph.nodes[0].out_shape) << " -> "
                 << quant::shape_str(q.graph.nodes.back().out_shape) << " k" << q.graph.nodes[1].kernel
                 << " s" << q.graph.nodes[1].stride);
    require_modes_agree(q, config, ideal);
  }
}

const char* const kMatAlone = R"([{"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4}])";
const char* const kRmacAlone =
    R"([{"name": "rmac", "type": "rmac", "pe": 4, "lanes": 4, "replicas": 2, "assist_pointwise": true}])";

}  // namespace

TEST_CASE("Timing modes agree on 200 random pointwise/generic convs on MAT alone, ideal memory",
          "[simulate][modes][random]") {
  random_layers_agree(small_memory_config(kMatAlone), 0, 200, 1, true);
}

TEST_CASE("Timing modes agree on 200 random depthwise convs on R-MAC alone, ideal memory",
          "[simulate][modes][random]") {
  random_layers_agree(small_memory_config(kRmacAlone), 1, 200, 2, true);
}

TEST_CASE("Timing modes agree on 200 random fused depthwise -> pointwise pairs on R-MAC alone, ideal memory",
          "[simulate][modes][random]") {
  random_layers_agree(small_memory_config(kRmacAlone), 2, 200, 3, true);
}

TEST_CASE("Timing modes agree on 200 random convs on the systolic engine, small memory",
          "[simulate][modes][random]") {
  const char* dataflows[] = {"os", "ws", "is"};
  for (int d = 0; d < 3; ++d)
    random_layers_agree(small_systolic_config(dataflows[d]), d % 2, 70, 10 + d, false);
}

TEST_CASE("Functional simulation is bit-exact on the trained fixture (trio-vit and a small memory)",
          "[simulate][functional]") {
  const quant::QGraph q = quantize(
      quant::import_onnx(std::string(VITSIM_TEST_DATA_DIR) + "/fashion_evit/model.onnx"), "trio-w8a8", 4);
  for (const arch::AccelConfig& c :
       {sim::find_accel(kConfigDir + "/accel/trio-vit.json"), small_memory_config()}) {
    const sim::SimReport r = run(q, c, TimingMode::Fast, true);
    INFO(c.name);
    REQUIRE(r.mismatches == 0);
    for (const sim::LayerStats& l : r.layers) CHECK(l.mismatches == 0);
  }
}

TEST_CASE("Functional simulation is bit-exact on EfficientViT-B0 @224, synthetic weights",
          "[simulate][functional]") {
  const quant::QGraph q = quantize(quant::build_model("efficientvit-b0", 224));
  const sim::SimReport r =
      run(q, sim::find_accel(kConfigDir + "/accel/trio-vit.json"), TimingMode::Cycle, true);
  REQUIRE(r.mismatches == 0);
}

TEST_CASE("One pointwise conv on MAT with ideal memory: the hand-derived closed form", "[simulate][closed]") {
  // 16 -> 24 channels on 6 x 5 pixels, no activation: Gemm m = 30 pixels, n = 24, k = 16 on MAT pe 8,
  // lanes 4, replicas 4 (the only engine). Output groups = ceil(24/4) * ceil(30/4) = 6 * 8 = 48; waves per
  // group = ceil(16/8) = 2. Port share (one engine): activation 4 banks x 1 port x 8 B = 32 B/cycle, weights
  // 2 x 8 = 16 B/cycle; a wave needs pe x replicas = 32 activation bytes (1 cycle) and pe x lanes = 32 weight
  // bytes (2 cycles): p = 2, 4 issue cycles per group. Requantizer: 16 outputs per group at 8 per cycle:
  // a = 2, latency 3. Period T = max(4, 2) = 4. Depth = fetch + multiply + accumulate + writeback (1 each)
  // + adder tree ceil(log2 8) = 3 -> 7.
  // cycles = (48 - 1) * 4 + 4 + (7 - 1) + 2 + 3 = 203.
  quant::GraphBuilder b("pw", 6, {16, 6, 5});
  b.conv("pw", 0, 24, 1, 1, 1, true, quant::Norm::None, quant::Act::None);
  const quant::QGraph q = quantize(b.finish(), "naive-w8a8");
  const arch::AccelConfig c =
      small_memory_config(R"([{"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4}])");
  for (TimingMode mode : {TimingMode::Fast, TimingMode::Cycle}) {
    const sim::SimReport r = run(q, c, mode, true, true);
    CHECK(r.cycles == 203);
    CHECK(r.resources[0].cycles.stall_port == 48 * 2 * 1);
    CHECK(r.mismatches == 0);
  }
}

TEST_CASE("One depthwise 3x3 conv on R-MAC with ideal memory: the hand-derived closed form",
          "[simulate][closed]") {
  // 8 channels, 10 x 10 pixels, stride 1, ReLU: R-MAC pe 4, lanes 4, replicas 2 (the only engine).
  // Groups = ceil(8/4) * ceil(100/8) = 2 * 13 = 26; waves = 9 taps. A wave fetches pe x lanes x replicas =
  // 32 activation bytes (share 32 B/cycle: 1 cycle) and pe = 4 weight bytes (1 cycle): p = 1. Output path
  // requantizer + relu: rate min(8, 8) = 8, 32 outputs per group -> a = 4, latency 3 + 1 = 4. T = max(9, 4)
  // = 9. Depth = 4 (no adder tree in depthwise mode).
  // cycles = (26 - 1) * 9 + 9 + (4 - 1) + 4 + 4 = 245.
  quant::GraphBuilder b("dw", 10, {8, 10, 10});
  b.conv("dw", 0, 8, 3, 1, 8, true, quant::Norm::None, quant::Act::ReLU);
  const quant::QGraph q = quantize(b.finish(), "naive-w8a8");
  const arch::AccelConfig c =
      small_memory_config(R"([{"name": "rmac", "type": "rmac", "pe": 4, "lanes": 4, "replicas": 2}])");
  for (TimingMode mode : {TimingMode::Fast, TimingMode::Cycle}) {
    const sim::SimReport r = run(q, c, mode, true, true);
    CHECK(r.cycles == 245);
    CHECK(r.resources[0].cycles.stall_port == 0);
    CHECK(r.mismatches == 0);
  }
}

TEST_CASE("The watchdog stops a unit that makes no progress and names it, its state and the cycle",
          "[simulate][watchdog]") {
  quant::GraphBuilder b("pw", 64, {64, 64, 64});
  b.conv("pw", 0, 64, 1, 1, 1, true, quant::Norm::None, quant::Act::None);
  const quant::QGraph q = quantize(b.finish(), "naive-w8a8");
  const arch::AccelConfig c =
      small_memory_config(R"([{"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4}])");
  sim::SimOptions o;
  o.timing = TimingMode::Cycle;
  o.compile.ideal_memory = true;  // one long tile and nothing else completing
  o.watchdog_cycles = 500;
  REQUIRE_THROWS_WITH(sim::simulate(q, c, o), Catch::Contains("no progress for 500 cycles at cycle 500") &&
                                                  Catch::Contains("mat: running tile 0 of layer 'pw'") &&
                                                  Catch::Contains("group "));
}

TEST_CASE("vitsim simulate writes a report: bad timing and bad configs exit 2", "[simulate][cli]") {
  test::TempDir dir("simulate", "cli");
  const quant::QGraph q = quantize(quant::build_model("efficientvit-b0", 64));
  quant::save_qgraph(q, dir.file("b0.vqg"));
  const test::Run ok = test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--accel", "trio-vit",
                                         "--functional", "--report", dir.file("report.json")});
  INFO(ok.err);
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("MAC (DSP) utilization") && Catch::Contains("GOPS") &&
                         Catch::Contains("0 mismatching output elements"));
  std::ifstream in(dir.file("report.json"));
  const nlohmann::json report = nlohmann::json::parse(in);
  CHECK(report.at("macs").get<int64_t>() == q.graph.macs());
  CHECK(report.at("mismatches").get<int64_t>() == 0);
  CHECK(report.at("layers").size() == q.graph.nodes.size());

  const test::Run bad_timing =
      test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--timing", "slow"});
  CHECK(bad_timing.code == 2);
  CHECK_THAT(bad_timing.err, Catch::Contains("unknown timing mode 'slow'"));
  {
    std::ofstream bad(dir.file("bad.json"));
    bad << R"({"name": "x", "clock_mhz": -5})";
  }
  const test::Run bad_config =
      test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--accel", dir.file("bad.json")});
  CHECK(bad_config.code == 2);
  CHECK_THAT(bad_config.err, Catch::Contains("bad.json") && Catch::Contains("clock_mhz"));
  // A config without the unit a layer's step needs: one message naming the op and the unit type, exit 2.
  nlohmann::json no_hswish = quant::read_json_file(test::config_dir() + "/accel/trio-vit.json");
  no_hswish["aux_units"].erase("hswish");
  {
    std::ofstream out(dir.file("no-hswish.json"));
    out << no_hswish.dump();
  }
  const test::Run unmapped =
      test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--accel", dir.file("no-hswish.json"),
                        "--report", dir.file("none.json")});
  CHECK(unmapped.code == 2);
  CHECK_THAT(unmapped.err,
             Catch::Contains("op conv2d needs its hswish step on an auxiliary unit of type hswish, "
                             "and config 'trio-vit' has none"));
  CHECK(std::count(unmapped.err.begin(), unmapped.err.end(), '\n') == 1);
  CHECK(dir.entries() == std::vector<std::string>{"b0.vqg", "bad.json", "no-hswish.json", "report.json"});
}

TEST_CASE("vitsim run: model -> PTQ -> simulation -> summary", "[simulate][cli]") {
  const test::Run r =
      test::run_vitsim({"run", "--model", "efficientvit-b0", "--res", "64", "--calib-count", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("efficientvit-b0 @64, trio-w8a8 on trio-vit (fast timing)") &&
                        Catch::Contains("FPS") && Catch::Contains("layers taking the most cycles"));
}

TEST_CASE("The summary's layer column widens for long layer names (imported models)", "[simulate]") {
  sim::SimReport r;
  r.cycles = 1000;
  for (const std::string& name : {std::string("stem.0"), std::string(50, 'n')}) {
    sim::LayerStats l;
    l.name = name;
    l.label = "conv3x3";
    l.start = 0;
    l.end = 99;
    r.layers.push_back(l);
  }
  std::ostringstream out;
  sim::print_summary(r, out);
  // Both rows put the op column one space after the longest name.
  CHECK_THAT(out.str(), Catch::Contains("    " + std::string(50, 'n') + " conv3x3") &&
                            Catch::Contains("    stem.0" + std::string(45, ' ') + "conv3x3"));
}

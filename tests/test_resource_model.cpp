// The FPGA resource model (arch/resource_model.hpp, docs/resource-model.md): each formula against hand
// arithmetic, totals of small-test and trio-vit, monotonicity, device files and their errors, fits().
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "arch/engine_types.hpp"
#include "arch/resource_model.hpp"
#include "quant/json_reader.hpp"
#include "sim/compile/inputs.hpp"
#include "test_support.hpp"

using vitsim::arch::AccelConfig;
using vitsim::arch::BufferConfig;
using vitsim::arch::Device;
using vitsim::arch::ResourceEstimate;
using vitsim::quant::ConfigError;

namespace {
// The item named `component` (fails the test if absent).
const vitsim::arch::ResourceItem& item(const ResourceEstimate& r, const std::string& component) {
  for (const auto& i : r.items)
    if (i.component == component) return i;
  FAIL("no resource item \"" << component << "\"");
  throw std::logic_error("unreachable");
}

BufferConfig buffer(int64_t capacity, int banks, int ports, int word_bytes) {
  BufferConfig b;
  b.capacity_bytes = capacity;
  b.banks = banks;
  b.ports_per_bank = ports;
  b.word_bytes = word_bytes;
  return b;
}

// `c` with every engine's fetch stage and every auxiliary unit's latency changed, so that no unit matches a
// synthesized row and the formulas of docs/resource-model.md apply (they depend on neither).
AccelConfig unsynthesized(AccelConfig c) {
  for (auto& e : c.engines) {
    if (const auto* m = dynamic_cast<const vitsim::arch::MatParams*>(e.params.get())) {
      auto p = std::make_shared<vitsim::arch::MatParams>(*m);
      p->pipeline.fetch += 40;
      e.params = p;
    } else if (const auto* r = dynamic_cast<const vitsim::arch::RmacParams*>(e.params.get())) {
      auto p = std::make_shared<vitsim::arch::RmacParams>(*r);
      p->pipeline.fetch += 40;
      e.params = p;
    }
  }
  for (auto& a : c.aux_units) a.latency += 1000;
  return c;
}

std::string device_error(const vitsim::test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("dev.json");
  std::ofstream(path) << text;
  try {
    vitsim::arch::find_device(path, vitsim::sim::config_dir());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("Resource formulas: adder trees, BRAM36 aspects, aux units per element", "[resources]") {
  using vitsim::arch::adder_tree_luts;
  CHECK(adder_tree_luts(1, 16) == 0);   // nothing to add
  CHECK(adder_tree_luts(2, 16) == 17);  // one 17-bit adder
  // 8 products of 16 bits: 4 x 17 + 2 x 18 + 1 x 19 = 68 + 36 + 19 = 123 (7 = 8 - 1 adders).
  CHECK(adder_tree_luts(8, 16) == 123);
  // 5 inputs: 2 x 17 (one passes through) -> 3: 1 x 18 -> 2: 1 x 19; 34 + 18 + 19 = 71 (4 adders).
  CHECK(adder_tree_luts(5, 16) == 71);

  using vitsim::arch::buffer_bram36;
  // One 512 x 64-bit bank: a single 512 x 72 block with one port; with two ports the widest true-dual-port
  // aspect is 1K x 36, so two blocks side by side.
  CHECK(buffer_bram36(buffer(4096, 1, 1, 8)) == 1);
  CHECK(buffer_bram36(buffer(4096, 1, 2, 8)) == 2);
  // 128-bit words, one port, 512 deep: ceil(128 / 72) = 2 blocks.
  CHECK(buffer_bram36(buffer(8192, 1, 1, 16)) == 2);
  // 2048 x 32-bit bank, two ports: 1K x 36 needs 1 x 2, 2K x 18 needs 2 x 1: 2 blocks (not 4 of 512 x 72).
  CHECK(buffer_bram36(buffer(8192, 1, 2, 4)) == 2);
  // 8-bit words, 40 KiB in 2 banks of 20 KiB: 4K x 9 -> 1 x ceil(20480 / 4096) = 5 per bank; 8K x 4 -> 2 x 3
  // = 6; 2K x 18 -> 1 x 10 = 10. Best 5 per bank, 10 in all.
  CHECK(buffer_bram36(buffer(40960, 2, 2, 1)) == 10);

  // Per element: adders/comparators 1 LUT per bit, 2:1 mux 1 LUT per bit, clamp = compare + select,
  // shifter = bits x ceil(log2(bits)), leading-one detector = bits.
  const AccelConfig all =
      vitsim::arch::load_accel_config(std::string(VITSIM_TEST_DATA_DIR) + "/accel/all-units.json");
  auto luts_per_element = [&](const char* type) { return all.aux(type).params->luts_per_element(); };
  CHECK(luts_per_element("requantizer") == 32 * 5 + 32 + 8 + 16);           // 216
  CHECK(luts_per_element("hswish") == 8 + 16 + 16 * 4 + 16);                // 104
  CHECK(luts_per_element("relu") == 16);                                    // 8 + 8
  CHECK(luts_per_element("residual_add") == 2 * 9 + 32 + 32 * 5 + 8 + 16);  // 234
  CHECK(luts_per_element("log2_quantizer") == 32 + 32 * 5 + 16);            // 208
  CHECK(luts_per_element("shift_subtractor") == 9 + 16);                    // 25
  CHECK(luts_per_element("avgpool") == 32);                                 //
  // Statistics (sum, sum of squares), then normalize (- mean, shift, zero point, clamp).
  CHECK(luts_per_element("layernorm") == 2 * 32 + 32 + 32 * 5 + 8 + 16);  // 280
  // A 256 x 8 table in 64 x 1 LUT RAMs (all-units' gelu), or the polynomial: |x|, clip, + b, + c, 1 + erf,
  // shift, clamp.
  CHECK(luts_per_element("gelu") == 4 * 8);
  nlohmann::json j =
      vitsim::quant::read_json_file(std::string(VITSIM_TEST_DATA_DIR) + "/accel/all-units.json");
  j["aux_units"]["gelu"]["method"] = "polynomial";
  CHECK(vitsim::arch::parse_accel_config(j, "polynomial gelu").aux("gelu").params->luts_per_element() ==
        8 + 16 + 16 + 2 * 32 + 32 * 5 + 16);  // 280
  // Max (compare, select), x - max, exp's shift, + b, + c, sum, leading one, log2 difference, clamp.
  CHECK(luts_per_element("softmax") == 16 + 9 + 32 * 5 + 16 + 2 * 32 + 32 + 8 + 16);  // 321
  // Zero-point subtract, embedding add, rounding shift, zero point, clamp (moves add no per-element LUTs).
  CHECK(luts_per_element("token_ops") == 9 + 32 + 32 * 5 + 8 + 16);  // 225
  CHECK(luts_per_element("maxpool") == 16);                          // compare and select
  CHECK(luts_per_element("act_table") == 4 * 8);                     // a 256 x 8 table, as gelu's
  // Two zero-point subtracts, (the product in DSPs), rounding shift, zero point, clamp.
  CHECK(luts_per_element("channel_mul") == 2 * 9 + 32 * 5 + 8 + 16);  // 202
}

TEST_CASE("Resources of small-test, by hand (formulas only)", "[resources]") {
  const AccelConfig c = unsynthesized(vitsim::sim::find_accel("small-test"));
  const ResourceEstimate r = vitsim::arch::estimate_resources(c);
  // DSPs: (4x4x2 + 4x2x2) = 48 multipliers / 2 = 24, + requantizer 2 + hswish 2 + layernorm 1 = 29.
  CHECK(item(r, "engine multipliers (48 / 2 per DSP)").dsps == 24);
  CHECK(r.dsps == 29);
  CHECK(r.dsps == c.dsps());
  // mat: 4 x 2 = 8 lanes, each a 4-input tree (2 x 17 + 1 x 18 = 52) and a 32-bit accumulator.
  CHECK(item(r, "mat adder trees").luts == 8 * 52);
  CHECK(item(r, "mat lane accumulators").luts == 8 * 32);
  // rmac: 16 multipliers with a 32-bit accumulator each; pointwise assist: 2 x 2 = 4 lanes of 4-input trees.
  CHECK(item(r, "rmac accumulators").luts == 16 * 32);
  CHECK(item(r, "rmac pointwise adder trees").luts == 4 * 52);
  // aux: throughput x per element: 2x216 + 2x104 + 2x16 + 2x234 + 1x208 + 2x25 + 2x32 + 1x280
  //    = 432 + 208 + 32 + 468 + 208 + 50 + 64 + 280 = 1742.
  CHECK(item(r, "log2_quantizer").luts == 208);
  CHECK(item(r, "requantizer").dsps == 2);
  CHECK(item(r, "control and DMA").luts == 10000);
  // Total: 416 + 256 + 512 + 208 + 1742 + 10000 = 13134.
  CHECK(item(r, "layernorm").luts == 280);
  CHECK(r.luts == 13134);
  // BRAM36, all 32-bit words with one port: activation 4 banks of 256 words (1K x 36: one block each) = 4;
  // weight and output 2 banks of 256 words = 2 each; divisor 1 bank of 64 words = 1. 4 + 2 + 2 + 1 = 9.
  CHECK(item(r, "activation buffer").bram36 == 4);
  CHECK(item(r, "divisor buffer").bram36 == 1);
  CHECK(r.bram36 == 9);
}

TEST_CASE("Resources of trio-vit, by hand (formulas only): it fits the ZCU102", "[resources]") {
  const AccelConfig c = unsynthesized(vitsim::sim::find_accel("trio-vit"));
  const ResourceEstimate r = vitsim::arch::estimate_resources(c);
  // DSPs: 2048 / 2 + (64 + 32 + 4) = 1124.
  CHECK(r.dsps == 1124);
  // mat: 8 x 16 = 128 lanes x (123 tree + 32 accumulator) = 15744 + 4096.
  CHECK(item(r, "mat adder trees").luts == 15744);
  CHECK(item(r, "mat lane accumulators").luts == 4096);
  // rmac: 1024 x 32 = 32768 accumulators; 128 assist trees x 123 = 15744.
  CHECK(item(r, "rmac accumulators").luts == 32768);
  CHECK(item(r, "rmac pointwise adder trees").luts == 15744);
  // aux: 128x216 + 128x104 + 128x16 + 64x234 + 16x208 + 128x25 + 64x32 + 1x280 + 64x16 (maxpool)
  //    = 27648 + 13312 + 2048 + 14976 + 3328 + 3200 + 2048 + 280 + 1024 = 67864.
  // Total: 15744 + 4096 + 32768 + 15744 + 67864 + 10000 = 146216.
  CHECK(r.luts == 146216);
  // BRAM36 (two ports, so 1K x 36 at most): activation 128 banks of 1024 x 64 bits -> 2 x 1 = 2 each = 256;
  // weight and output 16 banks of 4096 x 64 bits -> 8 each = 128; divisor 2 banks of 2048 x 32 bits -> 2 each
  // = 4. 256 + 128 + 128 + 4 = 516.
  CHECK(item(r, "activation buffer").bram36 == 256);
  CHECK(item(r, "weight buffer").bram36 == 128);
  CHECK(item(r, "divisor buffer").bram36 == 4);
  CHECK(r.bram36 == 516);

  const Device zcu102 = vitsim::sim::find_device("zcu102");
  std::string why = "unset";
  CHECK(vitsim::arch::fits(r, zcu102, &why));
  CHECK(why.empty());
}

TEST_CASE("Resource DSPs equal AccelConfig::dsps(), systolic PEs by dataflow", "[resources]") {
  for (const char* name : {"trio-vit", "small-test", "small-memory", "systolic-32x32-os"}) {
    const AccelConfig c = vitsim::sim::find_accel(name);
    CHECK(vitsim::arch::estimate_resources(c).dsps == c.dsps());
  }
  AccelConfig s = vitsim::sim::find_accel("systolic-32x32-os");
  // os: 1024 PEs x (32-bit adder + 32-bit drain mux).
  const ResourceEstimate os = vitsim::arch::estimate_resources(s);
  CHECK(item(os, "sa PE adders").luts == 1024 * 32);
  CHECK(item(os, "sa PE drain muxes").luts == 1024 * 32);
  auto ws = std::make_shared<vitsim::arch::SystolicParams>(
      dynamic_cast<const vitsim::arch::SystolicParams&>(*s.engines[0].params));
  ws->dataflow = vitsim::arch::Dataflow::WeightStationary;
  s.engines[0].params = ws;
  CHECK(vitsim::arch::estimate_resources(s).luts == os.luts - 1024 * 32);  // no drain muxes
}

TEST_CASE("Resources grow with lanes and buffers", "[resources]") {
  const AccelConfig base = unsynthesized(vitsim::sim::find_accel("trio-vit"));
  const ResourceEstimate r0 = vitsim::arch::estimate_resources(base);
  for (const char* engine : {"mat", "rmac"}) {
    AccelConfig more = base;
    for (auto& e : more.engines)
      if (e.name == engine) {
        if (auto* m = dynamic_cast<const vitsim::arch::MatParams*>(e.params.get())) {
          auto p = std::make_shared<vitsim::arch::MatParams>(*m);
          p->lanes *= 2;
          e.params = p;
        } else {
          auto p = std::make_shared<vitsim::arch::RmacParams>(
              dynamic_cast<const vitsim::arch::RmacParams&>(*e.params));
          p->lanes *= 2;
          e.params = p;
        }
      }
    const ResourceEstimate r1 = vitsim::arch::estimate_resources(more);
    INFO(engine);
    CHECK(r1.dsps > r0.dsps);
    CHECK(r1.luts > r0.luts);
    CHECK(r1.bram36 == r0.bram36);
  }
  // Doubling a bank's depth, one bank at a time, never needs fewer blocks.
  for (int ports = 1; ports <= 2; ++ports)
    for (int word_bytes : {1, 4, 8, 16}) {
      int64_t previous = 0;
      for (int64_t capacity = 2 * word_bytes; capacity <= (int64_t{1} << 22); capacity *= 2) {
        const int64_t blocks = vitsim::arch::buffer_bram36(buffer(capacity, 2, ports, word_bytes));
        INFO("capacity " << capacity << " ports " << ports << " word_bytes " << word_bytes);
        CHECK(blocks >= previous);
        previous = blocks;
      }
      CHECK(previous > 0);
    }
}

TEST_CASE("Synthesized LUTs replace the formulas where a unit's RTL was synthesized at its parameters",
          "[resources]") {
  for (const char* name : {"small-test", "trio-vit", "small-memory"}) {
    INFO(name);
    const AccelConfig c = vitsim::sim::find_accel(name);
    const ResourceEstimate r = vitsim::arch::estimate_resources(c),
                           formulas = vitsim::arch::estimate_resources(unsynthesized(c));
    CHECK(r.dsps == formulas.dsps);
    int64_t synthesized = 0, replaced = 0;
    for (const auto& e : c.engines) {
      const vitsim::arch::RtlInstance rtl = vitsim::arch::engine_rtl(c, e);
      const vitsim::arch::SynthesizedUnit* s = vitsim::arch::synthesized_unit(rtl.top, rtl.parameters);
      if (!s) continue;
      // Yosys maps the RTL's multiplies, two INT8 products per DSP48E2 where the config packs them, to
      // exactly the DSPs the model counts: ceil(multipliers / dsp_packing).
      CHECK(s->dsps == (e.params->multipliers() + c.dsp_packing - 1) / c.dsp_packing);
      CHECK(item(r, e.name + " datapath (synthesized LUTs)").luts == s->luts);
      CHECK(item(r, e.name + " datapath (synthesized LUTs)").synthesized);
      synthesized += s->luts;
      replaced += formulas.engine_luts(e.name);
    }
    for (const auto& a : c.aux_units) {
      const vitsim::arch::RtlInstance rtl = vitsim::arch::aux_rtl(a);
      const vitsim::arch::SynthesizedUnit* s = vitsim::arch::synthesized_unit(rtl.top, rtl.parameters);
      if (!s) continue;
      const std::string& key = a.type;
      CHECK(item(r, key + " (synthesized LUTs)").luts == s->luts);
      synthesized += s->luts;
      replaced += item(formulas, key).luts;
    }
    CHECK(synthesized > 0);
    CHECK(r.luts == formulas.luts - replaced + synthesized);
  }
  // small-test's engines, requantizer and log2 unit were all synthesized; units without RTL were not.
  const AccelConfig small = vitsim::sim::find_accel("small-test");
  for (const auto& e : small.engines) {
    const vitsim::arch::RtlInstance rtl = vitsim::arch::engine_rtl(small, e);
    CHECK(vitsim::arch::synthesized_unit(rtl.top, rtl.parameters) != nullptr);
  }
  CHECK(vitsim::arch::synthesized_unit("vitsim_requantizer", "LANES=2 LATENCY=3") != nullptr);
  CHECK(vitsim::arch::synthesized_unit("vitsim_log2_divider", "LANES=1 LATENCY=2") != nullptr);
  CHECK(vitsim::arch::aux_rtl(small.aux("relu")).top.empty());
  // hswish and residual_add have RTL and table rows, but the model keeps their formulas (docs/rtl.md).
  CHECK(vitsim::arch::aux_rtl(small.aux("hswish")).top.empty());
  CHECK(vitsim::arch::synthesized_unit("vitsim_requantizer", "LANES=2 LATENCY=4") == nullptr);
}

TEST_CASE("Synthesized power-of-two product units replace the formula's shifters of the shift lanes",
          "[resources]") {
  // p2-vit's shift_array: 16 x 8 x 4 = 512 shifters of a 4-bit log2 code; auto-vit-acc's mixed engine:
  // 16 x 6 x 16 = 1,536 shift-add units of a 4-bit sign + exponent code. Each line counts the units times
  // the synthesized unit's LUTs, which has no flip-flops and no DSPs.
  struct Case {
    const char *config, *line, *parameters;
    int64_t units;
  };
  for (const Case& k : {Case{"p2-vit", "shifters barrel shifters", "LOG2_CODE=1 CODE_BITS=4", 512},
                        Case{"auto-vit-acc", "gemm shift-add shifters", "LOG2_CODE=0 CODE_BITS=4", 1536}}) {
    INFO(k.config);
    const vitsim::arch::SynthesizedUnit* s =
        vitsim::arch::synthesized_unit("vitsim_shift_product", k.parameters);
    REQUIRE(s != nullptr);
    CHECK(s->ffs == 0);
    CHECK(s->dsps == 0);
    const ResourceEstimate r = vitsim::arch::estimate_resources(vitsim::sim::find_accel(k.config));
    CHECK(item(r, std::string(k.line) + " (synthesized, " + std::to_string(s->luts) + " LUTs each)").luts ==
          k.units * s->luts);
  }
  // A code width without a row keeps the formula: 3-bit codes shift by 0..2 into 10 bits, 2 stages of
  // 2:1 muxes, 20 LUTs per unit.
  nlohmann::json j = vitsim::quant::read_json_file(vitsim::sim::config_dir() + "/accel/auto-vit-acc.json");
  j["engines"][0]["pot_bits"] = 3;
  const ResourceEstimate narrow =
      vitsim::arch::estimate_resources(vitsim::arch::parse_accel_config(j, "narrow"));
  CHECK(item(narrow, "gemm shift-add shifters").luts == 1536 * 20);
}

TEST_CASE("The replica ladder extrapolates an engine's synthesis close to the whole engine's",
          "[resources]") {
  // small-memory's MAT (8 x 4 x 4) was synthesized whole and at 1 and 2 replicas: the line through the
  // ladder must land near the whole engine (docs/resource-model.md).
  const AccelConfig c = vitsim::sim::find_accel("small-memory");
  const vitsim::arch::RtlInstance rtl = vitsim::arch::engine_rtl(c, c.engines[0]);
  const vitsim::arch::SynthesizedUnit* whole = vitsim::arch::synthesized_unit(rtl.top, rtl.parameters);
  const std::optional<vitsim::arch::ExtrapolatedUnit> x =
      vitsim::arch::replica_extrapolation(rtl.top, rtl.parameters);
  REQUIRE(whole);
  REQUIRE(x);
  CHECK(x->from_a == 1);
  CHECK(x->from_b == 2);
  CHECK(x->unit.dsps == whole->dsps);  // multiplies grow exactly with the replicas
  // Measured: the FFs grow exactly linearly (2,179, 3,987, 7,603); the LUTs a little faster (1,450, 2,355,
  // 4,448: the line says 4,165, 6.4% low), so an extrapolated engine's LUTs are a lower bound.
  CHECK(std::abs(x->unit.ffs - whole->ffs) <= whole->ffs / 100);
  CHECK(x->unit.luts <= whole->luts);
  CHECK(whole->luts - x->unit.luts <= whole->luts / 10);
  // Nothing to extrapolate from: one replica, or no REPLICAS parameter.
  CHECK_FALSE(vitsim::arch::replica_extrapolation(rtl.top, "PE=8 LANES=4 REPLICAS=1"));
  CHECK_FALSE(vitsim::arch::replica_extrapolation("vitsim_requantizer", "LANES=2 LATENCY=3"));
}

TEST_CASE("Device files: presets, paths and errors", "[resources]") {
  const Device zcu102 = vitsim::sim::find_device("zcu102");
  CHECK(zcu102.name == "zcu102");
  CHECK(zcu102.dsps == 2520);
  CHECK(zcu102.luts == 274080);
  CHECK(zcu102.bram36 == 912);
  const Device zcu104 = vitsim::sim::find_device(vitsim::sim::config_dir() + "/devices/zcu104.json");
  CHECK(zcu104.dsps == 1728);

  const std::string dir_name = vitsim::sim::config_dir() + "/devices";
  try {
    vitsim::sim::find_device("zcu999");
    FAIL("no error for an unknown device");
  } catch (const ConfigError& e) {
    // The list grows with configs/devices/; the bundled presets are on it.
    CHECK_THAT(e.what(), Catch::StartsWith("zcu999: cannot open the file, and no device of that name in " +
                                           dir_name + " (known: ") &&
                             Catch::Contains("zcu102") && Catch::Contains("zcu104"));
  }

  vitsim::test::TempDir dir("resources", "device");
  const std::string f = dir.file("dev.json");
  CHECK(device_error(dir, R"({"name": "d", "dsps": 10, "luts": 10})") ==
        f + ": /bram36: required key is missing");
  CHECK(device_error(dir, R"({"name": "d", "dsps": 0, "luts": 10, "bram36": 1})") ==
        f + ": /dsps: expected an integer in [1, 2147483647], found 0");
  CHECK_THAT(device_error(dir, R"({"name": "d", "dsps": 1, "luts": 10, "bram36": 1, "uram": 4})"),
             Catch::StartsWith(f + ": /uram: unknown key"));
  CHECK(device_error(dir, R"({"name": "", "dsps": 1, "luts": 10, "bram36": 1})") ==
        f + ": /name: expected a non-empty string");
  CHECK_THAT(device_error(dir, "{\"name\": "), Catch::StartsWith(f + ": "));
  CHECK(device_error(dir, R"({"name": "d", "dsps": 1, "luts": 10, "bram36": 1})").empty());
}

TEST_CASE("fits() names every resource over capacity", "[resources]") {
  ResourceEstimate r;
  r.dsps = 2600;
  r.luts = 1000;
  r.bram36 = 913;
  Device d;
  d.name = "zcu102";
  d.dsps = 2520;
  d.luts = 274080;
  d.bram36 = 912;
  std::string why;
  CHECK_FALSE(vitsim::arch::fits(r, d, &why));
  CHECK(why == "dsps 2600 > 2520, bram36 913 > 912");
  r.dsps = 2520;  // at capacity still fits
  r.bram36 = 912;
  CHECK(vitsim::arch::fits(r, d, &why));
  CHECK(why.empty());
  r.luts = 274081;
  CHECK_FALSE(vitsim::arch::fits(r, d));
  const nlohmann::json j = vitsim::arch::fit_json(r, d);
  CHECK(j["fits"] == false);
  CHECK(j["over"] == "luts 274081 > 274080");
  CHECK(j["utilization_percent"]["dsps"] == Approx(100.0));
}

TEST_CASE("vitsim accel prints resources and the fit on a device", "[resources][cli]") {
  const vitsim::test::Run r = vitsim::test::run_vitsim({"accel", "--config", "trio-vit"});
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out,
             Catch::Contains("resources (estimate, docs/resource-model.md)") &&
                 Catch::Contains("zcu102 capacity") && Catch::Contains("198,285") &&
                 Catch::Contains("requantizer (synthesized LUTs)") &&
                 Catch::Contains("utilization on zcu102: DSPs 44.6%, LUTs 72.3%, BRAM36 56.6%: fits") &&
                 Catch::Contains("rmac: its RTL, synthesized at 1 and 2 replicas, extrapolates to "
                                 "133,683 LUTs at 16 (the formulas above: 48,512, which the estimate "
                                 "keeps)"));

  const vitsim::test::Run small = vitsim::test::run_vitsim(
      {"accel", "--config", "trio-vit", "--device", vitsim::sim::config_dir() + "/devices/zcu104.json"});
  REQUIRE(small.code == 0);
  CHECK_THAT(small.out, Catch::Contains("does NOT fit (bram36 516 > 312)"));

  const vitsim::test::Run j = vitsim::test::run_vitsim({"accel", "--config", "small-test", "--json"});
  REQUIRE(j.code == 0);
  const auto doc = nlohmann::json::parse(j.out);
  CHECK(doc["resources"]["luts"] == 17663);  // 13,134 by the formulas; its four units with RTL synthesized
  CHECK(doc["resources"]["bram36"] == 9);
  CHECK(doc["resources"]["fit"]["device"]["name"] == "zcu102");
  CHECK(doc["resources"]["fit"]["fits"] == true);

  const vitsim::test::Run bad =
      vitsim::test::run_vitsim({"accel", "--config", "trio-vit", "--device", "nope"});
  CHECK(bad.code == 2);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err,
             Catch::StartsWith("vitsim: error: nope: cannot open the file, and no device of that name"));
}

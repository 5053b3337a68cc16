// The energy estimate (docs/energy.md): the energy model's reader, the DDR4 command energies and the worked
// example by hand, the activity counts of both timing modes, and the per-layer split adding up.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arch/ddr4/ddr4_dram.hpp"
#include "arch/energy.hpp"
#include "quant/json_reader.hpp"
#include "quant/zoo.hpp"
#include "sim/run/energy_sensitivity.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;
using arch::TimingMode;
using Catch::Matchers::Contains;

namespace {

nlohmann::json shipped_model_json() {
  return quant::read_json_file(test::config_dir() + "/energy/zcu102-ddr4.json");
}

// The worked example's model (docs/energy.md): round numbers, so the energies are easy to follow by hand.
arch::EnergyModel round_model() {
  nlohmann::json j = shipped_model_json();
  const auto set = [&j](const char* pointer, double value) {
    j[nlohmann::json::json_pointer(pointer)]["value"] = value;
  };
  set("/fpga/mac_pj", 1.0);
  set("/fpga/packed_mac_pj", 0.5);
  set("/fpga/idle_lane_pj", 0.25);
  set("/fpga/aux_op_pj", 2.0);
  set("/fpga/bram_read_pj", 8.0);    // 1 pJ per byte at 64 bits per access
  set("/fpga/bram_write_pj", 16.0);  // 2 pJ per byte
  set("/fpga/clock_pj_per_cycle", 100.0);
  set("/fpga/static_w", 1.0);
  return arch::parse_energy_model(j, "round (test)");
}

arch::AccelConfig small_memory_config(const std::string& engines) {
  nlohmann::json j = quant::read_json_file(test::config_dir() + "/accel/small-memory.json");
  j["engines"] = nlohmann::json::parse(engines);
  return arch::parse_accel_config(j, "small-memory (test)");
}

sim::SimOutcome simulate(const quant::QGraph& q, const arch::AccelConfig& c, TimingMode mode,
                         const arch::EnergyModel* energy, bool ideal) {
  sim::SimOptions o;
  o.timing = mode;
  o.compile.ideal_memory = ideal;
  o.energy = energy;
  return sim::simulate_detailed(q, c, o);
}

}  // namespace

TEST_CASE("energy model: the shipped model reads and bad coefficients are refused with their path",
          "[energy]") {
  const arch::EnergyModel m = arch::find_energy_model(arch::kDefaultEnergyModel, test::config_dir());
  CHECK(m.name == "zcu102-ddr4");
  CHECK(m.dram.idd4r_ma.value == 243);
  CHECK_THAT(m.dram.idd4r_ma.source, Contains("MT40A512M16"));
  arch::EnergyModel copy = m;  // coefficients() points into the model: it must outlive the loop
  for (const arch::NamedCoefficient& c : copy.coefficients()) CHECK_FALSE(c.coefficient->source.empty());

  const auto refused = [](const char* pointer, const nlohmann::json& value, const char* message) {
    nlohmann::json j = shipped_model_json();
    j[nlohmann::json::json_pointer(pointer)] = value;
    CHECK_THROWS_WITH(arch::parse_energy_model(j, "m.json"), Contains(message));
  };
  refused("/fpga/mac_pj/value", -1, "m.json: /fpga/mac_pj/value: expected a number in [0, 1000]");
  refused("/fpga/mac_pj/source", "", "fpga/mac_pj/source");
  refused("/fpga/static_w", 0.6, "fpga/static_w");
  refused("/dram/idd4r_ma/value", 10, "dram/idd4r_ma: expected at least idd3n_ma");
  refused("/dram/device_width_bits", 12, "expected 4, 8 or 16");
  refused("/fpga/bram_read_pj/unit", "pJ", "unit");
  CHECK_THROWS_WITH(arch::find_energy_model("no-such-model", test::config_dir()),
                    Contains("known: zcu102-ddr4"));
}

TEST_CASE("energy: DDR4 command energies by hand (Micron x16 DDR4-2400 currents, four devices)",
          "[energy][ddr4]") {
  const arch::ddr4::Config preset = arch::ddr4::find_preset("ddr4-2400-x64", test::config_dir());
  const arch::EnergyModel m = arch::find_energy_model("zcu102-ddr4", test::config_dir());
  const arch::DramCommandEnergy e = arch::dram_command_energy(m.dram, preset);
  const double tck = 2000.0 / 2400 * 1e-9;  // s
  // Four x16 devices; a read burst takes BL/2 = 4 clocks at IDD4R - IDD3N = 196 mA, 1.2 V.
  CHECK(e.read == Approx(4 * 1.2 * 0.196 * 4 * tck));
  CHECK(e.write == Approx(4 * 1.2 * 0.181 * 4 * tck));
  // ACT-PRE over tRC = 55 clocks: IDD0 80 mA less 47 mA for tRAS = 39 clocks and 34 mA for the other 16;
  // VPP: (4 - 3) mA at 2.5 V over tRC.
  CHECK(e.act_pre == Approx(4 * (1.2 * (0.080 * 55 - 0.047 * 39 - 0.034 * 16) + 2.5 * 0.001 * 55) * tck));
  CHECK(e.refresh == Approx(4 * 1.2 * (0.280 - 0.047) * 420 * tck));
  CHECK(e.active_standby_w == Approx(4 * (1.2 * 0.047 + 2.5 * 0.003)));
  CHECK(e.precharged_standby_w == Approx(4 * (1.2 * 0.034 + 2.5 * 0.003)));
}

TEST_CASE("energy: a DDR4 rank's active standby runs from its first ACT to the end, open page",
          "[energy][ddr4]") {
  const arch::ddr4::Config c = arch::ddr4::find_preset("ddr4-2400-x64", test::config_dir());
  arch::ddr4::Ddr4Dram d(c, 200000);                  // 6 DRAM cycles per accelerator cycle
  CHECK(d.stats_until_accel(20).active_cycles == 0);  // nothing opened yet: precharged standby
  d.serve(0, 0, 256, false, -1);  // ACT at DRAM cycle 0 (the hand case of test_ddr4_sim.cpp); rows stay open
  CHECK(d.stats_until_accel(20).active_cycles == 120);
  CHECK(d.stats_until_accel(1000).active_cycles == 6000);
}

TEST_CASE("energy: the worked example of docs/energy.md, one pointwise conv on MAT, both modes",
          "[energy][closed]") {
  // The conv of test_simulate.cpp's closed form: 16 -> 24 channels on 6 x 5 pixels on MAT pe 8, lanes 4,
  // replicas 4 (128 multipliers), ideal memory: 203 cycles, 48 groups x 2 waves, each wave 32 activation
  // and 32 weight bytes fetched in p = 2 cycles (one port stall), so busy = 203 - 96 = 107 cycles.
  quant::GraphBuilder b("pw", 6, {16, 6, 5});
  b.conv("pw", 0, 24, 1, 1, 1, true, quant::Norm::None, quant::Act::None);
  const quant::QGraph q = test::quantize(b.finish(), "naive-w8a8");
  const arch::AccelConfig c =
      small_memory_config(R"([{"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4}])");
  const arch::EnergyModel m = round_model();
  for (TimingMode mode : {TimingMode::Fast, TimingMode::Cycle}) {
    const sim::SimReport r = simulate(q, c, mode, &m, true).report;
    INFO(arch::timing_mode_name(mode));
    REQUIRE(r.cycles == 203);
    const arch::Activity& a = r.activity;
    CHECK(a.macs == 16 * 24 * 30);
    CHECK(a.lane_cycles == 128 * 107);
    CHECK(a.read_bytes[0] == 48 * 2 * 32);     // activation
    CHECK(a.read_bytes[1] == 48 * 2 * 32);     // weight
    CHECK(a.result_bytes == 48 * 16);          // 16 outputs per group (4 lanes x 4 pixels), padding included
    CHECK(a.aux_ops == 48 * 16);               // each through the requantizer
    const arch::Energy& e = r.energy->energy;  // pJ by hand, then J
    CHECK(e.mac == Approx(11520 * 0.5e-12));   // two multiplies per DSP (dsp_packing 2)
    CHECK(e.idle_lanes == Approx((13696 - 11520) * 0.25e-12));
    CHECK(e.aux == Approx(768 * 2e-12));
    CHECK(e.bram_read == Approx(6144 * 1e-12));
    CHECK(e.bram_write == Approx(768 * 2e-12));
    CHECK(e.clock == Approx(203 * 100e-12));
    CHECK(e.static_leakage == Approx(1.0 * 203 / 200e6));
    CHECK(e.dram() == 0);  // the ideal memory moves nothing
    CHECK(r.energy->energy.total() ==
          Approx(5760e-12 + 544e-12 + 1536e-12 + 6144e-12 + 1536e-12 + 20300e-12 + 1.015e-6));
  }
}

TEST_CASE("energy: a MAC is priced by the config's number format and packing", "[energy][closed]") {
  const arch::EnergyModel m = round_model();  // mac_pj 1, packed_mac_pj 0.5, and fp32_mac_pj 23 as shipped
  REQUIRE(m.fpga.fp32_mac_pj.value == 23.0);
  arch::Activity a;
  a.macs = 1000;
  nlohmann::json fp32 = quant::read_json_file(test::config_dir() + "/accel/autovitacc-fp32-baseline.json");
  nlohmann::json packed_json = quant::read_json_file(test::config_dir() + "/accel/small-memory.json");
  const arch::AccelConfig packed = arch::parse_accel_config(packed_json, "packed");
  nlohmann::json single = quant::read_json_file(test::config_dir() + "/accel/small-memory.json");
  single["dsp_packing"] = 1;
  CHECK(arch::onchip_energy(m.fpga, packed, a).mac == Approx(1000 * 0.5e-12));
  CHECK(arch::onchip_energy(m.fpga, arch::parse_accel_config(single, "single"), a).mac ==
        Approx(1000 * 1e-12));
  // The FP32 baseline packs nothing into its DSPs, whatever its dsp_packing says for integer engines.
  CHECK(arch::onchip_energy(m.fpga, arch::parse_accel_config(fp32, "fp32"), a).mac == Approx(1000 * 23e-12));
}

TEST_CASE("energy: on EfficientViT-B0 @64 on trio-vit every tile moves the same bytes in both modes",
          "[energy][modes]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  const arch::AccelConfig c = arch::find_accel_config("trio-vit", test::config_dir() + "/accel");
  const sim::SimOutcome fast = simulate(q, c, TimingMode::Fast, nullptr, false);
  const sim::SimOutcome cycle = simulate(q, c, TimingMode::Cycle, nullptr, false);
  REQUIRE(fast.records.tiles.size() == cycle.records.tiles.size());
  int64_t aux = 0, bytes = 0;
  for (size_t t = 0; t < fast.records.tiles.size(); ++t) {
    INFO("tile " << t);
    REQUIRE(cycle.records.tiles[t].traffic == fast.records.tiles[t].traffic);
    aux += fast.records.tiles[t].traffic.aux_results;
    bytes += fast.records.tiles[t].traffic.act_bytes + fast.records.tiles[t].traffic.weight_bytes;
  }
  CHECK(aux > 0);
  CHECK(bytes > 0);
}

TEST_CASE("energy: on trio-vit with DDR4 the layers add up to the image and the DRAM terms follow the counts",
          "[energy][ddr4]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  const arch::AccelConfig c = arch::find_accel_config("trio-vit", test::config_dir() + "/accel");
  const arch::EnergyModel m = arch::find_energy_model("zcu102-ddr4", test::config_dir());
  const sim::SimReport r = simulate(q, c, TimingMode::Fast, &m, false).report;
  REQUIRE(r.dram);
  REQUIRE(r.energy);
  const arch::Energy& image = r.energy->energy;
  arch::Energy layers;
  for (const sim::LayerStats& l : r.layers) {
    layers.mac += l.energy->mac, layers.idle_lanes += l.energy->idle_lanes, layers.aux += l.energy->aux;
    layers.bram_read += l.energy->bram_read, layers.bram_write += l.energy->bram_write;
    layers.dram_read += l.energy->dram_read, layers.dram_write += l.energy->dram_write;
  }
  CHECK(layers.compute() == Approx(image.compute()));
  CHECK(layers.onchip_memory() == Approx(image.onchip_memory()));
  CHECK(layers.dram_read == Approx(image.dram_read));
  CHECK(layers.dram_write == Approx(image.dram_write));
  // DMA loads land in the buffers: every byte read from DRAM is written on chip once.
  int64_t landed = 0;
  for (const int64_t bytes : r.activity.write_bytes) landed += bytes;
  CHECK(landed == r.dram_bytes_read);

  const arch::DramCommandEnergy cmd = arch::dram_command_energy(m.dram, *c.dram.ddr4);
  const sim::DramReport& d = *r.dram;
  CHECK(image.dram_act_pre == Approx(static_cast<double>(d.activates) * cmd.act_pre));
  CHECK(image.dram_refresh == Approx(static_cast<double>(d.refreshes) * cmd.refresh));
  // One rank: its standby states fill the image's time.
  CHECK(d.active_standby_ns + d.precharged_standby_ns == Approx(r.latency_ms() * 1e6));
  CHECK(d.active_standby_ns > 0);
  CHECK(image.dram_background == Approx(cmd.active_standby_w * d.active_standby_ns * 1e-9 +
                                        cmd.precharged_standby_w * d.precharged_standby_ns * 1e-9));
  CHECK(r.average_power_w() == Approx(image.total() / (r.latency_ms() / 1e3)));
  CHECK(r.gops_per_w() == Approx(r.gops() / r.average_power_w()));

  // The sensitivity table reprices the same counts: static power at 1.5x adds half its energy.
  for (const sim::CoefficientSensitivity& s : sim::energy_sensitivity(r, m, c))
    if (s.coefficient == "fpga/static_w")
      CHECK(s.gops_per_w_high ==
            Approx(r.gops() * r.latency_ms() / 1e3 / (image.total() + 0.5 * image.static_leakage)));
}

TEST_CASE("vitsim simulate --energy: an unknown or bad model exits 2 with one message, before any work",
          "[energy][cli]") {
  test::TempDir dir("energy", "cli");
  nlohmann::json bad = shipped_model_json();
  bad["dram"]["idd4w_ma"]["value"] = 1;
  {
    std::ofstream f(dir.file("bad.json"));
    f << bad.dump();
  }
  // The model is read before the graph: a missing .vqg is never reached.
  for (const auto& [model, message] : {std::pair{dir.file("bad.json"), "dram/idd4w_ma: expected at least"},
                                       std::pair{std::string("no-such"), "no energy model of that name"}}) {
    const test::Run r =
        test::run_vitsim({"simulate", "--qgraph", dir.file("missing.vqg"), "--energy", model});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Contains(message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

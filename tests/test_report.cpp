// The report files: every key of report.json is documented in docs/metrics.md (its validation against
// docs/report.schema.json is the json_schemas ctest, tools/check_schemas.py), the metrics follow their
// definitions, timelines agree with the cycle breakdowns, and layers.csv carries the report's per-layer
// integers.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/report_files.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;
using nlohmann::json;

namespace {

const std::string kDocsDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../docs";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every key used anywhere in the report (object keys, recursively).
void collect_keys(const json& v, std::set<std::string>& keys) {
  if (v.is_object())
    for (const auto& [k, sub] : v.items()) keys.insert(k), collect_keys(sub, keys);
  if (v.is_array())
    for (const json& sub : v) collect_keys(sub, keys);
}

// trio-vit with the ideal bus as its DRAM, or as shipped, with the DDR4 model (the report then has its
// "dram" object).
sim::SimReport b0_report(bool functional, bool ddr4 = false) {
  static const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  static const arch::EnergyModel energy = arch::find_energy_model("zcu102-ddr4", test::config_dir());
  sim::SimOptions o;
  o.functional = functional;
  o.energy = &energy;
  nlohmann::json config = quant::read_json_file(test::config_dir() + "/accel/trio-vit.json");
  if (!ddr4) config["dram"] = {{"bandwidth_gbps", 19.2}, {"latency_ns", 100}, {"burst_bytes", 256}};
  return sim::simulate(q, arch::parse_accel_config(config, "trio-vit"), o);
}

}  // namespace

TEST_CASE("report.json: every key is documented, optional objects appear when they apply", "[report]") {
  for (const auto& [functional, ddr4] : {std::pair{false, false}, {true, false}, {false, true}}) {
    const json report = b0_report(functional, ddr4).to_json();
    INFO("functional " << functional << ", ddr4 " << ddr4);
    CHECK(report.contains("dram") == ddr4);
    CHECK(report.at("energy").at("dram_modeled") == ddr4);
    CHECK(report.at("schema_version") == sim::SimReport::kSchemaVersion);
    CHECK(report.contains("mismatches") == functional);

    const std::string metrics = read_text(kDocsDir + "/metrics.md");
    std::set<std::string> keys;
    collect_keys(report, keys);
    for (const std::string& k : keys) {
      INFO("report key '" << k << "' is not described in docs/metrics.md");
      CHECK(metrics.find("`" + k + "`") != std::string::npos);
    }
  }
}

TEST_CASE("Metrics follow their definitions and timelines match the cycle breakdowns", "[report]") {
  const sim::SimReport r = b0_report(false);
  const double f = r.clock_mhz * 1e6, c = static_cast<double>(r.cycles);
  CHECK(r.latency_ms() == Approx(1e3 * c / f));
  CHECK(r.fps() == Approx(f / c));
  CHECK(r.mac_utilization() ==
        Approx(static_cast<double>(r.macs) / (c * static_cast<double>(r.multipliers))));
  CHECK(r.gops() == Approx(2.0 * static_cast<double>(r.macs) * r.fps() / 1e9));
  CHECK(r.dsp_efficiency() == Approx(r.gops() / static_cast<double>(r.dsps)));
  CHECK(r.peak_gops() == Approx(2.0 * 2048 * 200 / 1e3));
  int64_t macs = 0;
  for (const sim::LayerStats& l : r.layers) macs += l.macs;
  CHECK(macs == r.macs);
  for (const sim::ResourceStats& s : r.resources) {
    INFO("resource " << s.name);
    const sim::CycleBreakdown& b = s.cycles;
    CHECK(b.busy + b.stall_port + b.stall_aux + b.stall_dram + b.stall_dependency + b.idle == r.cycles);
    // Segments are ordered and disjoint; their lengths are the tiles' cycles, the gaps the waits and idle.
    int64_t covered = 0, items = 0, last_end = -1;
    for (const sim::TimelineSegment& seg : s.timeline) {
      CHECK(seg.start > last_end);
      CHECK(seg.end >= seg.start);
      covered += seg.end - seg.start + 1, items += seg.items, last_end = seg.end;
    }
    CHECK(covered == b.busy + b.stall_port + b.stall_aux);
    CHECK(items == s.tiles);
    CHECK(r.cycles - covered == b.stall_dram + b.stall_dependency + b.idle);
  }
  int64_t transfers = 0;
  for (const auto* q : {&r.dma_load, &r.dma_store})
    for (const sim::TimelineSegment& seg : *q) transfers += seg.items;
  CHECK(transfers == r.transfers);
}

namespace {
// layers.csv's last four columns: the DDR4 model's accesses and row outcomes (zeros without it).
std::string dram_columns(const std::optional<sim::LayerDram>& d) {
  if (!d) return "0,0,0,0";
  return std::to_string(d->accesses) + "," + std::to_string(d->row_hits) + "," +
         std::to_string(d->row_misses) + "," + std::to_string(d->row_conflicts);
}
}  // namespace

TEST_CASE("layers.csv has the header and one row per layer with the report's integers", "[report]") {
  const sim::SimReport r = b0_report(false, true);  // DDR4: its columns are not all zero
  const std::string csv = sim::layers_csv(r);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  CHECK(line == sim::kLayersCsvHeader);
  const size_t columns = static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1;
  size_t rows = 0;
  while (std::getline(in, line)) {
    const sim::LayerStats& l = r.layers.at(rows);
    INFO("row " << rows << ": " << line);
    CHECK(static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1 == columns);
    CHECK(line.rfind(std::to_string(rows) + "," + l.name + "," + l.label + "," + l.op + ",", 0) == 0);
    const std::string tail = "," + std::to_string(l.macs) + "," + std::to_string(l.tiles) + "," +
                             std::to_string(l.transfers) + "," + std::to_string(l.dram_read) + "," +
                             std::to_string(l.dram_written) + "," + dram_columns(l.dram);
    CHECK(line.size() >= tail.size());
    CHECK(line.compare(line.size() - tail.size(), tail.size(), tail) == 0);
    ++rows;
  }
  CHECK(rows == r.layers.size());
  CHECK(csv == sim::layers_csv(b0_report(false, true)));  // deterministic
}

TEST_CASE("vitsim simulate writes report.json and layers.csv atomically: a bad path exits 2",
          "[report][cli]") {
  test::TempDir dir("report", "cli");
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  quant::save_qgraph(q, dir.file("b0.vqg"));
  const test::Run ok = test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--report",
                                         dir.file("report.json"), "--layers-csv", dir.file("layers.csv")});
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("layers: " + dir.file("layers.csv")));
  CHECK(json::parse(read_text(dir.file("report.json"))).at("schema") == "vitsim-report");
  CHECK(read_text(dir.file("layers.csv")).rfind(sim::kLayersCsvHeader, 0) == 0);
  const test::Run bad = test::run_vitsim(
      {"simulate", "--qgraph", dir.file("b0.vqg"), "--layers-csv", dir.file("missing/dir/layers.csv")});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("missing/dir/layers.csv"));
  CHECK(dir.entries() == std::vector<std::string>{"b0.vqg", "layers.csv", "report.json"});
}

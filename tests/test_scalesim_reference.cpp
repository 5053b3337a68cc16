// vitsim's SCALE-Sim convention against real SCALE-Sim v2 runs (tests/data/scalesim/: runs.csv, 52 runs, 112
// layer rows, and networks.csv, 2 whole networks, 74 rows, copied from SCALE-Sim's COMPUTE_REPORT.csv
// files; README.md there says how they were made). Nothing on the reference side is a formula: each row's
// topology line is fed to vitsim's own reader, run on the row's array and dataflow, and every reported number
// must match SCALE-Sim's.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "quant/csv.hpp"
#include "sim/validate/scalesim_import.hpp"
#include "test_support.hpp"

using namespace vitsim::sim;
using vitsim::arch::SystolicArray;
using vitsim::arch::TimingMode;

namespace {

struct ReferenceRow {
  std::string layer;
  int64_t total_cycles = 0;
  double overall_util_pct = 0, mapping_eff_pct = 0, compute_util_pct = 0;
};

struct ReferenceRun {
  std::string name;
  ScaleSimFormat format = ScaleSimFormat::Conv;
  SystolicArray array{};
  std::vector<std::string>
      topology_rows;  // distinct source lines, in order (a DP line splits into many rows)
  std::vector<ReferenceRow> rows;
};

// tests/data/scalesim/`file`, in runs.csv's columns.
std::vector<ReferenceRun> load_reference_runs(const std::string& file) {
  const std::string path = std::string(VITSIM_TEST_DATA_DIR) + "/scalesim/" + file;
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = vitsim::quant::csv_fields(line);
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  for (const char* name : {"case", "layer", "format", "rows", "cols", "dataflow", "total_cycles",
                           "overall_util_pct", "mapping_eff_pct", "topology_row", "compute_util_pct"})
    REQUIRE(column.count(name) == 1);

  std::vector<ReferenceRun> runs;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> f = vitsim::quant::csv_fields(line);
    REQUIRE(f.size() == header.size());
    const auto at = [&](const char* name) { return f[column.at(name)]; };
    if (runs.empty() || runs.back().name != at("case")) {
      ReferenceRun run;
      run.name = at("case");
      run.format = parse_scalesim_format(at("format"));
      run.array = {std::stoll(at("rows")), std::stoll(at("cols")),
                   vitsim::arch::parse_dataflow(at("dataflow"))};
      runs.push_back(run);
    }
    ReferenceRun& run = runs.back();
    if (run.topology_rows.empty() || run.topology_rows.back() != at("topology_row"))
      run.topology_rows.push_back(at("topology_row"));
    run.rows.push_back({at("layer"), std::stoll(at("total_cycles")), std::stod(at("overall_util_pct")),
                        std::stod(at("mapping_eff_pct")), std::stod(at("compute_util_pct"))});
  }
  return runs;
}

// The run's topology file as SCALE-Sim read it: a header line, then its rows.
ScaleSimWorkload topology_of(const ReferenceRun& run) {
  std::string text = "header,\n";
  for (const std::string& row : run.topology_rows) text += row + "\n";
  std::istringstream in(text);
  return parse_scalesim_topology(in, run.name, run.format);
}

// Percentages agree to 1e-9 relative (SCALE-Sim's own reruns differ in the 14th significant digit).
bool same_percentage(double vitsim_fraction, double scalesim_pct) {
  return std::abs(vitsim_fraction * 100.0 - scalesim_pct) <= 1e-9 * std::max(1.0, std::abs(scalesim_pct));
}

void check_against_reference(TimingMode mode, const std::string& file, size_t expected_runs,
                             size_t expected_layers) {
  const std::vector<ReferenceRun> runs = load_reference_runs(file);
  size_t layers = 0;
  for (const ReferenceRun& run : runs) {
    const auto results = run_scalesim(topology_of(run), run.array, mode, true);
    REQUIRE(results.size() == run.rows.size());
    for (size_t i = 0; i < results.size(); ++i) {
      const ReferenceRow& ref = run.rows[i];
      const ScaleSimLayerResult& got = results[i];
      INFO("run " << run.name << " (" << run.array.rows << "x" << run.array.cols << " "
                  << vitsim::arch::dataflow_name(run.array.dataflow) << "), layer " << ref.layer
                  << ": SCALE-Sim " << ref.total_cycles << " cycles, util " << ref.overall_util_pct
                  << " %, mapping " << ref.mapping_eff_pct << " %, compute " << ref.compute_util_pct
                  << " %; vitsim " << got.cycles << " cycles, util " << got.overall_utilization * 100
                  << " %, mapping " << got.mapping_efficiency * 100 << " %, compute "
                  << got.compute_utilization * 100 << " %");
      CHECK(got.name == ref.layer);
      CHECK(got.cycles == ref.total_cycles);
      CHECK(same_percentage(got.overall_utilization, ref.overall_util_pct));
      CHECK(same_percentage(got.mapping_efficiency, ref.mapping_eff_pct));
      CHECK(same_percentage(got.compute_utilization, ref.compute_util_pct));
      ++layers;
    }
  }
  CHECK(runs.size() == expected_runs);
  CHECK(layers == expected_layers);
}

}  // namespace

TEST_CASE("SCALE-Sim convention reproduces 52 real SCALE-Sim v2 runs (112 layers), fast timing",
          "[scalesim][reference]") {
  check_against_reference(TimingMode::Fast, "runs.csv", 52, 112);
}

TEST_CASE("SCALE-Sim convention reproduces 52 real SCALE-Sim v2 runs (112 layers), cycle timing",
          "[scalesim][reference]") {
  check_against_reference(TimingMode::Cycle, "runs.csv", 52, 112);
}

// Whole networks: torchvision's ResNet-18 and MobileNetV2 at 224 as `vitsim graph --scalesim-topology` wrote
// them, run by SCALE-Sim on 32x32 os (MobileNetV2's depthwise rows cut to their channel 0; README.md there).
TEST_CASE(
    "SCALE-Sim convention reproduces real SCALE-Sim v2 runs of exported ResNet-18 and MobileNetV2 (74 "
    "layers)",
    "[scalesim][reference]") {
  check_against_reference(TimingMode::Fast, "networks.csv", 2, 74);
}

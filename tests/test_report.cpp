// The report files: report.json validates against docs/report.schema.json (with a small validator of the
// schema keywords the file uses; an unknown keyword fails, so the check cannot silently skip a rule), every
// key is documented in docs/metrics.md, the metrics follow their definitions, timelines agree with the
// cycle breakdowns, and layers.csv carries the report's per-layer integers.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/cmd_accel.hpp"
#include "sim/report_files.hpp"
#include "sim/simulator.hpp"
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

bool has_type(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  FAIL("schema uses unknown type '" << type << "'");
  return false;
}

// Validates `v` against `schema`; appends "path: problem" lines to `errors`.
void validate(const json& v, const json& schema, const json& root, const std::string& path,
              std::vector<std::string>& errors) {
  static const std::set<std::string> annotations = {"$schema", "$id", "title", "description", "$defs"};
  for (const auto& [key, rule] : schema.items()) {
    if (annotations.count(key)) continue;
    if (key == "$ref") {
      const std::string ref = rule.get<std::string>();
      REQUIRE(ref.rfind("#/$defs/", 0) == 0);
      validate(v, root.at("$defs").at(ref.substr(8)), root, path, errors);
    } else if (key == "type") {
      if (!has_type(v, rule.get<std::string>())) errors.push_back(path + ": not of type " + rule.dump());
    } else if (key == "const") {
      if (v != rule) errors.push_back(path + ": expected " + rule.dump() + ", found " + v.dump());
    } else if (key == "enum") {
      if (std::find(rule.begin(), rule.end(), v) == rule.end())
        errors.push_back(path + ": " + v.dump() + " not in " + rule.dump());
    } else if (key == "minimum") {
      if (v.is_number() && v.get<double>() < rule.get<double>()) errors.push_back(path + ": below minimum");
    } else if (key == "maximum") {
      if (v.is_number() && v.get<double>() > rule.get<double>()) errors.push_back(path + ": above maximum");
    } else if (key == "required") {
      for (const json& name : rule)
        if (v.is_object() && !v.contains(name.get<std::string>()))
          errors.push_back(path + ": missing " + name.dump());
    } else if (key == "properties") {
      if (!v.is_object()) continue;
      for (const auto& [name, sub] : v.items())
        if (rule.contains(name)) validate(sub, rule.at(name), root, path + "/" + name, errors);
    } else if (key == "additionalProperties") {
      REQUIRE(rule == false);
      if (!v.is_object()) continue;
      for (const auto& [name, sub] : v.items())
        if (!schema.at("properties").contains(name))
          errors.push_back(path + ": undocumented key '" + name + "'");
    } else if (key == "items") {
      if (!v.is_array()) continue;
      for (size_t i = 0; i < v.size(); ++i)
        validate(v[i], rule, root, path + "/" + std::to_string(i), errors);
    } else if (key == "minItems" || key == "maxItems") {
      const size_t n = rule.get<size_t>();
      if (v.is_array() && (key == "minItems" ? v.size() < n : v.size() > n))
        errors.push_back(path + ": " + key + " " + std::to_string(n) + ", found " + std::to_string(v.size()));
    } else {
      FAIL("the schema uses keyword '" << key << "' at " << path << ", which this validator does not know");
    }
  }
}

std::vector<std::string> schema_errors(const json& report) {
  const json schema = json::parse(read_text(kDocsDir + "/report.schema.json"));
  std::vector<std::string> errors;
  validate(report, schema, schema, "", errors);
  return errors;
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
  sim::SimOptions o;
  o.functional = functional;
  nlohmann::json config = quant::read_json_file(test::config_dir() + "/accel/trio-vit.json");
  if (!ddr4) config["dram"] = {{"bandwidth_gbps", 19.2}, {"latency_ns", 100}, {"burst_bytes", 256}};
  return sim::simulate(q, arch::parse_accel_config(config, "trio-vit"), o);
}

}  // namespace

TEST_CASE("report.json validates against docs/report.schema.json and every key is documented", "[report]") {
  for (const auto& [functional, ddr4] : {std::pair{false, false}, {true, false}, {false, true}}) {
    const json report = b0_report(functional, ddr4).to_json();
    const std::vector<std::string> errors = schema_errors(report);
    INFO("functional " << functional << ", ddr4 " << ddr4);
    CHECK(report.contains("dram") == ddr4);
    for (const std::string& e : errors) INFO(e);
    CHECK(errors.empty());
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

TEST_CASE("The validator catches what the schema forbids", "[report]") {
  json report = b0_report(false).to_json();
  report["surprise"] = 1;
  report["cycles"] = "many";
  report["layers"][1].erase("macs");
  report["resources"][0]["timeline"][0] = json::array({1, 2, 3});
  const std::vector<std::string> errors = schema_errors(report);
  std::string all;
  for (const std::string& e : errors) all += e + "\n";
  CHECK_THAT(all, Catch::Contains(": undocumented key 'surprise'"));
  CHECK_THAT(all, Catch::Contains("/cycles: not of type \"integer\""));
  CHECK_THAT(all, Catch::Contains("/layers/1: missing \"macs\""));
  CHECK_THAT(all, Catch::Contains("/resources/0/timeline/0: minItems 4, found 3"));
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

TEST_CASE("layers.csv has the header and one row per layer with the report's integers", "[report]") {
  const sim::SimReport r = b0_report(false);
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
                             std::to_string(l.dram_written);
    CHECK(line.size() >= tail.size());
    CHECK(line.compare(line.size() - tail.size(), tail.size(), tail) == 0);
    ++rows;
  }
  CHECK(rows == r.layers.size());
  CHECK(csv == sim::layers_csv(b0_report(false)));  // deterministic
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
  const json report = json::parse(read_text(dir.file("report.json")));
  CHECK(schema_errors(report).empty());
  CHECK(read_text(dir.file("layers.csv")).rfind(sim::kLayersCsvHeader, 0) == 0);
  const test::Run bad = test::run_vitsim(
      {"simulate", "--qgraph", dir.file("b0.vqg"), "--layers-csv", dir.file("missing/dir/layers.csv")});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("missing/dir/layers.csv"));
  CHECK(dir.entries() == std::vector<std::string>{"b0.vqg", "layers.csv", "report.json"});
}

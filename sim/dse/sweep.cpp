#include "sim/dse/sweep.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "arch/accel_config.hpp"
#include "arch/resource_model.hpp"
#include "quant/atomic_file.hpp"
#include "quant/csv.hpp"
#include "quant/qgraph_io.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/report_files.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kResultSchemaVersion = 1;
constexpr size_t kMaxAxisValues = 100000;
constexpr size_t kMaxPoints = 1000000;

// results.csv's fixed columns around the axis columns.
const std::vector<std::string> kLeadingColumns = {"index", "id", "model", "res", "recipe"};
const std::vector<std::string> kMetricColumns = {"cycles",
                                                 "latency_ms",
                                                 "fps",
                                                 "gops",
                                                 "mac_utilization",
                                                 "dsps",
                                                 "luts",
                                                 "bram36",
                                                 "fits_device",
                                                 "dsp_efficiency",
                                                 "fps_per_dsp",
                                                 "onchip_bytes",
                                                 "dram_bytes_read",
                                                 "dram_bytes_written",
                                                 "energy_mj",
                                                 "average_power_w",
                                                 "gops_per_w"};

// FNV-1a, 64 bits: a stable hash with no dependency (point ids only; not for security).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex12(uint64_t h) {
  std::ostringstream o;
  o << std::hex << std::setw(12) << std::setfill('0') << (h & 0xffffffffffffull);
  return o.str();
}

// A JSON pointer's syntax, checked; "" (the whole document) is not a parameter.
json::json_pointer parse_pointer(const quant::JsonReader& r, const std::string& at, const std::string& text) {
  if (text.empty() || text[0] != '/')
    r.fail(at, "expected a JSON pointer to a config parameter (\"/engines/0/lanes\"), found \"" +
                   quant::excerpt(text) + "\"");
  try {
    return json::json_pointer(text);
  } catch (const json::exception& e) {
    r.fail(at, "malformed JSON pointer \"" + quant::excerpt(text) + "\": " + quant::excerpt(e.what(), 200));
  }
}

// {"from", "to", "step"}: from, from + step, ... up to `to` inclusive; integers when all three are.
std::vector<json> range_values(quant::JsonReader& range) {
  range.require("from");
  range.require("to");
  range.require("step");
  const json* from = range.value("from");
  const json* to = range.value("to");
  const json* step = range.value("step");
  range.reject_unknown_keys();
  for (const auto& [key, v] : {std::pair{"from", from}, {"to", to}, {"step", step}})
    if (!v->is_number()) range.fail(key, "expected a number, found " + quant::describe_json(*v));
  std::vector<json> values;
  if (from->is_number_integer() && to->is_number_integer() && step->is_number_integer()) {
    if (from->is_number_unsigned() || to->is_number_unsigned() || step->is_number_unsigned())
      for (const auto& [key, v] : {std::pair{"from", from}, {"to", to}, {"step", step}})
        if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
          range.fail(key, "expected an integer in the int64 range, found " + quant::describe_json(*v));
    const int64_t a = from->get<int64_t>(), b = to->get<int64_t>(), s = step->get<int64_t>();
    if (s == 0 || (b > a && s < 0) || (b < a && s > 0))
      range.fail("step", "expected a nonzero step from 'from' towards 'to'");
    // In uint64, where the span of two int64 values and the values' modular sums cannot overflow.
    const uint64_t span = b >= a ? static_cast<uint64_t>(b) - static_cast<uint64_t>(a)
                                 : static_cast<uint64_t>(a) - static_cast<uint64_t>(b);
    const uint64_t stride = s > 0 ? static_cast<uint64_t>(s) : 0 - static_cast<uint64_t>(s);
    if (span / stride >= kMaxAxisValues)
      range.fail("step", "the range has more than " + std::to_string(kMaxAxisValues) +
                             " values, at most that many are allowed");
    const uint64_t count = span / stride + 1;
    for (uint64_t k = 0; k < count; ++k)
      values.emplace_back(static_cast<int64_t>(static_cast<uint64_t>(a) + k * static_cast<uint64_t>(s)));
  } else {
    const double a = from->get<double>(), b = to->get<double>(), s = step->get<double>();
    const double steps = (b - a) / s;
    if (s == 0 || !std::isfinite(steps) || steps < -1e-9)
      range.fail("step", "expected a nonzero step from 'from' towards 'to'");
    // A small tolerance so that 0.1 steps reach `to` despite binary rounding.
    const double count = std::floor(steps + 1e-9) + 1;
    if (count > static_cast<double>(kMaxAxisValues))
      range.fail("step", "the range has more than " + std::to_string(kMaxAxisValues) + " values");
    for (int64_t k = 0; k < static_cast<int64_t>(count); ++k)
      values.emplace_back(a + static_cast<double>(k) * s);
  }
  return values;
}

SweepAxis read_axis(quant::JsonReader& a, const json& base) {
  SweepAxis axis;
  const bool single = a.has("pointer"), tied = a.has("pointers");
  if (single == tied)
    a.fail("pointer",
           "expected exactly one of \"pointer\" (a JSON pointer) or \"pointers\" "
           "(several, set to the same value)");
  if (single) {
    axis.pointers = {a.string("pointer")};
  } else {
    axis.pointers = a.strings("pointers");
    if (axis.pointers.empty()) a.fail("pointers", "expected at least one JSON pointer");
  }
  for (size_t i = 0; i < axis.pointers.size(); ++i) {
    const std::string key = single ? "pointer" : "pointers/" + std::to_string(i);
    const json::json_pointer p = parse_pointer(a, key, axis.pointers[i]);
    bool exists = false;
    try {
      exists = base.contains(p);
    } catch (const json::exception&) {  // an array index beyond size_t
    }
    if (!exists)
      a.fail(key, "\"" + quant::excerpt(axis.pointers[i]) +
                      "\" does not exist in the base config (an axis can only set a "
                      "parameter the base config has)");
    for (size_t k = 0; k < i; ++k)
      if (axis.pointers[k] == axis.pointers[i]) a.fail(key, "duplicate pointer \"" + axis.pointers[i] + "\"");
  }
  std::string joined;
  for (const std::string& p : axis.pointers) joined += (joined.empty() ? "" : "+") + p;
  axis.label = a.string("name", joined);
  if (axis.label.empty()) a.fail("name", "expected a non-empty label");

  const bool listed = a.has("values"), ranged = a.has("range");
  if (listed == ranged)
    a.fail("values",
           "expected exactly one of \"values\" (a list) or \"range\" "
           "({\"from\", \"to\", \"step\"})");
  if (listed) {
    const json* values = a.value("values");
    if (!values->is_array() || values->empty())
      a.fail("values", "expected a non-empty array of values, found " + quant::describe_json(*values));
    axis.values.assign(values->begin(), values->end());
  } else {
    quant::JsonReader range = a.object("range");
    axis.values = range_values(range);
  }
  for (size_t i = 0; i < axis.values.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (axis.values[k] == axis.values[i])
        a.fail(listed ? "values/" + std::to_string(i) : "range", "duplicate value " +
                                                                     quant::excerpt(axis.values[i].dump()) +
                                                                     " (it would make two identical points)");
  a.reject_unknown_keys();
  return axis;
}

std::optional<int64_t> read_limit(quant::JsonReader& r, const std::string& key) {
  const json* v = r.value(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() || v->get<int64_t>() < 0)
    r.fail(key, "expected a non-negative integer, found " + quant::describe_json(*v));
  return v->get<int64_t>();
}

// The base config: a file relative to the spec's folder, else a file or preset name as `vitsim simulate
// --accel` takes it.
arch::AccelConfig resolve_base(const std::string& spec_path, const std::string& base) {
  const fs::path beside = fs::path(spec_path).parent_path() / base;
  if (fs::path(base).is_relative() && fs::is_regular_file(beside))
    return arch::load_accel_config(beside.string());
  return find_accel(base);
}

}  // namespace

SweepSpec load_sweep_spec(const std::string& path) {
  SweepSpec s;
  s.file = path;
  s.source = quant::read_json_file(path);
  quant::JsonReader r(s.source, path);
  s.name = r.string("name");
  if (s.name.empty()) r.fail("name", "expected a non-empty name");
  s.description = r.string("description", "");
  s.base_accel = r.string("base_accel");
  try {
    s.base_file = resolve_base(path, s.base_accel).file;
    s.base_config = quant::read_json_file(s.base_file);
  } catch (const std::invalid_argument& e) {
    r.fail("base_accel", e.what());
  }

  const json* axes = r.value("axes");
  if (axes && !axes->is_array())
    r.fail("axes", "expected an array of axis objects, found " + quant::describe_json(*axes));
  std::set<std::string> pointers, labels(kLeadingColumns.begin(), kLeadingColumns.end());
  labels.insert(kMetricColumns.begin(), kMetricColumns.end());
  labels.insert({"status", "error", "strategy", "generation"});
  for (size_t i = 0; axes && i < axes->size(); ++i) {
    const std::string at = "axes/" + std::to_string(i);
    quant::JsonReader a((*axes)[i], path, "/" + at);
    SweepAxis axis = read_axis(a, s.base_config);
    for (const std::string& p : axis.pointers)
      if (!pointers.insert(p).second) r.fail(at, "pointer \"" + p + "\" is already set by an earlier axis");
    if (!labels.insert(axis.label).second)
      r.fail(at + "/name", "the column name \"" + axis.label +
                               "\" is taken (by another axis or a results.csv "
                               "column): give the axis a \"name\"");
    s.axes.push_back(std::move(axis));
  }

  s.models = read_model_entries(r, "models");
  r.require("recipes");
  const std::vector<std::string> recipes = r.strings("recipes");
  if (recipes.empty()) r.fail("recipes", "expected at least one PTQ recipe");
  for (size_t i = 0; i < recipes.size(); ++i) {
    const std::string at = "recipes/" + std::to_string(i);
    quant::Recipe recipe = read_recipe(r, at, recipes[i]);
    if (!plain_name(recipe.name))
      r.fail(at,
             "the recipe's name \"" + recipe.name + "\" cannot name a file (letters, digits, '-', '_', '.')");
    for (const quant::Recipe& seen : s.recipes)
      if (seen.name == recipe.name) r.fail(at, "duplicate recipe \"" + recipe.name + "\"");
    s.recipes.push_back(std::move(recipe));
  }
  quant::JsonReader calib = r.object("calibration");
  s.calibration = read_calibration(calib, CalibrationSpec{"synthetic", 1, 1});
  s.timing = r.choice("timing", "fast", {"fast", "cycle"});
  s.max_cycles = read_limit(r, "max_cycles").value_or(0);

  quant::JsonReader constraints = r.object("constraints");
  s.device = constraints.string("device", "");
  quant::JsonReader max = constraints.object("max");
  s.limits.dsps = read_limit(max, "dsps");
  s.limits.luts = read_limit(max, "luts");
  s.limits.bram36 = read_limit(max, "bram36");
  s.limits.onchip_bytes = read_limit(max, "onchip_bytes");
  max.reject_unknown_keys();
  constraints.reject_unknown_keys();
  if (!s.device.empty()) try {
      s.fpga = find_device(s.device);
    } catch (const std::invalid_argument& e) {
      constraints.fail("device", e.what());
    }
  std::vector<std::string> numeric_metrics = kMetricColumns;
  numeric_metrics.erase(std::find(numeric_metrics.begin(), numeric_metrics.end(), "fits_device"));
  quant::JsonReader search = r.object("search");
  s.search = read_sweep_search(search, numeric_metrics);
  r.reject_unknown_keys();

  size_t total = s.models.size() * s.recipes.size();
  for (const SweepAxis& a : s.axes) {
    total *= a.values.size();
    if (total > kMaxPoints)
      r.fail("axes", "the sweep has more than " + std::to_string(kMaxPoints) + " points");
  }
  return s;
}

json point_config(const SweepSpec& spec, const SweepPoint& point) {
  json config = spec.base_config;
  for (size_t k = 0; k < spec.axes.size(); ++k)
    for (const std::string& ptr : spec.axes[k].pointers) config[json::json_pointer(ptr)] = point.values[k];
  return config;
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec) {
  size_t per_pair = 1;
  for (const SweepAxis& a : spec.axes) per_pair *= a.values.size();
  const size_t pairs = spec.models.size() * spec.recipes.size();
  std::vector<SweepPoint> points(pairs * per_pair);
  // Configs depend on the axis values only: each combination is built and validated once, for every
  // model and recipe, and not kept (point_config rebuilds it): a million points fit in memory.
  for (size_t d = 0; d < per_pair; ++d) {
    SweepPoint p;
    size_t rest = d;
    p.values.resize(spec.axes.size());
    for (size_t k = spec.axes.size(); k-- > 0;) {  // the last axis varies fastest
      const SweepAxis& axis = spec.axes[k];
      p.values[k] = axis.values[rest % axis.values.size()];
      rest /= axis.values.size();
    }
    const json config = point_config(spec, p);
    try {
      const arch::AccelConfig c = arch::parse_accel_config(config, "accel.json");
      const arch::ResourceEstimate estimate = arch::estimate_resources(c);
      p.dsps = estimate.dsps;
      p.luts = estimate.luts;
      p.bram36 = estimate.bram36;
      p.onchip_bytes = c.onchip_bytes();
      std::vector<std::string> over;
      const auto check = [&over](const char* what, int64_t have, const std::optional<int64_t>& limit) {
        if (limit && have > *limit)
          over.push_back(std::string(what) + " " + std::to_string(have) + " > " + std::to_string(*limit));
      };
      check("dsps", p.dsps, spec.limits.dsps);
      check("luts", p.luts, spec.limits.luts);
      check("bram36", p.bram36, spec.limits.bram36);
      check("onchip_bytes", p.onchip_bytes, spec.limits.onchip_bytes);
      std::string why;
      if (spec.fpga) {
        p.fits_device = arch::fits(estimate, *spec.fpga, &why);
        if (!*p.fits_device) over.push_back("does not fit " + spec.fpga->name + ": " + why);
      }
      for (const std::string& o : over) p.filtered += (p.filtered.empty() ? "" : ", ") + o;
    } catch (const std::invalid_argument& e) {
      p.config_error = e.what();
    }
    for (size_t m = 0; m < spec.models.size(); ++m)
      for (size_t r = 0; r < spec.recipes.size(); ++r) {
        const size_t index = (m * spec.recipes.size() + r) * per_pair + d;
        SweepPoint& point = points[index];
        point = p;
        point.index = static_cast<int>(index);
        point.chosen = spec.search.strategy == SearchStrategy::grid;
        point.model = m;
        point.recipe = r;
        const json canonical = {{"model", spec.models[m].model},
                                {"res", spec.models[m].resolution},
                                {"recipe", spec.recipes[r].name},
                                {"calibration",
                                 {{"source", spec.calibration.source},
                                  {"seed", spec.calibration.seed},
                                  {"count", spec.calibration.count}}},
                                {"weights_seed", spec.weights_seed},
                                {"timing", spec.timing},
                                {"accel", config}};
        point.id = hex12(fnv1a(canonical.dump()));
      }
  }
  return points;
}

namespace {

// A value as a table or CSV cell: strings bare, reals with 12 significant digits (result.json keeps them
// all), everything else as JSON.
std::string cell(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::ostringstream o;
    o << std::setprecision(12) << v.get<double>();
    return o.str();
  }
  return v.dump();
}

std::string point_status(const SweepPoint& p) {
  if (!p.filtered.empty()) return "filtered (" + p.filtered + ")";
  if (!p.config_error.empty()) return "invalid config (will fail): " + p.config_error;
  return "runs (dsps " + std::to_string(p.dsps) + ", luts " + std::to_string(p.luts) + ", bram36 " +
         std::to_string(p.bram36) + ")";
}

}  // namespace

void print_sweep_points(const SweepSpec& spec, const std::vector<SweepPoint>& points, std::ostream& out) {
  const auto filtered = std::count_if(points.begin(), points.end(),
                                      [](const SweepPoint& p) { return p.chosen && !p.filtered.empty(); });
  const auto chosen =
      std::count_if(points.begin(), points.end(), [](const SweepPoint& p) { return p.chosen; });
  out << "sweep " << spec.name << " (" << spec.file << "): " << points.size()
      << " point(s) = " << spec.models.size() << " model(s) x " << spec.recipes.size() << " recipe(s)";
  for (const SweepAxis& a : spec.axes) out << " x " << a.values.size() << " (" << a.label << ")";
  if (spec.search.strategy != SearchStrategy::grid)
    out << "; " << strategy_name(spec.search.strategy) << " search chooses " << chosen
        << (spec.search.strategy == SearchStrategy::nsga2
                ? " in generation 0 (the later generations depend on its results)"
                : "");
  out << "; " << chosen - filtered << " run, " << filtered << " filtered\n";
  std::vector<std::string> header = {"index", "id", "model", "recipe"};
  for (const SweepAxis& a : spec.axes) header.push_back(a.label);
  header.push_back("status");
  // Two passes over the points (column widths, then the rows), so that no table of a million rows is held.
  const auto row_of = [&](const SweepPoint& p) {
    std::vector<std::string> row = {std::to_string(p.index), p.id, spec.models[p.model].label(),
                                    spec.recipes[p.recipe].name};
    for (const json& v : p.values) row.push_back(cell(v));
    row.push_back(point_status(p));
    return row;
  };
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const SweepPoint& p : points) {
    if (!p.chosen) continue;
    const std::vector<std::string> row = row_of(p);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  const auto print_row = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      out << (c ? "  " : "");
      if (c + 1 == row.size())
        out << row[c];
      else
        out << std::left << std::setw(static_cast<int>(width[c])) << row[c];
    }
    out << std::right << '\n';
  };
  print_row(header);
  for (const SweepPoint& p : points)
    if (p.chosen) print_row(row_of(p));
}

std::string SweepDir::spec_copy() const {
  return (fs::path(root) / "spec.json").string();
}
std::string SweepDir::qgraph(const SweepSpec& spec, const SweepPoint& point) const {
  return (fs::path(root) / "qgraphs" /
          (spec.models[point.model].label() + "_" + spec.recipes[point.recipe].name + ".vqg"))
      .string();
}
std::string SweepDir::point_dir(int index) const {
  return (fs::path(root) / "points" / std::to_string(index)).string();
}
std::string SweepDir::result(int index) const {
  return (fs::path(point_dir(index)) / "result.json").string();
}
std::string SweepDir::log(int index) const {
  return (fs::path(point_dir(index)) / "log.txt").string();
}
std::string SweepDir::results_csv() const {
  return (fs::path(root) / "results.csv").string();
}

std::vector<json> init_sweep_dir(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                 const SweepDir& dir) {
  const std::string copy = dir.spec_copy();
  if (fs::is_regular_file(copy)) {
    json existing;
    try {
      existing = quant::read_json_file(copy);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " (not a sweep folder? use another --out)");
    }
    if (existing != spec.source)
      throw std::invalid_argument(dir.root + " holds the results of a different spec (" + copy +
                                  " differs from " + spec.file +
                                  "): use another --out, or delete the folder to start over");
  } else {
    const auto not_lock = [](const fs::directory_entry& e) { return e.path().filename() != ".lock"; };
    if (fs::exists(dir.root) &&
        std::any_of(fs::directory_iterator(dir.root), fs::directory_iterator(), not_lock))
      throw std::invalid_argument(dir.root +
                                  " is not empty and has no spec.json: not a sweep folder (use a new "
                                  "or empty --out)");
    fs::create_directories(dir.root);
    quant::write_file_atomic(copy, spec.source.dump(2) + "\n");
  }
  // A result.json of another point (the base config changed since) would mix two sweeps.
  const std::vector<json> results = read_sweep_results(points, dir);
  for (const SweepPoint& p : points)
    if (!results[static_cast<size_t>(p.index)].is_null() &&
        results[static_cast<size_t>(p.index)].value("id", "") != p.id)
      throw std::invalid_argument(
          dir.result(p.index) + " is for point id " + results[static_cast<size_t>(p.index)].value("id", "?") +
          ", but " + spec.file + " now gives point " + std::to_string(p.index) + " the id " + p.id +
          " (did the base config " + spec.base_file + " change?): use another --out");
  return results;
}

std::vector<int> pending_points(const std::vector<SweepPoint>& points, const SweepDir& dir) {
  std::vector<int> pending;
  for (const SweepPoint& p : points)
    if (p.chosen && p.filtered.empty() && !fs::is_regular_file(dir.result(p.index)))
      pending.push_back(p.index);
  return pending;
}

namespace {

json result_header(const SweepSpec& spec, const SweepPoint& p) {
  json values = json::object();
  for (size_t k = 0; k < spec.axes.size(); ++k) values[spec.axes[k].label] = p.values[k];
  return {{"schema", "vitsim-sweep-result"},
          {"schema_version", kResultSchemaVersion},
          {"index", p.index},
          {"id", p.id},
          {"model", spec.models[p.model].model},
          {"res", spec.models[p.model].resolution},
          {"recipe", spec.recipes[p.recipe].name},
          {"values", values}};
}

json resource_metrics(const SweepPoint& p) {
  const auto known = [](int64_t v) { return v < 0 ? json() : json(v); };
  return {{"dsps", known(p.dsps)},
          {"luts", known(p.luts)},
          {"bram36", known(p.bram36)},
          {"onchip_bytes", known(p.onchip_bytes)},
          {"fits_device", p.fits_device ? json(*p.fits_device) : json()}};
}

void write_result(const SweepDir& dir, const json& result) {
  quant::write_file_atomic(dir.result(result.at("index").get<int>()), result.dump(1) + "\n");
}

const SweepPoint& point_at(const std::vector<SweepPoint>& points, int index) {
  if (index < 0 || static_cast<size_t>(index) >= points.size())
    throw std::invalid_argument("--point " + std::to_string(index) + ": the sweep has points 0.." +
                                std::to_string(points.size() - 1));
  return points[static_cast<size_t>(index)];
}

quant::QGraph make_qgraph(const SweepSpec& spec, const SweepPoint& p, const std::string& path) {
  const quant::QGraph q =
      quantize_zoo_model(spec.models[p.model], spec.weights_seed, spec.calibration, spec.recipes[p.recipe]);
  fs::create_directories(fs::path(path).parent_path());
  quant::save_qgraph(q, path);
  return q;
}

}  // namespace

void record_failed_point(const SweepSpec& spec, const SweepPoint& point, const SweepDir& dir,
                         const std::string& error) {
  json result = result_header(spec, point);
  result["status"] = "failed";
  result["error"] = error;
  result["metrics"] = resource_metrics(point);
  fs::create_directories(dir.point_dir(point.index));
  write_result(dir, result);
}

std::vector<int> prepare_sweep(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir& dir,
                               std::ostream& err) {
  init_sweep_dir(spec, points, dir);
  run_search(spec, points, &dir, nullptr);
  return prepare_points(spec, points, dir, pending_points(points, dir), err);
}

std::vector<int> prepare_points(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                const SweepDir& dir, const std::vector<int>& pending, std::ostream& err) {
  // One PTQ per (model, recipe) that a pending point needs; a failed PTQ fails its points now.
  std::map<std::string, std::string> ptq_error;  // by qgraph path
  for (const int i : pending) {
    const SweepPoint& p = points[static_cast<size_t>(i)];
    const std::string path = dir.qgraph(spec, p);
    if (ptq_error.count(path) || !p.config_error.empty() || fs::is_regular_file(path)) continue;
    err << "quantizing " << spec.models[p.model].label() << " with " << spec.recipes[p.recipe].name << " ("
        << spec.calibration.count << " " << spec.calibration.source << " calibration image(s)) -> " << path
        << std::endl;
    try {
      make_qgraph(spec, p, path);
    } catch (const std::invalid_argument& e) {
      ptq_error[path] = std::string("quantization failed: ") + e.what();
      err << "  " << ptq_error[path] << std::endl;
    }
  }
  std::vector<int> still;
  for (const int i : pending) {
    const SweepPoint& p = points[static_cast<size_t>(i)];
    const auto failed = ptq_error.find(dir.qgraph(spec, p));
    if (failed != ptq_error.end() && p.config_error.empty())
      record_failed_point(spec, p, dir, failed->second);
    else
      still.push_back(i);
  }
  return still;
}

json run_sweep_point(const SweepSpec& spec, const std::vector<SweepPoint>& points, int index,
                     const SweepDir& dir, std::ostream& log, const quant::QGraph* loaded) {
  const SweepPoint& p = point_at(points, index);
  if (!p.filtered.empty())
    throw std::invalid_argument("--point " + std::to_string(index) + " is filtered by the constraints (" +
                                p.filtered + "): it never runs");
  // From scratch: whatever an interrupted run left (but the log, which the backend may be writing).
  const fs::path folder = dir.point_dir(index);
  fs::create_directories(folder);
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().filename() != "log.txt") fs::remove_all(e.path());
  const std::string accel_file = (folder / "accel.json").string();
  const json config_json = point_config(spec, p);
  quant::write_file_atomic(accel_file, config_json.dump(2) + "\n");

  log << "point " << index << " (" << p.id << "): " << spec.models[p.model].label() << ", "
      << spec.recipes[p.recipe].name;
  for (size_t k = 0; k < spec.axes.size(); ++k)
    log << ", " << spec.axes[k].label << " = " << cell(p.values[k]);
  log << std::endl;
  json result = result_header(spec, p);
  try {
    // Named relative to DIR: the same point gives the same error (and results.csv) in any folder.
    const arch::AccelConfig config =
        arch::parse_accel_config(config_json, "points/" + std::to_string(index) + "/accel.json");
    const std::string qpath = dir.qgraph(spec, p);
    quant::QGraph own;  // unless the caller has it loaded (no copy then)
    if (!loaded)
      own = fs::is_regular_file(qpath)
                ? quant::load_qgraph(qpath, quant::QGraphUse::Structure)  // timing only
                : make_qgraph(spec, p, qpath);
    const quant::QGraph& qgraph = loaded ? *loaded : own;
    // Every point is priced by the default energy model (docs/energy.md).
    const arch::EnergyModel energy = arch::find_energy_model(arch::kDefaultEnergyModel, config_dir());
    SimOptions options;
    options.timing = arch::parse_timing_mode(spec.timing);
    options.max_cycles = spec.max_cycles;
    options.energy = &energy;
    const SimReport report = simulate(qgraph, config, options);
    quant::write_file_atomic((folder / "report.json").string(), report.to_json().dump(1) + "\n");
    json metrics = resource_metrics(p);
    metrics.update(json{{"cycles", report.cycles},
                        {"latency_ms", report.latency_ms()},
                        {"fps", report.fps()},
                        {"gops", report.gops()},
                        {"mac_utilization", report.mac_utilization()},
                        {"dsps", report.dsps},
                        {"dsp_efficiency", report.dsp_efficiency()},
                        {"fps_per_dsp", report.fps_per_dsp()},
                        {"dram_bytes_read", report.dram_bytes_read},
                        {"dram_bytes_written", report.dram_bytes_written},
                        {"energy_mj", report.energy->energy.total() * 1e3},
                        {"average_power_w", report.average_power_w()},
                        {"gops_per_w", report.gops_per_w()}});
    result["status"] = "ok";
    result["error"] = "";
    result["metrics"] = metrics;
    log << "ok: " << report.cycles << " cycles, " << report.fps() << " fps, simulated in " << std::fixed
        << std::setprecision(2) << report.wall_seconds << " s" << std::endl;
  } catch (const std::exception& e) {  // the point's own failure: recorded, the sweep goes on
    result["status"] = "failed";
    result["error"] = e.what();
    result["metrics"] = resource_metrics(p);
    log << "failed: " << e.what() << std::endl;
  }
  write_result(dir, result);
  return result;
}

json read_sweep_result(const SweepPoint& point, const SweepDir& dir) {
  const std::string path = dir.result(point.index);
  const json r = quant::read_json_file(path);
  const auto bad = [&](const std::string& what) {
    throw std::invalid_argument(path + ": " + what +
                                " (not a result.json of this sweep: delete it to run the point again)");
  };
  if (!r.is_object()) bad("expected an object, found " + quant::describe_json(r));
  const auto field = [&](const char* key, bool (json::*is)() const noexcept,
                         const char* type) -> const json& {
    const auto it = r.find(key);
    if (it == r.end() || !((*it).*is)())
      bad(std::string("/") + key + ": expected " + type + ", found " +
          (it == r.end() ? "nothing" : quant::describe_json(*it)));
    return *it;
  };
  if (field("schema", &json::is_string, "a string") != "vitsim-sweep-result")
    bad("/schema: expected \"vitsim-sweep-result\"");
  if (field("schema_version", &json::is_number_integer, "an integer") != kResultSchemaVersion)
    bad("/schema_version: expected " + std::to_string(kResultSchemaVersion));
  if (field("index", &json::is_number_integer, "an integer") != point.index)
    bad("/index: expected " + std::to_string(point.index));
  field("id", &json::is_string, "a string");  // init_sweep_dir explains an id of another point
  const json& status = field("status", &json::is_string, "a string");
  if (status != "ok" && status != "failed") bad("/status: expected \"ok\" or \"failed\"");
  field("error", &json::is_string, "a string");
  const json& metrics = field("metrics", &json::is_object, "an object");
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    const bool known =
        std::find(kMetricColumns.begin(), kMetricColumns.end(), it.key()) != kMetricColumns.end();
    const bool valid =
        it->is_null() ||
        (it.key() == "fits_device" ? it->is_boolean() : it->is_number() && it->get<double>() >= 0);
    if (!known || !valid)
      bad("/metrics/" + quant::excerpt(it.key()) + ": expected " +
          (known ? "null or a non-negative number" : "a known metric") + ", found " +
          quant::describe_json(*it));
  }
  if (status == "ok")
    for (const char* key : {"cycles", "fps"})
      if (!metrics.contains(key) || !metrics[key].is_number())
        bad(std::string("/metrics/") + key + ": a point with status ok has a number here");
  return r;
}

std::vector<json> read_sweep_results(const std::vector<SweepPoint>& points, const SweepDir& dir) {
  std::vector<json> results(points.size());
  for (const SweepPoint& p : points)
    if (fs::is_regular_file(dir.result(p.index)))
      results[static_cast<size_t>(p.index)] = read_sweep_result(p, dir);
  return results;
}

std::string results_csv_header(const SweepSpec& spec) {
  std::ostringstream o;
  std::vector<std::string> columns = kLeadingColumns;
  for (const SweepAxis& a : spec.axes) columns.push_back(a.label);
  columns.push_back("status");
  columns.push_back("error");
  columns.insert(columns.end(), kMetricColumns.begin(), kMetricColumns.end());
  columns.push_back("strategy");
  columns.push_back("generation");
  for (size_t c = 0; c < columns.size(); ++c) o << (c ? "," : "") << quant::csv_field(columns[c]);
  o << '\n';
  return o.str();
}

std::string results_csv_row(const SweepSpec& spec, const SweepPoint& p, const json& r) {
  if (!p.chosen || (r.is_null() && p.filtered.empty())) return "";  // not in the search, or pending
  std::ostringstream o;
  o << p.index << ',' << p.id << ',' << quant::csv_field(spec.models[p.model].model) << ','
    << spec.models[p.model].resolution << ',' << quant::csv_field(spec.recipes[p.recipe].name);
  for (const json& v : p.values) o << ',' << quant::csv_field(cell(v));
  const json metrics = r.is_null() ? resource_metrics(p) : r.value("metrics", json::object());
  std::string error = r.is_null() ? p.filtered : r.value("error", "");
  error = error.substr(0, error.find('\n'));  // the first line; result.json has all of it
  o << ',' << (r.is_null() ? "filtered" : quant::csv_field(r.value("status", "?"))) << ','
    << quant::csv_field(error);
  for (const std::string& m : kMetricColumns) o << ',' << quant::csv_field(cell(metrics.value(m, json())));
  o << ',' << strategy_name(spec.search.strategy) << ',';
  if (p.generation >= 0) o << p.generation;
  o << '\n';
  return o.str();
}

namespace {
// The chosen points in results.csv's order: by generation (nsga2's later generations come after the
// earlier ones, so rows are appended as generations finish), then by index.
std::vector<int> chosen_in_row_order(const std::vector<SweepPoint>& points) {
  std::vector<int> order;
  for (const SweepPoint& p : points)
    if (p.chosen) order.push_back(p.index);
  std::stable_sort(order.begin(), order.end(), [&points](int a, int b) {
    return points[static_cast<size_t>(a)].generation < points[static_cast<size_t>(b)].generation;
  });
  return order;
}
}  // namespace

std::string sweep_results_csv(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                              const std::vector<json>& results) {
  std::string csv = results_csv_header(spec);
  for (const int i : chosen_in_row_order(points))
    csv += results_csv_row(spec, points[static_cast<size_t>(i)], results[static_cast<size_t>(i)]);
  return csv;
}

void collect_sweep(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir& dir,
                   std::ostream& out) {
  if (!fs::is_regular_file(dir.spec_copy()))
    throw std::invalid_argument(dir.root + " is not a sweep folder (no spec.json)");
  const std::vector<json> results = init_sweep_dir(spec, points, dir);
  run_search(spec, points, &dir, nullptr);  // which points the search chose, re-derived from the results
  quant::write_file_atomic(dir.results_csv(), sweep_results_csv(spec, points, results));
  int ok = 0, failed = 0, filtered = 0, pending = 0;
  // The fastest design per (model, recipe).
  std::map<std::pair<size_t, size_t>, const SweepPoint*> best;
  for (const SweepPoint& p : points) {
    const json& r = results[static_cast<size_t>(p.index)];
    if (!p.chosen) {
      continue;
    } else if (!p.filtered.empty()) {
      ++filtered;
    } else if (r.is_null()) {
      ++pending;
    } else if (r.value("status", "") == "ok") {
      ++ok;
      const SweepPoint*& b = best[{p.model, p.recipe}];
      if (!b || r["metrics"].value("fps", 0.0) >
                    results[static_cast<size_t>(b->index)]["metrics"].value("fps", 0.0))
        b = &p;
    } else {
      ++failed;
    }
  }
  out << "sweep " << spec.name << ": " << ok + failed + filtered + pending << " point(s): " << ok << " ok, "
      << failed << " failed, " << filtered << " filtered, " << pending << " pending\n";
  for (const auto& [key, p] : best) {
    const json& m = results[static_cast<size_t>(p->index)]["metrics"];
    out << "  fastest " << spec.models[key.first].label() << " " << spec.recipes[key.second].name
        << ": point " << p->index << " (" << p->id << ")";
    for (size_t k = 0; k < spec.axes.size(); ++k)
      out << " " << spec.axes[k].label << "=" << cell(p->values[k]);
    out << std::fixed << std::setprecision(1) << ": " << m.value("fps", 0.0) << " fps, "
        << m.value("gops", 0.0) << " GOPS, " << m.value("dsps", json()).dump() << " DSPs\n"
        << std::defaultfloat;
  }
  int listed = 0;
  for (const SweepPoint& p : points) {
    const json& r = results[static_cast<size_t>(p.index)];
    if (!p.chosen || r.is_null() || r.value("status", "") == "ok" || ++listed > 5) continue;
    const std::string error = r.value("error", "");
    out << "  failed point " << p.index << ": " << error.substr(0, error.find('\n')) << '\n';
  }
  if (listed > 5) out << "  ... " << listed - 5 << " more failed point(s) (results.csv)\n";
  out << "results: " << dir.results_csv() << '\n';
}

// --- the local backend -------------------------------------------------------------------------------------

namespace {

std::string log_tail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Starts `argv` with stdout and stderr to `log_path`. The child dies with its parent (PR_SET_PDEATHSIG): a
// killed sweep leaves no orphan finishing a point that the next run starts again.
pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot write '" + log_path + "': " + std::strerror(errno));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    const char msg[] = "vitsim sweep: cannot execute the point runner\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  if (pid < 0)
    throw std::runtime_error(std::string("cannot start a point process: ") + std::strerror(fork_errno));
  return pid;
}

/// Forks a child that runs `run` with stdout and stderr on `log_path`, then exits (0, or 4 if `run`
/// throws). The child shares this process's memory copy-on-write: the fork server's points need no exec
/// and no file loads. The caller flushes its streams first (a child would repeat their buffered text).
pid_t fork_logged(const std::function<void()>& run, const std::string& log_path) {
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot write '" + log_path + "': " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed sweep takes its points with it
    if (::getppid() != parent) ::_exit(127);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int code = 0;
    try {
      run();
    } catch (const std::exception& e) {
      std::cerr << "vitsim: internal error: " << e.what() << std::endl;
      code = 4;
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::_exit(code);  // no atexit handlers or static destructors: they belong to the parent
  }
  const int fork_errno = errno;
  ::close(log_fd);
  if (pid < 0)
    throw std::runtime_error(std::string("cannot start a point process: ") + std::strerror(fork_errno));
  return pid;
}

/// results.csv during a run: rows appended in results.csv's order (the search's steps one after the other,
/// each in index order) as far as every earlier point has its row, flushed after each append (a kill leaves
/// a prefix of the final file; the next run starts it again).
class ResultsCsvAppender {
 public:
  ResultsCsvAppender(const SweepSpec& spec, const std::vector<SweepPoint>& points, const SweepDir& dir)
      : spec_(spec), points_(points) {
    quant::write_file_atomic(dir.results_csv(), results_csv_header(spec));
    file_.open(dir.results_csv(), std::ios::app | std::ios::binary);
    if (!file_) throw std::runtime_error("cannot append to " + dir.results_csv());
  }
  /// The next step's points (ascending) follow the earlier ones.
  void extend(const std::vector<int>& step) { order_.insert(order_.end(), step.begin(), step.end()); }
  /// Appends the rows that became ready: results[i] non-null or point i filtered, for i from the first
  /// point without a row.
  void advance(const std::vector<json>& results) {
    std::string rows;
    for (; next_ < order_.size(); ++next_) {
      const size_t i = static_cast<size_t>(order_[next_]);
      if (results[i].is_null() && points_[i].filtered.empty()) break;
      rows += results_csv_row(spec_, points_[i], results[i]);
    }
    if (rows.empty()) return;
    file_ << rows << std::flush;
    if (!file_) throw std::runtime_error("cannot append to results.csv");
  }

 private:
  const SweepSpec& spec_;
  const std::vector<SweepPoint>& points_;
  std::ofstream file_;
  std::vector<int> order_;
  size_t next_ = 0;
};

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int run_local_sweep(const SweepSpec& spec, const std::string& spec_path, std::vector<SweepPoint>& points,
                    const SweepDir& dir, const LocalBackendOptions& options, std::ostream& out,
                    std::ostream& err) {
  using clock = std::chrono::steady_clock;
  if (options.jobs < 1)
    throw std::invalid_argument("-j must be at least 1, got " + std::to_string(options.jobs));
  std::vector<json> results = init_sweep_dir(spec, points, dir);
  const std::string spec_abs = fs::absolute(spec_path).string(), out_abs = fs::absolute(dir.root).string();
  // The fork server's quantized graphs, each loaded once (a graph that does not load is left to the
  // point, which records the error as its failure).
  std::map<std::string, quant::QGraph> graphs;
  ResultsCsvAppender csv(spec, points, dir);
  const auto started = clock::now();
  size_t ran = 0;

  // One step of the search: its points that have no result yet, run in children, at most `jobs` at once.
  const auto run_step = [&](const std::vector<int>& chosen, int generation) {
    std::vector<int> waiting;
    size_t filtered = 0, failed = 0;
    for (const int i : chosen) {
      const size_t k = static_cast<size_t>(i);
      if (!points[k].filtered.empty())
        ++filtered;
      else if (results[k].is_null())
        waiting.push_back(i);
      else if (results[k].value("status", "") != "ok")
        ++failed;
    }
    const std::vector<int> pending = prepare_points(spec, points, dir, waiting, err);
    // A PTQ of this step left its freed heap in this process, which every fork below would copy the page
    // tables of: give it back first.
    ::malloc_trim(0);
    for (const int i : waiting)  // a failed PTQ failed its points
      if (fs::is_regular_file(dir.result(i))) {
        results[static_cast<size_t>(i)] = read_sweep_result(points[static_cast<size_t>(i)], dir);
        failed += std::find(pending.begin(), pending.end(), i) == pending.end() ? 1 : 0;
      }
    csv.extend(chosen);
    csv.advance(results);
    const size_t total = chosen.size() - filtered;
    size_t done = total - pending.size();
    std::string step_name;
    if (spec.search.strategy != SearchStrategy::grid)
      step_name = " (" + strategy_name(spec.search.strategy) +
                  (generation >= 0 ? ", generation " + std::to_string(generation) : "") + ")";
    err << "sweep " << spec.name << step_name << ": " << chosen.size() << " point(s), " << filtered
        << " filtered, " << done << " already done, " << pending.size() << " to run on " << options.jobs
        << " process(es)" << std::endl;
    if (options.executable.empty())
      for (const int i : pending) {
        const std::string path = dir.qgraph(spec, points[static_cast<size_t>(i)]);
        if (graphs.count(path) || !fs::is_regular_file(path)) continue;
        try {
          graphs.emplace(path, quant::load_qgraph(path, quant::QGraphUse::Structure));
        } catch (const std::invalid_argument&) {
        }
      }
    const auto t0 = clock::now();
    size_t finished_here = 0;
    const auto progress = [&](const std::string& line) {
      const double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
      const size_t left = pending.size() - finished_here;
      const std::string eta =
          finished_here
              ? duration_text(elapsed / static_cast<double>(finished_here) * static_cast<double>(left))
              : "?";
      if (options.progress_bar) {
        constexpr int kWidth = 30;
        const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
        if (line.find("FAILED") != std::string::npos) err << "\r\033[K" << line << '\n';  // above the bar
        err << "\r\033[K[" << std::string(static_cast<size_t>(filled), '#')
            << std::string(static_cast<size_t>(kWidth - filled), '.') << "] " << done << "/" << total << ", "
            << failed << " failed, elapsed " << duration_text(elapsed) << ", ETA " << eta << std::flush;
      } else if (!line.empty()) {
        err << "[" << done << "/" << total << "] " << line << " (ETA " << eta << ")" << std::endl;
      }
    };

    std::map<pid_t, int> running;  // child -> point index
    size_t next = 0;
    while (next < pending.size() || !running.empty()) {
      while (running.size() < static_cast<size_t>(options.jobs) && next < pending.size()) {
        const int index = pending[next++];
        fs::remove_all(dir.point_dir(index));  // a point without result.json restarts from scratch
        fs::create_directories(dir.point_dir(index));
        if (!options.executable.empty()) {
          running[spawn_logged(
              {options.executable, "sweep", spec_abs, "--out", out_abs, "--point", std::to_string(index)},
              dir.log(index))] = index;
          continue;
        }
        const auto graph = graphs.find(dir.qgraph(spec, points[static_cast<size_t>(index)]));
        const quant::QGraph* loaded = graph == graphs.end() ? nullptr : &graph->second;
        out.flush(), err.flush(), std::cout.flush(), std::cerr.flush();
        running[fork_logged(
            [&, index, loaded] { run_sweep_point(spec, points, index, dir, std::cout, loaded); },
            dir.log(index))] = index;
      }
      progress("");
      int status = 0;
      pid_t pid = 0;
      if (options.progress_bar) {  // poll, so that the elapsed time and ETA tick while points run
        for (auto redrawn = clock::now(); (pid = ::waitpid(-1, &status, WNOHANG)) == 0;) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (clock::now() - redrawn >= std::chrono::seconds(1)) progress(""), redrawn = clock::now();
        }
      } else {
        pid = ::waitpid(-1, &status, 0);
      }
      if (pid < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("waiting for point processes: ") + std::strerror(errno));
      }
      const auto it = running.find(pid);
      if (it == running.end()) continue;  // not one of ours
      const int index = it->second;
      running.erase(it);
      const SweepPoint& p = points[static_cast<size_t>(index)];
      if (!fs::is_regular_file(dir.result(index)))
        record_failed_point(spec, p, dir,
                            "the point process " + exit_text(status) +
                                " without writing result.json; points/" + std::to_string(index) +
                                "/log.txt ends with:\n" + log_tail(dir.log(index)));
      results[static_cast<size_t>(index)] = read_sweep_result(p, dir);
      const json& r = results[static_cast<size_t>(index)];
      const bool ok = r.value("status", "") == "ok";
      ++done, ++finished_here, ++ran;
      failed += ok ? 0 : 1;
      csv.advance(results);
      std::string error = r.value("error", "");
      progress("point " + std::to_string(index) + " " +
               (ok ? "ok" : "FAILED: " + error.substr(0, error.find('\n'))));
    }
    if (options.progress_bar) err << '\n';
    return true;
  };
  run_search(spec, points, &dir, run_step);
  err << "ran " << ran << " point(s) in "
      << duration_text(std::chrono::duration<double>(clock::now() - started).count()) << std::endl;
  collect_sweep(spec, points, dir, out);
  return 0;
}

namespace {
// Two local sweeps (or --prepare) driving one --out at once would run points twice and interleave
// results.csv: the driver holds an exclusive lock on DIR/.lock (released by the kernel when the process ends,
// even on kill -9).
void lock_sweep_dir(const SweepDir& dir) {
  fs::create_directories(dir.root);
  const std::string path = (fs::path(dir.root) / ".lock").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw std::runtime_error("cannot open the lock file " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw std::invalid_argument("another vitsim sweep is using " + dir.root + " (it holds " + path +
                                "): wait for it, or use another --out");
  // The descriptor stays open on purpose: the lock lives as long as this process.
}
}  // namespace

std::vector<int> parse_point_list(const std::string& list) {
  const auto bad = [&list](const std::string& why) {
    throw std::invalid_argument("--points \"" + quant::excerpt(list) + "\": " + why +
                                " (expected point indices and ranges: 0-3,7)");
  };
  const auto number = [&bad](const std::string& text) {
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
      bad("\"" + quant::excerpt(text) + "\" is not an index");
    return std::stoi(text);
  };
  std::vector<int> indices;
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t dash = item.find('-');
    const int first = number(item.substr(0, dash));
    const int last = dash == std::string::npos ? first : number(item.substr(dash + 1));
    if (last < first || last - first > 1000000) bad("\"" + item + "\" is not an ascending range");
    for (int i = first; i <= last; ++i) indices.push_back(i);
  }
  if (indices.empty()) bad("no point");
  return indices;
}

void run_sweep_batch(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                     const std::vector<int>& indices, const SweepDir& dir, std::ostream& log) {
  for (const int i : indices) point_at(points, i);
  std::map<std::string, quant::QGraph> graphs;  // each loaded once, when its first point needs it
  for (const int i : indices) {
    if (fs::is_regular_file(dir.result(i))) continue;  // done by an earlier attempt of this batch
    const SweepPoint& p = points[static_cast<size_t>(i)];
    const std::string path = dir.qgraph(spec, p);
    if (!graphs.count(path) && fs::is_regular_file(path))
      graphs.emplace(path, quant::load_qgraph(path, quant::QGraphUse::Structure));
    const auto graph = graphs.find(path);
    run_sweep_point(spec, points, i, dir, log, graph == graphs.end() ? nullptr : &graph->second);
  }
}

int run_sweep_command(const SweepArgs& args, std::ostream& out, std::ostream& err) {
  const int modes = int{args.dry_run} + int{args.prepare} + int{args.collect} + int{args.point >= 0} +
                    int{!args.batch.empty()} + int{args.hypervolume};
  if (modes > 1)
    throw std::invalid_argument(
        "--dry-run, --prepare, --collect, --point, --points and --hypervolume exclude each other");
  if (!args.reference.empty() && !args.hypervolume)
    throw std::invalid_argument("--reference applies to --hypervolume only");
  const SweepSpec spec = load_sweep_spec(args.spec);
  std::vector<SweepPoint> points = expand_sweep(spec);
  if (args.dry_run) {
    run_search(spec, points, nullptr, nullptr);
    print_sweep_points(spec, points, out);
    return 0;
  }
  if (args.out.empty()) throw std::invalid_argument("--out DIR is required (the sweep's output folder)");
  const SweepDir dir{args.out};
  if (args.hypervolume) {
    print_hypervolume(spec, dir, args.reference, out);
    return 0;
  }
  if (args.point >= 0 || !args.batch.empty()) {
    const std::vector<int> batch =
        args.point >= 0 ? std::vector<int>{args.point} : parse_point_list(args.batch);
    for (const int i : batch) point_at(points, i);
    init_sweep_dir(spec, {}, dir);  // the spec check only: other points may be running
    if (args.point >= 0)
      run_sweep_point(spec, points, args.point, dir, out);
    else
      run_sweep_batch(spec, points, batch, dir, out);
    return 0;
  }
  if (args.prepare) {
    lock_sweep_dir(dir);
    for (const int i : prepare_sweep(spec, points, dir, err)) out << i << '\n';
    return 0;
  }
  if (args.collect) {
    collect_sweep(spec, points, dir, out);
    return 0;
  }
  // The Slurm backend is not locked: its submitting and waiting invocations share DIR by design.
  if (args.backend == "slurm") return run_slurm_sweep(spec, args.spec, points, dir, args.slurm, out, err);
  if (args.backend != "local")
    throw std::invalid_argument("--backend: expected local or slurm, found \"" + args.backend + "\"");
  if (!slurm_options_unset(args.slurm))
    throw std::invalid_argument("the --slurm-* options apply to --backend slurm only (--batch-size too)");
  lock_sweep_dir(dir);  // held until exit; the --point children run under their parent's lock
  LocalBackendOptions options;
  options.jobs =
      args.jobs > 0 ? args.jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  options.progress_bar = ::isatty(STDERR_FILENO) != 0;
  return run_local_sweep(spec, args.spec, points, dir, options, out, err);
}

}  // namespace vitsim::sim

#include "sim/validate/scalesim_import.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "arch/accelerator.hpp"
#include "arch/unit_registry.hpp"
#include "quant/json_reader.hpp"
#include "sim/compile/inputs.hpp"

namespace vitsim::sim {

namespace {

// Far beyond any real layer; keeps every product below checked 64-bit arithmetic.
constexpr int64_t kMaxField = 1000000000;
// SystemC time counts cycles in nanoseconds held exactly in a double (arch/sc_time_base.hpp): stay below
// 2^50.
constexpr int64_t kMaxSimulatedCycles = int64_t{1} << 50;

constexpr const char* kGemmColumns[] = {"Layer name", "M", "N", "K"};
constexpr size_t kGemmFields = 4;

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// SCALE-Sim's `row.split(',')[:-1]`: the fields before the last comma, and what it drops after it.
struct Row {
  std::vector<std::string> fields;
  std::string dropped;
};
Row split_row(const std::string& row) {
  Row r;
  std::string field;
  std::istringstream s(row);
  while (std::getline(s, field, ',')) r.fields.push_back(field);
  if (!row.empty() && row.back() == ',') r.fields.emplace_back();  // getline drops a final empty field
  if (r.fields.empty()) return r;  // an empty row (line 1 may be one): no field, nothing dropped
  r.dropped = trim(r.fields.back());
  r.fields.pop_back();
  return r;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class RowParser {
 public:
  RowParser(const std::string& origin, int line) : origin_(origin), line_(line) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(origin_ + ":" + std::to_string(line_) + ": " + what);
  }

  // The layer name (field 0), printed as it is in tables: control characters are refused.
  std::string layer_name(const Row& row) const {
    std::string name = trim(row.fields[0]);
    if (!quant::printable(name)) fail("layer name '" + quant::excerpt(name) + "' holds control characters");
    return name;
  }

  // Field i (0-based) of the row, named `column` in messages: a positive integer up to kMaxField.
  int64_t positive(const Row& row, size_t i, const char* column) const {
    const std::string v = trim(row.fields[i]);
    const std::string where =
        "field " + std::to_string(i + 1) + " (" + column + "): expected a positive integer";
    if (!all_digits(v)) fail(where + ", found '" + quant::excerpt(v) + "'");
    const int64_t value = v.size() > 10 ? kMaxField + 1 : std::stoll(v);
    if (value > kMaxField) fail(where + " up to " + std::to_string(kMaxField) + ", found " + v);
    if (value == 0) fail(where + ", found 0");
    return value;
  }

  int64_t product(int64_t a, int64_t b, const std::string& what) const {
    int64_t p = 0;
    if (__builtin_mul_overflow(a, b, &p))
      fail("expected " + what + " to fit in 64 bits, found " + std::to_string(a) + " x " + std::to_string(b) +
           ", which overflows");
    return p;
  }

  // Checks the field count; `fields` is the minimum (and usual) count, `optional` more may follow.
  void expect_fields(const Row& row, size_t fields, size_t optional, const char* const* columns,
                     const std::string& other_format_hint, size_t other_format_fields) const {
    const size_t n = row.fields.size();
    if (n >= fields && n <= fields + optional) return;
    std::string expected = "expected " + std::to_string(fields) + " fields (";
    for (size_t i = 0; i < fields; ++i) expected += (i ? ", " : "") + std::string(columns[i]);
    expected +=
        optional ? ") or " + std::to_string(fields + optional) + " (then " + columns[fields] + ")" : ")";
    expected += ", each followed by a comma, found " + std::to_string(n);
    if (n < fields && !row.dropped.empty())
      expected += "; SCALE-Sim ignores what follows a row's last comma ('" + row.dropped +
                  "'): is the trailing comma missing?";
    else if (n == other_format_fields)
      expected += " (" + other_format_hint + ")";
    fail(expected);
  }

  // A sparsity ratio N:M in an extra column (SCALE-Sim's sparse mode) is not modeled.
  void reject_sparsity(const Row& row, size_t i) const {
    const std::string v = trim(row.fields[i]);
    if (v.find(':') != std::string::npos)
      fail("field " + std::to_string(i + 1) +
           ": expected no sparsity ratio (SCALE-Sim's sparse mode is not modeled), found '" + v + "'");
  }

 private:
  const std::string& origin_;
  int line_;
};

ScaleSimLayer conv_layer(const Row& row, const RowParser& p, int line) {
  p.expect_fields(row, kScaleSimConvFields, 1, kScaleSimConvColumns,
                  "a GEMM topology has 4: use --format gemm", kGemmFields);
  ScaleSimConv c;
  c.ifmap_h = p.positive(row, 1, kScaleSimConvColumns[1]);
  c.ifmap_w = p.positive(row, 2, kScaleSimConvColumns[2]);
  c.filter_h = p.positive(row, 3, kScaleSimConvColumns[3]);
  c.filter_w = p.positive(row, 4, kScaleSimConvColumns[4]);
  c.channels = p.positive(row, 5, kScaleSimConvColumns[5]);
  c.filters = p.positive(row, 6, kScaleSimConvColumns[6]);
  c.stride_h = p.positive(row, 7, kScaleSimConvColumns[7]);
  c.stride_w = c.stride_h;  // one Strides column serves both axes
  if (row.fields.size() > kScaleSimConvFields) {
    p.reject_sparsity(row, kScaleSimConvFields);
    c.stride_w = p.positive(row, kScaleSimConvFields, kScaleSimConvColumns[kScaleSimConvFields]);
  }
  // SCALE-Sim asserts these (its "ISSUE #9" fix).
  if (c.filter_h > c.ifmap_h)
    p.fail("expected Filter Height <= IFMAP Height, found " + std::to_string(c.filter_h) + " > " +
           std::to_string(c.ifmap_h));
  if (c.filter_w > c.ifmap_w)
    p.fail("expected Filter Width <= IFMAP Width, found " + std::to_string(c.filter_w) + " > " +
           std::to_string(c.ifmap_w));
  c.ofmap_h = scalesim_ofmap_size(c.ifmap_h, c.filter_h, c.stride_h);
  c.ofmap_w = scalesim_ofmap_size(c.ifmap_w, c.filter_w, c.stride_w);
  ScaleSimLayer l;
  l.name = p.layer_name(row);
  l.line = line;
  l.m = c.ofmap_h * c.ofmap_w;  // each at most kMaxField
  l.k = p.product(c.filter_h * c.filter_w, c.channels, "K (filter height x width x channels)");
  l.n = c.filters;
  l.conv = c;
  p.product(p.product(l.m, l.k, "the MACs (M x K x N)"), l.n, "the MACs (M x K x N)");
  return l;
}

ScaleSimLayer gemm_layer(const Row& row, const RowParser& p, int line) {
  if (row.fields.size() > kGemmFields) p.reject_sparsity(row, kGemmFields);
  p.expect_fields(row, kGemmFields, 0, kGemmColumns, "a conv topology has 8: use --format conv",
                  kScaleSimConvFields);
  ScaleSimLayer l;
  l.name = p.layer_name(row);
  l.line = line;
  l.m = p.positive(row, 1, kGemmColumns[1]);
  l.n = p.positive(row, 2, kGemmColumns[2]);
  l.k = p.positive(row, 3, kGemmColumns[3]);
  p.product(p.product(l.m, l.k, "the MACs (M x K x N)"), l.n, "the MACs (M x K x N)");
  return l;
}

// SCALE-Sim skips line 1 whatever it holds; a line 1 that is a layer row means the header is missing and
// SCALE-Sim would silently lose that layer.
void reject_layer_as_header(const std::string& line1, const std::string& origin, ScaleSimFormat format) {
  const Row row = split_row(line1);
  const size_t numbers = format == ScaleSimFormat::Conv ? kScaleSimConvFields : kGemmFields;
  if (row.fields.size() < numbers) return;
  for (size_t i = 1; i < numbers; ++i)
    if (!all_digits(trim(row.fields[i]))) return;
  throw std::invalid_argument(
      origin + ":1: expected a header row (SCALE-Sim skips line 1, whatever it holds), found the layer '" +
      trim(row.fields[0]) + "': add a header line");
}

}  // namespace

ScaleSimFormat parse_scalesim_format(const std::string& name) {
  if (name == "conv") return ScaleSimFormat::Conv;
  if (name == "gemm") return ScaleSimFormat::Gemm;
  throw std::invalid_argument("unknown topology format '" + name + "' (expected conv or gemm)");
}

const char* scalesim_format_name(ScaleSimFormat format) {
  return format == ScaleSimFormat::Conv ? "conv" : "gemm";
}

int64_t scalesim_ofmap_size(int64_t ifmap, int64_t filter, int64_t stride) {
  return (ifmap - filter + stride - 1) / stride + 1;
}

ScaleSimWorkload parse_scalesim_topology(std::istream& in, const std::string& origin, ScaleSimFormat format) {
  ScaleSimWorkload w;
  w.origin = origin;
  w.format = format;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    const std::string row = trim(text);
    if (line == 1) {
      reject_layer_as_header(row, origin, format);
      continue;
    }
    if (row.empty()) continue;
    const RowParser p(origin, line);
    const Row fields = split_row(row);
    if (w.layers.size() >= kScaleSimMaxLayers)
      p.fail("expected at most " + std::to_string(kScaleSimMaxLayers) + " layers in all, found more");
    if (format == ScaleSimFormat::Gemm) {
      w.layers.push_back(gemm_layer(fields, p, line));
      continue;
    }
    ScaleSimLayer l = conv_layer(fields, p, line);
    // SCALE-Sim's depthwise convention: a name containing "DP" runs as one single-channel conv per channel.
    if (l.name.find("DP") == std::string::npos) {
      w.layers.push_back(std::move(l));
      continue;
    }
    if (w.layers.size() + static_cast<size_t>(l.conv->channels) > kScaleSimMaxLayers)
      p.fail("expected at most " + std::to_string(kScaleSimMaxLayers) +
             " layers in all, found the depthwise (\"DP\") layer '" + l.name + "' expanding to " +
             std::to_string(l.conv->channels) + " single-channel layers");
    for (int64_t ch = 0; ch < l.conv->channels; ++ch) {
      ScaleSimLayer single = l;
      single.name = l.name + "Channel_" + std::to_string(ch);
      single.conv->channels = 1;
      single.k = l.conv->filter_h * l.conv->filter_w;
      w.layers.push_back(std::move(single));
    }
  }
  if (w.layers.empty())
    throw std::invalid_argument(origin +
                                ": expected at least one layer row after the header line, found none");
  return w;
}

ScaleSimWorkload load_scalesim_topology(const std::string& path, ScaleSimFormat format) {
  std::istringstream in(quant::read_input_file(path, quant::kMaxJsonFileBytes));
  return parse_scalesim_topology(in, path, format);
}

std::string find_scalesim_topology(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  const fs::path dir = fs::path(config_dir()) / "workloads";
  const fs::path bundled = dir / (name_or_path + ".csv");
  if (fs::is_regular_file(bundled)) return bundled.string();
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".csv") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("topology '" + name_or_path + "': expected a file or a name in " +
                              dir.string() + " (" + (known.empty() ? "none" : known) + "), found neither");
}

arch::SystolicArray systolic_array_of(const arch::AccelConfig& config) {
  std::optional<arch::SystolicArray> found;
  std::string names;
  for (const auto& e : config.engines)
    if (const std::optional<arch::SystolicArray> array = e.params->systolic_array()) {
      names += (names.empty() ? "" : ", ") + e.name;
      if (found)
        throw std::invalid_argument(config.file + ": expected exactly one systolic engine, found several (" +
                                    names + ")");
      found = array;
    }
  if (!found)
    throw std::invalid_argument(
        config.file +
        ": expected a systolic engine (type \"systolic\") for a SCALE-Sim workload, found none");
  return *found;
}

arch::AccelConfig with_systolic_array(const arch::AccelConfig& base, const arch::SystolicArray& array) {
  systolic_array_of(base);  // exactly one systolic engine
  // The config parser's bounds (arch/engine_systolic.cpp).
  if (array.rows < 1 || array.rows > 4096)
    throw std::invalid_argument("systolic array rows: expected 1..4096, found " + std::to_string(array.rows));
  if (array.cols < 1 || array.cols > 4096)
    throw std::invalid_argument("systolic array cols: expected 1..4096, found " + std::to_string(array.cols));
  // The engine's type parses the new geometry, as if a config had it.
  const nlohmann::json geometry = {
      {"rows", array.rows}, {"cols", array.cols}, {"dataflow", arch::dataflow_name(array.dataflow)}};
  arch::AccelConfig c = base;
  for (auto& e : c.engines)
    if (e.params->systolic_array()) {
      quant::JsonReader r(geometry, "systolic array");
      e.params = arch::UnitRegistry::instance().find(e.type)->parse_engine(r);
    }
  return c;
}

std::vector<ScaleSimLayerResult> run_scalesim(const ScaleSimWorkload& workload,
                                              const arch::AccelConfig& config, arch::TimingMode mode,
                                              bool compat) {
  const arch::SystolicArray array = systolic_array_of(config);
  arch::Program program;
  for (size_t e = 0; e < config.engines.size(); ++e)
    if (config.engines[e].params->systolic_array())
      program.resources.push_back(arch::Resource::for_engine(config, e));
  program.queues.resize(1);
  std::vector<arch::SystolicFoldTiming> folds;
  int64_t closed_total = 0;
  for (size_t i = 0; i < workload.layers.size(); ++i) {
    const ScaleSimLayer& l = workload.layers[i];
    const arch::SystolicFoldTiming f = arch::systolic_fold_timing({l.m, l.k, l.n}, array);
    int64_t span = 0;
    if (__builtin_mul_overflow(f.folds, f.cycles_per_fold, &span) ||
        span > kMaxSimulatedCycles - closed_total)
      throw std::invalid_argument(workload.origin + ":" + std::to_string(l.line) + ": layer '" + l.name +
                                  "': expected a workload of at most 2^50 cycles in all, found more");
    closed_total += span;
    folds.push_back(f);
    // No aux chain and no operand bytes: the group pipeline is exactly the fold sequence (one wave per
    // cycle, no port or write-back stalls), SCALE-Sim's stall-free array.
    arch::ComputeTile t;
    t.layer = static_cast<int>(i);
    t.resource = 0;
    t.work = arch::TileWork::Gemm;
    t.m = l.m, t.k = l.k, t.n = l.n;
    t.macs = l.macs();
    program.tiles.push_back(t);
    program.queues[0].push_back(static_cast<int>(i));
    program.layer_names.push_back(l.name);
  }

  arch::RunOptions options;
  options.mode = mode;
  const arch::RunRecords records = arch::run_program(program, config, options);

  std::vector<ScaleSimLayerResult> results;
  int64_t next_start = 0;
  const double pes = static_cast<double>(array.rows * array.cols);
  for (size_t i = 0; i < workload.layers.size(); ++i) {
    const ScaleSimLayer& l = workload.layers[i];
    const arch::TileRecord& rec = records.tiles[i];
    const arch::SystolicFoldTiming& f = folds[i];
    const int64_t span = rec.done - rec.start + 1;
    if (span != f.cycles() || rec.start != next_start)
      throw std::logic_error("SCALE-Sim workload " + workload.origin + ", layer '" + l.name +
                             "': the engine ran cycles " + std::to_string(rec.start) + ".." +
                             std::to_string(rec.done) + ", expected " + std::to_string(next_start) + ".." +
                             std::to_string(next_start + f.cycles() - 1) + " (" + std::to_string(f.folds) +
                             " folds x " + std::to_string(f.cycles_per_fold) + ")");
    next_start = rec.done + 1;
    ScaleSimLayerResult r;
    r.name = l.name;
    r.m = l.m, r.k = l.k, r.n = l.n;
    r.macs = l.macs();
    r.folds = f.folds;
    r.cycles_per_fold = f.cycles_per_fold;
    r.cycles = compat ? span - 1 : span;
    const double macs = static_cast<double>(r.macs);
    r.mapping_efficiency =
        static_cast<double>(f.mapped_rows * f.mapped_cols) / (static_cast<double>(f.folds) * pes);
    // SCALE-Sim's ws and is compute modules time a fold's utilization over cols - 1 cycles more than it
    // takes.
    const int64_t util_span = compat && array.dataflow != arch::Dataflow::OutputStationary
                                  ? f.cycles_per_fold + array.cols - 1
                                  : f.cycles_per_fold;
    r.compute_utilization = macs / (static_cast<double>(f.folds) * pes * static_cast<double>(util_span));
    r.overall_utilization = r.cycles > 0 ? macs / (pes * static_cast<double>(r.cycles)) : 0.0;
    results.push_back(r);
  }
  if (records.cycles != next_start)
    throw std::logic_error("SCALE-Sim workload " + workload.origin + ": the run took " +
                           std::to_string(records.cycles) + " cycles, the layers back to back " +
                           std::to_string(next_start));
  return results;
}

std::vector<ScaleSimLayerResult> run_scalesim(const ScaleSimWorkload& workload,
                                              const arch::SystolicArray& array, arch::TimingMode mode,
                                              bool compat) {
  return run_scalesim(workload, with_systolic_array(find_accel("systolic-32x32-os"), array), mode, compat);
}

int64_t total_cycles(const std::vector<ScaleSimLayerResult>& layers) {
  int64_t total = 0;
  for (const auto& l : layers) total += l.cycles;
  return total;
}

std::string scalesim_compute_report_csv(const std::vector<ScaleSimLayerResult>& layers) {
  std::ostringstream s;
  s << "LayerID, Layer name, M, K, N, Folds, Total Cycles, Overall Util %, Mapping Efficiency %, Compute "
       "Util %,\n";
  char pct[64];
  const auto percent = [&pct](double x) {
    std::snprintf(pct, sizeof pct, "%.4f", 100.0 * x);
    return std::string(pct);
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    s << i << ", " << l.name << ", " << l.m << ", " << l.k << ", " << l.n << ", " << l.folds << ", "
      << l.cycles << ", " << percent(l.overall_utilization) << ", " << percent(l.mapping_efficiency) << ", "
      << percent(l.compute_utilization) << ",\n";
  }
  return s.str();
}

}  // namespace vitsim::sim

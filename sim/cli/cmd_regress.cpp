#include "sim/cli/cmd_regress.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include "quant/atomic_file.hpp"
#include "quant/csv.hpp"
#include "quant/json_reader.hpp"
#include "quant/ptq.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/dse/model_quantization.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/run/report_files.hpp"

namespace vitsim::sim {

namespace fs = std::filesystem;

std::string default_traces_dir() {
  return VITSIM_SOURCE_DIR "/traces";
}

namespace {

constexpr const char* kTotalName = "(total)";

struct Preset {
  std::string name;  // as written in the matrix; with the timing mode, the tables' folder
  arch::AccelConfig config;
  arch::TimingMode timing = arch::TimingMode::Fast;
  /// traces/<name>/ in fast mode, traces/<name>/cycle/ in cycle mode.
  std::string folder() const { return timing == arch::TimingMode::Fast ? name : name + "/cycle"; }
};

// One set of tables: every model quantized with `recipe` and simulated on every preset.
struct TableGroup {
  quant::Recipe recipe;
  std::vector<Preset> presets;  // every accelerator in every timing mode
  std::vector<ModelEntry> models;
};

// traces/matrix.json, validated (every field is documented in docs/simulation.md): its top-level recipe,
// accels and models, then each of its "groups" (e.g. the standard ViTs with their own recipe and preset).
struct RegressionMatrix {
  int weights_seed = 0;
  CalibrationSpec calib;
  std::vector<TableGroup> groups;
};

// The recipe, accels and models of one group, each accel in every timing mode of `timings`.
TableGroup read_group(quant::JsonReader& r, const std::vector<arch::TimingMode>& timings) {
  TableGroup g;
  r.require("recipe");
  g.recipe = read_recipe(r, "recipe", r.string("recipe"));
  r.require("accels");
  const std::vector<std::string> accels = r.strings("accels");
  if (accels.empty()) r.fail("accels", "expected at least one accelerator preset");
  for (size_t i = 0; i < accels.size(); ++i) {
    const std::string at = "accels/" + std::to_string(i);
    if (!plain_name(accels[i]))
      r.fail(at, "expected a preset name of configs/accel/ (letters, digits, '-', '_', '.'), found \"" +
                     accels[i] + "\"");
    for (size_t k = 0; k < i; ++k)
      if (accels[k] == accels[i]) r.fail(at, "duplicate preset \"" + accels[i] + "\"");
    try {
      const arch::AccelConfig config = find_accel(accels[i]);
      for (arch::TimingMode timing : timings) g.presets.push_back({accels[i], config, timing});
    } catch (const std::invalid_argument& e) {
      r.fail(at, e.what());
    }
  }
  g.models = read_model_entries(r, "models");
  return g;
}

RegressionMatrix read_matrix(const std::string& path) {
  const nlohmann::json j = quant::read_json_file(path);
  quant::JsonReader r(j, path);
  RegressionMatrix m;
  r.object("doc");  // free-form field descriptions for the reader of the file
  quant::JsonReader weights = r.required_object("weights");
  weights.require("seed");
  m.weights_seed = weights.integer("seed", 0, 0, kMaxSeed);
  weights.reject_unknown_keys();
  quant::JsonReader calib = r.required_object("calibration");
  calib.require("seed");
  calib.require("count");
  m.calib = read_calibration(calib, CalibrationSpec{});
  r.require("timing");
  std::vector<arch::TimingMode> timings;
  const std::vector<std::string> modes = r.strings("timing");
  for (size_t i = 0; i < modes.size(); ++i) {
    if (modes[i] != "fast" && modes[i] != "cycle")
      r.fail("timing/" + std::to_string(i), "expected \"fast\" or \"cycle\", found \"" + modes[i] + "\"");
    timings.push_back(arch::parse_timing_mode(modes[i]));
  }
  if (timings.empty()) r.fail("timing", "expected \"fast\", \"cycle\" or both");

  m.groups.push_back(read_group(r, timings));
  std::vector<quant::JsonReader> groups = r.objects("groups");
  for (size_t i = 0; i < groups.size(); ++i) {
    m.groups.push_back(read_group(groups[i], timings));
    groups[i].reject_unknown_keys();
    // Each table belongs to one group.
    for (const ModelEntry& e : m.groups.back().models)
      for (const Preset& p : m.groups.back().presets)
        for (size_t k = 0; k + 1 < m.groups.size(); ++k)
          for (const Preset& q : m.groups[k].presets)
            for (const ModelEntry& f : m.groups[k].models)
              if (q.name == p.name && f.model == e.model && f.resolution == e.resolution)
                r.fail("groups/" + std::to_string(i),
                       "the table " + p.name + "/" + e.label() + " is already in an earlier group");
  }
  r.reject_unknown_keys();
  return m;
}

std::string table_id(const std::string& preset, const ModelEntry& e) {
  return preset + "/" + e.label();
}

fs::path table_file(const fs::path& traces, const std::string& preset, const ModelEntry& e) {
  return traces / preset / (e.label() + ".csv");
}

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<int64_t> parse_int(const std::string& s) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string layer_cycle_table(const SimReport& r) {
  std::ostringstream o;
  o << "# vitsim golden regression table: " << r.model << " @" << r.resolution << ", " << r.recipe << " on "
    << r.accel << ", " << r.timing << " timing\n"
    << "# totals: cycles " << r.cycles << ", macs " << r.macs << ", dram_bytes_read " << r.dram_bytes_read
    << ", dram_bytes_written " << r.dram_bytes_written << "\n"
    << "# integers only; check with `vitsim regress`, regenerate with `vitsim regress --update` "
       "(docs/simulation.md)\n"
    << layers_csv(r);
  // The totals row, column by column of layers.csv: cycle counts summed over the layers, the report's
  // totals for the rest; "-" where a sum means nothing (label, units).
  CycleBreakdown sum;
  for (const LayerStats& l : r.layers) {
    sum.busy += l.cycles.busy, sum.stall_port += l.cycles.stall_port, sum.stall_aux += l.cycles.stall_aux;
    sum.stall_dram += l.cycles.stall_dram, sum.stall_dependency += l.cycles.stall_dependency;
  }
  const std::map<std::string, std::string> totals = {
      {"index", "total"},
      {"name", kTotalName},
      {"start", "0"},
      {"end", std::to_string(r.cycles - 1)},
      {"span_cycles", std::to_string(r.cycles)},
      {"busy", std::to_string(sum.busy)},
      {"stall_port", std::to_string(sum.stall_port)},
      {"stall_aux", std::to_string(sum.stall_aux)},
      {"stall_dram", std::to_string(sum.stall_dram)},
      {"stall_dependency", std::to_string(sum.stall_dependency)},
      {"macs", std::to_string(r.macs)},
      {"tiles", std::to_string(r.tiles)},
      {"transfers", std::to_string(r.transfers)},
      {"dram_bytes_read", std::to_string(r.dram_bytes_read)},
      {"dram_bytes_written", std::to_string(r.dram_bytes_written)},
      {"dram_accesses", std::to_string(r.dram ? r.dram->accesses : 0)},
      {"row_hits", std::to_string(r.dram ? r.dram->row_hits : 0)},
      {"row_misses", std::to_string(r.dram ? r.dram->row_misses : 0)},
      {"row_conflicts", std::to_string(r.dram ? r.dram->row_conflicts : 0)}};
  const std::vector<std::string> columns = quant::csv_fields(kLayersCsvHeader);
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto it = totals.find(columns[i]);
    o << (i ? "," : "") << (it == totals.end() ? "-" : it->second);
  }
  o << '\n';
  return o.str();
}

namespace {

// --- comparing two tables ----------------------------------------------------------------------------------

struct ParsedTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> problems;  // malformed lines
};

ParsedTable parse_table(const std::string& text) {
  ParsedTable t;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = quant::csv_fields(line);
    if (t.columns.empty()) {
      t.columns = std::move(fields);
    } else if (fields.size() != t.columns.size()) {
      t.problems.push_back("line " + std::to_string(number) + " has " + std::to_string(fields.size()) +
                           " fields, the column header " + std::to_string(t.columns.size()));
    } else {
      t.rows.push_back(std::move(fields));
    }
  }
  if (t.columns.empty()) t.problems.push_back("no column header");
  return t;
}

int column_of(const ParsedTable& t, const std::string& name) {
  const auto it = std::find(t.columns.begin(), t.columns.end(), name);
  return it == t.columns.end() ? -1 : static_cast<int>(it - t.columns.begin());
}

// "+33, +2.75%": the delta and its share of the golden value, with three significant digits at least.
std::string delta_text(int64_t golden, int64_t now) {
  const int64_t delta = now - golden;
  std::ostringstream o;
  o << (delta > 0 ? "+" : "") << delta;
  if (golden != 0) {
    const double pct = 100.0 * static_cast<double>(delta) / std::abs(static_cast<double>(golden));
    const int decimals =
        pct == 0 ? 2 : std::clamp(2 - static_cast<int>(std::floor(std::log10(std::abs(pct)))), 2, 9);
    o << ", " << (pct > 0 ? "+" : "") << std::fixed << std::setprecision(decimals) << pct << "%";
  }
  return o.str();
}

struct TableDiff {
  std::vector<std::string> lines;  // what moved, one line each, in layer order
  int values_moved = 0, layers_moved = 0;
  std::optional<int64_t> golden_cycles, now_cycles;
  bool differs = false;
};

TableDiff diff_tables(const std::string& golden_text, const std::string& now_text) {
  TableDiff d;
  if (golden_text == now_text) return d;
  d.differs = true;
  const ParsedTable golden = parse_table(golden_text), now = parse_table(now_text);
  for (const std::string& p : golden.problems) d.lines.push_back("golden table: " + p);
  const int golden_name = column_of(golden, "name"), now_name = column_of(now, "name");
  if (golden_name < 0 || now_name < 0) {
    d.lines.push_back("golden table: no 'name' column; cannot compare layer by layer");
    return d;
  }
  for (const std::string& c : golden.columns)
    if (column_of(now, c) < 0)
      d.lines.push_back("column '" + c + "' is in the golden table, not produced now");
  for (const std::string& c : now.columns)
    if (column_of(golden, c) < 0)
      d.lines.push_back("column '" + c + "' is produced now, not in the golden table");

  std::map<std::string, size_t> golden_rows;
  for (size_t i = 0; i < golden.rows.size(); ++i)
    if (!golden_rows.emplace(golden.rows[i][static_cast<size_t>(golden_name)], i).second)
      d.lines.push_back("golden table: duplicate layer '" + golden.rows[i][static_cast<size_t>(golden_name)] +
                        "'");
  std::set<size_t> matched;
  const int now_index = column_of(now, "index");
  for (const std::vector<std::string>& row : now.rows) {
    const std::string& name = row[static_cast<size_t>(now_name)];
    const std::string where =
        (now_index >= 0 && name != kTotalName ? "layer " + row[static_cast<size_t>(now_index)] + " " : "") +
        name;
    const auto it = golden_rows.find(name);
    if (it == golden_rows.end()) {
      d.lines.push_back("extra layer: " + where + " (not in the golden table)");
      continue;
    }
    matched.insert(it->second);
    const std::vector<std::string>& old = golden.rows[it->second];
    bool moved = false;
    for (size_t c = 0; c < now.columns.size(); ++c) {
      const int g = column_of(golden, now.columns[c]);
      if (g < 0 || old[static_cast<size_t>(g)] == row[c]) continue;
      moved = true;
      ++d.values_moved;
      const std::optional<int64_t> a = parse_int(old[static_cast<size_t>(g)]), b = parse_int(row[c]);
      std::string line = where + "  " + now.columns[c] + ": " + old[static_cast<size_t>(g)] + " -> " + row[c];
      if (a && b) line += " (" + delta_text(*a, *b) + ")";
      d.lines.push_back(line);
    }
    d.layers_moved += moved ? 1 : 0;
    if (name == kTotalName) {
      const int gs = column_of(golden, "span_cycles"), ns = column_of(now, "span_cycles");
      if (gs >= 0) d.golden_cycles = parse_int(old[static_cast<size_t>(gs)]);
      if (ns >= 0) d.now_cycles = parse_int(row[static_cast<size_t>(ns)]);
    }
  }
  for (size_t i = 0; i < golden.rows.size(); ++i)
    if (!matched.count(i))
      d.lines.push_back("missing layer: " + golden.rows[i][static_cast<size_t>(golden_name)] +
                        " (in the golden table, not produced now)");
  if (d.lines.empty())  // the rows agree: only a comment line differs (a hand edit, or a new header)
    d.lines.push_back("the comment header differs; the rows agree");
  return d;
}

std::string total_text(const TableDiff& d) {
  if (!d.golden_cycles || !d.now_cycles) return "total cycles: not comparable";
  if (*d.golden_cycles == *d.now_cycles) return "total cycles unchanged (" + with_commas(*d.now_cycles) + ")";
  return "total cycles " + with_commas(*d.golden_cycles) + " -> " + with_commas(*d.now_cycles) + " (" +
         delta_text(*d.golden_cycles, *d.now_cycles) + ")";
}

void print_diff(const TableDiff& d, int max_changes, std::ostream& out) {
  const size_t shown =
      max_changes > 0 ? std::min(d.lines.size(), static_cast<size_t>(max_changes)) : d.lines.size();
  for (size_t i = 0; i < shown; ++i) out << "    " << d.lines[i] << '\n';
  if (shown < d.lines.size())
    out << "    ... " << d.lines.size() - shown << " more (--max-changes 0 lists all)\n";
}

std::string moved_summary(const TableDiff& d) {
  return std::to_string(d.values_moved) + " value(s) moved in " + std::to_string(d.layers_moved) +
         " row(s); " + total_text(d);
}

// Tables under <traces>/<folder>/ that the matrix does not produce (a preset or model taken out).
std::vector<fs::path> stale_tables(const fs::path& traces, const std::set<fs::path>& expected) {
  std::vector<fs::path> stale;
  for (const auto& folder : fs::directory_iterator(traces)) {
    if (!folder.is_directory()) continue;
    for (const auto& f : fs::recursive_directory_iterator(folder.path()))
      if (f.is_regular_file() && f.path().extension() == ".csv" && !expected.count(f.path()))
        stale.push_back(f.path());
  }
  std::sort(stale.begin(), stale.end());
  return stale;
}

}  // namespace

int run_regress(const RegressArgs& args, std::ostream& out, std::ostream& err) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (args.max_changes < 0)
    throw std::invalid_argument("--max-changes must be 0 (all) or positive, got " +
                                std::to_string(args.max_changes));
  const fs::path traces = args.traces.empty() ? default_traces_dir() : args.traces;
  const std::string matrix_file = (traces / "matrix.json").string();
  const RegressionMatrix m = read_matrix(matrix_file);

  // The selected tables, by group and model: each model is quantized once for all its group's presets.
  struct Work {
    const TableGroup* group;
    const ModelEntry* model;
    std::vector<const Preset*> presets;
  };
  std::vector<Work> work;
  std::set<fs::path> expected;
  size_t selected = 0, tables = 0;
  for (const TableGroup& g : m.groups)
    for (const ModelEntry& e : g.models) {
      std::vector<const Preset*> presets;
      for (const Preset& p : g.presets) {
        expected.insert(table_file(traces, p.folder(), e));
        if (table_id(p.folder(), e).find(args.only) != std::string::npos) presets.push_back(&p);
      }
      tables += g.presets.size();
      selected += presets.size();
      if (!presets.empty()) work.push_back({&g, &e, std::move(presets)});
    }
  if (selected == 0)
    throw std::invalid_argument(
        "--only '" + args.only + "' matches none of the " + std::to_string(tables) + " tables of " +
        matrix_file +
        " (table ids are <accel>/<model>@<res>, <accel>/cycle/<model>@<res> in cycle mode, e.g. " +
        table_id(m.groups[0].presets[0].folder(), m.groups[0].models[0]) + ")");

  int ok = 0, drifted = 0, missing = 0, updated = 0, created = 0;
  for (size_t w = 0; w < work.size(); ++w) {
    const ModelEntry& e = *work[w].model;
    err << "[" << w + 1 << "/" << work.size() << "] " << e.model << " @" << e.resolution << ": PTQ ("
        << work[w].group->recipe.name << ", " << m.calib.count << " " << m.calib.source
        << " calibration image(s)), then simulation on";
    for (const Preset* p : work[w].presets)
      err << ' ' << p->name << " (" << arch::timing_mode_name(p->timing) << ")";
    err << std::endl;
    const quant::QGraph qgraph =
        quantize_zoo_model(e, static_cast<uint64_t>(m.weights_seed), m.calib, work[w].group->recipe);

    for (const Preset* p : work[w].presets) {
      const std::string id = table_id(p->folder(), e);
      const fs::path path = table_file(traces, p->folder(), e);
      SimOptions options;
      options.timing = p->timing;
      const std::string now = layer_cycle_table(simulate(qgraph, p->config, options));
      const std::optional<std::string> golden = read_text(path);
      if (args.update) {
        if (golden && *golden == now) {
          out << "unchanged " << id << '\n';
          continue;
        }
        fs::create_directories(path.parent_path());
        quant::write_file_atomic(path.string(), now);
        if (golden) {
          ++updated;
          out << "updated   " << id << ": " << moved_summary(diff_tables(*golden, now)) << '\n';
        } else {
          ++created;
          out << "created   " << id << '\n';
        }
      } else if (!golden) {
        ++missing;
        out << "MISSING   " << id << ": no golden table at " << path.string() << '\n';
      } else {
        const TableDiff d = diff_tables(*golden, now);
        if (!d.differs) {
          ++ok;
          out << "ok        " << id << '\n';
        } else {
          ++drifted;
          out << "DRIFT     " << id << " (" << path.string() << "): " << moved_summary(d) << '\n';
          print_diff(d, args.max_changes, out);
        }
      }
    }
  }

  // Only a full run knows every table the matrix produces.
  int stale = 0;
  if (args.only.empty())
    for (const fs::path& p : stale_tables(traces, expected)) {
      ++stale;
      if (args.update) {
        fs::remove(p);
        out << "removed   " << p.string() << " (not in " << matrix_file << ")\n";
      } else {
        out << "STALE     " << p.string() << ": not in " << matrix_file << '\n';
      }
    }

  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  err << "regress: " << selected << " table(s) in " << std::fixed << std::setprecision(1) << seconds
      << " s\n";
  if (args.update) {
    out << selected << " table(s): " << updated << " updated, " << created << " created, "
        << selected - static_cast<size_t>(updated + created) << " unchanged";
    if (stale) out << "; " << stale << " stale table(s) removed";
    out << '\n';
    return 0;
  }
  out << selected << " table(s): " << ok << " ok, " << drifted << " drifted, " << missing << " missing";
  if (stale) out << "; " << stale << " stale table(s) not in the matrix";
  out << '\n';
  if (drifted + missing + stale == 0) return 0;
  out << "golden regression FAILED. If the change is intended (a deliberate change to the timing model, "
         "stated in the commit message), regenerate the tables with `vitsim regress --update"
      << (args.traces.empty() ? "" : " --traces " + args.traces) << "` and commit " << traces.string()
      << "/.\n";
  return 1;
}

}  // namespace vitsim::sim

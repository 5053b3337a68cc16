#include "sim/validate/validation.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <map>
#include <ostream>
#include <random>
#include <sstream>

#include "arch/accelerator.hpp"
#include "arch/tile_timing.hpp"
#include "quant/atomic_file.hpp"
#include "quant/dataset.hpp"
#include "quant/json_reader.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/energy_sensitivity.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/run/simulator.hpp"
#include "sim/validate/authors_fidelity.hpp"
#include "sim/validate/scalesim_import.hpp"

namespace vitsim::sim {

using arch::Dataflow;
using arch::TimingMode;

namespace {

const char* const kScaleSim = "SCALE-Sim formulas (systolic engine, compatibility setting)";
const char* const kHand = "Hand-derived closed forms (ideal memory)";
const char* const kModes = "Fast mode against cycle mode";
const char* const kBitExact = "Functional simulation against the integer reference executor";
const char* const kPublished = "Published throughput: the Trio-ViT precursor";
const char* const kAuthors = "The authors' analytical model (128 multipliers, ideal memory, no head)";
const char* const kEnergy = "Energy efficiency: the Trio-ViT precursor";
const char* const kP2vit = "Published DSP efficiency: P²-ViT (W8A8)";
const char* const kP2vitPipelining = "P²-ViT's pipelining ablation (DeiT-S)";
// Not a table: generated sentences of the published-throughput section's "Why" text.
const char* const kPublishedGapNote = "published gap note";
const char* const kAutovitacc = "Published frame rate: Auto-ViT-Acc and its FP32 baseline (DeiT-B)";

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

ValidationRow exact_row(const std::string& section, const std::string& check, int64_t anchor,
                        int64_t vitsim) {
  return {section, check,           with_commas(anchor), with_commas(vitsim), with_commas(vitsim - anchor),
          true,    anchor == vitsim};
}

// SCALE-Sim's stall-free cycles of one GEMM, written out from SCALE-Sim v2's published rules independently of
// arch/systolic_timing (the anchor must not share code with what it checks).
int64_t scalesim_formula(int64_t m, int64_t k, int64_t n, const arch::SystolicArray& a) {
  const auto up = [](int64_t x, int64_t y) { return (x + y - 1) / y; };
  const int64_t r = a.rows, c = a.cols;
  switch (a.dataflow) {
    case Dataflow::OutputStationary:
      return up(m, r) * up(n, c) * (r + c + k - 2) - 1;
    case Dataflow::WeightStationary:
      return up(k, r) * up(n, c) * (2 * r + c + m - 2) - 1;
    case Dataflow::InputStationary:
      return up(k, r) * up(m, c) * (2 * r + c + n - 2) - 1;
  }
  return -1;
}

// SCALE-Sim totals against the formula, accumulated over workloads run in both timing modes.
struct ScaleSimTally {
  int64_t anchor = 0, vitsim = 0, layers = 0, differing = 0;  // differing: layer results off the formula

  void add(const ScaleSimWorkload& workload, const arch::SystolicArray& array) {
    const std::vector<ScaleSimLayerResult> fast = run_scalesim(workload, array, TimingMode::Fast, true);
    const std::vector<ScaleSimLayerResult> cycle = run_scalesim(workload, array, TimingMode::Cycle, true);
    for (size_t i = 0; i < workload.layers.size(); ++i) {
      const ScaleSimLayer& l = workload.layers[i];
      const int64_t expected = scalesim_formula(l.m, l.k, l.n, array);
      anchor += expected;
      vitsim += fast[i].cycles;
      differing += (fast[i].cycles != expected) + (cycle[i].cycles != expected);
      ++layers;
    }
  }

  ValidationRow row(const std::string& check) const {
    ValidationRow r = exact_row(kScaleSim, check, anchor, vitsim);
    r.pass = r.pass && differing == 0;
    r.difference +=
        ", " + std::to_string(differing) + " of " + std::to_string(2 * layers) + " layer results differ";
    return r;
  }
};

void add_scalesim_rows(std::vector<ValidationRow>& rows, bool quick) {
  std::mt19937_64 rng(2024);
  const auto pick = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int per_array = quick ? 10 : 50;
  for (const Dataflow df :
       {Dataflow::OutputStationary, Dataflow::WeightStationary, Dataflow::InputStationary}) {
    ScaleSimTally tally;
    for (const int64_t side : {8, 16, 32, 128}) {
      const arch::SystolicArray array{side, pick(side / 2, 2 * side), df};
      ScaleSimWorkload w{"random", ScaleSimFormat::Gemm, {}};
      for (int i = 0; i < per_array; ++i) {
        ScaleSimLayer l;
        l.name = "g" + std::to_string(i);
        l.m = pick(1, 512), l.k = pick(1, 512), l.n = pick(1, 512);
        w.layers.push_back(l);
      }
      tally.add(w, array);
    }
    rows.push_back(tally.row(std::to_string(tally.layers) +
                             " random GEMMs (M, K, N in 1..512) on 4 random arrays, " +
                             arch::dataflow_name(df) + ": total cycles"));
  }
  const ScaleSimWorkload resnet =
      load_scalesim_topology(find_scalesim_topology("resnet50_conv"), ScaleSimFormat::Conv);
  for (const Dataflow df :
       {Dataflow::OutputStationary, Dataflow::WeightStationary, Dataflow::InputStationary}) {
    if (quick && df != Dataflow::OutputStationary) continue;
    for (const int64_t side : {32, 256}) {
      if (quick && side != 32) continue;
      ScaleSimTally tally;
      tally.add(resnet, {side, side, df});
      rows.push_back(tally.row("ResNet-50, " + std::to_string(tally.layers) + " conv layers, " +
                               std::to_string(side) + "x" + std::to_string(side) + " " +
                               arch::dataflow_name(df) + ": total cycles"));
    }
  }
}

quant::QGraph quantize_synthetic(quant::Graph graph, const std::string& recipe, int images) {
  quant::materialize_synthetic_weights(graph, 0);
  const quant::ImageSet calib = quant::synthetic_images(images, graph.nodes.at(0).out_shape, 1);
  return quant::quantize_graph(graph, quant::find_recipe(recipe, config_dir() + "/quant"), calib.images);
}

// small-memory.json with a single engine, as the hand derivations assume.
arch::AccelConfig single_engine(const std::string& engine_json) {
  nlohmann::json j = quant::read_json_file(config_dir() + "/accel/small-memory.json");
  j["engines"] = nlohmann::json::array({nlohmann::json::parse(engine_json)});
  return arch::parse_accel_config(j, "small-memory, one engine");
}

// Simulates `q` on `config` with ideal memory in both modes; the row holds the fast-mode cycles and fails if
// cycle mode differs or the outputs are not bit-exact.
ValidationRow hand_sim_row(const std::string& check, const quant::QGraph& q, const arch::AccelConfig& config,
                           int64_t hand) {
  int64_t cycles[2] = {0, 0}, mismatches = 0;
  for (const TimingMode mode : {TimingMode::Fast, TimingMode::Cycle}) {
    SimOptions o;
    o.timing = mode;
    o.functional = true;
    o.compile.ideal_memory = true;
    const SimReport r = simulate(q, config, o);
    cycles[mode == TimingMode::Cycle] = r.cycles;
    mismatches += r.mismatches;
  }
  ValidationRow row = exact_row(kHand, check, hand, cycles[0]);
  row.pass = row.pass && cycles[1] == cycles[0] && mismatches == 0;
  return row;
}

// One tile alone on one engine of `config`, through the SystemC accelerator in both modes.
ValidationRow hand_tile_row(const std::string& check, const arch::AccelConfig& config,
                            const std::string& engine, arch::ComputeTile tile, int64_t hand) {
  arch::Program p;
  for (size_t e = 0; e < config.engines.size(); ++e)
    if (config.engines[e].name == engine) p.resources.push_back(arch::Resource::for_engine(config, e));
  if (p.resources.empty()) throw std::logic_error("validation: no engine '" + engine + "' in " + config.name);
  tile.layer = 0, tile.resource = 0;
  tile.macs = tile.groups * tile.m * tile.n * tile.k;
  p.tiles = {tile};
  p.queues = {{0}};
  p.layer_names = {check};
  int64_t cycles[2] = {0, 0};
  for (const TimingMode mode : {TimingMode::Fast, TimingMode::Cycle}) {
    arch::RunOptions o;
    o.mode = mode;
    cycles[mode == TimingMode::Cycle] = arch::run_program(p, config, o).cycles;
  }
  ValidationRow row = exact_row(kHand, check, hand, cycles[0]);
  row.pass = row.pass && cycles[1] == cycles[0];
  return row;
}

arch::ComputeTile gemm_tile(int64_t m, int64_t n, int64_t k, std::vector<int> chain) {
  arch::ComputeTile t;
  t.work = arch::TileWork::Gemm;
  t.m = m, t.n = n, t.k = k;
  t.aux_chain = std::move(chain);
  return t;
}

void add_hand_rows(std::vector<ValidationRow>& rows) {
  {
    // 16 -> 24 channels on 6 x 5 pixels: Gemm m = 30, n = 24, k = 16 on MAT pe 8, lanes 4, replicas 4.
    // Groups = ceil(24/4) x ceil(30/4) = 48, waves = ceil(16/8) = 2. Ports: activation 4 x 1 x 8 = 32
    // B/cycle, weights 2 x 8 = 16 B/cycle; a wave needs 32 activation bytes (1 cycle) and 32 weight bytes
    // (2): p = 2. Requantizer: 16 outputs at 8/cycle, a = 2, latency 3; T = max(2 x 2, 2) = 4; depth 4 +
    // log2(8) = 7. cycles = (48 - 1) x 4 + 4 + (7 - 1) + 2 + 3 = 203.
    quant::GraphBuilder b("pw", 6, {16, 6, 5});
    b.conv("pw", 0, 24, 1, 1, 1, true, quant::Norm::None, quant::Act::None);
    rows.push_back(
        hand_sim_row("pointwise conv 16->24 on 6x5 pixels, MAT 8x4x4 (whole simulation)",
                     quantize_synthetic(b.finish(), "naive-w8a8", 1),
                     single_engine(R"({"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4})"),
                     (48 - 1) * 4 + 4 + (7 - 1) + 2 + 3));
  }
  {
    // 8 channels, 10 x 10 pixels, 3x3 stride 1, ReLU on R-MAC pe 4, lanes 4, replicas 2. Groups = ceil(8/4) x
    // ceil(100/8) = 26, waves = 9 taps, p = 1 (32 activation bytes at 32 B/cycle, 4 weight bytes). Output
    // path requantizer + ReLU at 8/cycle: a = 32 / 8 = 4, latency 3 + 1; T = max(9, 4) = 9; depth 4.
    // cycles = (26 - 1) x 9 + 9 + (4 - 1) + 4 + 4 = 245.
    quant::GraphBuilder b("dw", 10, {8, 10, 10});
    b.conv("dw", 0, 8, 3, 1, 8, true, quant::Norm::None, quant::Act::ReLU);
    rows.push_back(
        hand_sim_row("depthwise 3x3 conv, 8 channels on 10x10, R-MAC 4x4x2 (whole simulation)",
                     quantize_synthetic(b.finish(), "naive-w8a8", 1),
                     single_engine(R"({"name": "rmac", "type": "rmac", "pe": 4, "lanes": 4, "replicas": 2})"),
                     (26 - 1) * 9 + 9 + (4 - 1) + 4 + 4));
  }
  const arch::AccelConfig trio = find_accel("trio-vit");
  // One linear-attention head on trio-vit, d = 16, N = 196 tokens. V'K^T (17 x 16 outputs reducing 196) on
  // R-MAC in assist mode: groups = ceil(16/8) x ceil(17/16) = 4, waves = ceil(196/8) = 25, p = 1, depth 8,
  // requantizer a = 1, latency 4: cycles = 3 x 25 + 25 + 7 + 1 + 4 = 112.
  rows.push_back(hand_tile_row("attention head d=16, N=196: V'K^T on R-MAC (assist mode), trio-vit", trio,
                               "rmac", gemm_tile(17, 16, 196, {trio.aux_index("requantizer")}),
                               3 * 25 + 25 + 7 + 1 + 4));
  // (V'K^T) q on MAT into the log2 quantizer (16/cycle, latency 2): groups = ceil(17/8) x ceil(196/16) = 39,
  // waves = 2, p = 1, a = 128 / 16 = 8, T = max(2, 8) = 8, depth 8: cycles = 38 x 8 + 2 + 7 + 8 + 2 = 323.
  rows.push_back(hand_tile_row(
      "attention head d=16, N=196: (V'K^T)q on MAT into the log2 quantizer, trio-vit", trio, "mat",
      gemm_tile(196, 17, 16, {trio.aux_index("log2_quantizer")}), 38 * 8 + 2 + 7 + 8 + 2));
  // 196 x 64 by 64 x 128 on the 32x32 output-stationary array, requantized (16/cycle, latency 4): folds =
  // ceil(196/32) x ceil(128/32) = 28 of 32 + 32 + 64 - 2 = 126 cycles; a = 1024 / 16 = 64 < 126:
  // cycles = 27 x 126 + 126 + 0 + 64 + 4 = 3596.
  const arch::AccelConfig systolic = find_accel("systolic-32x32-os");
  rows.push_back(hand_tile_row(
      "GEMM 196x64x128 on the 32x32 os systolic array, requantized, systolic-32x32-os", systolic, "sa",
      gemm_tile(196, 128, 64, {systolic.aux_index("requantizer")}), 27 * 126 + 126 + 64 + 4));
}

quant::QGraph zoo_qgraph(const std::string& model, int res, const std::string& recipe = "trio-w8a8") {
  return quantize_synthetic(quant::build_model(model, res), recipe, 1);
}

// Fast mode's error against cycle mode (the reference), in percent of cycle mode's cycles.
double mode_error(const SimReport& cycle, const SimReport& fast) {
  return 100.0 * static_cast<double>(fast.cycles - cycle.cycles) / static_cast<double>(cycle.cycles);
}

const std::pair<const char*, int64_t CycleBreakdown::*> kStallKinds[] = {
    {"port stalls", &CycleBreakdown::stall_port},
    {"aux-unit stalls", &CycleBreakdown::stall_aux},
    {"DRAM stalls", &CycleBreakdown::stall_dram},
    {"dependency stalls", &CycleBreakdown::stall_dependency}};

// Cycle mode's minus fast mode's stall cycles of one kind, summed over the units.
int64_t stall_gap(const SimReport& cycle, const SimReport& fast, int64_t CycleBreakdown::*field) {
  int64_t diff = 0;
  for (size_t i = 0; i < cycle.resources.size(); ++i)
    diff += cycle.resources[i].cycles.*field - fast.resources[i].cycles.*field;
  return diff;
}

// The stall kind whose total over the units differs most between the modes (index into kStallKinds; -1:
// none differs).
int largest_stall_gap(const SimReport& cycle, const SimReport& fast) {
  int kind = -1;
  int64_t largest = 0;
  for (int k = 0; k < 4; ++k) {
    const int64_t diff = stall_gap(cycle, fast, kStallKinds[k].second);
    if (std::abs(diff) > std::abs(largest)) largest = diff, kind = k;
  }
  return kind;
}

// Where the modes part: the stall kind that differs most, with cycle mode's excess.
std::string mode_gap_cause(const SimReport& cycle, const SimReport& fast) {
  const int kind = largest_stall_gap(cycle, fast);
  if (kind < 0) return "none";
  const int64_t gap = stall_gap(cycle, fast, kStallKinds[kind].second);
  return std::string(kStallKinds[kind].first) + " (" + (gap > 0 ? "+" : "") + with_commas(gap) +
         " in cycle mode)";
}

SimReport simulate_in(const quant::QGraph& q, const arch::AccelConfig& config, TimingMode mode, bool ideal) {
  SimOptions o;
  o.timing = mode;
  o.compile.ideal_memory = ideal;
  return simulate(q, config, o);
}

// A random accelerator around trio-vit: engine shapes, buffer banks, ports and words, auxiliary
// throughputs, DRAM, arbitration. Portable draws (rng() % n), so the set is the same everywhere.
nlohmann::json random_accel(std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int> v) { return *(v.begin() + rng() % v.size()); };
  nlohmann::json j = quant::read_json_file(config_dir() + "/accel/trio-vit.json");
  j["name"] = "random";
  j["notes"] = nlohmann::json::array();
  nlohmann::json& engines = j["engines"];
  for (nlohmann::json& e : engines) {
    e["pe"] = pick({4, 8, 16});
    e["lanes"] = pick({4, 8, 16});
    e["replicas"] = pick({1, 2, 4, 8, 16});
  }
  if (rng() % 3 == 0) {
    nlohmann::json extra = engines[0];
    extra["name"] = "mat2";
    engines.push_back(extra);
  }
  for (const char* b : {"activation", "weight", "output"}) {
    nlohmann::json& buf = j["buffers"][b];
    buf["banks"] = pick({2, 4, 8, 16, 32, 64});
    buf["ports_per_bank"] = pick({1, 2});
    buf["word_bytes"] = pick({4, 8, 16});
  }
  j["buffers"]["activation"]["resident_bytes"] = rng() % 2 ? 524288 : 0;
  for (const char* u : {"requantizer", "hswish", "relu", "shift_subtractor"})
    j["aux_units"][u]["throughput"] = pick({16, 32, 64, 128});
  j["aux_units"]["residual_add"]["throughput"] = pick({16, 32, 64});
  if (rng() % 2)
    j["dram"] = {{"bandwidth_gbps", pick({5, 10, 19, 38})}, {"latency_ns", 100}, {"burst_bytes", 64}};
  j["arbitration"] = rng() % 2 ? "round-robin" : "fixed-priority";
  return j;
}

std::string describe_accel(const nlohmann::json& j) {
  std::string s;
  for (const nlohmann::json& e : j["engines"])
    s += e["name"].get<std::string>() + " " + std::to_string(e["pe"].get<int>()) + "x" +
         std::to_string(e["lanes"].get<int>()) + "x" + std::to_string(e["replicas"].get<int>()) + ", ";
  const nlohmann::json& b = j["buffers"];
  for (const char* k : {"activation", "weight", "output"})
    s += std::string(k) + " " +
         std::to_string(b[k]["banks"].get<int>() * b[k]["ports_per_bank"].get<int>() *
                        b[k]["word_bytes"].get<int>()) +
         " B/cycle, ";
  if (b["activation"]["resident_bytes"].get<int64_t>() > 0)
    s += "resident " + std::to_string(b["activation"]["resident_bytes"].get<int64_t>()) + " B, ";
  // Every aux unit random_accel draws, so the worst case can be re-created from its description.
  for (const char* u : {"requantizer", "hswish", "relu", "shift_subtractor", "residual_add"})
    s += std::string(u) + " " + std::to_string(j["aux_units"][u]["throughput"].get<int>()) + "/cycle, ";
  s += j["dram"].contains("preset") ? "DDR4-2400"
                                    : std::to_string(j["dram"]["bandwidth_gbps"].get<int>()) + " GB/s";
  return s + ", " + j["arbitration"].get<std::string>();
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

// One random accelerator's comparison, and the features that sort the errors into classes.
struct RandomModeCase {
  double error = 0;      // (fast - cycle) / cycle, percent
  int largest_gap = -1;  // kStallKinds index
  bool ddr4 = false, third_engine = false;
  int64_t act_peak = 0, weight_peak = 0;  // bytes per cycle
};

// Rows that sort the random accelerators' errors by the features that explain them (docs/simulation.md,
// "Where fast mode's error comes from").
void add_mode_class_rows(std::vector<ValidationRow>& rows, const std::string& what,
                         const std::vector<RandomModeCase>& cases) {
  auto median_row = [&](const std::string& subset, auto in_subset) {
    std::vector<double> errors;
    double signed_sum = 0;
    for (const RandomModeCase& c : cases)
      if (in_subset(c)) errors.push_back(std::abs(c.error)), signed_sum += c.error;
    if (errors.empty()) return;
    const double mean = signed_sum / static_cast<double>(errors.size());
    rows.push_back(
        {kModes, what + ", median on " + subset + " (" + std::to_string(errors.size()) + ")", "0%",
         fixed(percentile(errors, 0.5), 2) + "%",
         "mean signed error " + fixed(mean, 2) + "% (" + (mean > 0 ? "fast slower" : "fast faster") + ")",
         false, true});
  };
  median_row("DDR4-2400", [](const RandomModeCase& c) { return c.ddr4; });
  median_row("an ideal bus", [](const RandomModeCase& c) { return !c.ddr4; });
  median_row("a weight buffer of <= 64 B/cycle", [](const RandomModeCase& c) { return c.weight_peak <= 64; });
  median_row("an activation buffer of <= 32 B/cycle",
             [](const RandomModeCase& c) { return c.act_peak <= 32; });
  median_row("both buffers wide (activation >= 256, weight >= 128 B/cycle)",
             [](const RandomModeCase& c) { return c.act_peak >= 256 && c.weight_peak >= 128; });
  median_row("a third engine (mat2)", [](const RandomModeCase& c) { return c.third_engine; });
  int by_kind[4] = {0, 0, 0, 0};
  for (const RandomModeCase& c : cases)
    if (c.largest_gap >= 0) ++by_kind[c.largest_gap];
  std::string kinds;
  for (int k = 0; k < 4; ++k)
    kinds += (k ? ", " : "") + std::string(kStallKinds[k].first) + " " + std::to_string(by_kind[k]);
  rows.push_back({kModes, what + ": the stall kind that differs most between the modes, configs per kind", "",
                  kinds, "", false, true});
}

void add_random_mode_rows(std::vector<ValidationRow>& rows, bool quick, const ValidationOptions& options);

void add_mode_rows(std::vector<ValidationRow>& rows, bool quick, const ValidationOptions& options) {
  // Nothing shared is contended with one engine and ideal memory: the modes must agree exactly, although
  // fast mode prices closed forms and cycle mode's counts come from the per-cycle units and arbiters.
  {
    if (options.progress) options.progress("fast vs cycle: one engine, ideal memory");
    const quant::QGraph q = zoo_qgraph("efficientvit-b0", 224);
    for (const char* engine :
         {R"({"name": "mat", "type": "mat", "pe": 8, "lanes": 4, "replicas": 4})",
          R"({"name": "sa", "type": "systolic", "rows": 8, "cols": 4, "dataflow": "ws"})"}) {
      const arch::AccelConfig c = single_engine(engine);
      const SimReport fast = simulate_in(q, c, TimingMode::Fast, true);
      const SimReport cycle = simulate_in(q, c, TimingMode::Cycle, true);
      int64_t layers_differing = 0;
      for (size_t i = 0; i < fast.layers.size(); ++i)
        layers_differing += fast.layers[i].start != cycle.layers[i].start ||
                            fast.layers[i].end != cycle.layers[i].end ||
                            fast.layers[i].cycles.to_json() != cycle.layers[i].cycles.to_json();
      ValidationRow row = exact_row(kModes,
                                    "EfficientViT-B0 @224 on small-memory with one engine (" +
                                        c.engines[0].params->summary() +
                                        "), ideal memory: total cycles (cycle mode is the anchor)",
                                    cycle.cycles, fast.cycles);
      row.pass = row.pass && layers_differing == 0;
      row.difference += ", " + std::to_string(layers_differing) + " of " +
                        std::to_string(fast.layers.size()) + " layers differ";
      rows.push_back(row);
    }
  }
  // The shipped accelerators on the zoo: informational, fast mode's error.
  struct ModelRows {
    std::string model, recipe;
    std::vector<std::string> accels;
  };
  std::vector<ModelRows> models = {
      {"efficientvit-b0", "trio-w8a8", {"trio-vit", "small-memory", "systolic-32x32-os"}}};
  if (!quick) {
    for (const char* m : {"efficientvit-b1", "efficientvit-b2", "efficientvit-b3"})
      models.push_back({m, "trio-w8a8", {"trio-vit"}});
    for (const char* m : {"deit-tiny", "deit-small", "deit-base"})
      models.push_back({m, "vit-w8a8", {"vit-gemm", "systolic-32x32-os"}});
  }
  for (const auto& [model, recipe, accels] : models) {
    if (options.progress) options.progress("fast vs cycle: " + model + " @224");
    const quant::QGraph q = zoo_qgraph(model, 224, recipe);
    for (const std::string& accel : accels) {
      const SimReport cycle = simulate_in(q, find_accel(accel), TimingMode::Cycle, false);
      const SimReport fast = simulate_in(q, find_accel(accel), TimingMode::Fast, false);
      rows.push_back({kModes, model + " @224 on " + accel + ": total cycles (fast mode's error)",
                      with_commas(cycle.cycles), with_commas(fast.cycles),
                      fixed(mode_error(cycle, fast), 2) + "%; cause: " + mode_gap_cause(cycle, fast), false,
                      true});
    }
  }
  add_random_mode_rows(rows, quick, options);
}

// Fast mode against cycle mode on random accelerators around trio-vit (10 with `quick`, else 200; the first
// options.random_count of the same draws when that is set).
void add_random_mode_rows(std::vector<ValidationRow>& rows, bool quick, const ValidationOptions& options) {
  const int configs = options.random_count > 0 ? options.random_count : quick ? 10 : 200;
  if (options.progress)
    options.progress("fast vs cycle: " + std::to_string(configs) + " random accelerators");
  const quant::QGraph q = zoo_qgraph("efficientvit-b0", 160);
  std::mt19937_64 rng(2026);
  std::vector<double> errors;
  std::vector<RandomModeCase> cases;
  double worst = -1;
  std::string worst_text;
  int unmappable = 0;
  while (static_cast<int>(errors.size()) < configs) {
    const nlohmann::json j = random_accel(rng);
    const arch::AccelConfig c = arch::parse_accel_config(j, "random accelerator");
    SimReport cycle, fast;
    try {
      cycle = simulate_in(q, c, TimingMode::Cycle, false);
      fast = simulate_in(q, c, TimingMode::Fast, false);
    } catch (const MappingError&) {
      ++unmappable;
      continue;
    }
    const double e = mode_error(cycle, fast);
    errors.push_back(std::abs(e));
    cases.push_back({e, largest_stall_gap(cycle, fast), j["dram"].contains("preset"), c.engines.size() > 2,
                     c.buffer(arch::BufferKind::Activation).peak_bytes_per_cycle(),
                     c.buffer(arch::BufferKind::Weight).peak_bytes_per_cycle()});
    if (options.detail) {
      std::string line = "random accelerator " + std::to_string(errors.size() - 1) + " (" +
                         describe_accel(j) + "): cycle " + with_commas(cycle.cycles) + ", fast " +
                         with_commas(fast.cycles) + ", error " + fixed(e, 2) + "%; cycle minus fast:";
      for (const auto& kind : kStallKinds)
        line += std::string(" ") + kind.first + " " + with_commas(stall_gap(cycle, fast, kind.second)) + ",";
      line.pop_back();
      options.detail(line);
    }
    if (std::abs(e) > worst)
      worst = std::abs(e),
      worst_text = describe_accel(j) + ": " + fixed(e, 2) + "%, " + mode_gap_cause(cycle, fast);
  }
  const std::string what = "EfficientViT-B0 @160 on " + std::to_string(configs) +
                           " random accelerators around trio-vit (" + std::to_string(unmappable) +
                           " unmappable draws skipped): abs(fast - cycle) / cycle";
  rows.push_back(
      {kModes, what + ", median", "0%", fixed(percentile(errors, 0.5), 2) + "%", "goal <= 2%", false, true});
  rows.push_back(
      {kModes, what + ", 90th percentile", "0%", fixed(percentile(errors, 0.9), 2) + "%", "", false, true});
  rows.push_back({kModes, what + ", worst", "0%", fixed(worst, 2) + "%", worst_text, false, true});
  add_mode_class_rows(rows, what, cases);
}

void add_bit_exact_rows(std::vector<ValidationRow>& rows, bool quick, const ValidationOptions& options) {
  struct Case {
    std::string name;
    quant::QGraph q;
    TimingMode mode;
  };
  if (options.progress) options.progress("functional: the trained fixture");
  std::vector<Case> cases;
  quant::Graph fixture =
      quant::import_onnx(std::string(VITSIM_SOURCE_DIR) + "/tests/data/fashion_evit/model.onnx");
  cases.push_back({"trained Fashion-MNIST fixture (trio-w8a8), fast mode",
                   quantize_synthetic(fixture, "trio-w8a8", 4), TimingMode::Fast});
  if (!quick)
    cases.push_back({"EfficientViT-B0 @224, synthetic weights (trio-w8a8), cycle mode",
                     zoo_qgraph("efficientvit-b0", 224), TimingMode::Cycle});
  for (const Case& c : cases) {
    SimOptions o;
    o.timing = c.mode;
    o.functional = true;
    const SimReport r = simulate(c.q, find_accel("trio-vit"), o);
    int64_t elements = 0;
    for (const quant::Node& n : c.q.graph.nodes) elements += quant::numel(n.out_shape);
    ValidationRow row =
        exact_row(kBitExact, c.name + " on trio-vit: mismatching output elements", 0, r.mismatches);
    row.difference += " of " + with_commas(elements) + " compared";
    rows.push_back(row);
  }
}

ValidationRow published_row(const std::string& check, double gops) {
  const double published = 780.2;
  return {kPublished,
          check,
          fixed(published, 1),
          fixed(gops, 1),
          fixed(gops - published, 1) + " (" + fixed(100 * (gops / published - 1), 1) + "%)",
          false,
          true};
}

// GOPS of the layers before the classifier head: their MACs over the cycles up to the last one's end.
double gops_before_head(const SimReport& r) {
  int64_t end = -1, macs = 0;
  for (const LayerStats& l : r.layers)
    if (l.name.rfind("head.", 0) != 0 && l.start >= 0) end = std::max(end, l.end), macs += l.macs;
  return 2.0 * as_double(macs) * r.clock_mhz * 1e6 / as_double(end + 1) / 1e9;
}

// The gap to 90% of 780.2 GOPS on the best model at 224 with real memory, `shipped` its report: each of the
// three assumptions of the waterfall (tools/gap_waterfall.py) switched to ideal alone, then all three
// together: memory (--ideal-memory), the auxiliary units (throughput 4,096 per cycle, the largest a config
// accepts, latencies kept) and the classifier head (left out: the cycles and MACs before it). Then the
// sentences of the "Why" text that name what is left.
void add_gap_rows(std::vector<ValidationRow>& rows, const std::string& name, const quant::QGraph& q,
                  const SimReport& shipped) {
  nlohmann::json j = quant::read_json_file(config_dir() + "/accel/trio-vit.json");
  for (auto& unit : j["aux_units"].items()) unit.value()["throughput"] = 4096;
  const arch::AccelConfig trio = find_accel("trio-vit"),
                          fast_aux =
                              arch::parse_accel_config(j, "trio-vit, auxiliary units at 4,096 per cycle");
  SimOptions ideal;
  ideal.compile.ideal_memory = true;
  const SimReport memory = simulate(q, trio, ideal), aux = simulate(q, fast_aux, {}),
                  all = simulate(q, fast_aux, ideal);
  const double target = 0.9 * 780.2, base = shipped.gops(), head = gops_before_head(shipped),
               all_gops = gops_before_head(all);
  // The multiplier slots of the engines' busy cycles before the head, and those left idle (in S3 and S4).
  int64_t lanes = 0, idle = 0, idle_late = 0;
  for (const LayerStats& l : all.layers) {
    if (l.name.rfind("head.", 0) == 0) continue;
    lanes += l.activity.lane_cycles, idle += l.activity.idle_lane_cycles();
    if (l.name.rfind("S3/", 0) == 0 || l.name.rfind("S4/", 0) == 0)
      idle_late += l.activity.idle_lane_cycles();
  }
  const double idle_share = as_double(idle) / as_double(lanes);
  const std::string what = name + " on trio-vit (the best at 224), ";
  rows.push_back(published_row(what + "memory ideal alone: GOPS", memory.gops()));
  rows.push_back(published_row(what + "auxiliary units ideal alone: GOPS", aux.gops()));
  rows.push_back(published_row(what + "classifier head left out alone: GOPS before the head", head));
  rows.push_back(
      published_row(what + "all three: GOPS before the head (the engines' busy cycles before it leave " +
                        fixed(100.0 * idle_share, 1) + "% of their multiplier slots idle, " +
                        fixed(100.0 * as_double(idle_late) / as_double(idle), 0) + "% of those in S3 and S4)",
                    all_gops));
  const auto cost = [&](double gops) { return fixed(gops - base, 1) + " GOPS"; };
  std::ostringstream note;
  note << "- **What blocks 702 GOPS (90% of 780.2) on the best model at 224**, " << name << " ("
       << fixed(base, 1) << " GOPS with real memory): switched to ideal one at a time, memory is worth "
       << cost(memory.gops()) << ", leaving out the classifier head " << cost(head)
       << ", the auxiliary units " << cost(aux.gops()) << "; all three together give " << fixed(all_gops, 1)
       << " GOPS, " << (all_gops >= target ? "at or above" : "still below") << " the target ("
       << fixed(all_gops - target, 1) << " GOPS). ";
  if (all_gops < target)
    note << "So no memory, auxiliary-unit or head assumption blocks the target, alone or together: what is "
            "left is the mapping of the layers onto the arrays, and mostly the multiplier slots the engines "
            "leave idle while busy (the last row), most of them in S3 and S4. That is the precursor's "
            "parallelism (N x M + T x S) x L with the L = 16 replicas along output pixels: a group of 16 "
            "replicas x 8 lanes covers 128 output pixels, and at 224 S3 has 14 x 14 = 196 pixels (2 groups, "
            "77% filled) and S4 7 x 7 = 49 (1 group, 38%); at 256, 16 x 16 = 256 and 8 x 8 = 64 fill 100% "
            "and 50%. Were those slots busy at the same cycles, the run with all three ideal would give "
         << fixed(all_gops / (1.0 - idle_share), 1)
         << " GOPS (a count, not a simulation). Reaching 702 GOPS at 224 would take a parallelization the "
            "papers do not describe (replicas along output channels for the small late stages); vitsim keeps "
            "the papers' replicas along pixels and names this as the assumption that blocks the target.";
  else
    note << "The gap with real memory is then memory, the head and the auxiliary units, in that order of "
            "cost.";
  rows.push_back({kPublishedGapNote, note.str(), "", "", "", false, true});
}

// B0-B3 at 224, 256 and 288 with real and ideal memory; at 224 with real memory also the layer of each type
// (label) with the highest GOPS over its span, 2 x MACs x f_clk / span, and the gap on the best of them.
void add_published_rows(std::vector<ValidationRow>& rows, const ValidationOptions& options) {
  const arch::AccelConfig trio = find_accel("trio-vit");
  std::string best_name;
  quant::QGraph best_q;
  SimReport best;
  for (const int res : {224, 256, 288})
    for (const std::string model :
         {"efficientvit-b0", "efficientvit-b1", "efficientvit-b2", "efficientvit-b3"}) {
      const std::string name = model + " @" + std::to_string(res);
      if (options.progress) options.progress("throughput: " + name);
      const quant::QGraph q = zoo_qgraph(model, res);
      for (const bool ideal : {false, true}) {
        SimOptions o;
        o.compile.ideal_memory = ideal;
        const SimReport r = simulate(q, trio, o);
        rows.push_back(published_row(name + " on trio-vit" + (ideal ? ", ideal memory" : "") +
                                         ": GOPS (MAC utilization " + fixed(100 * r.mac_utilization(), 1) +
                                         "%, " + fixed(r.fps(), 1) + " FPS)",
                                     r.gops()));
        if (ideal || res != 224) continue;
        std::map<std::string, const LayerStats*> best_layer;
        for (const LayerStats& l : r.layers) {
          if (l.macs == 0 || l.span() == 0) continue;
          const LayerStats*& b = best_layer[l.label];
          if (!b || l.macs * b->span() > b->macs * l.span()) b = &l;
        }
        for (const auto& [label, l] : best_layer)
          rows.push_back(
              published_row(name + " on trio-vit, best " + label + " layer (" + l->name + ", over its span)",
                            2.0 * as_double(l->macs) * r.clock_mhz * 1e6 / as_double(l->span()) / 1e9));
        if (best_name.empty() || r.gops() > best.gops()) best_name = name, best_q = q, best = r;
      }
    }
  if (options.progress) options.progress("throughput: the gap on " + best_name);
  add_gap_rows(rows, best_name, best_q, best);
}

// B1 @224 on trio-vit priced by the default energy model: GOPS/W in both modes against the precursor's
// 105.1, fast mode's energy per image against cycle mode's, and each coefficient at 0.5x and 1.5x.
void add_energy_rows(std::vector<ValidationRow>& rows, const ValidationOptions& options) {
  if (options.progress) options.progress("energy: efficientvit-b1 @224");
  const arch::AccelConfig trio = find_accel("trio-vit");
  const arch::EnergyModel model = arch::find_energy_model(arch::kDefaultEnergyModel, config_dir());
  const quant::QGraph q = zoo_qgraph("efficientvit-b1", 224);
  SimOptions o;
  o.energy = &model;
  o.timing = TimingMode::Cycle;
  const SimReport cycle = simulate(q, trio, o);
  o.timing = TimingMode::Fast;
  const SimReport fast = simulate(q, trio, o);
  const double published = 105.1;
  for (const SimReport* r : {&cycle, &fast})
    rows.push_back({kEnergy,
                    "efficientvit-b1 @224 on trio-vit, " + r->timing + " mode: GOPS/W (" +
                        fixed(r->gops(), 1) + " GOPS at " + fixed(r->average_power_w(), 3) + " W)",
                    fixed(published, 1), fixed(r->gops_per_w(), 1),
                    fixed(r->gops_per_w() - published, 1) + " (" +
                        fixed(100 * (r->gops_per_w() / published - 1), 1) + "%)",
                    false, true});
  rows.push_back(
      {kEnergy,
       "efficientvit-b1 @224 on trio-vit, cycle mode: average power, W (anchor: the power at which "
       "vitsim's GOPS would give 105.1 GOPS/W)",
       fixed(cycle.gops() / published, 3), fixed(cycle.average_power_w(), 3),
       fixed(cycle.average_power_w() - cycle.gops() / published, 3) + " W", false, true});
  const double cycle_j = cycle.energy->energy.total(), fast_j = fast.energy->energy.total();
  rows.push_back({kEnergy,
                  "efficientvit-b1 @224 on trio-vit: energy per image, mJ (cycle mode is the anchor)",
                  fixed(cycle_j * 1e3, 4), fixed(fast_j * 1e3, 4),
                  fixed(100 * (fast_j / cycle_j - 1), 2) + "% (fast mode's error)", false, true});
  for (const CoefficientSensitivity& s : energy_sensitivity(cycle, model, trio)) {
    const auto moved = [&cycle](double v) { return fixed(100 * (v / cycle.gops_per_w() - 1), 1) + "%"; };
    rows.push_back({kEnergy, "cycle mode, " + s.coefficient + " at 0.5x / 1.5x: GOPS/W",
                    fixed(cycle.gops_per_w(), 1),
                    fixed(s.gops_per_w_low, 1) + " / " + fixed(s.gops_per_w_high, 1),
                    moved(s.gops_per_w_low) + " / " + moved(s.gops_per_w_high), false, true});
  }
}

std::string percent_off(int64_t anchor, int64_t value) {
  const double off = 100.0 * (static_cast<double>(value) / static_cast<double>(anchor) - 1);
  return (off >= 0 ? "+" : "") + fixed(off, 1) + "%";
}

// vitsim against the authors' model: the whole model before the head for B0-B3 @224 and B1 @256/288, then
// B1 @224 per stage and per piece type (sums of the pieces' spans).
void add_authors_model_rows(std::vector<ValidationRow>& rows, const ValidationOptions& options) {
  const std::vector<std::pair<std::string, int>> cases = {{"efficientvit-b1", 224}, {"efficientvit-b1", 256},
                                                          {"efficientvit-b1", 288}, {"efficientvit-b0", 224},
                                                          {"efficientvit-b2", 224}, {"efficientvit-b3", 224}};
  for (const auto& [model, res] : cases) {
    if (options.progress) options.progress("authors' model: " + model + " @" + std::to_string(res));
    const Fidelity f = compare_with_authors_model(zoo_qgraph(model, res), model, res);
    rows.push_back({kAuthors, model + " @" + std::to_string(res) + ": cycles before the head",
                    with_commas(f.model_cycles), with_commas(f.vitsim_cycles),
                    percent_off(f.model_cycles, f.vitsim_cycles), false, true});
    if (model != "efficientvit-b1" || res != 224) continue;
    const std::string& name = model;  // C++17 lambdas cannot capture a structured binding (clang refuses)
    auto add_sums = [&](const std::string& what, auto&& key_of) {
      std::vector<std::string> keys;
      for (const FidelityPiece& p : f.pieces)
        if (std::find(keys.begin(), keys.end(), key_of(p)) == keys.end()) keys.push_back(key_of(p));
      for (const std::string& key : keys) {
        int64_t m = 0, v = 0;
        for (const FidelityPiece& p : f.pieces)
          if (key_of(p) == key) m += p.model_cycles, v += p.vitsim_cycles;
        rows.push_back({kAuthors, name + " @224, " + what + " " + key + " (sum of spans)", with_commas(m),
                        with_commas(v), percent_off(m, v), false, true});
      }
    };
    add_sums("stage", [](const FidelityPiece& p) { return p.stage; });
    add_sums("pieces:", [](const FidelityPiece& p) { return std::string(authors_model::part_name(p.part)); });
  }
}

// The latency of DeiT's attention (per block, the first cycle of qkv to the last of proj) and MLP (fc1's
// first to fc2's last), summed over the blocks, and of the whole image.
std::array<int64_t, 3> deit_latencies(const quant::Graph& g, const SimReport& r) {
  std::array<int64_t, 3> t{0, 0, r.cycles};
  for (int b = 0;; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    const int qkv = g.find(p + "attn.qkv");
    if (qkv < 0) break;
    auto span = [&](int first, int last) {
      return r.layers[static_cast<size_t>(last)].end - r.layers[static_cast<size_t>(first)].start + 1;
    };
    t[0] += span(qkv, g.find(p + "attn.proj"));
    t[1] += span(g.find(p + "mlp.fc1"), g.find(p + "mlp.fc2"));
  }
  return t;
}

// DeiT-S and DeiT-B @224 with p2vit-w8a8 on p2-vit: GOPS per DSP against P²-ViT's published figures; on
// DeiT-S also the pipelining ablation, p2-vit with its two switches set four ways, normalized to both on.
void add_p2vit_rows(std::vector<ValidationRow>& rows, const ValidationOptions& options) {
  const nlohmann::json config = quant::read_json_file(config_dir() + "/accel/p2-vit.json");
  for (const auto& [model, published] : {std::pair{"deit-small", 0.623}, std::pair{"deit-base", 0.799}}) {
    if (options.progress) options.progress(std::string("P2-ViT: ") + model + " @224");
    const quant::QGraph q = zoo_qgraph(model, 224, "p2vit-w8a8");
    const SimReport r = simulate(q, arch::parse_accel_config(config, "p2-vit"), {});
    rows.push_back({kP2vit,
                    std::string(model) + " @224, p2vit-w8a8 on p2-vit: GOPS/DSP (" + fixed(r.gops(), 1) +
                        " GOPS on " + with_commas(r.dsps) + " DSPs, MAC utilization " +
                        fixed(100 * r.mac_utilization(), 1) + "%, " + fixed(r.fps(), 1) + " FPS)",
                    fixed(published, 3), fixed(r.dsp_efficiency(), 3),
                    fixed(r.dsp_efficiency() - published, 3) + " (" +
                        fixed(100 * (r.dsp_efficiency() / published - 1), 1) + "%)",
                    false, true});
    if (std::string(model) != "deit-small") continue;
    const char* const settings[] = {"neither", "inter-layer only", "intra-layer only", "both"};
    const double paper[3][4] = {{1.79, 1.45, 1.34, 1.00}, {1.15, 1.00, 1.15, 1.00}, {1.57, 1.32, 1.37, 1.00}};
    std::array<std::array<int64_t, 3>, 4> t{};
    for (int s = 0; s < 4; ++s) {
      nlohmann::json j = config;
      j["pipelining"] = {{"inter_layer", s == 1 || s == 3}, {"intra_layer", s >= 2}};
      t[static_cast<size_t>(s)] =
          deit_latencies(q.graph, simulate(q, arch::parse_accel_config(j, "p2-vit"), {}));
    }
    const char* const parts[] = {"attention", "MLP", "overall"};
    for (size_t part = 0; part < 3; ++part)
      for (size_t s = 0; s < 4; ++s) {
        const double normalized = static_cast<double>(t[s][part]) / static_cast<double>(t[3][part]);
        rows.push_back(
            {kP2vitPipelining,
             std::string(parts[part]) + ", " + settings[s] + " (" + with_commas(t[s][part]) + " cycles)",
             fixed(paper[part][s], 2), fixed(normalized, 2), fixed(normalized - paper[part][s], 2), false,
             true});
      }
  }
}

// DeiT-B @224 in fast mode: auto-vit-acc with autovitacc-mixed and autovitacc-fp32-baseline (timing needs
// only the shapes: vit-w8a8's graph) against Auto-ViT-Acc's 56.8 and 10.0 FPS and their ratio, with DDR4
// and with ideal memory (the difference is memory time).
void add_autovitacc_rows(std::vector<ValidationRow>& rows, const ValidationOptions& options) {
  if (options.progress) options.progress("Auto-ViT-Acc: deit-base @224");
  const quant::QGraph mixed = zoo_qgraph("deit-base", 224, "autovitacc-mixed");
  const quant::QGraph shapes = zoo_qgraph("deit-base", 224, "vit-w8a8");
  const arch::AccelConfig acc = find_accel("auto-vit-acc");
  const arch::AccelConfig fp32 = find_accel("autovitacc-fp32-baseline");
  for (const bool ideal : {false, true}) {
    SimOptions o;
    o.compile.ideal_memory = ideal;
    const SimReport a = simulate(mixed, acc, o), b = simulate(shapes, fp32, o);
    const std::string memory = ideal ? ", ideal memory" : ", DDR4";
    auto fps_row = [&](const std::string& what, const SimReport& r, double published) {
      rows.push_back({kAutovitacc,
                      what + memory + ": FPS (" + with_commas(r.dsps) + " DSPs, MAC utilization " +
                          fixed(100 * r.mac_utilization(), 1) + "%, " + fixed(r.gops(), 1) + " GOPS)",
                      fixed(published, 1), fixed(r.fps(), 1),
                      fixed(r.fps() - published, 1) + " (" + fixed(100 * (r.fps() / published - 1), 1) + "%)",
                      false, true});
    };
    fps_row("auto-vit-acc, autovitacc-mixed", a, 56.8);
    fps_row("autovitacc-fp32-baseline", b, 10.0);
    const double published = 56.8 / 10.0, ratio = a.fps() / b.fps();
    rows.push_back({kAutovitacc, "speedup of auto-vit-acc over the FP32 baseline" + memory,
                    fixed(published, 2) + "x", fixed(ratio, 2) + "x", fixed(ratio - published, 2), false,
                    true});
    if (ideal) continue;
    // The product units the published frame rates need at vitsim's clock if every one worked every cycle.
    auto units_row = [&](const std::string& what, const SimReport& r, double fps) {
      const double needed = static_cast<double>(r.macs) * fps / (r.clock_mhz * 1e6);
      rows.push_back({kAutovitacc,
                      what + ": product units the published FPS needs at " + fixed(r.clock_mhz, 0) +
                          " MHz and full utilization (anchor), against the config's",
                      with_commas(static_cast<int64_t>(std::ceil(needed))), with_commas(r.multipliers),
                      fixed(100 * (static_cast<double>(r.multipliers) / needed - 1), 1) + "%", false, true});
    };
    units_row("auto-vit-acc (INT8 multipliers and shifters)", a, 56.8);
    units_row("autovitacc-fp32-baseline (FP32 multiply-adds)", b, 10.0);
  }
}

}  // namespace

std::vector<ValidationRow> run_validation(const ValidationOptions& options) {
  std::vector<ValidationRow> rows;
  if (options.random_only) {
    add_random_mode_rows(rows, options.quick, options);
    return rows;
  }
  if (options.progress) options.progress("SCALE-Sim formulas");
  add_scalesim_rows(rows, options.quick);
  if (options.progress) options.progress("hand-derived closed forms");
  add_hand_rows(rows);
  add_mode_rows(rows, options.quick, options);
  add_bit_exact_rows(rows, options.quick, options);
  if (!options.quick) add_published_rows(rows, options);
  if (!options.quick) add_authors_model_rows(rows, options);
  if (!options.quick) add_energy_rows(rows, options);
  if (!options.quick) add_p2vit_rows(rows, options);
  if (!options.quick) add_autovitacc_rows(rows, options);
  return rows;
}

namespace {

// What each section compares and where its anchor comes from.
const std::vector<std::pair<const char*, const char*>> kSectionIntros = {
    {kScaleSim,
     "Anchor: SCALE-Sim v2's stall-free cycle count (its off-by-one included), written "
     "out "
     "independently in `sim/validate/validation.cpp`. vitsim: `vitsim scalesim --compat` (docs/scalesim.md): "
     "each "
     "GEMM "
     "is one tile on the SystemC systolic engine, run in fast and in cycle mode; a row passes only if both "
     "modes give the formula's cycles for every layer. ResNet-50 comes from "
     "`configs/workloads/resnet50_conv.csv` (SCALE-Sim's conv format); the random GEMMs from a fixed seed."},
    {kHand,
     "Anchor: cycle counts derived by hand from the engine rules of docs/engines.md (each derivation is "
     "written next to its case in `sim/validate/validation.cpp`). vitsim: the whole simulation (compiler, "
     "SystemC "
     "accelerator) or one tile through the SystemC accelerator, with ideal memory, in both timing modes "
     "(a row also fails if the modes differ or, for whole simulations, if an output is not bit-exact)."},
    {kModes,
     "Anchor: cycle mode, the reference (every unit stepped cycle by cycle, buffer ports, auxiliary units "
     "and the DMA's buffer writes arbitrated per cycle). vitsim: fast mode, the closed forms with the "
     "engines' running tiles dividing the buffer ports as a fluid after the DMA's writes (re-priced at "
     "every start, issue end and change of the writes), and a private auxiliary chain per tile. With one "
     "engine and ideal memory nothing is shared, so the modes must agree exactly (exact rows, every layer "
     "compared). Elsewhere fast mode is a "
     "measured approximation (informational rows): its error, and the stall kind that differs most between "
     "the modes. small-memory is a tiny config on which DRAM, port and output-path stalls all occur; the "
     "random accelerators vary trio-vit's engine shapes, buffer banks, ports and words, auxiliary "
     "throughputs, DRAM and arbitration (seeded, `sim/validate/validation.cpp`; `vitsim validate "
     "--verbose` prints each one's cycles and stall gaps). The rows after the worst case sort their errors "
     "by feature; docs/simulation.md (\"Where fast mode's error comes from\") attributes them to the "
     "mechanisms fast mode lacks."},
    {kBitExact,
     "Anchor: the integer reference executor (0 differing elements). vitsim: functional simulation on the "
     "engines, every layer's output compared element by element."},
    {kPublished,
     "Anchor: 780.2 GOPS, the Trio-ViT precursor accelerator with (8x8 + 8x8) x 16 = 2,048 multipliers at "
     "200 MHz on EfficientViT, as the precursor paper reports it. The paper's model and resolution are not "
     "given here: "
     "we show ImageNet EfficientViT B0-B3 at 224, 256 and 288, with synthetic weights and trio-w8a8 (the "
     "cycles do not depend on the weight values), and at 224 the best single layer of each type (its GOPS "
     "over its own span, while other layers may overlap it). Informational rows: no constant is adjusted to "
     "close "
     "the gap."},
    {kAuthors,
     "Anchor: the Trio-ViT authors' analytical latency model (their `latency_v2.py`, from the history of "
     "their public repository), re-implemented independently in `tools/authors_model/` (it shares no code "
     "with vitsim; tests/test_authors_model.cpp holds its totals equal to the authors' script on B0-B3). "
     "Its assumptions: MAT 8x8 + R-MAC 8x8 (128 multipliers), no replicas, ideal memory, the classifier "
     "head left out. vitsim: `configs/accel/trio-vit-authors-model.json` with ideal memory; its cycles run "
     "from the first cycle to the last cycle of the last layer before the head. Per stage and per piece "
     "type, the sums of the pieces' spans (first to last cycle of the piece's layers; pipelined pieces "
     "overlap a little, residual adds belong to no piece). Informational rows; the goal is within 15%."},
    {kEnergy,
     "Anchor: 105.1 GOPS/W, the Trio-ViT precursor on a ZCU102 at 200 MHz on EfficientViT, as the precursor "
     "paper reports it. vitsim: EfficientViT-B1 @224 on trio-vit priced by `configs/energy/zcu102-ddr4.json` "
     "(docs/energy.md), in both timing modes; then fast mode's energy per image against cycle mode's, and "
     "each coefficient of the model moved to 0.5x and 1.5x with the cycle-mode counts repriced (the "
     "anchor column is the unmoved GOPS/W), largest swing first. Informational rows: no coefficient was "
     "chosen to approach the anchor."},
    {kP2vit,
     "Anchor: P²-ViT's W8A8 GOPS per DSP on DeiT-S (0.623) and DeiT-B (0.799), as the P²-ViT paper (Shi et "
     "al., IEEE TVLSI 2024) reports them in its comparison with Auto-ViT-Acc. vitsim: the model at 224 with "
     "synthetic weights, quantized with p2vit-w8a8, on `configs/accel/p2-vit.json` (a ZCU102-sized reading "
     "of the paper's accelerator, its assumptions in the config's notes), fast mode; GOPS = 2 x MACs / "
     "latency, over all the config's DSPs (docs/metrics.md). Informational rows: no constant is adjusted to "
     "close the gap."},
    {kP2vitPipelining,
     "Anchor: the normalized latency (lower is better; both switches on = 1.00) of P²-ViT's pipelining "
     "ablation on DeiT, as the paper reports it for attention, MLP and the whole model. vitsim: DeiT-S @224, "
     "p2vit-w8a8, p2-vit in fast mode with its `pipelining` switches set four ways (nothing else changed). "
     "Per block, the attention's latency runs from the first cycle of its qkv Linear to the last cycle of "
     "its projection and the MLP's from fc1's first to fc2's last; each is summed over the 12 blocks; "
     "overall is the image's cycles. `python3 tools/p2vit_pipelining_ablation.py` prints the same table for "
     "any DeiT, resolution, recipe or timing mode. Informational rows."},
    {kAutovitacc,
     "Anchor: Auto-ViT-Acc (Li et al., FPL 2022) on DeiT-B at 56.8 FPS on a ZCU102, against 10.0 FPS for "
     "a 32-bit floating-point FPGA baseline (a 5.68x speedup), as the paper's abstract reports them. "
     "vitsim: DeiT-B @224 with synthetic weights in fast mode, on `configs/accel/auto-vit-acc.json` "
     "quantized with autovitacc-mixed, and on `configs/accel/autovitacc-fp32-baseline.json` (an FP32 "
     "datapath: docs/engines.md, \"FP32 datapath\"; its timing needs only the shapes, taken from "
     "vit-w8a8's graph); each with DDR4 and with ideal memory, whose difference is memory time. Both "
     "configs are readings of designs the paper does not detail (their notes list the assumptions). "
     "Informational rows: no constant is adjusted to close the gap."},
};

const char* const kP2vitGap = R"(### Why vitsim's GOPS/DSP is below P²-ViT's

P²-ViT reports these figures in its comparison with Auto-ViT-Acc; its own FPGA build's sizes, clock, buffers
and DRAM are not in the sources we have, so p2-vit's are assumptions (its notes), and nothing was tuned:

- **DSP count.** p2-vit packs two INT8 multiplies per DSP (4,096 multipliers on 2,048 DSPs) and adds the
  Softmax and LayerNorm units' 192 DSPs; GOPS/DSP divides by all 2,240. The paper's DSP count for its
  design and what it counts as an operation are not known to us.
- **Memory.** DeiT's weights do not fit on chip, so every Linear loads its weights from DDR4 once per image
  (DeiT-B: about 86 MB), and the Q·Kᵀ scores (int32) go to DRAM and back for the Softmax unit; on DeiT-B
  the PS-MAC waits for DRAM 13% of the time (`vitsim run --model deit-base --accel p2-vit --recipe
  p2vit-w8a8` prints the breakdown).
- **The attention chain.** A·V runs on 512 shifters (an assumption limited by the LUT estimate) and Softmax
  on a 64-lane unit, much slower than the PS-MAC, which waits for its producers another 10% of DeiT-B's
  cycles even with both pipelining switches on.
)";

const char* const kP2vitPipeliningGap = R"(### How vitsim's ablation differs from the paper's

vitsim's switches change the emitted program, not a cycle factor (docs/engines.md, "Pipelining switches").
Inter-layer pipelining streams the attention chain head by head across the PS-MAC, the Softmax unit and
the shifter array, so it shortens the attention as in the paper; on the MLP it can only overlap FC1's last
stores with FC2's first loads, since both run on the one PS-MAC and FC2's rows need all of FC1's channel
blocks (the paper's MLP gain of 15% from inter-layer pipelining has no counterpart here). Intra-layer
pipelining is read as double buffering inside a layer (the paper's definition was not available in
detail): it hides each tile's loads behind the previous tile's compute, so it also shortens the
weight-bound MLP, where the paper shows no gain. The overall shape (both switches best, neither worst)
holds; which single switch helps more, and the split between attention and MLP, differ for these two
reasons.
)";

const char* const kAutovitaccGap =
    R"md(### Why vitsim's frame rates are below Auto-ViT-Acc's, and its speedup differs

The sources we have give the two frame rates and the board, not either design's parallelism, clock,
buffers or DRAM use, so both configs are assumptions (their notes), and nothing was tuned:

- **Array size.** The product-unit rows divide the published frame rates into the product units they need
  at 200 MHz if every unit worked every cycle. Neither config has that many. auto-vit-acc is as large as
  vitsim's resource model lets it be on the ZCU102's LUTs (each shift-add lane costs about three times a
  DSP lane's LUTs, so fewer than half the DSPs are used, docs/autotune.md). The FP32 baseline's 256
  multiply-adds are bounded by LUTs too: at 711 LUTs and 5 DSP48E2 each (the Floating-Point Operator cores
  as Vitis HLS binds them), the LUTs run out long before the DSPs. The published 10.0 FPS needs more FP32
  multiply-adds than 2,520 DSPs can host at 5 each, so the paper's baseline must have spent fewer DSPs or
  LUTs per multiply-add, run a faster clock, or counted its frame rate differently; the sources do not say.
- **Memory.** The ideal-memory rows remove DDR4: their distance from the DDR4 rows is memory time. FP32
  operands take four times the bytes, so the FP32 baseline moves far more DRAM data per image (`vitsim run
  --model deit-base --accel autovitacc-fp32-baseline --recipe vit-w8a8` prints it), yet its small array
  keeps it compute bound.
- **Utilization.** The MAC utilization in each row is what the array loses besides memory: on auto-vit-acc
  the MatMuls (Q·Kᵀ, A·V) have no power-of-two rows, so its shift-add lanes idle through them
  (docs/engines.md, "Mixed (Auto-ViT-Acc)"); the FP32 array's few lanes divide DeiT-B's dimensions with
  little waste.
- **The speedup.** vitsim's ratio follows from its two array sizes and utilizations, not from the paper's;
  it differs from 5.68x because the two configs fall short of the paper's designs by different factors
  (the product-unit rows).
)md";

const char* const kGapAnalysis = R"(### Why vitsim's throughput is below the published 780.2 GOPS

The ideal-memory rows isolate the compute mapping; the distance between a model's real-memory and
ideal-memory rows is memory time. Both gaps have known causes in vitsim's model, none of which is tuned:

- **Memory.** The compiler's memory plan keeps layer outputs in the activation buffer's resident region
  (trio-vit reserves 512 KiB of its 1 MiB) while their readers need them, and R-MAC joins MAT on a fused
  pair's pointwise conv (docs/engines.md, "Memory plan"). What still crosses the DRAM: the input image,
  every layer's weights (into double-buffered slots, so a load overlaps the tiles before it), and the
  outputs that find no resident range. The precursor's buffer sizes and its
  DRAM traffic are not published; ours are documented assumptions in configs/accel/trio-vit.json.
- **Layers that do not fill the arrays.** The classifier's Linear layers work on one pixel, so the 16
  replicas (which take output pixels and share the weights) are 1/16 used: the head is ~12% of B1's
  ideal-memory cycles and is left out of the authors' model. Attention outputs have d + 1 rows (the
  divisor row), so MAT's last lane group of 8 holds one row; channel counts that are not multiples of the
  lanes and replicas leave multipliers idle in the last group. These lanes idle in the hardware too.
- **The auxiliary output path.** Requantizer, hardswish and log2 quantizer throughputs are assumptions;
  where a tile's outputs leave slower than the array makes them, the engine stalls (`stall_aux`).
- **How much each costs** on B1 @224 is measured in docs/figures.md ("Where trio-vit's cycles go"): a
  waterfall that switches memory, auxiliary units and the head to ideal one after the other; on the best
  model at 224, the last four rows of the table switch each alone, then all three.
- **What the paper may count differently.** Whether 780.2 GOPS is a peak over the convolution layers or
  an average over the whole model, and at which resolution, is not stated in the sources we have.
)";

const char* const kEnergyGap = R"(### Why vitsim's GOPS/W is above the published 105.1

The precursor's two figures imply 780.2 GOPS / 105.1 GOPS/W = 7.4 W. vitsim prices much less than that
(the power row above), and the two numbers do not count the same things:

- **What is priced.** The paper's figure is presumably a measured board or device power. vitsim prices
  only the accelerator in the programmable logic (MACs, auxiliary units, buffers, clock tree and
  registers, static power) and the DDR4 devices' core currents (IDD). Not modeled: the Zynq's processing
  system (ARM cores, DDR controller and PHY, interconnect), the DRAM's I/O and termination, the AXI DMA
  and interconnect logic in the fabric, voltage regulators and the rest of the board, all of which a
  board measurement includes.
- **The coefficients.** The FPGA's per-action energies and its static power are stated assumptions from
  ASIC figures scaled by published FPGA-to-ASIC ratios, not a characterization of this design (each
  `source` in configs/energy/zcu102-ddr4.json says so); only the DDR4 currents come from a datasheet. The
  sensitivity rows show which coefficients move the result most: the static power and the DRAM's VDD and
  read current.
- **Throughput.** vitsim's GOPS are below the published 780.2 (previous sections), which by itself would
  lower GOPS/W at equal power: the gap in power is larger than the gap in GOPS/W.
)";

}  // namespace

std::string validation_markdown(const std::vector<ValidationRow>& rows, double wall_seconds) {
  int64_t exact = 0, passed = 0;
  for (const ValidationRow& r : rows) exact += r.exact, passed += r.exact && r.pass;
  std::ostringstream o;
  o << "# Validation\n\n"
    << "vitsim's figures side by side with their anchors. Regenerate this page with\n\n"
    << "```sh\nbuild/release/vitsim validate --out docs/validation.md\n```\n\n"
    << "(it took " << fixed(wall_seconds, 0)
    << " s on the 2-core development machine). Every figure below was "
    << "measured by that command; nothing is copied in. **" << passed << " of " << exact
    << " exact rows match their anchor.** An exact row must show a difference of 0; the test suite runs "
    << "`vitsim validate --quick` (a subset) and fails if any exact row does not.\n\n"
    << "The engines' cycles and arithmetic are also held to RTL: Verilator co-simulation of arch/rtl/, "
       "cycle for cycle and bit for bit (the last section, \"RTL co-simulation\"), and Yosys resource "
       "counts ([rtl.md](rtl.md)). The systolic engine is also "
    << "held to 52 real SCALE-Sim v2 runs (112 layers, `tests/data/scalesim/`): `vitsim scalesim --compat` "
    << "reproduces every layer's Total Cycles and utilizations (tests/test_scalesim_reference.cpp), and "
       "the "
    << "systolic RTL's cycles equal them too (tests/rtl/test_cosim_systolic.cpp).\n";
  for (const auto& [section, intro] : kSectionIntros) {
    o << "\n## " << section << "\n\n"
      << intro << "\n\n"
      << "| check | anchor | vitsim | difference | result |\n|---|---:|---:|---|---|\n";
    for (const ValidationRow& r : rows)
      if (r.section == section)
        o << "| " << r.check << " | " << r.anchor << " | " << r.vitsim << " | " << r.difference << " | "
          << (!r.exact ? "informational"
              : r.pass ? "exact"
                       : "**MISMATCH**")
          << " |\n";
    if (std::string(section) == kPublished) {
      o << '\n' << kGapAnalysis;
      for (const ValidationRow& r : rows)
        if (r.section == kPublishedGapNote) o << r.check << '\n';
    }
    if (std::string(section) == kEnergy) o << '\n' << kEnergyGap;
    if (std::string(section) == kP2vit) o << '\n' << kP2vitGap;
    if (std::string(section) == kP2vitPipelining) o << '\n' << kP2vitPipeliningGap;
    if (std::string(section) == kAutovitacc) o << '\n' << kAutovitaccGap;
  }
  o << "\n## RTL co-simulation\n\n"
    << "Each engine and auxiliary unit with RTL in arch/rtl/ runs random tiles (with random stalls on its "
       "handshakes, where it has them) in its Verilator model and in vitsim's cycle-mode model of the same "
       "unit; every input "
       "beat, output beat and output value must be equal in every cycle ([rtl.md](rtl.md) says how). The "
       "table is a run of `vitsim_rtl_tests`, written by `tools/rtl_validation.py` (this command does not "
       "build Verilator models, and keeps the table when it rewrites the page).\n\n"
    << kRtlSectionBegin << "\n(not generated yet: run `/usr/bin/python3 tools/rtl_validation.py`)\n"
    << kRtlSectionEnd << '\n';
  return o.str();
}

std::string keep_rtl_section(const std::string& generated, const std::string& previous) {
  const auto block = [](const std::string& text) -> std::pair<size_t, size_t> {
    const size_t begin = text.find(kRtlSectionBegin);
    const size_t end = begin == std::string::npos ? begin : text.find(kRtlSectionEnd, begin);
    return {begin, end};
  };
  const auto [g0, g1] = block(generated);
  const auto [p0, p1] = block(previous);
  if (g1 == std::string::npos || p1 == std::string::npos) return generated;
  return generated.substr(0, g0) + previous.substr(p0, p1 - p0) + generated.substr(g1);
}

int run_validate(const ValidateArgs& args, std::ostream& out, std::ostream& err) {
  const auto t0 = std::chrono::steady_clock::now();
  ValidationOptions options;
  options.quick = args.quick;
  options.random_only = args.only == "random";
  options.random_count = args.count;
  options.progress = [&err](const std::string& what) { err << "[validate] " << what << '\n'; };
  if (args.verbose) options.detail = [&out](const std::string& line) { out << "detail   " << line << '\n'; };
  const std::vector<ValidationRow> rows = run_validation(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int failed = 0;
  for (const ValidationRow& r : rows) {
    const char* verdict = !r.exact ? "info" : r.pass ? "ok" : "MISMATCH";
    out << std::left << std::setw(9) << verdict << r.check << ": anchor " << r.anchor << ", vitsim "
        << r.vitsim << ", difference " << r.difference << '\n';
    failed += r.exact && !r.pass;
  }
  if (!args.out.empty()) {
    std::ifstream previous(args.out, std::ios::binary);
    const std::string kept((std::istreambuf_iterator<char>(previous)), std::istreambuf_iterator<char>());
    quant::write_file_atomic(args.out, keep_rtl_section(validation_markdown(rows, seconds), kept));
    out << "written: " << args.out << '\n';
  }
  out << (failed ? std::to_string(failed) + " exact row(s) do not match their anchor"
                 : "every exact row matches")
      << " (" << fixed(seconds, 1) << " s)\n";
  return failed ? 1 : 0;
}

}  // namespace vitsim::sim

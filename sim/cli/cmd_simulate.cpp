#include "sim/cli/cmd_simulate.hpp"

#include <chrono>
#include <iomanip>
#include <optional>
#include <ostream>

#include "quant/atomic_file.hpp"
#include "quant/qgraph_io.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/energy_sensitivity.hpp"
#include "sim/run/report_files.hpp"
#include "sim/run/trace_perfetto.hpp"
#include "sim/run/trace_vcd.hpp"

namespace vitsim::sim {

namespace {

int64_t non_negative(int64_t value, const char* option, const char* zero_means) {
  if (value < 0)
    throw std::invalid_argument(std::string(option) + " must be 0 (" + zero_means + ") or positive, got " +
                                std::to_string(value));
  return value;
}

// `progress` receives a cycle-mode run's estimate and progress lines; `energy` prices the activity.
SimOptions options_from(const SimulateArgs& args, RunProgress& progress, const arch::EnergyModel& energy) {
  SimOptions o;
  o.timing = arch::parse_timing_mode(args.timing);
  o.functional = args.functional;
  o.compile.ideal_memory = args.ideal_memory;
  o.seed = args.seed;
  o.watchdog_cycles = non_negative(args.watchdog_cycles, "--watchdog-cycles", "automatic");
  o.max_cycles = non_negative(args.max_cycles, "--max-cycles", "no limit");
  o.record_bursts = !args.trace.empty() || !args.vcd.empty();  // the traces' DRAM tracks
  o.progress = &progress;
  o.energy = &energy;
  return o;
}

int report_and_summarize(const SimOutcome& outcome, const arch::AccelConfig& config, const SimulateArgs& args,
                         const arch::EnergyModel& energy, std::ostream& out) {
  const SimReport& report = outcome.report;
  if (!args.report.empty()) quant::write_file_atomic(args.report, report.to_json().dump(1) + "\n");
  if (!args.layers_csv.empty()) quant::write_file_atomic(args.layers_csv, layers_csv(report));
  if (!args.trace.empty()) quant::write_file_atomic(args.trace, perfetto_trace(outcome));
  if (!args.vcd.empty()) quant::write_file_atomic(args.vcd, vcd_trace(outcome));
  if (!args.memory_plan.empty())
    quant::write_file_atomic(args.memory_plan, memory_plan_json(outcome, config).dump(1) + "\n");
  print_summary(report, out, args.top_layers);
  if (args.energy_sensitivity) print_energy_sensitivity(report, energy, config, out);
  if (!args.report.empty()) out << "report: " << args.report << '\n';
  if (!args.layers_csv.empty()) out << "layers: " << args.layers_csv << '\n';
  if (!args.trace.empty()) out << "trace: " << args.trace << " (ui.perfetto.dev)\n";
  if (!args.vcd.empty()) out << "vcd: " << args.vcd << " (GTKWave)\n";
  if (!args.memory_plan.empty()) out << "memory plan: " << args.memory_plan << '\n';
  // A functional mismatch means the accelerator model is wrong: fail loudly, with the report written.
  return report.functional && report.mismatches != 0 ? 1 : 0;
}

}  // namespace

std::string default_accel(const quant::Graph& graph) {
  return is_standard_vit(graph) ? "vit-gemm" : "trio-vit";
}

int run_simulate(const std::string& qgraph_path, const SimulateArgs& args, std::ostream& out,
                 std::ostream& err) {
  RunProgress progress(err, is_terminal(err));
  const arch::EnergyModel energy = arch::find_energy_model(args.energy, config_dir());
  const SimOptions options = options_from(args, progress, energy);
  std::optional<arch::AccelConfig> named;  // a named config is checked before the graph is read
  if (!args.accel.empty()) named = find_accel(args.accel);
  if (named) check_functional(*named, args.functional);
  // A timing-only simulation reads no weight bytes (docs/qgraph-format.md).
  const quant::QGraph qgraph = quant::load_qgraph(
      qgraph_path, args.functional ? quant::QGraphUse::Compute : quant::QGraphUse::Structure);
  const arch::AccelConfig config = named ? *named : find_accel(default_accel(qgraph.graph));
  return report_and_summarize(simulate_detailed(qgraph, config, options), config, args, energy, out);
}

int run_pipeline(const QuantizeArgs& q, const SimulateArgs& args, std::ostream& out, std::ostream& err) {
  using clock = std::chrono::steady_clock;
  RunProgress progress(err, is_terminal(err));
  const arch::EnergyModel energy = arch::find_energy_model(args.energy, config_dir());
  const SimOptions options = options_from(args, progress, energy);
  const std::string recipe_dir = config_dir() + "/quant";
  // Named ones are checked before any work; the defaults depend on the graph.
  std::optional<arch::AccelConfig> named_config;
  if (!args.accel.empty()) named_config = find_accel(args.accel);
  if (named_config) check_functional(*named_config, args.functional);
  std::optional<quant::Recipe> named_recipe;
  if (!q.recipe.empty()) named_recipe = quant::find_recipe(q.recipe, recipe_dir);

  const auto t0 = clock::now();
  if (q.onnx.empty())
    err << "[1/3] " << q.model << " @" << q.resolution << ": building the graph, synthetic weights (seed "
        << q.seed << ")\n";
  else
    err << "[1/3] importing " << q.onnx << '\n';
  const quant::Graph graph = model_graph(q);
  const arch::AccelConfig config = named_config ? *named_config : find_accel(default_accel(graph));
  const quant::Recipe recipe =
      named_recipe ? *named_recipe : quant::find_recipe(default_recipe(graph), recipe_dir);
  err << "[2/3] quantizing with " << recipe.name << " on " << q.calib_count << " " << q.calib
      << " calibration images\n";
  const quant::ImageSet calib =
      load_images(q.calib, "train", q.calib_count, graph.nodes.at(0).out_shape, q.seed + 1);
  quant::MixedPrecisionReport mixed;
  const quant::QGraph qgraph = quant::quantize_graph(graph, recipe, calib.images, progress_line(err), &mixed);
  if (!q.out.empty()) quant::save_qgraph(qgraph, q.out);
  const double quantize_s = std::chrono::duration<double>(clock::now() - t0).count();
  err << "[3/3] simulating on " << config.name << " (" << args.timing << " timing"
      << (args.functional ? ", functional" : "") << ")\n";
  const SimOutcome outcome = simulate_detailed(qgraph, config, options);
  out << "model and PTQ: " << std::fixed << std::setprecision(1) << quantize_s << " s"
      << (q.out.empty() ? "" : " (quantized graph: " + q.out + ")") << '\n';
  print_mixed_precision(mixed, out);
  return report_and_summarize(outcome, config, args, energy, out);
}

}  // namespace vitsim::sim

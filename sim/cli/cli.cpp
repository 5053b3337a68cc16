#include "sim/cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <new>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <systemc>

#include "arch/accelerator.hpp"
#include "quant/atomic_file.hpp"
#include "quant/fp32_executor.hpp"
#include "quant/int_executor.hpp"
#include "quant/json_reader.hpp"
#include "quant/onnx_import.hpp"
#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/cli/cmd_accel.hpp"
#include "sim/cli/cmd_autotune.hpp"
#include "sim/cli/cmd_dram.hpp"
#include "sim/cli/cmd_quantize.hpp"
#include "sim/cli/cmd_regress.hpp"
#include "sim/cli/cmd_scalesim.hpp"
#include "sim/cli/cmd_simulate.hpp"
#include "sim/cli/cmd_sweep.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/validate/scalesim_export.hpp"
#include "sim/validate/validation.hpp"

namespace vitsim::sim {
namespace {

constexpr int kExitBadInput = 2;
constexpr int kExitSimulationStalled = 3;
constexpr int kExitInternalError = 4;

// CLI11 alone reads "-1" into an unsigned as 2^64-1, saturates values beyond the type, and reads "nan":
// every numeric option first passes this check of its text (its type's range is then CLI11's check).
std::string strict_number_error(const std::string& text, const std::string& type) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (text.empty()) return "expected a number, got an empty value";
  if (type.rfind("UINT", 0) == 0 || type.rfind("INT", 0) == 0) {
    const bool is_unsigned = type[0] == 'U';
    const bool digits = std::all_of(begin + (!is_unsigned && text[0] == '-'), end,
                                    [](char c) { return c >= '0' && c <= '9'; });
    uint64_t u = 0;
    int64_t i = 0;
    const std::from_chars_result r =
        is_unsigned ? std::from_chars(begin, end, u) : std::from_chars(begin, end, i);
    if (!digits || r.ptr != end || r.ec != std::errc())
      return "expected " + std::string(is_unsigned ? "a non-negative" : "an") +
             " integer in the 64-bit range, got '" + text + "'";
  } else if (type.rfind("FLOAT", 0) == 0) {
    char* stop = nullptr;
    const double v = std::strtod(begin, &stop);
    if (stop != end || !std::isfinite(v)) return "expected a finite number, got '" + text + "'";
  }
  return "";
}

// Every file an option names is an input of this run, except the outputs': no output may replace one
// (`simulate --qgraph g.vqg --report g.vqg` would destroy the graph).
void note_input_files(CLI::App& app) {
  static const std::set<std::string> outputs = {
      "--out", "--report",      "--layers-csv", "--trace",
      "--vcd", "--save-qgraph", "--csv",        "--scalesim-topology"};
  for (CLI::App* sub : app.get_subcommands()) note_input_files(*sub);
  for (const CLI::Option* opt : app.get_options()) {
    bool output = false;
    for (const std::string& name : opt->get_lnames()) output = output || outputs.count("--" + name);
    if (!output)
      for (const std::string& value : opt->results()) quant::note_input_file(value);
  }
}

void make_numbers_strict(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) make_numbers_strict(*sub);
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    if (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0 || type.rfind("FLOAT", 0) == 0)
      opt->check(CLI::Validator([type](std::string& text) { return strict_number_error(text, type); }, ""));
  }
}

struct ModelArgs {
  std::string model = "efficientvit-b1";
  int resolution = 224;

  void add_to(CLI::App& cmd) {
    cmd.add_option("-m,--model", model, "Zoo model (see `vitsim models`)")->capture_default_str();
    cmd.add_option("-r,--res", resolution, "Input resolution in pixels (square)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
  }
};

int cmd_models(bool json, std::ostream& out) {
  if (json)
    out << model_list_json().dump(2) << '\n';
  else
    print_model_list(out);
  return 0;
}

// The layer table of a zoo model or an ONNX file; with `topology`, its conv and GEMM layers are also written
// there as a SCALE-Sim topology (before anything is printed: a failed write prints nothing).
int cmd_graph(const ModelArgs& args, const std::string& onnx, const std::string& topology, bool json,
              std::ostream& out) {
  const quant::Graph g =
      onnx.empty() ? quant::build_model(args.model, args.resolution) : quant::import_onnx(onnx);
  g.macs(), g.param_count();  // a count beyond int64 is an error before any line is printed
  std::optional<ScaleSimTopology> scalesim;
  if (!topology.empty()) {
    scalesim = scalesim_topology(g);
    quant::write_file_atomic(topology, scalesim->csv());
  }
  if (json) {
    nlohmann::json j = graph_json(g);
    if (scalesim) j["scalesim_topology"] = scalesim_topology_json(*scalesim, g, topology);
    out << j.dump(2) << '\n';
  } else {
    print_graph_table(g, out);
    if (scalesim) print_scalesim_topology_summary(*scalesim, g, topology, out);
  }
  return 0;
}

// Best and mean wall time of `repeat` calls of `run`.
template <typename Fn>
std::pair<double, double> time_runs(int repeat, Fn&& run) {
  using clock = std::chrono::steady_clock;
  double best = 1e30, total = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto start = clock::now();
    run();
    const double s = std::chrono::duration<double>(clock::now() - start).count();
    best = std::min(best, s);
    total += s;
  }
  return {best, total / repeat};
}

void print_top5(const quant::Tensor& logits, std::ostream& out) {
  std::vector<int64_t> order(static_cast<size_t>(logits.size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  const size_t k = std::min<size_t>(5, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](int64_t a, int64_t b) { return logits.data[a] > logits.data[b]; });
  out << "  top-5 logits:" << std::setprecision(5);
  for (size_t i = 0; i < k; ++i) out << "  [" << order[i] << "] " << logits.data[order[i]];
  out << '\n';
}

// Times one forward pass on a synthetic image, so anyone can reproduce the executor benchmarks: the
// FP32 executor on a zoo model, or the integer executor on a quantized graph file.
int cmd_forward(const ModelArgs& args, const std::string& qgraph_path, int repeat, uint64_t seed,
                std::ostream& out) {
  quant::Tensor logits;
  std::pair<double, double> t;
  int64_t macs = 0;
  if (!qgraph_path.empty()) {
    const quant::QGraph q = quant::load_qgraph(qgraph_path);
    const quant::QTensor x = quant::quantize_input(q, quant::synthetic_input(q.graph, seed));
    quant::QTensor y;
    t = time_runs(repeat, [&] { y = quant::run_int(q, x); });
    logits = quant::dequantize(y, q.nodes.back().out);
    macs = q.graph.macs();
    out << q.graph.model << " integer forward (" << q.recipe_name << ", " << qgraph_path << ")";
  } else {
    quant::Graph g = quant::build_model(args.model, args.resolution);
    quant::materialize_synthetic_weights(g, seed);
    const quant::Tensor input = quant::synthetic_input(g, seed);
    t = time_runs(repeat, [&] { logits = quant::run_fp32(g, input); });
    macs = g.macs();
    out << g.model << " @" << g.resolution << " FP32 forward (synthetic weights and input, seed " << seed
        << ")";
  }
  out << ", " << with_commas(macs) << " MACs\n"
      << std::fixed << std::setprecision(4) << "  forward: best " << t.first << " s, mean " << t.second
      << " s over " << repeat << " run(s), one thread; " << std::setprecision(2)
      << static_cast<double>(macs) / t.first / 1e9 << " GMAC/s\n";
  print_top5(logits, out);
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"vitsim: cycle-accurate simulator of quantized Vision-Transformer accelerators"};
  app.set_version_flag("--version", std::string("vitsim ") + VITSIM_VERSION);
  app.require_subcommand(1);

  bool json = false;
  ModelArgs model_args;

  CLI::App* models = app.add_subcommand("models", "List the model zoo: resolutions, params, MACs");
  models->add_flag("--json", json, "Print JSON instead of a table");

  CLI::App* graph = app.add_subcommand("graph", "Print a model's per-layer table (shapes, params, MACs)");
  model_args.add_to(*graph);
  std::string graph_onnx, scalesim_topology_out;
  graph->add_option("--onnx", graph_onnx,
                    "Import this ONNX model instead of a zoo model (--model, --res unused)");
  graph->add_option("--scalesim-topology", scalesim_topology_out,
                    "Also write the conv and GEMM layers to this file as a SCALE-Sim v2 conv topology "
                    "(docs/scalesim.md)");
  graph->add_flag("--json", json, "Print JSON instead of a table");

  int repeat = 3;
  uint64_t seed = 0;
  CLI::App* forward = app.add_subcommand(
      "forward",
      "Time a forward pass on a synthetic image (FP32 zoo model, or a .vqg on the integer executor)");
  model_args.add_to(*forward);
  forward->add_option("--repeat", repeat, "Timed runs (the best is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  forward->add_option("--seed", seed, "Seed of the synthetic weights and input")->capture_default_str();
  std::string qgraph_path;
  forward->add_option("--qgraph", qgraph_path,
                      "Time the integer executor on this quantized graph (.vqg) instead");

  QuantizeArgs q;
  CLI::App* quantize = app.add_subcommand(
      "quantize",
      "Post-training quantization: model + recipe + calibration data -> quantized graph file (.vqg)");
  quantize->add_option("-m,--model", q.model, "Zoo model with synthetic weights (see `vitsim models`)")
      ->capture_default_str();
  quantize->add_option("-r,--res", q.resolution, "Input resolution of a zoo model")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  quantize->add_option("--onnx", q.onnx, "Import this ONNX model instead of a zoo model");
  quantize->add_option("--recipe", q.recipe,
                       "Recipe name in configs/quant/ or a recipe file (default: vit-w8a8 for a DeiT / ViT "
                       "graph, zoo or ONNX with Softmax attention or token ops; else trio-w8a8)");
  quantize->add_option("--calib", q.calib, "Calibration images: synthetic | fashion-mnist (train split)")
      ->capture_default_str();
  quantize->add_option("--calib-count", q.calib_count, "Number of calibration images")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  quantize->add_option("--eval", q.eval, "Evaluation images: none | synthetic | fashion-mnist (test split)")
      ->capture_default_str();
  quantize->add_option("--eval-count", q.eval_count, "Number of evaluation images")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  quantize->add_option("-o,--out", q.out, "Quantized graph file to write")->required();
  quantize->add_option("--report", q.report, "Quality report JSON (default: OUT.quality.json)");
  quantize->add_option("--seed", q.seed, "Seed of synthetic weights and images")->capture_default_str();

  std::string accel_config, accel_device = "zcu102";
  CLI::App* accel = app.add_subcommand(
      "accel",
      "Validate an accelerator config and print its summary (multipliers, DSPs, peak GOPS, memory) and its "
      "FPGA resource estimate on a device");
  accel->add_option("-c,--config", accel_config, "Accelerator config name in configs/accel/ or a config file")
      ->required();
  accel->add_flag("--json", json, "Print the validated config with totals and resources as JSON");
  accel->add_option("--device", accel_device, "FPGA device name in configs/devices/ or a device file")
      ->capture_default_str();

  SimulateArgs sim_args;
  const auto add_sim_options = [&sim_args](CLI::App& cmd) {
    cmd.add_option("-a,--accel", sim_args.accel,
                   "Accelerator config name in configs/accel/ or a config file (default: vit-gemm for DeiT / "
                   "ViT, else trio-vit)");
    cmd.add_option("--timing", sim_args.timing,
                   "fast: closed-form tiles, event to event (an approximation) | cycle: the reference, every "
                   "unit stepped each cycle with shared ports and aux units arbitrated")
        ->capture_default_str();
    cmd.add_flag("--functional", sim_args.functional,
                 "Compute real integer outputs on the engines and compare every layer with the integer "
                 "reference executor (exit 1 on any mismatch)");
    cmd.add_flag("--ideal-memory", sim_args.ideal_memory,
                 "No DMA and no buffer limits (operands always on chip): compute-only cycles");
    cmd.add_option("--report", sim_args.report,
                   "Write the full report (JSON, docs/report.schema.json) to this file");
    cmd.add_option("--layers-csv", sim_args.layers_csv, "Write the per-layer table (CSV) to this file");
    cmd.add_option("--trace", sim_args.trace,
                   "Write a Perfetto / Chrome trace-event JSON (open in ui.perfetto.dev) to this file");
    cmd.add_option("--vcd", sim_args.vcd,
                   "Write a VCD of the units' busy/state signals (GTKWave) to this file");
    cmd.add_option("--memory-plan", sim_args.memory_plan,
                   "Write the memory plan (JSON, docs/metrics.md): every tensor's space, address range and "
                   "lifetime");
    cmd.add_option("--top", sim_args.top_layers, "Layers listed in the summary")
        ->capture_default_str()
        ->check(CLI::Range(0, 100000));
    cmd.add_option(
           "--watchdog-cycles", sim_args.watchdog_cycles,
           "Stop with an error when no tile or transfer completes for this many cycles (0: automatic)")
        ->capture_default_str();
    cmd.add_option("--max-cycles", sim_args.max_cycles,
                   "Stop with exit code 2, writing nothing, when the run needs more than this many cycles "
                   "(0: no limit)")
        ->capture_default_str();
    cmd.add_option("--image-seed", sim_args.seed, "Seed of the synthetic input image (functional simulation)")
        ->capture_default_str();
    cmd.add_option("--energy", sim_args.energy,
                   "Energy model name in configs/energy/ or a model file (docs/energy.md)")
        ->capture_default_str();
    cmd.add_flag("--energy-sensitivity", sim_args.energy_sensitivity,
                 "Also print how far GOPS/W moves with each energy coefficient at -50% and +50%");
  };
  CLI::App* simulate = app.add_subcommand(
      "simulate", "Simulate a quantized graph (.vqg) on an accelerator config and print the summary");
  simulate->add_option("--qgraph", qgraph_path, "Quantized graph file (from `vitsim quantize`)")->required();
  add_sim_options(*simulate);

  QuantizeArgs run_q;
  run_q.calib_count = 8;
  CLI::App* run = app.add_subcommand(
      "run",
      "Model -> PTQ -> simulation -> summary (defaults: efficientvit-b1 @224, trio-w8a8, trio-vit; a DeiT / "
      "ViT model: vit-w8a8, vit-gemm)");
  run->add_option("-m,--model", run_q.model, "Zoo model with synthetic weights (see `vitsim models`)")
      ->capture_default_str();
  run->add_option("-r,--res", run_q.resolution, "Input resolution")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  run->add_option("--recipe", run_q.recipe,
                  "Recipe name in configs/quant/ or a recipe file (default: vit-w8a8 for DeiT / ViT, else "
                  "trio-w8a8)");
  run->add_option("--calib", run_q.calib, "Calibration images: synthetic | fashion-mnist")
      ->capture_default_str();
  run->add_option("--calib-count", run_q.calib_count, "Number of calibration images")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  run->add_option("--seed", run_q.seed, "Seed of the synthetic weights and calibration images")
      ->capture_default_str();
  run->add_option("--onnx", run_q.onnx,
                  "Import this ONNX model instead of a zoo model (--model, --res unused)");
  run->add_option("--save-qgraph", run_q.out, "Also write the quantized graph (.vqg) here");
  add_sim_options(*run);

  ScaleSimArgs scalesim_args;
  CLI::App* scalesim = add_scalesim_command(app, scalesim_args);

  RegressArgs regress_args;
  CLI::App* regress = app.add_subcommand(
      "regress",
      "Compare the golden per-layer cycle tables (traces/) with the simulator now; exit 1 on drift");
  regress->add_flag("--update", regress_args.update, "Rewrite the tables instead (after an intended change)");
  regress->add_option("--traces", regress_args.traces, "Folder of matrix.json and the tables")
      ->default_str(default_traces_dir());
  regress->add_option("--only", regress_args.only,
                      "Only the tables whose <accel>/<model>@<res> contains this");
  regress->add_option("--max-changes", regress_args.max_changes, "Changed values listed per table (0: all)")
      ->capture_default_str();

  SweepArgs sweep_args;
  CLI::App* sweep = add_sweep_command(app, sweep_args);

  AutotuneArgs autotune_args;
  CLI::App* autotune = add_autotune_command(app, autotune_args);

  DramArgs dram_args;
  CLI::App* dram = add_dram_command(app, dram_args);

  ValidateArgs validate_args;
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Measure vitsim against its anchors (SCALE-Sim, hand closed forms, modes, bit-exactness, the "
      "published throughput); exit 1 if an exact anchor is missed");
  validate->add_option("-o,--out", validate_args.out, "Write the report (docs/validation.md) to this file");
  validate->add_flag("--quick", validate_args.quick, "A subset (seconds): what the test suite runs");
  validate->add_flag("--verbose", validate_args.verbose,
                     "Also print each random accelerator's fast and cycle cycles and stall gaps");
  validate
      ->add_option("--only", validate_args.only,
                   "random: only fast vs cycle mode on the random accelerators (their error distribution)")
      ->check(CLI::IsMember({"random"}))
      ->excludes(validate->get_option("--out"));
  validate
      ->add_option("--count", validate_args.count,
                   "With --only random: the first N random accelerators (the same draws; default 200)")
      ->check(CLI::PositiveNumber)
      ->needs(validate->get_option("--only"));

  make_numbers_strict(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e, out, err);
    err << "vitsim: error: " << e.what() << " (run `vitsim --help` or `vitsim COMMAND --help`)\n";
    return kExitBadInput;
  }

  note_input_files(app);
  return run_guarded(
      [&] {
        if (*models) return cmd_models(json, out);
        if (*graph) return cmd_graph(model_args, graph_onnx, scalesim_topology_out, json, out);
        if (*forward) return cmd_forward(model_args, qgraph_path, repeat, seed, out);
        if (*quantize) return run_quantize(q, out, err);
        if (*accel) return run_accel(accel_config, json, out, accel_device);
        if (*simulate) return run_simulate(qgraph_path, sim_args, out, err);
        if (*run) return run_pipeline(run_q, sim_args, out, err);
        if (*validate) return run_validate(validate_args, out, err);
        if (*scalesim) return run_scalesim_command(scalesim_args, out);
        if (*regress) return run_regress(regress_args, out, err);
        if (*sweep) return run_sweep_command(sweep_args, out, err);
        if (*autotune) return run_autotune(autotune_args, out, err);
        if (*dram) return run_dram_command(dram_args, out);
        return kExitBadInput;  // unreachable: require_subcommand(1)
      },
      err);
}

int run_guarded(const std::function<int()>& command, std::ostream& err) {
  try {
    return command();
  } catch (const arch::SimulationStalled& e) {  // a bug in a timing rule or the compiler, not bad input
    err << "vitsim: error: " << e.what() << '\n';
    return kExitSimulationStalled;
  } catch (const std::invalid_argument& e) {
    err << "vitsim: error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const std::runtime_error& e) {  // unwritable output and other I/O failures
    err << "vitsim: error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const std::bad_alloc&) {  // the input checks estimate memory before large allocations
    err << "vitsim: internal error: out of memory despite the memory estimate; this is a bug\n";
    return kExitInternalError;
  } catch (const sc_core::sc_report& e) {  // an exception inside a SystemC process, wrapped by the kernel
    err << "vitsim: internal error in the simulation: " << quant::excerpt(e.what(), 400)
        << "; this is a bug\n";
    return kExitInternalError;
  } catch (const std::exception& e) {  // std::logic_error and the like: input checks missed something
    err << "vitsim: internal error: " << quant::excerpt(e.what(), 400) << "; this is a bug\n";
    return kExitInternalError;
  }
}

}  // namespace vitsim::sim

#include "sim/cli/cmd_scalesim.hpp"

#include <CLI/CLI.hpp>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

#include "quant/atomic_file.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/validate/scalesim_import.hpp"

namespace vitsim::sim {

CLI::App* add_scalesim_command(CLI::App& app, ScaleSimArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "scalesim",
      "Run a SCALE-Sim topology CSV on a systolic engine (stall-free; --compat: SCALE-Sim's cycle count)");
  cmd->add_option("-t,--topology", args.topology, "Topology CSV, or a name in configs/workloads/")
      ->required();
  cmd->add_option("--format", args.format, "Topology format: conv | gemm (SCALE-Sim's M, N, K rows)")
      ->capture_default_str();
  cmd->add_option("-a,--accel", args.accel,
                  "Accelerator config (must have one systolic engine): name or file")
      ->capture_default_str();
  cmd->add_option("--rows", args.rows, "Override the systolic array's rows")->check(CLI::Range(1, 4096));
  cmd->add_option("--cols", args.cols, "Override the systolic array's columns")->check(CLI::Range(1, 4096));
  cmd->add_option("--dataflow", args.dataflow, "Override the dataflow: os | ws | is");
  cmd->add_flag("--compat", args.compat,
                "Report SCALE-Sim's convention: per layer folds x cycles_per_fold - 1, total = their sum");
  cmd->add_option("--timing", args.timing, "fast | cycle (one engine, ideal memory: identical cycles)")
      ->capture_default_str();
  cmd->add_option("--csv", args.csv, "Write a COMPUTE_REPORT.csv-style per-layer file");
  return cmd;
}

int run_scalesim_command(const ScaleSimArgs& args, std::ostream& out) {
  const arch::TimingMode mode = arch::parse_timing_mode(args.timing);
  const ScaleSimFormat format = parse_scalesim_format(args.format);
  const arch::AccelConfig base = find_accel(args.accel);
  arch::SystolicArray array = systolic_array_of(base);
  if (args.rows > 0) array.rows = args.rows;
  if (args.cols > 0) array.cols = args.cols;
  if (!args.dataflow.empty()) array.dataflow = arch::parse_dataflow(args.dataflow);
  const arch::AccelConfig config = with_systolic_array(base, array);
  const ScaleSimWorkload workload = load_scalesim_topology(find_scalesim_topology(args.topology), format);

  const std::vector<ScaleSimLayerResult> layers = run_scalesim(workload, config, mode, args.compat);
  if (!args.csv.empty()) quant::write_file_atomic(args.csv, scalesim_compute_report_csv(layers));

  out << workload.origin << " (" << scalesim_format_name(format) << " format, " << layers.size()
      << " layers) on " << config.name << ": " << array.rows << " x " << array.cols << " "
      << arch::dataflow_name(array.dataflow) << " systolic array, stall-free, "
      << arch::timing_mode_name(mode) << " timing\n"
      << "cycles: "
      << (args.compat ? "SCALE-Sim's convention (per layer folds x cycles/fold - 1)"
                      : "vitsim's convention (per layer folds x cycles/fold)")
      << "\n\n";
  size_t name_width = 5;
  for (const auto& l : layers) name_width = std::max(name_width, l.name.size());
  // Right-aligned columns after the left-aligned layer name.
  const auto print_row = [&](const std::string& index, const std::string& name,
                             const std::vector<std::string>& cells) {
    static const int widths[] = {10, 8, 7, 8, 10, 14, 8, 8};
    out << std::setw(4) << index << "  " << std::left << std::setw(static_cast<int>(name_width)) << name
        << std::right;
    for (size_t c = 0; c < cells.size(); ++c) out << std::setw(widths[c]) << cells[c];
    out << '\n';
  };
  const auto percent = [](double x) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << 100.0 * x;
    return s.str();
  };
  print_row("#", "layer", {"M", "K", "N", "folds", "cyc/fold", "cycles", "util %", "map %"});
  int64_t macs = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    macs += l.macs;
    print_row(std::to_string(i), l.name,
              {std::to_string(l.m), std::to_string(l.k), std::to_string(l.n), std::to_string(l.folds),
               std::to_string(l.cycles_per_fold), with_commas(l.cycles), percent(l.compute_utilization),
               percent(l.mapping_efficiency)});
  }
  const int64_t total = total_cycles(layers);
  const double pe_cycles = static_cast<double>(total) * static_cast<double>(array.rows * array.cols);
  out << "\ntotal cycles: " << with_commas(total) << " (sum over " << layers.size() << " layers)\n"
      << "MACs: " << with_commas(macs) << ", overall utilization " << std::fixed << std::setprecision(2)
      << (total > 0 ? 100.0 * static_cast<double>(macs) / pe_cycles : 0.0) << " %\n";
  if (!args.csv.empty()) out << "csv: " << args.csv << '\n';
  return 0;
}

}  // namespace vitsim::sim

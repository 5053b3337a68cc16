// `vitsim scalesim --topology FILE.csv`: a SCALE-Sim topology (conv or GEMM format) on the systolic engine
// of an accelerator config, with SCALE-Sim's reporting convention under --compat
// (sim/validate/scalesim_import.hpp).
#pragma once

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace vitsim::sim {

struct ScaleSimArgs {
  std::string topology;                     // file, or a name in configs/workloads/
  std::string format = "conv";              // conv | gemm
  std::string accel = "systolic-32x32-os";  // config name in configs/accel/ or a file
  int rows = 0, cols = 0;                   // 0: the config's
  std::string dataflow;                     // empty: the config's
  bool compat = false;
  std::string timing = "fast";  // fast | cycle
  std::string csv;              // COMPUTE_REPORT-style CSV to write (atomically); none when empty
};

/// Adds the subcommand and its options (bound to `args`) to `app`.
CLI::App* add_scalesim_command(CLI::App& app, ScaleSimArgs& args);

/// Runs the command; returns the exit code (std::invalid_argument propagates to the CLI, which exits 2).
int run_scalesim_command(const ScaleSimArgs& args, std::ostream& out);

}  // namespace vitsim::sim

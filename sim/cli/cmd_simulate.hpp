// `vitsim simulate` (quantized graph + accelerator config -> report) and `vitsim run` (model -> PTQ ->
// simulate -> summary, with the defaults of the README: EfficientViT-B1 @224, trio-vit, trio-w8a8; a
// standard ViT gets vit-gemm and vit-w8a8).
#pragma once

#include <iosfwd>
#include <string>

#include "sim/cli/cmd_quantize.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

struct SimulateArgs {
  std::string accel;            // config name in configs/accel/ or a file; empty: default_accel(graph)
  std::string timing = "fast";  // fast | cycle
  bool functional = false;
  bool ideal_memory = false;
  uint64_t seed = 0;            // functional simulation's synthetic input image
  int64_t watchdog_cycles = 0;  // 0: automatic (arch::RunOptions)
  int64_t max_cycles = 0;       // stop (exit 2, nothing written) beyond this many cycles; 0: no limit
  std::string report;           // report.json to write (atomically); none when empty
  std::string layers_csv;       // layers.csv to write (atomically); none when empty
  std::string trace;            // Perfetto / Chrome trace-event JSON to write (atomically); none when empty
  std::string vcd;              // VCD of the units' signals to write (atomically); none when empty
  std::string memory_plan;      // the memory plan (JSON) to write (atomically); none when empty
  int top_layers = 8;
  std::string energy = arch::kDefaultEnergyModel;  // energy model name in configs/energy/ or a file
  bool energy_sensitivity = false;                 // print the coefficients' +-50% table
};

/// The accelerator a graph runs on when no --accel is given: vit-gemm for a standard ViT
/// (is_standard_vit), trio-vit for everything else (EfficientViT).
std::string default_accel(const quant::Graph& graph);

/// `vitsim simulate --qgraph FILE`; a long cycle-mode run's estimate and progress go to `err`.
int run_simulate(const std::string& qgraph_path, const SimulateArgs& args, std::ostream& out,
                 std::ostream& err);

/// `vitsim run`: quantizes `q` (its `out` may be empty: the quantized graph then stays in memory) and
/// simulates it.
int run_pipeline(const QuantizeArgs& q, const SimulateArgs& args, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

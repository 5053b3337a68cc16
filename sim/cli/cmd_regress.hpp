// `vitsim regress`: golden per-layer cycle tables. traces/matrix.json names accelerator presets, models
// and resolutions, and how to quantize them; traces/<accel>/<model>@<res>.csv pins every layer's cycles,
// stalls, MACs and DRAM traffic as integers. Compare mode diffs them exactly and names what moved;
// --update rewrites them (docs/simulation.md, "Golden regression").
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "sim/run/simulator.hpp"

namespace vitsim::sim {

struct RegressArgs {
  bool update = false;   // rewrite the tables instead of comparing
  std::string traces;    // folder of matrix.json and the tables; empty: default_traces_dir()
  std::string only;      // compare/update only the tables whose id "<accel>/<model>@<res>" contains this
  int max_changes = 40;  // changed values listed per table (0: all)
};

/// The source tree's traces/ folder.
std::string default_traces_dir();

/// One golden table: a comment header with the totals, then layers.csv (sim/run/report_files.hpp: one row per
/// graph node) and a totals row; no floats, so comparisons are exact and the bytes are stable.
std::string layer_cycle_table(const SimReport& report);

/// Runs the command: 0 when every table matches (or was updated), 1 on drift or a missing table, and
/// std::invalid_argument (exit 2) for a bad matrix or flag.
int run_regress(const RegressArgs& args, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

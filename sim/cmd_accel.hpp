// `vitsim accel --config NAME|FILE [--json]`: validates an accelerator config and prints its summary
// (engines and multipliers, DSPs, peak GOPS, on-chip memory, DRAM bandwidth).
#pragma once

#include <iosfwd>
#include <string>

#include "arch/accel_config.hpp"

namespace vitsim::sim {

/// Loads `name_or_path` (a file, else configs/accel/<name>.json); throws quant::ConfigError.
arch::AccelConfig find_accel(const std::string& name_or_path);

/// Human-readable summary of a validated config.
void print_accel_summary(const arch::AccelConfig& c, std::ostream& out);

/// Runs the command; returns the exit code (a ConfigError propagates to the CLI, which exits 2).
int run_accel(const std::string& config, bool json, std::ostream& out);

}  // namespace vitsim::sim

// `vitsim accel --config NAME|FILE [--device NAME|FILE] [--json]`: validates an accelerator config and prints
// its summary (engines and multipliers, DSPs, peak GOPS, on-chip memory, DRAM bandwidth) and its FPGA
// resource estimate against a device (docs/resource-model.md).
#pragma once

#include <iosfwd>
#include <string>

#include "arch/accel_config.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::sim {

/// Human-readable summary of a validated config.
void print_accel_summary(const arch::AccelConfig& c, std::ostream& out);

/// The resource estimate with its breakdown, and the fit and utilization on `device`.
void print_resources(const arch::ResourceEstimate& r, const arch::Device& device, std::ostream& out);

/// Runs the command; returns the exit code (a ConfigError propagates to the CLI, which exits 2).
int run_accel(const std::string& config, bool json, std::ostream& out, const std::string& device = "zcu102");

}  // namespace vitsim::sim

// The sensitivity of the energy estimate (docs/energy.md, docs/validation.md): every coefficient of the
// energy model moved by -50% and +50% in turn, the image's counts repriced (report_energy), and how far
// GOPS/W moves.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "arch/energy.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

struct CoefficientSensitivity {
  std::string coefficient;                         // its JSON path in the model ("fpga/static_w")
  double gops_per_w_low = 0, gops_per_w_high = 0;  // with the coefficient at 0.5x and 1.5x
};

/// One row per coefficient, largest swing first (ties in the model's order). `report` must have been
/// simulated with an energy model (report.energy).
std::vector<CoefficientSensitivity> energy_sensitivity(const SimReport& report,
                                                       const arch::EnergyModel& model,
                                                       const arch::AccelConfig& config);

/// The rows as a Markdown table, with the baseline GOPS/W.
void print_energy_sensitivity(const SimReport& report, const arch::EnergyModel& model,
                              const arch::AccelConfig& config, std::ostream& out);

}  // namespace vitsim::sim

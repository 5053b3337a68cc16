#include "sim/run/energy_sensitivity.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace vitsim::sim {

namespace {
// GOPS/W of the report's workload at energy `joules` per image: GOPS x latency / energy.
double gops_per_w_at(const SimReport& report, double joules) {
  return ratio(report.gops() * report.latency_ms() / 1e3, joules);
}
double swing(const CoefficientSensitivity& s, double base) {
  return std::max(std::abs(s.gops_per_w_low - base), std::abs(s.gops_per_w_high - base));
}
}  // namespace

std::vector<CoefficientSensitivity> energy_sensitivity(const SimReport& report,
                                                       const arch::EnergyModel& model,
                                                       const arch::AccelConfig& config) {
  arch::EnergyModel moved = model;
  std::vector<CoefficientSensitivity> rows;
  for (const arch::NamedCoefficient& entry : moved.coefficients()) {
    arch::Coefficient& c = *entry.coefficient;
    const double value = c.value;
    CoefficientSensitivity row{entry.path(), 0, 0};
    c.value = 0.5 * value;
    row.gops_per_w_low = gops_per_w_at(report, report_energy(report, moved, config).total());
    c.value = 1.5 * value;
    row.gops_per_w_high = gops_per_w_at(report, report_energy(report, moved, config).total());
    c.value = value;
    rows.push_back(row);
  }
  const double base = report.gops_per_w();
  std::stable_sort(rows.begin(), rows.end(),
                   [base](const auto& a, const auto& b) { return swing(a, base) > swing(b, base); });
  return rows;
}

void print_energy_sensitivity(const SimReport& report, const arch::EnergyModel& model,
                              const arch::AccelConfig& config, std::ostream& out) {
  const double base = report.gops_per_w();
  const auto cell = [base](double v) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << v << " (" << std::showpos << 100 * ratio(v - base, base)
      << "%)";
    return o.str();
  };
  out << "energy sensitivity (" << model.name << "): GOPS/W " << std::fixed << std::setprecision(1) << base
      << " with every coefficient as given\n";
  out << "| coefficient | GOPS/W at -50% | GOPS/W at +50% |\n|---|---|---|\n";
  for (const CoefficientSensitivity& s : energy_sensitivity(report, model, config))
    out << "| " << s.coefficient << " | " << cell(s.gops_per_w_low) << " | " << cell(s.gops_per_w_high)
        << " |\n";
}

}  // namespace vitsim::sim

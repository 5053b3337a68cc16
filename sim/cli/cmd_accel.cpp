#include "sim/cli/cmd_accel.hpp"

#include <algorithm>
#include <iomanip>
#include <optional>
#include <ostream>

#include "sim/compile/inputs.hpp"
#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

void print_accel_summary(const arch::AccelConfig& c, std::ostream& out) {
  out << c.name << " (" << c.file << ")\n";
  if (!c.description.empty()) out << "  " << c.description << '\n';
  out << std::fixed << std::setprecision(1) << "  clock " << c.clock_mhz << " MHz, " << c.dsp_packing
      << " multiplies per DSP\n  engines:\n";
  size_t width = 0;
  for (const auto& e : c.engines) width = std::max(width, e.name.size() + e.type.size() + 3);
  for (const auto& e : c.engines)
    out << "    " << std::left << std::setw(static_cast<int>(width)) << (e.name + " (" + e.type + ")")
        << std::right << std::setw(8) << with_commas(e.params->multipliers()) << " multipliers  "
        << e.params->summary() << '\n';
  const int64_t fp32_dsps = c.fp32_dsps();
  out << "  total multipliers: " << with_commas(c.multipliers()) << '\n'
      << "  DSPs: " << with_commas(c.dsps()) << " = " << with_commas(c.dsp_multipliers()) << " / "
      << c.dsp_packing << (fp32_dsps > 0 ? " + " + with_commas(fp32_dsps) + " FP32" : "") << " + "
      << with_commas(c.aux_dsps()) << " auxiliary\n"
      << "  peak: " << c.peak_gops() << " GOPS (2 x multipliers x f_clk)\n"
      << "  on-chip buffers: " << with_commas(c.onchip_bytes()) << " bytes (";
  for (size_t i = 0; i < c.buffers.size(); ++i) {
    const auto& b = c.buffers[i];
    out << (i ? ", " : "") << arch::buffer_key(b.kind) << ' ' << with_commas(b.capacity_bytes) << " in "
        << b.banks << " banks";
    if (b.resident_bytes > 0) out << " (" << with_commas(b.resident_bytes) << " resident)";
  }
  out << ")\n" << std::setprecision(2) << "  DRAM: ";
  if (c.dram.ddr4)
    out << "DDR4 " << c.dram.ddr4->name << " (" << c.dram.ddr4->policy.mapping.text() << ", "
        << arch::ddr4::page_policy_name(c.dram.ddr4->policy.page_policy) << " page), peak ";
  out << c.dram.bandwidth_gbps << " GB/s (" << c.dram_bytes_per_cycle() << " bytes/cycle)";
  if (!c.dram.ddr4) out << ", latency " << c.dram.latency_ns << " ns";
  out << ", bursts of " << c.dram.burst_bytes << " bytes" << (c.dram.ddr4 ? "" : " (ideal bus)") << "\n";
}

// Engines that the estimate prices by formula but whose replica ladder was synthesized: what the RTL
// extrapolates to, for comparison (docs/resource-model.md).
void print_extrapolations(const arch::AccelConfig& c, const arch::ResourceEstimate& r, std::ostream& out) {
  for (const arch::EngineConfig& e : c.engines) {
    const arch::RtlInstance rtl = arch::engine_rtl(c, e);
    if (rtl.top.empty() || arch::synthesized_unit(rtl.top, rtl.parameters)) continue;
    const std::optional<arch::ExtrapolatedUnit> x = arch::replica_extrapolation(rtl.top, rtl.parameters);
    if (!x) continue;
    const int64_t formula = r.engine_luts(e.name);
    out << "  " << e.name << ": its RTL, synthesized at " << x->from_a << " and " << x->from_b
        << " replicas, extrapolates to " << with_commas(x->unit.luts) << " LUTs at " << x->replicas
        << " (the formulas above: " << with_commas(formula) << ", which the estimate keeps)\n";
  }
}

void print_resources(const arch::ResourceEstimate& r, const arch::Device& device, std::ostream& out) {
  size_t width = 0;
  for (const auto& item : r.items) width = std::max(width, item.component.size());
  const auto row = [&](const std::string& what, int64_t dsps, int64_t luts, int64_t bram36) {
    out << "    " << std::left << std::setw(static_cast<int>(width)) << what << std::right << std::setw(8)
        << with_commas(dsps) << std::setw(10) << with_commas(luts) << std::setw(8) << with_commas(bram36)
        << '\n';
  };
  out << "  resources (estimate, docs/resource-model.md):\n"
      << "    " << std::left << std::setw(static_cast<int>(width)) << "component" << std::right
      << std::setw(8) << "DSPs" << std::setw(10) << "LUTs" << std::setw(8) << "BRAM36" << '\n';
  for (const auto& item : r.items) row(item.component, item.dsps, item.luts, item.bram36);
  row("total", r.dsps, r.luts, r.bram36);
  row(device.name + " capacity", device.dsps, device.luts, device.bram36);
  std::string why;
  const bool ok = arch::fits(r, device, &why);
  out << std::fixed << std::setprecision(1) << "  utilization on " << device.name << ": DSPs "
      << arch::utilization_percent(r.dsps, device.dsps) << "%, LUTs "
      << arch::utilization_percent(r.luts, device.luts) << "%, BRAM36 "
      << arch::utilization_percent(r.bram36, device.bram36)
      << "%: " << (ok ? "fits" : "does NOT fit (" + why + ")") << '\n';
}

int run_accel(const std::string& config, bool json, std::ostream& out, const std::string& device) {
  const arch::AccelConfig c = find_accel(config);
  const arch::Device d = find_device(device);
  const arch::ResourceEstimate r = arch::estimate_resources(c);
  if (json) {
    nlohmann::json j = c.to_json();
    j["resources"] = r.to_json();
    j["resources"]["fit"] = arch::fit_json(r, d);
    out << j.dump(2) << '\n';
  } else {
    print_accel_summary(c, out);
    print_resources(r, d, out);
    print_extrapolations(c, r, out);
  }
  return 0;
}

}  // namespace vitsim::sim

#include "sim/cmd_accel.hpp"

#include <iomanip>
#include <ostream>

#include "sim/cmd_quantize.hpp"
#include "sim/graph_report.hpp"

namespace vitsim::sim {

arch::AccelConfig find_accel(const std::string& name_or_path) {
  return arch::find_accel_config(name_or_path, config_dir() + "/accel");
}

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
  out << "  total multipliers: " << with_commas(c.multipliers()) << '\n'
      << "  DSPs: " << with_commas(c.dsps()) << " = " << with_commas(c.multipliers()) << " / "
      << c.dsp_packing << " + " << with_commas(c.aux_dsps()) << " auxiliary\n"
      << "  peak: " << c.peak_gops() << " GOPS (2 x multipliers x f_clk)\n"
      << "  on-chip buffers: " << with_commas(c.onchip_bytes()) << " bytes (";
  for (size_t i = 0; i < c.buffers.size(); ++i) {
    const auto& b = c.buffers[i];
    out << (i ? ", " : "") << arch::buffer_key(b.kind) << ' ' << with_commas(b.capacity_bytes) << " in "
        << b.banks << " banks";
  }
  out << ")\n"
      << std::setprecision(2) << "  DRAM: " << c.dram.bandwidth_gbps << " GB/s (" << c.dram_bytes_per_cycle()
      << " bytes/cycle), latency " << c.dram.latency_ns << " ns, bursts of " << c.dram.burst_bytes
      << " bytes\n";
}

int run_accel(const std::string& config, bool json, std::ostream& out) {
  const arch::AccelConfig c = find_accel(config);
  if (json)
    out << c.to_json().dump(2) << '\n';
  else
    print_accel_summary(c, out);
  return 0;
}

}  // namespace vitsim::sim

#include "sim/report_files.hpp"

#include <sstream>

namespace vitsim::sim {

const char* const kLayersCsvHeader =
    "index,name,label,op,resources,start,end,span_cycles,busy,stall_port,stall_aux,stall_dram,"
    "stall_dependency,macs,tiles,transfers,dram_bytes_read,dram_bytes_written";

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string layers_csv(const SimReport& report) {
  std::ostringstream o;
  o << kLayersCsvHeader << '\n';
  for (size_t i = 0; i < report.layers.size(); ++i) {
    const LayerStats& l = report.layers[i];
    const CycleBreakdown& c = l.cycles;
    o << i << ',' << csv_field(l.name) << ',' << csv_field(l.label) << ',' << csv_field(l.op) << ','
      << csv_field(l.joined_resources()) << ',' << l.start << ',' << l.end << ',' << l.span() << ',' << c.busy
      << ',' << c.stall_port << ',' << c.stall_aux << ',' << c.stall_dram << ',' << c.stall_dependency << ','
      << l.macs << ',' << l.tiles << ',' << l.transfers << ',' << l.dram_read << ',' << l.dram_written
      << '\n';
  }
  return o.str();
}

}  // namespace vitsim::sim

#include "sim/run/report_files.hpp"

#include <algorithm>
#include <sstream>

#include "quant/csv.hpp"
#include "sim/compile/compiler.hpp"

namespace vitsim::sim {

const char* const kLayersCsvHeader =
    "index,name,label,op,resources,start,end,span_cycles,busy,stall_port,stall_aux,stall_dram,"
    "stall_dependency,macs,tiles,transfers,dram_bytes_read,dram_bytes_written,dram_accesses,row_hits,"
    "row_misses,row_conflicts";

std::string layers_csv(const SimReport& report) {
  std::ostringstream o;
  o << kLayersCsvHeader << '\n';
  for (size_t i = 0; i < report.layers.size(); ++i) {
    const LayerStats& l = report.layers[i];
    const CycleBreakdown& c = l.cycles;
    o << i << ',' << quant::csv_field(l.name) << ',' << quant::csv_field(l.label) << ','
      << quant::csv_field(l.op) << ',' << quant::csv_field(l.joined_resources()) << ',' << l.start << ','
      << l.end << ',' << l.span() << ',' << c.busy << ',' << c.stall_port << ',' << c.stall_aux << ','
      << c.stall_dram << ',' << c.stall_dependency << ',' << l.macs << ',' << l.tiles << ',' << l.transfers
      << ',' << l.dram_read << ',' << l.dram_written;
    const LayerDram d = l.dram.value_or(LayerDram{});
    o << ',' << d.accesses << ',' << d.row_hits << ',' << d.row_misses << ',' << d.row_conflicts << '\n';
  }
  return o.str();
}

nlohmann::json memory_plan_json(const SimOutcome& outcome, const arch::AccelConfig& config) {
  const SimReport& r = outcome.report;
  const arch::Program& p = outcome.program;
  nlohmann::json j;
  j["schema"] = "vitsim-memory-plan";
  j["schema_version"] = 1;
  j["model"] = r.model;
  j["accel"] = r.accel;
  j["ideal_memory"] = r.ideal_memory;
  const arch::BufferConfig& act = config.buffer(arch::BufferKind::Activation);
  j["activation_buffer"] = {{"capacity_bytes", act.capacity_bytes},
                            {"resident_bytes", act.resident_bytes},
                            {"banks", act.banks},
                            {"bank_row_bytes", int64_t{act.banks} * act.word_bytes}};
  for (int k = 0; k < arch::kBufferKinds; ++k) {
    const auto kind = static_cast<arch::BufferKind>(k);
    j["slot_bytes"][arch::buffer_key(kind)] = slot_bytes(config, kind);
  }
  nlohmann::json tensors = nlohmann::json::array();
  for (const arch::Allocation& a : p.memory_plan) {
    const LayerStats& first = r.layers[static_cast<size_t>(a.first_layer)];
    const LayerStats& last = r.layers[static_cast<size_t>(a.last_layer)];
    tensors.push_back({{"layer", r.layers[static_cast<size_t>(a.layer)].name},
                       {"tensor", arch::tensor_name(a.tensor)},
                       {"space", arch::space_name(a.space)},
                       {"offset", a.offset},
                       {"bytes", a.bytes},
                       {"first_layer", first.name},
                       {"last_layer", last.name},
                       {"first_cycle", std::max<int64_t>(0, first.start)},
                       {"last_cycle", last.end}});
  }
  j["tensors"] = tensors;
  return j;
}

}  // namespace vitsim::sim

// The files a simulation writes besides the printed summary: report.json (SimReport::to_json, layout in
// docs/report.schema.json) and layers.csv (one row per layer, integers only, so two runs compare exactly).
#pragma once

#include <string>
#include <vector>

#include "sim/run/simulator.hpp"

namespace vitsim::sim {

/// The header of layers.csv, one column name per field, comma-separated.
extern const char* const kLayersCsvHeader;

/// layers.csv: the header, then one row per graph node (index, name, label, op, the units it ran on joined
/// by '+', first and last cycle, span, the cycle breakdown summed over its tiles, MACs, tiles, transfers,
/// DRAM bytes). Layers that ran nothing have start = end = -1 and span 0.
std::string layers_csv(const SimReport& report);

/// The memory plan of a simulated program (docs/metrics.md, "Memory plan"): the buffers' resident region
/// and slot sizes, then every tensor's space, byte range, lifetime in layers and in cycles.
nlohmann::json memory_plan_json(const SimOutcome& outcome, const arch::AccelConfig& config);

}  // namespace vitsim::sim

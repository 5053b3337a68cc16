// SCALE-Sim v2 workloads on vitsim's systolic engine (docs/scalesim.md).
//
// A topology CSV lists layers, one per row. Its rules are SCALE-Sim's (scalesim/topology_utils.py):
// - line 1 is a header and is skipped whatever it holds; blank lines are skipped; whitespace around a row
//   and around each field is ignored;
// - whatever follows a row's LAST comma is ignored (SCALE-Sim drops it: `row.split(',')[:-1]`), so every row
//   ends with a comma, and text after it (e.g. "#dw") is a comment;
// - conv format: Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
//   Strides [, Stride width], with no padding: ofmap = ceil((ifmap - filter) / stride) + 1 per axis; the
//   conv is the GEMM M = ofmap pixels, K = filter_h x filter_w x channels, N = num filters. A layer whose
//   name contains "DP" is a depthwise conv and becomes one single-channel layer per channel, named
//   "<name>Channel_<i>" (filters unchanged), as SCALE-Sim does;
// - GEMM format: Layer name, M, N, K (note the order), the GEMM M x K times K x N.
// Rows SCALE-Sim would crash on or silently misread are rejected with "FILE:LINE: what was expected, what
// was found" (std::invalid_argument).
//
// run_scalesim builds an arch::Program directly, one Gemm tile per layer on the systolic engine in file
// order and no DMA transfers (SCALE-Sim's stall-free setting: operands are on chip), and runs it on the
// SystemC accelerator (arch::run_program) in either timing mode.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/systolic_timing.hpp"
#include "arch/timing_mode.hpp"

namespace vitsim::sim {

enum class ScaleSimFormat { Conv, Gemm };
/// "conv" | "gemm"; throws std::invalid_argument otherwise.
ScaleSimFormat parse_scalesim_format(const std::string& name);
const char* scalesim_format_name(ScaleSimFormat format);

/// SCALE-Sim's conv topology columns: the first 8 are a row's fields; a 9th, optional one is the stride
/// width.
inline constexpr const char* kScaleSimConvColumns[] = {"Layer name",    "IFMAP Height", "IFMAP Width",
                                                       "Filter Height", "Filter Width", "Channels",
                                                       "Num Filter",    "Strides",      "Stride width"};
inline constexpr size_t kScaleSimConvFields = 8;

/// The most layers a workload may have, depthwise expansion included. A depthwise ("DP") row becomes one
/// layer per channel, so a short file can ask for very many layers. Each layer costs about 1.3 KB through the
/// simulation and the report (a 302,113-layer expansion of a 158-byte file took 390 MB and 1.1 s): the bound
/// keeps a workload under about 130 MB, 20x the layers of SCALE-Sim's largest depthwise topologies
/// (MobileNet: about 5,000 single-channel layers).
inline constexpr size_t kScaleSimMaxLayers = 100000;

/// A conv row as written (strides already defaulted), and its output size by SCALE-Sim's rule.
struct ScaleSimConv {
  int64_t ifmap_h = 0, ifmap_w = 0, filter_h = 0, filter_w = 0, channels = 0, filters = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t ofmap_h = 0, ofmap_w = 0;
};

struct ScaleSimLayer {
  std::string name;
  int line = 0;                      // 1-based line of the topology file it came from
  int64_t m = 0, k = 0, n = 0;       // the GEMM: M x K times K x N
  std::optional<ScaleSimConv> conv;  // the conv it came from (conv format only)
  int64_t macs() const { return m * k * n; }
};

struct ScaleSimWorkload {
  std::string origin;  // the file (for messages and reports)
  ScaleSimFormat format = ScaleSimFormat::Conv;
  std::vector<ScaleSimLayer> layers;  // at least one, in file order
};

/// Parses a topology; `origin` names it in messages. Throws std::invalid_argument ("origin:LINE: ...").
ScaleSimWorkload parse_scalesim_topology(std::istream& in, const std::string& origin, ScaleSimFormat format);
/// Reads `path`; throws std::invalid_argument if it cannot be opened or a row is malformed.
ScaleSimWorkload load_scalesim_topology(const std::string& path, ScaleSimFormat format);
/// `name_or_path` as a file if it exists, else configs/workloads/<name>.csv (see config_dir()).
std::string find_scalesim_topology(const std::string& name_or_path);

/// The conv rule on one axis: ceil((ifmap - filter) / stride) + 1 (filter <= ifmap, stride >= 1).
int64_t scalesim_ofmap_size(int64_t ifmap, int64_t filter, int64_t stride);

/// One layer's result. Conventions (`compat`):
///   vitsim (false): cycles = the tile's first to last cycle on the engine, folds x cycles_per_fold;
///     compute_utilization = macs / (rows x cols x cycles) (docs/metrics.md's mac_utilization).
///   SCALE-Sim (true): cycles = folds x cycles_per_fold - 1, what SCALE-Sim prints as a layer's Total Cycles;
///     compute_utilization = SCALE-Sim's Compute Util: the mean over folds of used PEs x T / (rows x cols x
///     span), its span being cycles_per_fold for os and cycles_per_fold + cols - 1 for ws and is.
/// Either way the workload's total is the sum of the layers' cycles (the layers run back to back).
struct ScaleSimLayerResult {
  std::string name;
  int64_t m = 0, k = 0, n = 0;
  int64_t macs = 0;
  int64_t folds = 0, cycles_per_fold = 0;
  int64_t cycles = 0;
  double mapping_efficiency =
      0;  // mean over folds of used PEs / (rows x cols) (SCALE-Sim's Mapping Efficiency)
  double compute_utilization = 0;  // see above
  double overall_utilization = 0;  // macs / (rows x cols x cycles) (SCALE-Sim's Overall Util when compat)
};

/// `base` with its systolic engine (it must have exactly one) set to `array`; throws std::invalid_argument
/// for a config without a systolic engine, with several, or an array outside 1..4096 x 1..4096.
arch::AccelConfig with_systolic_array(const arch::AccelConfig& base, const arch::SystolicArray& array);
/// The array of the config's only systolic engine (same errors).
arch::SystolicArray systolic_array_of(const arch::AccelConfig& config);

/// Runs the workload on the config's systolic engine (see the file comment) and returns one result per layer.
/// Throws std::logic_error if a layer's simulated span differs from its closed form folds x cycles_per_fold
/// (a broken engine, never bad input).
std::vector<ScaleSimLayerResult> run_scalesim(const ScaleSimWorkload& workload,
                                              const arch::AccelConfig& config, arch::TimingMode mode,
                                              bool compat);
/// The same on the systolic-32x32-os preset with its array replaced by `array`.
std::vector<ScaleSimLayerResult> run_scalesim(const ScaleSimWorkload& workload,
                                              const arch::SystolicArray& array, arch::TimingMode mode,
                                              bool compat);
/// Sum of the layers' cycles.
int64_t total_cycles(const std::vector<ScaleSimLayerResult>& layers);

/// COMPUTE_REPORT.csv-style rows: "LayerID, Layer name, M, K, N, Folds, Total Cycles, Overall Util %,
/// Mapping Efficiency %, Compute Util %," then one row per layer (SCALE-Sim's ", " separators and trailing
/// comma; percentages with 4 decimals).
std::string scalesim_compute_report_csv(const std::vector<ScaleSimLayerResult>& layers);

}  // namespace vitsim::sim

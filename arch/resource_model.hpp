// FPGA resources of an accelerator config: DSP slices, LUTs and BRAM36 blocks, estimated from the config
// alone (docs/resource-model.md gives every formula and where each coefficient comes from), and device
// presets (configs/devices/*.json) so a design-space sweep can keep only the designs that fit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arch/accel_config.hpp"

namespace vitsim::arch {

/// One line of the estimate: a component and what it uses.
struct ResourceItem {
  std::string component;  // "mat multipliers", "rmac adder trees", "activation buffer", ...
  int64_t dsps = 0, luts = 0, bram36 = 0;
  bool synthesized = false;  // luts (and bram36) from Yosys synthesis of the unit's RTL, not a formula
  std::string engine = {};   // the engine whose part it is, or empty
};

struct ResourceEstimate {
  int64_t dsps = 0, luts = 0, bram36 = 0;  // totals
  std::vector<ResourceItem> items;         // the breakdown, in config order
  /// LUTs of the items of the engine named `engine`.
  int64_t engine_luts(const std::string& engine) const;
  /// {"dsps", "luts", "bram36", "items": [{"component", "dsps", "luts", "bram36"}, ...]}.
  nlohmann::json to_json() const;
};

/// Estimates the config's resources. dsps equals AccelConfig::dsps(). An engine or auxiliary unit whose
/// RTL was synthesized at exactly its parameters (synthesized_unit) takes its LUTs from synthesis.
ResourceEstimate estimate_resources(const AccelConfig& config);

/// A unit's resources from Yosys synthesis of its RTL (configs/synth/resources.csv, docs/rtl.md).
struct SynthesizedUnit {
  int64_t luts = 0, ffs = 0, dsps = 0, bram36 = 0;
};
/// The synthesis of RTL module `top` with `parameters` ("NAME=VALUE ...", as tools/synth_resources.py
/// writes them), or nullptr if the table has none.
const SynthesizedUnit* synthesized_unit(const std::string& top, const std::string& parameters);
/// One shift lane's product unit (vitsim_shift_product, docs/rtl.md): its module and parameters, for a
/// log2 (`log2_code`) or sign + exponent power-of-two code of `code_bits` bits.
RtlInstance shift_product_rtl(bool log2_code, int code_bits);
/// The fabric part of `count` such product units: the synthesized LUTs per unit where the table has the
/// row ("<what> (synthesized, N LUTs each)"), else `formula_luts` per unit.
FabricPart shift_products(const std::string& what, int64_t count, bool log2_code, int code_bits,
                          int64_t formula_luts);
/// An engine too large to synthesize, from its replica ladder (tools/synth_resources.py synthesizes the
/// same engine at 1, 2, 4 ... replicas): the straight line through the two rows with the most replicas
/// below the asked REPLICAS, the other parameters equal (docs/resource-model.md measures how close it
/// comes where the whole engine was synthesized too). Informational: `vitsim accel` prints it beside the
/// formulas, which the estimate keeps (docs/resource-model.md says why).
struct ExtrapolatedUnit {
  SynthesizedUnit unit;            // at `replicas`
  int64_t replicas = 0;            // the asked REPLICAS
  int64_t from_a = 0, from_b = 0;  // the ladder rows' replicas, from_a < from_b
};
/// nullopt when `parameters` has no REPLICAS or fewer than two ladder rows exist below it.
std::optional<ExtrapolatedUnit> replica_extrapolation(const std::string& top, const std::string& parameters);
/// The RTL module and parameters of an engine of `config` (top "" for an engine type without RTL).
RtlInstance engine_rtl(const AccelConfig& config, const EngineConfig& engine);
/// The RTL module and parameters of an auxiliary unit (top "" for a type without RTL).
RtlInstance aux_rtl(const AuxUnitConfig& unit);

// The formulas, exposed for tests and sweeps (docs/resource-model.md).
/// LUTs of a pipelined binary adder tree summing `inputs` values of `input_bits` bits: per stage,
/// floor(n / 2) two-input adders one bit wider than their inputs, one LUT per result bit.
int64_t adder_tree_luts(int64_t inputs, int input_bits);
/// BRAM36 blocks of one buffer: banks x the fewest blocks any port aspect needs for one bank.
int64_t buffer_bram36(const BufferConfig& buffer);

/// An FPGA device's capacity (configs/devices/<name>.json).
struct Device {
  std::string name, description;
  int64_t dsps = 0, luts = 0, bram36 = 0;
  nlohmann::json to_json() const;
};

/// Reads and validates a device file; throws quant::ConfigError naming the file and JSON path.
Device load_device(const std::string& path);

/// `name_or_path` as a file if it exists, else <config_dir>/devices/<name>.json; throws quant::ConfigError
/// naming the file and JSON path on bad content, listing the known devices on an unknown name.
Device find_device(const std::string& name_or_path, const std::string& config_dir);

/// Whether `estimate` fits `device`; otherwise `why` lists each resource over capacity ("dsps 2600 > 2520").
bool fits(const ResourceEstimate& estimate, const Device& device, std::string* why = nullptr);

/// 100 x used / capacity.
double utilization_percent(int64_t used, int64_t capacity);

/// {"device": ..., "fits": bool, "over": why, "utilization_percent": {"dsps", "luts", "bram36"}}.
nlohmann::json fit_json(const ResourceEstimate& estimate, const Device& device);

}  // namespace vitsim::arch

// An accelerator described as data (configs/accel/*.json): clock, DSP packing, engines (created through the
// unit registry by type name), auxiliary units (the same registry), on-chip buffers, DMA and DRAM.
// load_accel_config reads and validates a file ONCE; the resulting AccelConfig is a plain, immutable runtime
// object. Every error is a quant::ConfigError "<file>: <json path>: <what was expected>, found <value>".
// Field reference with units, ranges and defaults: docs/config-reference.md.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/arbiter.hpp"
#include "arch/ddr4/ddr4_config.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

/// One compute engine instance.
struct EngineConfig {
  std::string name;                            // unique within the config, e.g. "mat0"
  std::string type;                            // registered type name ("mat", "rmac", "systolic", ...)
  std::shared_ptr<const EngineParams> params;  // validated type-specific parameters (never null)
};

/// A pipelined auxiliary unit: one per registered auxiliary type the config lists.
struct AuxUnitConfig {
  std::string type;    // registered type name, its key in "aux_units" ("requantizer", "gelu", ...)
  int throughput = 1;  // elements accepted (and produced) per cycle, >= 1
  int latency = 1;     // pipeline latency: cycles from an element in to its result out, >= 0
  int dsps = 0;        // DSP slices the unit uses (counted in the config's DSP total), >= 0
  std::shared_ptr<const AuxUnitParams> params;  // the type's behaviour and its own keys (never null)
  const UnitType* unit_type = nullptr;          // its registry entry (never null)
  bool performs(AuxStep step) const { return unit_type->performs(step); }
};

/// The on-chip buffers (each one logical buffer of `banks` equal banks).
enum class BufferKind { Activation, Weight, Output, Divisor };
constexpr int kBufferKinds = 4;
/// "activation", "weight", "output", "divisor".
const char* buffer_key(BufferKind kind);

struct BufferConfig {
  BufferKind kind = BufferKind::Activation;
  int64_t capacity_bytes = 0;  // total capacity over all banks, bytes (a multiple of banks x word_bytes)
  int banks = 1;               // independently addressed banks
  int ports_per_bank = 1;      // accesses per bank per cycle (1 or 2 for BRAM)
  int word_bytes = 8;          // bytes per port access (power of two)
  /// Activation buffer only: bytes at the bottom of the buffer where the compiler's memory plan keeps layer
  /// outputs on chip for their consumers (resident tensors, docs/engines.md "Memory plan"); the rest holds
  /// the engines' double-buffered tile slots. 0 (the default): every layer output goes through DRAM. A
  /// multiple of banks x word_bytes, below the capacity.
  int64_t resident_bytes = 0;
  /// Bytes left for the engines' tile slots.
  int64_t slot_region_bytes() const { return capacity_bytes - resident_bytes; }
  int64_t bank_bytes() const { return capacity_bytes / banks; }
  /// Peak bytes per cycle over all banks and ports.
  int64_t peak_bytes_per_cycle() const { return int64_t{banks} * ports_per_bank * word_bytes; }
};

/// The DMA engine between DRAM and the on-chip buffers.
struct DmaConfig {
  int max_outstanding_bursts = 4;  // bursts in flight at once, >= 1
  int setup_cycles = 0;            // accelerator cycles to program one transfer (descriptor), >= 0
};

/// Which timing model serves the DMA's bursts.
enum class DramModelKind {
  IdealBus,  // "ideal-bus" (default): one FIFO bus of bandwidth_gbps after a fixed latency_ns
  Ddr4,      // "ddr4": the command-level DDR4 model of arch/ddr4 (banks, rows, refresh, JEDEC timing)
};

/// Off-chip DRAM, reached through a TLM-2.0 socket.
struct DramConfig {
  DramModelKind model = DramModelKind::IdealBus;
  double bandwidth_gbps = 0;  // ideal bus: sustained bandwidth, GB/s (1e9 B/s); ddr4: the preset's peak
  double latency_ns = 0;      // ideal bus: access latency of a burst (request to first data), ns; ddr4: 0
  int burst_bytes = 64;       // bytes per burst (power of two)
  /// ddr4: the preset (dram/preset, a name in configs/dram/ or a file) with the config's controller
  /// overrides (dram/mapping, dram/page_policy; the scheduler is FCFS, docs/dram.md); null otherwise.
  std::shared_ptr<const ddr4::Config> ddr4;
};

/// How the compiler overlaps layers and tiles (docs/engines.md, "Pipelining switches").
struct PipeliningConfig {
  /// The layers of a chain (attention: Q·Kᵀ with its requantizer -> Softmax -> A·V; MLP: FC1 with its
  /// GELU -> FC2) stream block by block: the attention chain is emitted head by head, and a consumer's
  /// tile waits only for the producer tiles whose output it reads, not for the whole producer layer.
  bool inter_layer = false;
  /// Double buffering inside a layer: a tile's loads and its output slot wait for the tile two positions
  /// earlier on its resource (the next tile's loads overlap this one's compute and the previous one's
  /// store); false: single buffering, they wait for the previous tile.
  bool intra_layer = true;
};

/// What the datapath computes on (docs/config-reference.md, "number_format").
enum class NumberFormat {
  Int,   // "int" (default): the quantized graph's integer codes, 1, 2 or 4 bytes each by their bits
  Fp32,  // "fp32": IEEE single precision; every tensor element is 4 bytes, nothing is requantized
};
/// "int", "fp32".
const char* number_format_name(NumberFormat format);

struct AccelConfig {
  std::string file;                // where it was loaded from (for messages)
  std::string name;                // short identifier, e.g. "trio-vit"
  std::string description;         // one line
  std::vector<std::string> notes;  // provenance: which values come from papers, which are assumptions
  double clock_mhz = 0;            // accelerator clock, MHz
  int dsp_packing = 1;             // INT8 multiplies per DSP slice (2 on ZCU102's DSP48E2)
  /// The datapath's number format: "fp32" needs every engine to be an FP32 one (fp32_mat), "int" none.
  NumberFormat number_format = NumberFormat::Int;
  std::vector<EngineConfig> engines;     // at least one; names unique
  std::vector<AuxUnitConfig> aux_units;  // the ones the config lists, in registration order
  std::vector<BufferConfig> buffers;     // one per BufferKind, indexed by the kind
  DmaConfig dma;
  DramConfig dram;
  /// Cycle mode: the order in which units that want the same buffer ports or auxiliary unit in one cycle
  /// are served (docs/simulation.md, "Cycle mode"); fast mode's closed forms divide the ports statically.
  ArbitrationPolicy arbitration = ArbitrationPolicy::RoundRobin;
  PipeliningConfig pipelining;

  /// The index in aux_units of the first unit that performs `step`, or -1.
  int aux_for(AuxStep step) const;
  /// The index in aux_units of the unit of type `type`, or -1.
  int aux_index(const std::string& type) const;
  /// The unit of type `type`; throws std::out_of_range if the config has none.
  const AuxUnitConfig& aux(const std::string& type) const;
  const BufferConfig& buffer(BufferKind kind) const { return buffers[static_cast<size_t>(kind)]; }
  /// The engine named `name`, or nullptr.
  const EngineConfig* engine(const std::string& name) const;

  /// Sum of the engines' product units (EngineParams::multipliers).
  int64_t multipliers() const;
  /// Sum of the engines' DSP multipliers (EngineParams::dsp_multipliers: all but shift-add lanes).
  int64_t dsp_multipliers() const;
  /// DSP slices of the FP32 engines' multiply-adds (EngineParams::fp32_dsps; 0 in integer configs).
  int64_t fp32_dsps() const;
  /// DSP slices of the engines: ceil(dsp_multipliers / dsp_packing) + fp32_dsps().
  int64_t engine_dsps() const;
  /// Bytes of one tensor element whose integer codes have `bits` bits: 4 in FP32 format, else 1, 2 or 4.
  int64_t element_bytes(int bits) const;
  /// DSP slices of the auxiliary units.
  int64_t aux_dsps() const;
  /// engine_dsps() + aux_dsps() (docs/metrics.md).
  int64_t dsps() const { return engine_dsps() + aux_dsps(); }
  /// 2 x multipliers x f_clk, in GOPS.
  double peak_gops() const { return 2.0 * static_cast<double>(multipliers()) * clock_mhz / 1e3; }
  /// Total on-chip buffer capacity, bytes.
  int64_t onchip_bytes() const;
  /// DRAM bytes per accelerator cycle (bandwidth / f_clk).
  double dram_bytes_per_cycle() const { return dram.bandwidth_gbps * 1e3 / clock_mhz; }

  /// The validated config, with derived totals, as JSON.
  nlohmann::json to_json() const;
};

/// Reads and validates an accelerator config file; throws quant::ConfigError naming file and JSON path.
AccelConfig load_accel_config(const std::string& path);
/// Validates an already-parsed JSON document; `origin` names it in messages.
AccelConfig parse_accel_config(const nlohmann::json& j, const std::string& origin);
/// `name_or_path` as a file if it exists, else <config_dir>/<name>.json; otherwise a ConfigError listing
/// the known names.
AccelConfig find_accel_config(const std::string& name_or_path, const std::string& config_dir);

}  // namespace vitsim::arch

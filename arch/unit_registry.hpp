// Unit types by name (Ramulator 2 style). Every hardware unit of an accelerator config is an instance of a
// registered type: a compute engine ({"name": ..., "type": ..., <keys>} in "engines") or an auxiliary unit
// ("aux_units": {"<type>": {<keys>}}). A type owns everything that differs between units: its parameters
// and their validation, the work it supports, its tiling granule, its timing in both modes (engines: the
// output-group pipeline of arch/tile_timing.hpp; auxiliary units: the elementwise rule), its FPGA cost
// (docs/resource-model.md) and its functional datapath (arch/functional.hpp). A new type is one .cpp that
// defines its parameter class and parser and registers them (docs/config-reference.md, "Adding a unit
// type"), plus one line in VITSIM_BUILTIN_UNITS (unit_registry.cpp).
//
// Registration is explicit, not by static initializers: VITSIM_REGISTER_ENGINE / VITSIM_REGISTER_AUX_UNIT
// (id, ...) define a function `register_unit_<id>(UnitRegistry&)`, and UnitRegistry::instance() calls every
// function named in VITSIM_BUILTIN_UNITS the first time it is used. Static registrar objects in a static
// library are silently dropped by the linker when nothing references their object file; explicit calls
// cannot be dropped, and they also avoid static-initialization-order problems.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/systolic_timing.hpp"
#include "quant/json_reader.hpp"

namespace vitsim::quant {
struct QNode;
}

namespace vitsim::arch {

struct ComputeTile;
struct GroupPipeline;
struct PortShare;
struct AuxTile;
enum class TileWork : int;

/// A part of a unit built from FPGA fabric, in LUTs (its multipliers and configured DSPs are counted apart).
struct FabricPart {
  std::string what;  // "adder trees", "accumulators", ...
  int64_t luts = 0;
};

/// The RTL module of a unit and its parameters ("NAME=VALUE ...", as tools/synth_resources.py writes them),
/// the key of the synthesized resource table (docs/rtl.md); `top` is empty for a unit without RTL.
struct RtlInstance {
  std::string top, parameters;
};

/// What every unit type's validated parameters provide.
class UnitParams {
 public:
  virtual ~UnitParams() = default;
  /// The registered type name ("mat", "requantizer", ...).
  virtual std::string type() const = 0;
  /// One human-readable line: the shape of the unit (e.g. "pe 8 x lanes 8 x replicas 16").
  virtual std::string summary() const = 0;
  /// The parameters as JSON (including derived values), for `vitsim accel --json` and reports.
  virtual nlohmann::json to_json() const = 0;
};

/// How the compiler cuts an engine's work: output channels (or features) and output pixels (or rows) the
/// engine computes at once; tiles take channels in multiples of `channels` where they can.
struct TileGranule {
  int64_t channels = 1, pixels = 1;
};

/// The validated, type-specific parameters of one compute engine.
class EngineParams : public UnitParams {
 public:
  /// Number of product units (multipliers, or shift-add lanes' shifters) the engine instantiates: the
  /// products it can form per cycle, which peak GOPS and MAC utilization count.
  virtual int64_t multipliers() const = 0;
  /// Of those, the INT8 multipliers built from DSP slices (dsp_packing per DSP); the rest are fabric or
  /// floating-point units (fp32_dsps).
  virtual int64_t dsp_multipliers() const { return multipliers(); }
  /// Whether its product units are FP32 multiply-adds (AccelConfig::number_format "fp32" needs every
  /// engine to be one, and "int" none).
  virtual bool fp32_datapath() const { return false; }
  /// DSP slices of its FP32 multiply-adds (not packed: dsp_packing counts INT8 multiplies); 0 for an
  /// integer engine.
  virtual int64_t fp32_dsps() const { return 0; }
  /// The widest operand codes its multipliers take, bits (every built-in integer engine: INT8 x INT8).
  virtual int operand_bits() const { return 8; }
  /// Power-of-two weight codes its shift-add lanes take (bits, quant/mixed_scheme.hpp), or 0: no such lanes,
  /// the multipliers take power-of-two rows like any other (ComputeTile::pot_n is then ignored).
  virtual int shift_lane_bits() const { return 0; }
  /// Whether it multiplies by shifting only (a shifter array, no multipliers): it then runs just the Gemm
  /// tiles whose first operand is log2 codes (A·V on log2 Softmax codes), and the compiler gives those
  /// tiles only to such engines when the config has one (docs/engines.md, "Resources").
  virtual bool shifts_only() const { return false; }
  /// Whether the engine runs tiles of this work kind (Depthwise: with this kernel size and stride).
  virtual bool supports(TileWork work, int kernel, int stride) const = 0;
  /// The output-group pipeline (arch/tile_timing.hpp) of a tile this engine supports: how the engine's
  /// dataflow maps the tile's work onto groups, waves, operand bytes and pipeline depth.
  virtual GroupPipeline group_pipeline(const ComputeTile& tile) const = 0;
  /// Its tiling granule for tiles of `work`.
  virtual TileGranule granule(TileWork work) const = 0;
  /// Products one lane sums per wave before adding them to its accumulator (its adder tree's width; 1 for
  /// one product per PE and cycle): the functional datapath forms its partial sums the same way.
  virtual int64_t adder_tree_width() const = 0;
  /// The LUT-built parts of the engine (docs/resource-model.md).
  virtual std::vector<FabricPart> fabric() const = 0;
  /// Its RTL module with the given port share, if it has one.
  virtual RtlInstance rtl(const PortShare&) const { return {}; }
  /// The SCALE-Sim array it is, if it is a systolic GEMM array (sim/validate/scalesim_import.cpp).
  virtual std::optional<SystolicArray> systolic_array() const { return std::nullopt; }
};

/// The work auxiliary units do. The compiler asks the config's units for each step a layer needs; a unit
/// type lists the steps it performs when it registers.
enum class AuxStep : int {
  Requantize,     // chain: int32 accumulators -> int8 codes (multiplier + shift, or power-of-two shift)
  Relu,           // chain: ReLU on codes
  Hswish,         // chain: Hardswish on codes
  Gelu,           // chain: GELU on codes
  ShiftSubtract,  // chain: filter-wise shift subtractor on the DW -> PW path
  ResidualAdd,    // standalone: element-wise add of two int8 tensors with rescale (Add)
  AttnKernel,     // standalone: the ReLU kernel of linear attention and its ones row (AttnKernel)
  AttnNormalize,  // standalone: attention divisors -> log2 code, numerators shifted (AttnNormalize)
  AvgPool,        // standalone: global average pool (GlobalAvgPool)
  LayerNorm,      // standalone: LayerNorm over rows (a LayerNorm layer, or the FP32 one of a Linear)
  Softmax,        // standalone: Softmax over rows
  TokenMove,      // standalone: ViT codes moved unchanged (PatchTokens, HeadSplit, HeadMerge, TokenSelect)
  ClassToken,     // standalone: the class token prepended to the requantized tokens (ClassToken)
  PosEmbed,       // standalone: the position embedding added to the tokens, requantized (PosEmbed)
  MaxPool,        // standalone: the max of each window's codes (MaxPool)
  ActTable,       // chain: a 256-entry activation table on codes (Sigmoid, HSigmoid, SiLU)
  ChannelMul,     // standalone: codes times their channel's gate, requantized (ChannelMul)
};
/// "requantize", "relu", ..., "softmax".
const char* aux_step_name(AuxStep step);

/// The type-specific behaviour and parameters of one auxiliary unit: a pipeline that accepts `throughput`
/// elements per cycle and emits each result `latency` cycles later (those common keys are read by the
/// loader into AuxUnitConfig, arch/accel_config.hpp; a type's parser reads its own keys, if any).
class AuxUnitParams : public UnitParams {
 public:
  /// How many times a tile's elements stream through the unit (LayerNorm: 2, statistics then normalize):
  /// the elementwise rule prices passes x elements.
  virtual int passes() const { return 1; }
  /// LUTs per element of throughput (adders, shifters, clamps; its multiplies are in its DSPs).
  virtual int64_t luts_per_element() const = 0;
  /// Its RTL module with `throughput` lanes and `latency`, if it has one.
  virtual RtlInstance rtl(int /*throughput*/, int /*latency*/) const { return {}; }
  /// Why this unit cannot perform its step for a layer quantized as `qnode` (a GELU table unit and a layer
  /// of I-BERT's polynomial GELU), or "" when it can: the compiler then looks no further (MappingError).
  virtual std::string cannot_run(const quant::QNode& /*qnode*/) const { return ""; }
  /// The functional datapath of a standalone tile on this unit: writes the tile's region of its layer's
  /// output (arch/functional.cpp calls it). Chain steps are computed inside the engines' datapaths. The
  /// default throws std::invalid_argument: the type has no standalone datapath.
  virtual void compute(const AuxTile& tile) const;
  /// Its type-specific keys: none by default.
  std::string summary() const override { return ""; }
  nlohmann::json to_json() const override { return nlohmann::json::object(); }
};

/// Parses the type-specific keys of one unit object. The common keys have already been read (engines:
/// "name", "type"; auxiliary units: "throughput", "latency", "dsps"); the parser reads the rest, validates
/// them, and must leave no key unread (the caller rejects unknown keys).
using EngineParser = std::function<std::unique_ptr<EngineParams>(quant::JsonReader&)>;
using AuxUnitParser = std::function<std::unique_ptr<AuxUnitParams>(quant::JsonReader&)>;

/// An auxiliary unit type without keys of its own.
template <class Params>
std::unique_ptr<AuxUnitParams> parse_plain_aux(quant::JsonReader&) {
  return std::make_unique<Params>();
}

struct UnitType {
  enum class Role { Engine, Aux };
  std::string name;         // the "type" value of an engine, the key of an auxiliary unit
  std::string description;  // one line, for listings and errors
  Role role = Role::Engine;
  EngineParser parse_engine;   // Role::Engine
  AuxUnitParser parse_aux;     // Role::Aux
  std::vector<AuxStep> steps;  // Role::Aux: the steps it performs
  int order = 0;               // registration order: auxiliary units are listed, and run, in this order
  bool performs(AuxStep step) const;
};

class UnitRegistry {
 public:
  /// The process-wide registry, with every built-in unit type registered.
  static UnitRegistry& instance();

  /// Adds a type; throws std::logic_error if the name is taken or empty, or the parser does not match
  /// the role.
  void add(UnitType type);
  /// The type registered under `name`, or nullptr.
  const UnitType* find(const std::string& name) const;
  /// Registered type names of this role, sorted.
  std::vector<std::string> names(UnitType::Role role) const;
  /// "mat, rmac, systolic" (this role's names, sorted, comma-separated).
  std::string names_list(UnitType::Role role) const;
  /// The auxiliary unit types that perform `step`, comma-separated ("" if none).
  std::string performers(AuxStep step) const;

 private:
  UnitRegistry() = default;
  std::map<std::string, UnitType> types_;
};

/// Defines `void register_unit_<id>(UnitRegistry&)`, registering engine type "<type_name>".
#define VITSIM_REGISTER_ENGINE(id, type_name, one_line, parser)                                    \
  void register_unit_##id(::vitsim::arch::UnitRegistry& registry) {                                \
    ::vitsim::arch::UnitType t;                                                                    \
    t.name = type_name, t.description = one_line, t.role = ::vitsim::arch::UnitType::Role::Engine; \
    t.parse_engine = parser;                                                                       \
    registry.add(std::move(t));                                                                    \
  }

/// Defines `void register_unit_<id>(UnitRegistry&)`, registering auxiliary unit type "<type_name>" that
/// performs the steps `{AuxStep::..., ...}`.
#define VITSIM_REGISTER_AUX_UNIT(id, type_name, one_line, parser, ...)                          \
  void register_unit_##id(::vitsim::arch::UnitRegistry& registry) {                             \
    ::vitsim::arch::UnitType t;                                                                 \
    t.name = type_name, t.description = one_line, t.role = ::vitsim::arch::UnitType::Role::Aux; \
    t.parse_aux = parser;                                                                       \
    t.steps = __VA_ARGS__;                                                                      \
    registry.add(std::move(t));                                                                 \
  }

/// Per-stage pipeline latencies shared by the MAC-array engines (cycles; each at least 1).
struct PipelineLatency {
  int fetch = 1;       // operand fetch from the on-chip buffers, cycles
  int multiply = 1;    // multiplier stage, cycles
  int accumulate = 1;  // accumulator update, cycles
  int writeback = 1;   // result write-back to the output buffer, cycles
  int total() const { return fetch + multiply + accumulate + writeback; }
  nlohmann::json to_json() const;
};

/// Reads the optional "pipeline" object {fetch, multiply, accumulate, writeback} (defaults 1, range [1, 64]).
PipelineLatency read_pipeline(quant::JsonReader& engine);

/// The RTL instance of a MAC-array engine (vitsim_<type>_engine, docs/rtl.md): its array, stage latencies
/// and port share.
RtlInstance mac_array_rtl(const std::string& type, int pe, int lanes, int replicas,
                          const PipelineLatency& stages, const PortShare& ports);

}  // namespace vitsim::arch

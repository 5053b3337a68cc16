// Parameters of the built-in engine types (each parsed and registered in its own engine_<type>.cpp).
// Every field is validated by the parser; the objects are immutable after loading.
#pragma once

#include <vector>

#include "arch/systolic_timing.hpp"
#include "arch/tile_timing.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

/// "mat": the Trio-ViT MAT engine, multipliers + adder trees with input broadcast. Serves generic and
/// pointwise convs and matmuls (not depthwise). Multipliers = pe x lanes x replicas.
struct MatParams : EngineParams {
  int pe = 0;                 // N: input channels reduced inside one lane per cycle (multipliers per lane)
  int lanes = 0;              // M: output channels computed in parallel (lanes share the broadcast input)
  int replicas = 1;           // L: copies of the N x M array along output pixels
  int adder_tree_stages = 0;  // derived: ceil(log2(pe)) pipelined adder stages reducing a lane's pe products
  PipelineLatency pipeline;   // per-stage latencies, cycles

  std::string type() const override { return "mat"; }
  int64_t multipliers() const override { return int64_t{pe} * lanes * replicas; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  bool supports(TileWork work, int kernel, int stride) const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  TileGranule granule(TileWork work) const override;
  int64_t adder_tree_width() const override { return pe; }
  std::vector<FabricPart> fabric() const override;
  RtlInstance rtl(const PortShare& ports) const override;
};

/// Reads MAT's keys ("pe", "lanes", "replicas", "pipeline") into `p`, and derives its adder tree: the array
/// shape that "ps_mac" and "shift_array" share with "mat".
void read_mat_array(quant::JsonReader& r, MatParams& p);
/// The parser of an engine type with MAT's keys and parameter class P.
template <class P>
std::unique_ptr<EngineParams> parse_mat_array(quant::JsonReader& r) {
  auto p = std::make_unique<P>();
  read_mat_array(r, *p);
  return p;
}

/// "ps_mac": P²-ViT's precision-scalable MAC array, MAT's dataflow (pe input channels per lane, lanes output
/// channels, replicas output pixels) whose multipliers each take one INT8 x INT8 product, or two INT8 x INT4
/// products of two output channels at once when the tile's weights have <= 4 bits: a lane then computes two
/// output channels (docs/engines.md, "P²-ViT's sub-processors"). Multipliers = pe x lanes x replicas (INT8 x
/// INT8); its LUTs are MAT's (the two products of a multiplier share the lane's adder tree, split at the
/// carry).
struct PsMacParams : MatParams {
  std::string type() const override { return "ps_mac"; }
  std::string summary() const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  RtlInstance rtl(const PortShare&) const override { return {}; }
};

/// "shift_array": P²-ViT's shifter array for A·V on 4-bit log2 attention codes: MAT's dataflow with a
/// barrel shifter in place of each multiplier (the code e shifts the V operand by E-1-e), so it has no
/// DSPs and runs only the Gemm tiles whose first operand is log2 codes (shifts_only). Shifters = pe x lanes
/// x replicas: its product units (multipliers(), counted by peak GOPS and MAC utilization), none in DSPs.
struct ShiftArrayParams : MatParams {
  std::string type() const override { return "shift_array"; }
  int64_t dsp_multipliers() const override { return 0; }
  bool shifts_only() const override { return true; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  std::vector<FabricPart> fabric() const override;
  RtlInstance rtl(const PortShare&) const override { return {}; }
};

/// "fp32_mat": MAT's array and dataflow (pe input channels per lane, lanes output channels, replicas output
/// pixels) in IEEE single precision, for FP32 baselines (AccelConfig::number_format "fp32"). Each product
/// unit is an FP32 multiply-add: a multiplier and one adder of the lane's adder tree (pe - 1 adders) or its
/// accumulator, costing dsps_per_mac DSP48E2 and luts_per_mac LUTs; every operand is 4 bytes. Timing: MAT's
/// output-group pipeline with 4-byte operands, every adder-tree stage taking add_latency cycles, and the
/// accumulator's add_latency interleaved partial sums folded by ceil(log2(add_latency)) more adder stages
/// (docs/engines.md, "FP32 datapath").
struct Fp32MatParams : MatParams {
  int dsps_per_mac = 0;  // DSP48E2 slices of one FP32 multiply-add (multiplier + adder)
  int luts_per_mac = 0;  // LUTs of one FP32 multiply-add
  int add_latency = 1;   // pipeline latency of the FP32 adder, cycles

  std::string type() const override { return "fp32_mat"; }
  int64_t dsp_multipliers() const override { return 0; }
  bool fp32_datapath() const override { return true; }
  int64_t fp32_dsps() const override { return multipliers() * dsps_per_mac; }
  int operand_bits() const override { return 32; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  std::vector<FabricPart> fabric() const override;
  RtlInstance rtl(const PortShare&) const override { return {}; }
  /// Pipeline stages a wave passes: pipeline.total() + (adder_tree_stages + ceil(log2(add_latency))) x
  /// add_latency.
  int64_t depth() const;
};

/// "rmac": the Trio-ViT reconfigurable MAC engine. Depthwise convs with channels inside a lane and output
/// pixels across lanes, output-stationary over the k x k taps; optionally assists MAT on pointwise convs and
/// matmuls (input channels in a lane, output channels across lanes). Multipliers = pe x lanes x replicas.
struct RmacParams : EngineParams {
  int pe = 0;                      // T: channels per lane (multipliers per lane)
  int lanes = 0;                   // S: output pixels computed in parallel
  int replicas = 1;                // L: copies of the T x S array
  std::vector<int> kernels{3, 5};  // supported depthwise kernel sizes k (k x k), odd, ascending
  std::vector<int> strides{1, 2};  // supported depthwise strides, ascending
  bool assist_pointwise = true;    // can reconfigure to run pointwise convs / matmuls with MAT
  PipelineLatency pipeline;        // per-stage latencies, cycles

  std::string type() const override { return "rmac"; }
  int64_t multipliers() const override { return int64_t{pe} * lanes * replicas; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  bool supports(TileWork work, int kernel, int stride) const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  TileGranule granule(TileWork work) const override;
  int64_t adder_tree_width() const override { return pe; }
  std::vector<FabricPart> fabric() const override;
  RtlInstance rtl(const PortShare& ports) const override;
};

/// "mixed": Auto-ViT-Acc's mixed-scheme GEMM engine. Two kinds of lane share the broadcast input: DSP
/// lanes (pe multipliers each, fixed-point weight rows) and shift-add lanes built from LUTs (pe shifters
/// each, power-of-two weight rows, ComputeTile::pot_n); each kind reduces its pe products in its own adder
/// tree, and a merge stage aligns the two kinds' results into one output group. Product units =
/// pe x (dsp_lanes + lut_lanes) x replicas, of which DSP multipliers pe x dsp_lanes x replicas; the shifters
/// are fabric (docs/resource-model.md).
struct MixedParams : EngineParams {
  int pe = 0;                 // N: input channels reduced inside one lane per cycle
  int dsp_lanes = 0;          // fixed-point output channels computed in parallel (multiplier lanes)
  int lut_lanes = 0;          // power-of-two output channels computed in parallel (shift-add lanes)
  int replicas = 1;           // L: copies of both lane sets along output pixels
  int pot_bits = 4;           // power-of-two codes the shifters take: 0 or +-2^k, k <= 2^(pot_bits-1) - 2
  int merge_latency = 1;      // cycles of the stage that aligns and merges the two kinds' results
  int adder_tree_stages = 0;  // derived: ceil(log2(pe))
  PipelineLatency pipeline;   // per-stage latencies, cycles

  std::string type() const override { return "mixed"; }
  int64_t multipliers() const override { return int64_t{pe} * (dsp_lanes + lut_lanes) * replicas; }
  int64_t dsp_multipliers() const override { return int64_t{pe} * dsp_lanes * replicas; }
  int shift_lane_bits() const override { return pot_bits; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  bool supports(TileWork work, int kernel, int stride) const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  TileGranule granule(TileWork work) const override;
  int64_t adder_tree_width() const override { return pe; }
  std::vector<FabricPart> fabric() const override;
  /// LUTs of one shift-add multiplier: a barrel shifter of the 8-bit code by 0..kmax
  /// (docs/resource-model.md).
  int64_t shifter_luts() const;
};

/// "systolic": an R x C systolic GEMM array (the SCALE-Sim baseline; timing in systolic_timing.hpp).
struct SystolicParams : EngineParams {
  int rows = 0;                                    // R: processing elements per column
  int cols = 0;                                    // C: processing elements per row
  Dataflow dataflow = Dataflow::OutputStationary;  // os | ws | is

  std::string type() const override { return "systolic"; }
  int64_t multipliers() const override { return int64_t{rows} * cols; }
  std::string summary() const override;
  nlohmann::json to_json() const override;
  bool supports(TileWork work, int kernel, int stride) const override;
  GroupPipeline group_pipeline(const ComputeTile& tile) const override;
  TileGranule granule(TileWork work) const override;
  int64_t adder_tree_width() const override { return 1; }
  std::vector<FabricPart> fabric() const override;
  std::optional<SystolicArray> systolic_array() const override { return array(); }
  SystolicArray array() const { return {rows, cols, dataflow}; }
};

}  // namespace vitsim::arch

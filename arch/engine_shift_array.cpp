// Engine type "shift_array": P²-ViT's shifter array for A·V on 4-bit log2 attention codes (parameters,
// resources, registration). MAT's array and dataflow (timing: MatParams::group_pipeline) with a barrel
// shifter in place of each multiplier: no DSPs, and only Gemm tiles whose first operand is log2 codes.
#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

namespace {
constexpr int kLog2CodeBits = 4;  // P²-ViT's log2 attention codes (the config does not carry the width)
}  // namespace

std::string ShiftArrayParams::summary() const {
  return MatParams::summary() + "; barrel shifters, no multipliers";
}

nlohmann::json ShiftArrayParams::to_json() const {
  nlohmann::json j = MatParams::to_json();
  j["shifters"] = int64_t{pe} * lanes * replicas;
  return j;
}

// A shifter per multiplier's place, then MAT's adder trees and accumulators (docs/resource-model.md). The
// shifter's LUTs are the synthesized product unit's (a 4-bit log2 code shifting the INT8 V code by 0..14,
// shift_product.sv) where configs/synth/resources.csv has it, else a barrel shifter of a 16-bit term. (The
// whole engine, MAT's RTL with shift lanes, has no synthesis row: rtl() stays empty.)
std::vector<FabricPart> ShiftArrayParams::fabric() const {
  std::vector<FabricPart> parts{shift_products("barrel shifters", int64_t{pe} * lanes * replicas, true,
                                               kLog2CodeBits, fabric::shifter_luts(fabric::kProductBits))};
  for (const FabricPart& p : MatParams::fabric()) parts.push_back(p);
  return parts;
}

VITSIM_REGISTER_ENGINE(
    shift_array, "shift_array",
    "shifter array: MAT's array with barrel shifters instead of multipliers (no DSPs); A·V on log2 "
    "attention codes",
    parse_mat_array<ShiftArrayParams>)

}  // namespace vitsim::arch

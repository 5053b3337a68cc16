// Engine type "shift_array": P²-ViT's shifter array for A·V on 4-bit log2 attention codes (parameters,
// resources, registration). MAT's array and dataflow (timing: MatParams::group_pipeline) with a barrel
// shifter in place of each multiplier: no DSPs, and only Gemm tiles whose first operand is log2 codes.
#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

std::string ShiftArrayParams::summary() const {
  return MatParams::summary() + "; barrel shifters, no multipliers";
}

nlohmann::json ShiftArrayParams::to_json() const {
  nlohmann::json j = MatParams::to_json();
  j["shifters"] = int64_t{pe} * lanes * replicas;
  return j;
}

// A shifter per multiplier's place: the INT8 V code shifted by up to 15 bits into a 16-bit term, then MAT's
// adder trees and accumulators (docs/resource-model.md).
std::vector<FabricPart> ShiftArrayParams::fabric() const {
  std::vector<FabricPart> parts{
      {"barrel shifters", int64_t{pe} * lanes * replicas * fabric::shifter_luts(fabric::kProductBits)}};
  for (const FabricPart& p : MatParams::fabric()) parts.push_back(p);
  return parts;
}

VITSIM_REGISTER_ENGINE(
    shift_array, "shift_array",
    "shifter array: MAT's array with barrel shifters instead of multipliers (no DSPs); A·V on log2 "
    "attention codes",
    parse_mat_array<ShiftArrayParams>)

}  // namespace vitsim::arch

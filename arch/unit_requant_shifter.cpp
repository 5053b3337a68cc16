// Auxiliary unit type "requant_shifter": P²-ViT's re-quantization shifters, an output-chain stage that
// requantizes int32 accumulators with shifts only (power-of-two scales: y = zp + round(acc / 2^shift), a
// rounding shift, the zero point and the clamp; no multiplier, so no DSPs). It refuses a layer whose
// requantizer needs a multiplier (cannot_run). Timing: a chain stage of the output-group pipeline
// (docs/engines.md); resources: docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/unit_registry.hpp"
#include "quant/qgraph.hpp"
#include "quant/requant.hpp"

namespace vitsim::arch {

namespace {

class RequantShifter : public AuxUnitParams {
 public:
  std::string type() const override { return "requant_shifter"; }
  // Rounding shift of the int32 accumulator, round add, zero point, clamp to int8 (the requantizer's
  // datapath without its multiplier).
  int64_t luts_per_element() const override {
    using namespace fabric;
    return shifter_luts(kAccumulatorBits) + add_luts(kAccumulatorBits) + add_luts(kCodeBits) +
           clamp_luts(kCodeBits);
  }
  std::string cannot_run(const quant::QNode& qnode) const override {
    for (size_t c = 0; c < qnode.requant.size(); ++c) {
      const quant::Requantizer& r = qnode.requant[c];
      if (!quant::is_pure_shift(r))
        return "only shifts, and the layer's requantizer " + std::to_string(c) + " multiplies by " +
               std::to_string(r.multiplier) + " before its shift by " + std::to_string(r.shift) +
               " (not a power of two: quantize with power-of-two scales, e.g. recipe p2vit-w8a8)";
    }
    return "";
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(requant_shifter, "requant_shifter",
                         "requantization by shifts only (power-of-two scales), an output-chain stage; "
                         "no DSPs",
                         parse_plain_aux<RequantShifter>, {AuxStep::Requantize})

}  // namespace vitsim::arch

// Auxiliary unit type "act_table": a 256-entry lookup table from 8-bit pre-activation codes to output codes,
// a stage of an engine's output chain after the requantizer: the activation of a Conv2d or Linear with act
// sigmoid, hsigmoid or silu (squeeze-excite's gates, EfficientNet's SiLU). The table is the layer's act_lut
// (quant/qgraph.hpp), loaded with the layer. Timing: a chain stage of the output-group pipeline
// (docs/engines.md); resources: docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

namespace {

class ActTable : public AuxUnitParams {
 public:
  std::string type() const override { return "act_table"; }
  // 256 x 8 bits in distributed RAM, as the gelu unit's table.
  int64_t luts_per_element() const override { return fabric::table_luts(256, fabric::kCodeBits); }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(
    act_table, "act_table",
    "256-entry activation table on codes (sigmoid, hard sigmoid, SiLU), an output-chain stage",
    parse_plain_aux<ActTable>, {AuxStep::ActTable})

}  // namespace vitsim::arch

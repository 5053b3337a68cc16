// Auxiliary unit type "gelu": GELU on codes, a stage of an engine's output chain after the requantizer (the
// activation of a Linear or conv with act gelu_tanh / gelu_erf). Key "method": "table" (default), a
// 256-entry lookup of the pre-activation code (a recipe's "gelu": "table"); or
// "polynomial", I-BERT's integer GELU, x / 2 x (1 + erf(x / sqrt 2)) with erf from a clipped second-order
// polynomial. A unit runs only layers of its own method (cannot_run: the recipe's "gelu" option). Timing: a
// chain stage of the output-group pipeline (docs/engines.md); resources: docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/unit_registry.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::arch {

namespace {

class GeluUnit : public AuxUnitParams {
 public:
  bool polynomial = false;  // I-BERT's polynomial instead of the 256-entry table

  std::string type() const override { return "gelu"; }
  int64_t luts_per_element() const override {
    using namespace fabric;
    // Table: 256 x 8 bits in distributed RAM, 4 LUT6 (64 x 1 each) per output bit, one copy per lane.
    if (!polynomial) return table_luts(256, kCodeBits);
    // |x| and its clip to the polynomial's range, + b (16 bits), (the square in DSPs), + c, 1 + erf (32
    // bits each), (the product with x in DSPs), rounding shift and clamp to int8.
    return add_luts(kCodeBits) + clamp_luts(kCodeBits) + add_luts(kProductBits) +
           2 * add_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) + clamp_luts(kCodeBits);
  }
  // The layer's GELU is a table when its quantized node has one (act_lut), else I-BERT's polynomial.
  std::string cannot_run(const quant::QNode& qnode) const override {
    if (qnode.act_lut.empty() == polynomial) return "";
    return polynomial ? "computes I-BERT's polynomial, and the layer's GELU is a 256-entry table"
                      : "is a 256-entry table, and the layer's GELU is I-BERT's polynomial";
  }
  std::string summary() const override { return polynomial ? "polynomial" : "table"; }
  nlohmann::json to_json() const override { return {{"method", summary()}}; }
};

std::unique_ptr<AuxUnitParams> parse_gelu(quant::JsonReader& r) {
  auto p = std::make_unique<GeluUnit>();
  p->polynomial = r.choice("method", "table", {"table", "polynomial"}) == "polynomial";
  return p;
}

}  // namespace

VITSIM_REGISTER_AUX_UNIT(gelu, "gelu",
                         "GELU on codes (a 256-entry table or I-BERT's polynomial), an output-chain stage",
                         parse_gelu, {AuxStep::Gelu})

}  // namespace vitsim::arch

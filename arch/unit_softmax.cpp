// Auxiliary unit type "softmax": Softmax over rows in three passes, as P²-ViT's log-int-softmax: the first
// pass streams a row to find its maximum; the second computes each exp(x - max) with I-BERT's
// shift-and-polynomial integer exp and accumulates their sum; the third encodes each exp / sum as a 4-bit
// log2 code (a leading-one detector and a subtraction: the attention product then shifts instead of
// multiplying). Rows interleave across the passes, so a pass boundary does not drain the pipeline. Timing:
// the elementwise rule over 3 x elements (docs/engines.md); resources: docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

namespace {

class SoftmaxUnit : public AuxUnitParams {
 public:
  std::string type() const override { return "softmax"; }
  int passes() const override { return 3; }
  // Max: a comparator and a select on codes. Exp: x - max, (the multiply by 1 / ln 2 in DSPs), the shift
  // by the quotient, + b (16 bits), (the square in DSPs), + c, and the row sum (32 bits each). Encode: a
  // leading-one detector on the exp, the subtraction from log2 of the sum, clamp to the code range.
  int64_t luts_per_element() const override {
    using namespace fabric;
    return clamp_luts(kCodeBits) + add_luts(kCodeBits + 1) + shifter_luts(kAccumulatorBits) +
           add_luts(kProductBits) + 2 * add_luts(kAccumulatorBits) + leading_one_luts(kAccumulatorBits) +
           add_luts(kCodeBits) + clamp_luts(kCodeBits);
  }
  void compute(const AuxTile& tile) const override {
    tile.fail(type(), "not yet: Softmax has no integer semantics in quant/ (issue 15)");
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(
    softmax, "softmax",
    "Softmax over rows: max pass, integer exp and sum pass, log2 encode pass (4-bit codes)",
    parse_plain_aux<SoftmaxUnit>, {AuxStep::Softmax})

}  // namespace vitsim::arch

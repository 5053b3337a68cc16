// The max-pool auxiliary unit (a ResNet stem's 3x3 stride-2 pool): compares the codes of each output's
// window, tap by tap, and keeps the largest. No requantization: the output keeps the input's quantizer
// (quant/qgraph.hpp, MaxPool). Its timing is the elementwise rule over the taps it compares (the compiler
// prices a tile as output elements x kernel²).
#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

namespace {

class MaxPoolUnit : public AuxUnitParams {
 public:
  std::string type() const override { return "maxpool"; }
  // Compare and select of the running maximum, as the softmax unit's max pass.
  int64_t luts_per_element() const override { return fabric::clamp_luts(fabric::kCodeBits); }
  void compute(const AuxTile& tile) const override {
    const quant::Node& node = tile.node();
    if (node.op != quant::OpKind::MaxPool) tile.fail(type(), "this unit runs only maxpool layers");
    const quant::QTensor& x = *tile.inputs[0];
    const int64_t h = x.shape[1], w = x.shape[2], plane = node.out_shape[1] * node.out_shape[2];
    const int64_t wo = node.out_shape[2];
    const Region& r = tile.region;
    for (int64_t c = r.c0; c < r.c1; ++c)
      for (int64_t p = r.p0; p < r.p1; ++p)
        tile.out(c * plane + p, quant::max_pool_at(node, x.data.data() + c * h * w, h, w, p / wo, p % wo));
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(maxpool, "maxpool", "max pool on int8 codes, window by window (MaxPool)",
                         parse_plain_aux<MaxPoolUnit>, {AuxStep::MaxPool})

}  // namespace vitsim::arch

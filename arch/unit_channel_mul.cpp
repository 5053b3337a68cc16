// Auxiliary unit type "channel_mul": squeeze-excite's channel gate (ChannelMul), out[c, p] = x[c, p] x g[c]
// on codes: one 8 x 8-bit product of the centered codes per element (in its DSPs), then the channel's
// requantizer (quant/qgraph.hpp, ChannelMul). Standalone: a tile reads its region of x and its channels'
// gates. Timing: the elementwise rule, one pass over the output elements (docs/engines.md); resources:
// docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"

namespace vitsim::arch {

namespace {

class ChannelMulUnit : public AuxUnitParams {
 public:
  std::string type() const override { return "channel_mul"; }
  // Two zero-point subtracts, (the product in DSPs), rounding shift, zero point, clamp to int8.
  int64_t luts_per_element() const override {
    using namespace fabric;
    return 2 * add_luts(kCodeBits + 1) + shifter_luts(kAccumulatorBits) + add_luts(kCodeBits) +
           clamp_luts(kCodeBits);
  }
  void compute(const AuxTile& tile) const override {
    const quant::Node& node = tile.node();
    if (node.op != quant::OpKind::ChannelMul) tile.fail(type(), "this unit runs only channel_mul layers");
    const Centered x(*tile.inputs[0], tile.input_quant(0)), g(*tile.inputs[1], tile.input_quant(1));
    const quant::QNode& qn = tile.qnode();
    const int64_t plane = node.out_shape[1] * node.out_shape[2];
    const Region& r = tile.region;
    for (int64_t c = r.c0; c < r.c1; ++c)
      for (int64_t p = r.p0; p < r.p1; ++p)
        tile.out(c * plane + p,
                 quant::int_ops::channel_mul_code(x(c * plane + p), g(c), qn.requant[static_cast<size_t>(c)],
                                                  qn.out.zero_point[0], qn.out.bits));
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(channel_mul, "channel_mul",
                         "squeeze-excite's channel gate: int8 codes times their channel's gate, requantized",
                         parse_plain_aux<ChannelMulUnit>, {AuxStep::ChannelMul})

}  // namespace vitsim::arch

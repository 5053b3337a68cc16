// Auxiliary unit type "token_ops": the token ops of a standard ViT, streamed once through a lane-parallel
// unit. Moves (PatchTokens, HeadSplit, HeadMerge, TokenSelect): each code leaves unchanged, to the address
// the reshape or transpose gives it (an address generator, no arithmetic). ClassToken: the class token's
// codes first, then every input code requantized. PosEmbed: each code plus its position-embedding value,
// requantized. The class token and the position embedding are constants the compiler loads into the weight
// slot (docs/engines.md); the functional datapath takes them from the quantized graph. Timing: the
// elementwise rule over the tile's output elements (docs/engines.md); resources: docs/resource-model.md.
#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"
#include "quant/int_ops.hpp"

namespace vitsim::arch {

namespace {

using quant::OpKind;

class TokenOpsUnit : public AuxUnitParams {
 public:
  std::string type() const override { return "token_ops"; }
  // The requantizing path (zero-point subtract, embedding add, rounding shift, zero point, clamp); the
  // moves only select which code goes where (the address generator is per unit, not per element).
  int64_t luts_per_element() const override {
    using namespace fabric;
    return add_luts(kCodeBits + 1) + add_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) +
           add_luts(kCodeBits) + clamp_luts(kCodeBits);
  }
  // The tile's region (program.hpp: features x rows of a [T, D] or [D] output, heads x tokens of
  // HeadSplit's [B, R, N]), element by element in the output's layout.
  void compute(const AuxTile& tile) const override {
    const quant::Node& node = tile.node();
    const bool moves = node.op == OpKind::PatchTokens || node.op == OpKind::HeadSplit ||
                       node.op == OpKind::HeadMerge || node.op == OpKind::TokenSelect;
    if (!moves && node.op != OpKind::ClassToken && node.op != OpKind::PosEmbed)
      tile.fail(type(), "this unit runs only the ViT token ops");
    const quant::QNode& qn = tile.qnode();
    const quant::QTensor& x = *tile.inputs[0];
    const quant::ActQuant& qx = tile.input_quant(0);
    const quant::int_ops::GridAxes axes = quant::int_ops::grid_axes(node.out_shape);
    const TensorLayout layout = tensor_layout(node.out_shape, node.op, 1);
    // A requantized code; one the tile did not read stays poison (a mismatch).
    auto requantize = [&](int32_t code, int64_t add, size_t g) {
      return code == kPoison
                 ? kPoison
                 : quant::int_ops::requantize_code(int64_t{code} - qx.zero_point[0] + add, qn.requant[g],
                                                   qn.out.zero_point[g], qn.out.bits);
    };
    for (const Box& b : region_boxes(node, tile.region))
      for (int64_t o = b.o0; o < b.o1; ++o)
        for (int64_t m = b.m0; m < b.m1; ++m)
          for (int64_t i = b.i0; i < b.i1; ++i) {
            const int64_t flat = layout.logical(o, m, i);
            const auto at = [&](int64_t source) { return x.data[static_cast<size_t>(source)]; };
            if (moves) {
              tile.out(flat, at(quant::int_ops::moved_code_source(node, x.shape, flat)));
            } else if (node.op == OpKind::ClassToken) {  // row 0 is the token, row t + 1 input token t
              const int64_t width = node.out_shape[1];
              tile.out(flat, flat < width ? qn.const_codes[static_cast<size_t>(flat)]
                                          : requantize(at(flat - width), 0, 0));
            } else {  // PosEmbed
              tile.out(flat, requantize(at(flat), qn.const_codes[static_cast<size_t>(flat)],
                                        quant::int_ops::group_of(qn.out, axes, flat)));
            }
          }
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(
    token_ops, "token_ops",
    "ViT token ops: reshape / transpose moves, class-token prepend, position-embedding add",
    parse_plain_aux<TokenOpsUnit>, {AuxStep::TokenMove, AuxStep::ClassToken, AuxStep::PosEmbed})

}  // namespace vitsim::arch

// Auxiliary unit type "softmax": Softmax over rows in three passes, as P²-ViT's log-int-softmax: the first
// pass streams a row to find its maximum; the second computes each exp(x - max) with I-BERT's
// shift-and-polynomial integer exp and accumulates their sum; the third encodes each exp / sum as a 4-bit
// log2 code (a leading-one detector and a subtraction: the attention product then shifts instead of
// multiplying); with a uniform output quantizer the third pass divides instead (one exact division per
// element, qgraph.hpp). Rows interleave across the passes, so a pass boundary does not drain the pipeline.
// Timing: the elementwise rule over 3 x elements (docs/engines.md); resources: docs/resource-model.md.
#include <algorithm>
#include <vector>

#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"
#include "quant/int_ops.hpp"

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
  // Heads [c0, c1) of a [B, R, N] Softmax, every row and column: each row's fixed-point scores (its
  // group's requantizer), then the three passes of quant/'s softmax_row.
  void compute(const AuxTile& tile) const override {
    const quant::Node& node = tile.node();
    const quant::QNode& qn = tile.qnode();
    if (node.op != quant::OpKind::Softmax || node.out_shape.size() != 3)
      tile.fail(type(), "this unit runs only Softmax layers over [heads, rows, columns]");
    const quant::ActQuant& qx = tile.input_quant(0);
    const int64_t rows = node.out_shape[1], n = node.out_shape[2];
    const Region& r = tile.region;
    if (r.p0 != 0 || r.p1 != n) tile.fail(type(), "a Softmax tile must cover whole rows (every column)");
    std::vector<int64_t> scores(static_cast<size_t>(n));
    std::vector<int32_t> codes(static_cast<size_t>(n));
    for (int64_t b = r.c0; b < r.c1; ++b)
      for (int64_t i = 0; i < rows; ++i) {
        const size_t g = qx.group(b, i);
        const int64_t zp = qx.bits == 32 ? 0 : qx.zero_point[g];
        const int32_t* q = tile.inputs[0]->data.data() + (b * rows + i) * n;
        if (std::find(q, q + n, kPoison) != q + n) {  // a code it did not read: a mismatch, not computed
          std::fill(codes.begin(), codes.end(), kPoison);
        } else {
          for (int64_t j = 0; j < n; ++j) scores[static_cast<size_t>(j)] = qn.requant[g].apply(q[j] - zp);
          quant::int_ops::softmax_row(scores.data(), n, qn.out, qn.out.zero_point[g], codes.data());
        }
        for (int64_t j = 0; j < n; ++j) tile.out((b * rows + i) * n + j, codes[static_cast<size_t>(j)]);
      }
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(
    softmax, "softmax",
    "Softmax over rows: max pass, integer exp and sum pass, log2 encode pass (4-bit codes)",
    parse_plain_aux<SoftmaxUnit>, {AuxStep::Softmax})

}  // namespace vitsim::arch

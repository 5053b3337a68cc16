// Auxiliary unit type "layernorm": LayerNorm over rows in two passes. The statistics pass streams a row
// once, accumulating its sum and sum of squares; the normalize pass streams it again, subtracting the mean,
// scaling by the reciprocal standard deviation and requantizing. Runs a standalone LayerNorm layer (the
// integer LayerNorm of qgraph.hpp: one exact division per element) and the classifier head's LayerNorm
// after its Linear (float_layernorm, FP32 on the int32 sums). Timing: the elementwise rule over 2 x
// elements (docs/engines.md); resources: docs/resource-model.md.
#include <algorithm>
#include <vector>

#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"
#include "quant/int_ops.hpp"

namespace vitsim::arch {

namespace {

class LayerNormUnit : public AuxUnitParams {
 public:
  std::string type() const override { return "layernorm"; }
  int passes() const override { return 2; }
  // Statistics: running sum and sum of squares, 32 bits each (the squares in DSPs). Normalize: subtract the
  // mean, (the product with the reciprocal standard deviation in DSPs), rounding shift, zero point, clamp
  // to int8. The reciprocal square root, once per row, is a sequential block not counted per element.
  int64_t luts_per_element() const override {
    using namespace fabric;
    return 2 * add_luts(kAccumulatorBits) + add_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) +
           add_luts(kCodeBits) + clamp_luts(kCodeBits);
  }
  void compute(const AuxTile& tile) const override {
    const quant::Node& node = tile.node();
    if (node.op == quant::OpKind::LayerNorm) return integer_rows(tile);
    if (node.op != quant::OpKind::Linear || !tile.qnode().float_layernorm)
      tile.fail(type(),
                "this unit runs only LayerNorm rows (a LayerNorm layer, or a float_layernorm Linear's)");
    float_layernorm_rows(tile);
  }

 private:
  // Whole rows of a LayerNorm layer: statistics, then the normalized, requantized codes (qgraph.hpp).
  void integer_rows(const AuxTile& tile) const {
    const int64_t width = tile.node().out_shape.back();
    const Region& r = tile.region;
    if (r.c0 != 0 || r.c1 != width)
      tile.fail(type(), "a LayerNorm tile must cover whole rows (every feature)");
    const quant::int_ops::LayerNormStage stage(tile.qnode(), tile.input_quant(0));
    std::vector<int64_t> work(static_cast<size_t>(width));
    std::vector<int32_t> codes(static_cast<size_t>(width));
    for (int64_t row = r.p0; row < r.p1; ++row) {
      const int32_t* q = tile.inputs[0]->data.data() + row * width;
      // A code the tile could not read is poison: the row is reported as a mismatch, not computed.
      if (std::find(q, q + width, kPoison) != q + width)
        std::fill(codes.begin(), codes.end(), kPoison);
      else
        stage.apply_row(q, codes.data(), work.data());
      for (int64_t c = 0; c < width; ++c) tile.out(row * width + c, codes[static_cast<size_t>(c)]);
    }
  }

  // Whole rows of the Gemm tiles' int32 sums through FP32 LayerNorm, activation and quantizer.
  void float_layernorm_rows(const AuxTile& tile) const {
    const quant::Node& node = tile.node();
    const int64_t features = node.out_features;
    const Region& r = tile.region;
    if (r.c0 != 0 || r.c1 != features)
      tile.fail(type(), "a LayerNorm tile must cover whole rows (every feature)");
    std::vector<float> work(static_cast<size_t>(features));
    std::vector<int32_t> codes(static_cast<size_t>(features));
    for (int64_t row = r.p0; row < r.p1; ++row) {
      // A sum the tile could not read is poison: NaN or a wrong row, reported as a mismatch, not an error.
      if (quant::int_ops::float_layernorm_row(node, tile.qnode(), row, tile.sums->data() + row * features,
                                              work.data(), codes.data()) >= 0)
        std::fill(codes.begin(), codes.end(), kPoison);
      for (int64_t c = 0; c < features; ++c) tile.out(row * features + c, codes[static_cast<size_t>(c)]);
    }
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(
    layernorm, "layernorm",
    "LayerNorm over rows: a statistics pass (sum, sum of squares), then a normalize pass",
    parse_plain_aux<LayerNormUnit>, {AuxStep::LayerNorm})

}  // namespace vitsim::arch

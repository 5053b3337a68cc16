// The auxiliary unit types of the Trio-ViT datapath: requantizer, hswish, relu, residual_add,
// log2_quantizer, shift_subtractor, avgpool (parameters, resources, functional datapaths, registration).
// Their LUT formulas are in docs/resource-model.md; their timing is the elementwise rule with one pass.
#include "arch/fabric_cost.hpp"
#include "arch/functional.hpp"
#include "arch/unit_registry.hpp"
#include "quant/int_ops.hpp"

namespace vitsim::arch {

using namespace fabric;
using quant::OpKind;
using quant::QTensor;
using namespace quant::int_ops;

namespace {

size_t uz(int64_t v) {
  return static_cast<size_t>(v);
}

// The RTL parameters of a lane-parallel auxiliary unit (docs/rtl.md).
std::string lanes_parameters(int throughput, int latency) {
  return "LANES=" + std::to_string(throughput) + " LATENCY=" + std::to_string(latency);
}

// Checks that a standalone tile is a layer of the op the unit runs.
void expect_op(const AuxTile& tile, const std::string& unit, OpKind op) {
  if (tile.node().op != op)
    tile.fail(unit, std::string("this unit runs only ") + quant::op_name(op) + " layers");
}

class Requantizer : public AuxUnitParams {
 public:
  std::string type() const override { return "requantizer"; }
  // Rounding shift of the int32 product, round add, zero point, clamp to int8.
  int64_t luts_per_element() const override {
    return shifter_luts(kAccumulatorBits) + add_luts(kAccumulatorBits) + add_luts(kCodeBits) +
           clamp_luts(kCodeBits);
  }
  RtlInstance rtl(int throughput, int latency) const override {
    return {"vitsim_requantizer", lanes_parameters(throughput, latency)};
  }
};

class Hswish : public AuxUnitParams {
 public:
  std::string type() const override { return "hswish"; }
  // x + 3 clamped to [0, 6], (the product in DSPs), rescaling shift, clamp to int8.
  int64_t luts_per_element() const override {
    return add_luts(kCodeBits) + clamp_luts(kCodeBits) + shifter_luts(kProductBits) + clamp_luts(kCodeBits);
  }
};

class Relu : public AuxUnitParams {
 public:
  std::string type() const override { return "relu"; }
  // max(x, zero point).
  int64_t luts_per_element() const override { return clamp_luts(kCodeBits); }
  // Standalone: the linear-attention kernel, [2h*3d, H, W] as [2h, 3d, N] -> [2h, 3d + 1, N].
  void compute(const AuxTile& tile) const override {
    expect_op(tile, type(), OpKind::AttnKernel);
    const QTensor& x = *tile.inputs[0];
    const int64_t d = tile.node().head_dim, n = tile.node().out_shape[2];
    const Region& r = tile.region;
    for (int64_t b = r.c0; b < r.c1; ++b)
      for (int64_t row = 0; row <= 3 * d; ++row)
        for (int64_t j = r.p0; j < r.p1; ++j)
          tile.out((b * (3 * d + 1) + row) * n + j,
                   attn_kernel_code(row, d, row < 3 * d ? x.data[uz((b * 3 * d + row) * n + j)] : 0));
  }
};

class ResidualAdd : public AuxUnitParams {
 public:
  std::string type() const override { return "residual_add"; }
  // Two zero-point subtracts, (the rescales in DSPs), sum, shift, zero point, clamp.
  int64_t luts_per_element() const override {
    return 2 * add_luts(kCodeBits + 1) + add_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) +
           add_luts(kCodeBits) + clamp_luts(kCodeBits);
  }
  void compute(const AuxTile& tile) const override {
    expect_op(tile, type(), OpKind::Add);
    const QTensor& x0 = *tile.inputs[0];
    const QTensor& x1 = *tile.inputs[1];
    const AddStage stage(tile.qnode(), tile.input_quant(0), tile.input_quant(1), tile.node().act);
    const RegionSpace space = region_space(tile.node());
    // [T, D] tokens: c is the feature, whose PTF factors the stage applies; [C, H, W]: c is the channel.
    const bool tokens = tile.node().out_shape.size() == 2;
    const Region& r = tile.region;
    for (int64_t c = r.c0; c < r.c1; ++c)
      for (int64_t p = r.p0; p < r.p1; ++p) {
        const int64_t flat = tokens ? p * space.channels + c : c * space.pixels + p;
        tile.out(flat, stage.apply(x0.data[uz(flat)], x1.data[uz(flat)], tokens ? uz(c) : 0));
      }
  }
};

class Log2Quantizer : public AuxUnitParams {
 public:
  std::string type() const override { return "log2_quantizer"; }
  // One division lane: log2 of the divisor, dividend >> log2, clamp to int8.
  int64_t luts_per_element() const override {
    return leading_one_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) + clamp_luts(kCodeBits);
  }
  RtlInstance rtl(int throughput, int latency) const override {
    return {"vitsim_log2_divider", lanes_parameters(throughput, latency)};
  }
  // Attention normalize: [2h, d + 1, N] accumulators -> [2h*d, H, W].
  void compute(const AuxTile& tile) const override {
    expect_op(tile, type(), OpKind::AttnNormalize);
    const QTensor& x = *tile.inputs[0];
    const quant::QNode& qn = tile.qnode();
    const int64_t d = tile.node().head_dim, n = x.shape[2], width = tile.node().out_shape[2];
    const Region& r = tile.region;
    for (int64_t b = r.c0; b < r.c1; ++b) {
      const NormalizeStage stage(qn, qn.numerator.group(b, 0));
      const int32_t* divisor = x.data.data() + (b * (d + 1) + d) * n;
      for (int64_t row = 0; row < d; ++row) {
        const int64_t c = b * d + row;
        for (int64_t j = r.p0; j < r.p1; ++j)
          tile.out(c * n + j, stage.apply(x.data[uz((b * (d + 1) + row) * n + j)], divisor[j],
                                          qn.out.zero_point[qn.out.group(c, j / width)]));
      }
    }
  }
};

class ShiftSubtractor : public AuxUnitParams {
 public:
  std::string type() const override { return "shift_subtractor"; }
  // int8 code minus the channel's shift, clamped to int8.
  int64_t luts_per_element() const override { return add_luts(kCodeBits + 1) + clamp_luts(kCodeBits); }
};

class AvgPool : public AuxUnitParams {
 public:
  std::string type() const override { return "avgpool"; }
  // int32 running sum (the division by H x W is a requantization).
  int64_t luts_per_element() const override { return add_luts(kAccumulatorBits); }
  void compute(const AuxTile& tile) const override {
    expect_op(tile, type(), OpKind::GlobalAvgPool);
    const QTensor& x = *tile.inputs[0];
    const Centered xc(x, tile.input_quant(0));
    const quant::QNode& qn = tile.qnode();
    const int64_t plane = x.shape[1] * x.shape[2];
    for (int64_t c = tile.region.c0; c < tile.region.c1; ++c) {
      int64_t sum = 0;
      for (int64_t p = 0; p < plane; ++p) sum += xc(c * plane + p);
      tile.out(c, requantize_code(sum, qn.requant[0], qn.out.zero_point[qn.out.group(c, 0)], qn.out.bits));
    }
  }
};

}  // namespace

VITSIM_REGISTER_AUX_UNIT(requantizer, "requantizer",
                         "int32 accumulators -> int8 codes (multiplier + shift, or power-of-two shift)",
                         parse_plain_aux<Requantizer>, {AuxStep::Requantize})
VITSIM_REGISTER_AUX_UNIT(hswish, "hswish", "Hardswish on int8 codes", parse_plain_aux<Hswish>,
                         {AuxStep::Hswish})
VITSIM_REGISTER_AUX_UNIT(relu, "relu", "ReLU on codes; standalone, the linear-attention kernel (AttnKernel)",
                         parse_plain_aux<Relu>, {AuxStep::Relu, AuxStep::AttnKernel})
VITSIM_REGISTER_AUX_UNIT(residual_add, "residual_add",
                         "element-wise add of two int8 tensors with rescale (Add)",
                         parse_plain_aux<ResidualAdd>, {AuxStep::ResidualAdd})
VITSIM_REGISTER_AUX_UNIT(log2_quantizer, "log2_quantizer",
                         "attention divisors -> log2 code, numerators shifted (AttnNormalize)",
                         parse_plain_aux<Log2Quantizer>, {AuxStep::AttnNormalize})
VITSIM_REGISTER_AUX_UNIT(shift_subtractor, "shift_subtractor",
                         "filter-wise shift subtractor on the DW -> PW path",
                         parse_plain_aux<ShiftSubtractor>, {AuxStep::ShiftSubtract})
VITSIM_REGISTER_AUX_UNIT(avgpool, "avgpool", "global average pool (GlobalAvgPool)", parse_plain_aux<AvgPool>,
                         {AuxStep::AvgPool})

}  // namespace vitsim::arch

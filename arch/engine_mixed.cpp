// Engine type "mixed" (Auto-ViT-Acc): parameters, parser, timing rule, fabric cost and registration.
#include <algorithm>

#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"
#include "quant/mixed_scheme.hpp"

namespace vitsim::arch {

namespace {
std::unique_ptr<EngineParams> parse_mixed(quant::JsonReader& r) {
  auto p = std::make_unique<MixedParams>();
  r.require("pe");
  p->pe = r.integer("pe", 0, 1, 4096);
  r.require("dsp_lanes");
  p->dsp_lanes = r.integer("dsp_lanes", 0, 1, 4096);
  r.require("lut_lanes");
  p->lut_lanes = r.integer("lut_lanes", 0, 1, 4096);
  p->replicas = r.integer("replicas", 1, 1, 4096);
  p->pot_bits = r.integer("pot_bits", 4, 2, 4);  // 2^6 fits the 8-bit codes the lanes take
  p->merge_latency = r.integer("merge_latency", 1, 0, 16);
  p->adder_tree_stages = ceil_log2(p->pe);
  p->pipeline = read_pipeline(r);
  return p;
}
}  // namespace

std::string MixedParams::summary() const {
  return "pe(N) " + std::to_string(pe) + " x (dsp_lanes " + std::to_string(dsp_lanes) + " + lut_lanes " +
         std::to_string(lut_lanes) + ") x replicas(L) " + std::to_string(replicas) + ", " +
         std::to_string(pot_bits) + "-bit power-of-two shifters, adder tree " +
         std::to_string(adder_tree_stages) + " stages, merge " + std::to_string(merge_latency);
}

nlohmann::json MixedParams::to_json() const {
  return {{"pe", pe},
          {"dsp_lanes", dsp_lanes},
          {"lut_lanes", lut_lanes},
          {"replicas", replicas},
          {"pot_bits", pot_bits},
          {"merge_latency", merge_latency},
          {"adder_tree_stages", adder_tree_stages},
          {"pipeline", pipeline.to_json()}};
}

bool MixedParams::supports(TileWork work, int, int) const {
  return work == TileWork::Gemm;
}

// The tile's n - pot_n fixed-point rows go to the DSP lanes, its pot_n power-of-two rows to the shift-add
// lanes; both kinds take the same broadcast input and run in lockstep, so a group covers dsp_lanes fixed and
// lut_lanes power-of-two rows, and the tile needs as many groups as the slower kind. The replicas take
// output pixels. A wave fetches pe input codes per replica and pe weight codes per lane of either kind;
// the merge stage adds merge_latency to the pipeline.
GroupPipeline MixedParams::group_pipeline(const ComputeTile& t) const {
  GroupPipeline g;
  const int64_t row_passes = std::max(ceil_div(t.n - t.pot_n, dsp_lanes), ceil_div(t.pot_n, lut_lanes));
  g.groups = t.groups * row_passes * ceil_div(t.m, replicas);
  g.waves = ceil_div(t.k, pe);
  g.act_bytes = int64_t{pe} * replicas;
  g.weight_bytes = int64_t{pe} * (dsp_lanes + lut_lanes);
  g.depth = pipeline.total() + adder_tree_stages + merge_latency;
  g.group_outputs = int64_t{dsp_lanes + lut_lanes} * replicas;
  return g;
}

TileGranule MixedParams::granule(TileWork) const {
  return {dsp_lanes + lut_lanes, replicas};
}

int64_t MixedParams::shifter_luts() const {
  const int kmax = quant::pot_max_exponent(pot_bits);
  return fabric::shifter_bits_luts(fabric::kCodeBits + kmax, kmax);
}

// A shift-add lane's "multipliers" are power-of-two product units: the synthesized unit's LUTs (shifter and
// sign, shift_product.sv) where configs/synth/resources.csv has the row, else shifter_luts(), the weight's
// sign then taken by the tree's first adders (add or subtract: one more input of the LUT before the carry
// chain). Every lane's adder tree sums pe 16-bit products (a code shifted by up to 2^6 fits) and its
// accumulator adds the tree's sum, as MAT's; the merge stage is a pipeline register (flip-flops, not
// estimated). docs/resource-model.md.
std::vector<FabricPart> MixedParams::fabric() const {
  const int64_t all_lanes = int64_t{dsp_lanes + lut_lanes} * replicas;
  return {shift_products("shift-add shifters", int64_t{pe} * lut_lanes * replicas, false, pot_bits,
                         shifter_luts()),
          {"adder trees", all_lanes * adder_tree_luts(pe, fabric::kProductBits)},
          {"lane accumulators", all_lanes * fabric::add_luts(fabric::kAccumulatorBits)}};
}

VITSIM_REGISTER_ENGINE(mixed, "mixed",
                       "Auto-ViT-Acc mixed-scheme GEMM: DSP lanes for fixed-point weight rows and LUT "
                       "shift-add lanes for power-of-two rows, input broadcast, replicas along output pixels",
                       parse_mixed)

}  // namespace vitsim::arch

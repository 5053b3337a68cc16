// Engine type "mat": parameters, parser and registration.
#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

void read_mat_array(quant::JsonReader& r, MatParams& p) {
  r.require("pe");
  p.pe = r.integer("pe", 0, 1, 4096);
  r.require("lanes");
  p.lanes = r.integer("lanes", 0, 1, 4096);
  p.replicas = r.integer("replicas", 1, 1, 4096);
  p.adder_tree_stages = ceil_log2(p.pe);
  p.pipeline = read_pipeline(r);
}

std::string MatParams::summary() const {
  return "pe(N) " + std::to_string(pe) + " x lanes(M) " + std::to_string(lanes) + " x replicas(L) " +
         std::to_string(replicas) + ", adder tree " + std::to_string(adder_tree_stages) + " stages";
}

nlohmann::json MatParams::to_json() const {
  return {{"pe", pe},
          {"lanes", lanes},
          {"replicas", replicas},
          {"adder_tree_stages", adder_tree_stages},
          {"pipeline", pipeline.to_json()}};
}

bool MatParams::supports(TileWork work, int, int) const {
  return work == TileWork::Gemm;
}

// Inside a lane, pe input channels are multiplied and summed by the adder tree; the lanes take output
// channels and share the broadcast input; the replicas take output pixels and share the weights.
GroupPipeline MatParams::group_pipeline(const ComputeTile& t) const {
  GroupPipeline g;
  g.groups = t.groups * ceil_div(t.n, lanes) * ceil_div(t.m, replicas);
  g.waves = ceil_div(t.k, pe);
  g.act_bytes = int64_t{pe} * replicas;
  g.weight_bytes = int64_t{pe} * lanes;
  g.depth = pipeline.total() + adder_tree_stages;
  g.group_outputs = int64_t{lanes} * replicas;
  return g;
}

TileGranule MatParams::granule(TileWork) const {
  return {lanes, replicas};
}

// A lane's adder tree sums pe 16-bit products; its accumulator adds the tree's sum (docs/resource-model.md).
std::vector<FabricPart> MatParams::fabric() const {
  const int64_t all_lanes = int64_t{lanes} * replicas;
  return {{"adder trees", all_lanes * adder_tree_luts(pe, fabric::kProductBits)},
          {"lane accumulators", all_lanes * fabric::add_luts(fabric::kAccumulatorBits)}};
}

RtlInstance MatParams::rtl(const PortShare& ports) const {
  return mac_array_rtl(type(), pe, lanes, replicas, pipeline, ports);
}

VITSIM_REGISTER_ENGINE(
    mat, "mat",
    "MAT: multipliers + adder trees, input broadcast (pe input channels per lane, lanes output "
    "channels, replicas output pixels); generic/pointwise convs and matmuls",
    parse_mat_array<MatParams>)

}  // namespace vitsim::arch

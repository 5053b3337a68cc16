// Engine type "rmac": parameters, parser and registration.
#include <algorithm>

#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

namespace {
std::string int_list(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

// Sorted, no duplicates; `odd` also requires odd values.
void check_set(quant::JsonReader& r, const std::string& key, const std::vector<int>& v, bool odd) {
  if (v.empty()) r.fail(key, "expected a non-empty array");
  for (size_t i = 0; i < v.size(); ++i) {
    if (odd && v[i] % 2 == 0)
      r.fail(key + "/" + std::to_string(i), "expected an odd kernel size, found " + std::to_string(v[i]));
    if (i > 0 && v[i] <= v[i - 1])
      r.fail(key, "expected strictly ascending values, found [" + int_list(v) + "]");
  }
}

std::unique_ptr<EngineParams> parse_rmac(quant::JsonReader& r) {
  auto p = std::make_unique<RmacParams>();
  r.require("pe");
  p->pe = r.integer("pe", 0, 1, 4096);
  r.require("lanes");
  p->lanes = r.integer("lanes", 0, 1, 4096);
  p->replicas = r.integer("replicas", 1, 1, 4096);
  p->kernels = r.integers("kernels", {3, 5}, 1, 15);
  check_set(r, "kernels", p->kernels, true);
  p->strides = r.integers("strides", {1, 2}, 1, 8);
  check_set(r, "strides", p->strides, false);
  p->assist_pointwise = r.boolean("assist_pointwise", true);
  p->pipeline = read_pipeline(r);
  return p;
}
}  // namespace

bool RmacParams::supports(TileWork work, int kernel, int stride) const {
  if (work == TileWork::Gemm) return assist_pointwise;
  return work == TileWork::Depthwise && std::count(kernels.begin(), kernels.end(), kernel) &&
         std::count(strides.begin(), strides.end(), stride);
}

// Depthwise: pe channels in a lane, lanes x replicas output pixels; each wave is one tap, accumulated in
// place (output stationary), so there is no adder tree and a group needs kernel^2 waves. Pointwise assist:
// the MAT arrangement (pe input channels per lane reduced by an adder tree, lanes output channels, replicas
// output pixels).
GroupPipeline RmacParams::group_pipeline(const ComputeTile& t) const {
  GroupPipeline g;
  if (t.work == TileWork::Depthwise) {
    g.groups = ceil_div(t.n, pe) * ceil_div(t.m, int64_t{lanes} * replicas);
    g.waves = t.k;
    g.act_bytes = int64_t{pe} * lanes * replicas;
    g.weight_bytes = pe;
    g.depth = pipeline.total();
    g.group_outputs = int64_t{pe} * lanes * replicas;
  } else {
    g.groups = t.groups * ceil_div(t.n, lanes) * ceil_div(t.m, replicas);
    g.waves = ceil_div(t.k, pe);
    g.act_bytes = int64_t{pe} * replicas;
    g.weight_bytes = int64_t{pe} * lanes;
    g.depth = pipeline.total() + ceil_log2(pe);
    g.group_outputs = int64_t{lanes} * replicas;
  }
  return g;
}

std::string RmacParams::summary() const {
  return "pe(T) " + std::to_string(pe) + " x lanes(S) " + std::to_string(lanes) + " x replicas(L) " +
         std::to_string(replicas) + ", dw kernels {" + int_list(kernels) + "} strides {" + int_list(strides) +
         "}" + (assist_pointwise ? ", assists pointwise" : "");
}

nlohmann::json RmacParams::to_json() const {
  return {{"pe", pe},
          {"lanes", lanes},
          {"replicas", replicas},
          {"kernels", kernels},
          {"strides", strides},
          {"assist_pointwise", assist_pointwise},
          {"pipeline", pipeline.to_json()}};
}

// Depthwise: pe channels in a lane, lanes x replicas output pixels; pointwise assist: MAT's arrangement.
TileGranule RmacParams::granule(TileWork work) const {
  if (work == TileWork::Depthwise) return {pe, int64_t{lanes} * replicas};
  return {lanes, replicas};
}

// Output stationary: one accumulator per multiplier. Pointwise assist adds MAT's per-lane adder trees; its
// lane sum then goes into one of the lane's accumulators (the 2:1 mode mux fits in the adder's LUTs).
std::vector<FabricPart> RmacParams::fabric() const {
  std::vector<FabricPart> parts{{"accumulators", multipliers() * fabric::add_luts(fabric::kAccumulatorBits)}};
  if (assist_pointwise)
    parts.push_back(
        {"pointwise adder trees", int64_t{lanes} * replicas * adder_tree_luts(pe, fabric::kProductBits)});
  return parts;
}

RtlInstance RmacParams::rtl(const PortShare& ports) const {
  return mac_array_rtl(type(), pe, lanes, replicas, pipeline, ports);
}

VITSIM_REGISTER_ENGINE(
    rmac, "rmac",
    "R-MAC: reconfigurable MAC array; depthwise convs (pe channels per lane, lanes output "
    "pixels, replicas copies), output stationary over the taps; optional pointwise/matmul assist",
    parse_rmac)

}  // namespace vitsim::arch

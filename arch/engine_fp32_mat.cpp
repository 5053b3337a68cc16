// Engine type "fp32_mat": MAT's array and dataflow in IEEE single precision, for FP32 baselines
// (parameters, timing, resources, registration). Each product unit is an FP32 multiply-add; operands are
// 4 bytes; the adders' pipeline latency lengthens the adder tree and adds the accumulator's fold.
#include "arch/engine_types.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

namespace {
constexpr int64_t kFp32Bytes = 4;

// The multiply-add's keys, each required, with its range.
struct Fp32Key {
  const char* name;
  int Fp32MatParams::*field;
  int min, max;
};
constexpr Fp32Key kFp32Keys[] = {{"dsps_per_mac", &Fp32MatParams::dsps_per_mac, 0, 64},
                                 {"luts_per_mac", &Fp32MatParams::luts_per_mac, 0, 100000},
                                 {"add_latency", &Fp32MatParams::add_latency, 1, 64}};

std::unique_ptr<EngineParams> parse_fp32_mat(quant::JsonReader& r) {
  auto p = std::make_unique<Fp32MatParams>();
  read_mat_array(r, *p);
  for (const Fp32Key& key : kFp32Keys) {
    r.require(key.name);
    (*p).*key.field = r.integer(key.name, key.min, key.min, key.max);
  }
  return p;
}
}  // namespace

std::string Fp32MatParams::summary() const {
  return MatParams::summary() + "; FP32 multiply-adds (" + std::to_string(dsps_per_mac) + " DSP, " +
         std::to_string(luts_per_mac) + " LUTs each), adder latency " + std::to_string(add_latency);
}

nlohmann::json Fp32MatParams::to_json() const {
  nlohmann::json j = MatParams::to_json();
  j["dsps_per_mac"] = dsps_per_mac;
  j["luts_per_mac"] = luts_per_mac;
  j["add_latency"] = add_latency;
  j["depth"] = depth();
  return j;
}

int64_t Fp32MatParams::depth() const {
  return pipeline.total() + int64_t{adder_tree_stages + ceil_log2(add_latency)} * add_latency;
}

// MAT's groups and waves; a wave fetches pe FP32 activations per replica and pe FP32 weights per lane.
// The lane's adder tree has adder_tree_stages FP32 adders in a row, add_latency cycles each; its
// accumulator (an FP32 adder, pipeline.accumulate cycles) takes one tree sum per cycle into add_latency
// interleaved partial sums, which ceil(log2(add_latency)) more adder stages fold at the group's end while
// the next group starts on a second set (docs/engines.md, "FP32 datapath").
GroupPipeline Fp32MatParams::group_pipeline(const ComputeTile& t) const {
  GroupPipeline g = MatParams::group_pipeline(t);
  g.act_bytes *= kFp32Bytes;
  g.weight_bytes *= kFp32Bytes;
  g.depth = depth();
  return g;
}

// The multiply-adds' logic (exponent alignment, normalization, rounding) around their DSPs: the adder
// trees and accumulators are the adders of the multiply-adds, so nothing else is counted
// (docs/resource-model.md).
std::vector<FabricPart> Fp32MatParams::fabric() const {
  return {{"FP32 multiply-adds", multipliers() * luts_per_mac}};
}

VITSIM_REGISTER_ENGINE(
    fp32_mat, "fp32_mat",
    "FP32 MAT: MAT's array of FP32 multiply-adds (pe input channels per lane, lanes output "
    "channels, replicas output pixels), 4-byte operands; FP32 baselines",
    parse_fp32_mat)

}  // namespace vitsim::arch

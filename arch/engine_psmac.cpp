// Engine type "ps_mac": P²-ViT's precision-scalable MAC array (parameters, timing, resources,
// registration). MAT's array and dataflow; at <= 4-bit weights each multiplier takes two products (an INT8
// activation times two INT4 weights of two output channels), so a lane computes two output channels.
#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"
#include "arch/resource_model.hpp"

namespace vitsim::arch {

namespace {

// Output channels a lane computes at once for weights of `bits`: two at <= 4 bits, else one.
int64_t channels_per_lane(int bits) {
  return bits <= 4 ? 2 : 1;
}
}  // namespace

std::string PsMacParams::summary() const {
  return MatParams::summary() + "; two INT4-weight products per multiplier";
}

// MAT's output-group pipeline with lanes x c output channels per group (c = 2 at <= 4-bit weights): the
// same activation bytes per wave, c times the weight codes (one byte each, as the weight buffer holds them)
// and c times the results per group.
GroupPipeline PsMacParams::group_pipeline(const ComputeTile& t) const {
  const int64_t c = channels_per_lane(t.weight_bits);
  GroupPipeline g = MatParams::group_pipeline(t);
  g.groups = t.groups * ceil_div(t.n, lanes * c) * ceil_div(t.m, replicas);
  g.weight_bytes *= c;
  g.group_outputs *= c;
  return g;
}

VITSIM_REGISTER_ENGINE(
    ps_mac, "ps_mac",
    "PS-MAC: MAT's array of precision-scalable multipliers (one INT8 x INT8 or two INT8 x INT4 products "
    "per cycle); linear layers and Q·Kᵀ",
    parse_mat_array<PsMacParams>)

}  // namespace vitsim::arch

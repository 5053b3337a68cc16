#include "arch/unit_registry.hpp"

#include <sstream>
#include <stdexcept>

#include "arch/tile_timing.hpp"

namespace vitsim::arch {

// Every built-in unit type, in registration order (auxiliary units are listed and run in this order): each
// X(id) names a register_unit_<id> defined by VITSIM_REGISTER_ENGINE or VITSIM_REGISTER_AUX_UNIT. Adding a
// type: write its .cpp in arch/ (arch/CMakeLists.txt compiles every engine_*.cpp and unit_*.cpp), add X(id).
#define VITSIM_BUILTIN_UNITS \
  X(mat)                     \
  X(fp32_mat)                \
  X(mixed)                   \
  X(rmac)                    \
  X(systolic)                \
  X(ps_mac)                  \
  X(shift_array)             \
  X(requantizer)             \
  X(hswish)                  \
  X(relu)                    \
  X(residual_add)            \
  X(log2_quantizer)          \
  X(shift_subtractor)        \
  X(avgpool)                 \
  X(layernorm)               \
  X(gelu)                    \
  X(softmax)                 \
  X(token_ops)               \
  X(maxpool)                 \
  X(act_table)               \
  X(channel_mul)             \
  X(requant_shifter)

#define X(id) void register_unit_##id(UnitRegistry& registry);
VITSIM_BUILTIN_UNITS
#undef X

UnitRegistry& UnitRegistry::instance() {
  static UnitRegistry* registry = [] {
    auto* r = new UnitRegistry();  // never destroyed: usable during static destruction too
#define X(id) register_unit_##id(*r);
    VITSIM_BUILTIN_UNITS
#undef X
    return r;
  }();
  return *registry;
}

bool UnitType::performs(AuxStep step) const {
  for (AuxStep s : steps)
    if (s == step) return true;
  return false;
}

void UnitRegistry::add(UnitType type) {
  if (type.name.empty()) throw std::logic_error("unit type with an empty name");
  if (types_.count(type.name)) throw std::logic_error("unit type '" + type.name + "' registered twice");
  const bool engine = type.role == UnitType::Role::Engine;
  if (engine ? !type.parse_engine || type.parse_aux : !type.parse_aux || type.parse_engine)
    throw std::logic_error("unit type '" + type.name + "' needs exactly the parser of its role");
  if (engine != type.steps.empty())
    throw std::logic_error("unit type '" + type.name + "': auxiliary units, and only they, list their steps");
  type.order = static_cast<int>(types_.size());
  const std::string name = type.name;
  types_.emplace(name, std::move(type));
}

const UnitType* UnitRegistry::find(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> UnitRegistry::names(UnitType::Role role) const {
  std::vector<std::string> out;
  for (const auto& kv : types_)
    if (kv.second.role == role) out.push_back(kv.first);
  return out;
}

std::string UnitRegistry::names_list(UnitType::Role role) const {
  std::string out;
  for (const std::string& name : names(role)) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string UnitRegistry::performers(AuxStep step) const {
  std::string out;
  for (const auto& kv : types_)
    if (kv.second.performs(step)) out += (out.empty() ? "" : ", ") + kv.first;
  return out;
}

const char* aux_step_name(AuxStep step) {
  switch (step) {
    case AuxStep::Requantize:
      return "requantize";
    case AuxStep::Relu:
      return "relu";
    case AuxStep::Hswish:
      return "hswish";
    case AuxStep::Gelu:
      return "gelu";
    case AuxStep::ShiftSubtract:
      return "shift-subtract";
    case AuxStep::ResidualAdd:
      return "residual-add";
    case AuxStep::AttnKernel:
      return "attention-kernel";
    case AuxStep::AttnNormalize:
      return "attention-normalize";
    case AuxStep::AvgPool:
      return "average-pool";
    case AuxStep::LayerNorm:
      return "layernorm";
    case AuxStep::Softmax:
      return "softmax";
    case AuxStep::TokenMove:
      return "token-move";
    case AuxStep::ClassToken:
      return "class-token";
    case AuxStep::PosEmbed:
      return "position-embedding";
    case AuxStep::MaxPool:
      return "max-pool";
    case AuxStep::ActTable:
      return "table-activation";
    case AuxStep::ChannelMul:
      return "channel-multiply";
  }
  return "?";
}

void AuxUnitParams::compute(const AuxTile&) const {
  throw std::invalid_argument("auxiliary unit type '" + type() + "' has no functional datapath");
}

nlohmann::json PipelineLatency::to_json() const {
  return {{"fetch", fetch}, {"multiply", multiply}, {"accumulate", accumulate}, {"writeback", writeback}};
}

PipelineLatency read_pipeline(quant::JsonReader& engine) {
  PipelineLatency p;
  quant::JsonReader r = engine.object("pipeline");  // empty when absent: all defaults
  p.fetch = r.integer("fetch", 1, 1, 64);
  p.multiply = r.integer("multiply", 1, 1, 64);
  p.accumulate = r.integer("accumulate", 1, 1, 64);
  p.writeback = r.integer("writeback", 1, 1, 64);
  r.reject_unknown_keys();
  return p;
}

RtlInstance mac_array_rtl(const std::string& type, int pe, int lanes, int replicas,
                          const PipelineLatency& stages, const PortShare& ports) {
  std::ostringstream s;
  s << "PE=" << pe << " LANES=" << lanes << " REPLICAS=" << replicas << " FETCH=" << stages.fetch
    << " MULTIPLY=" << stages.multiply << " ACCUMULATE=" << stages.accumulate
    << " WRITEBACK=" << stages.writeback << " ACT_SHARE=" << ports.act_bytes_per_cycle
    << " WEIGHT_SHARE=" << ports.weight_bytes_per_cycle << " CHAIN_RATE=0";
  return {"vitsim_" + type + "_engine", s.str()};
}

}  // namespace vitsim::arch

#include "arch/engine_registry.hpp"

#include <stdexcept>

namespace vitsim::arch {

// Every built-in engine type: each X(id) names a register_engine_<id> defined by VITSIM_REGISTER_ENGINE in
// engine_<id>.cpp. Adding a type: write engine_<id>.cpp, add it to arch/CMakeLists.txt, add X(id) here.
#define VITSIM_BUILTIN_ENGINES X(mat) X(rmac) X(systolic)

#define X(id) void register_engine_##id(EngineRegistry& registry);
VITSIM_BUILTIN_ENGINES
#undef X

EngineRegistry& EngineRegistry::instance() {
  static EngineRegistry* registry = [] {
    auto* r = new EngineRegistry();  // never destroyed: usable during static destruction too
#define X(id) register_engine_##id(*r);
    VITSIM_BUILTIN_ENGINES
#undef X
    return r;
  }();
  return *registry;
}

void EngineRegistry::add(EngineType type) {
  if (type.name.empty()) throw std::logic_error("engine type with an empty name");
  if (types_.count(type.name)) throw std::logic_error("engine type '" + type.name + "' registered twice");
  const std::string name = type.name;
  types_.emplace(name, std::move(type));
}

const EngineType* EngineRegistry::find(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> EngineRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : types_) out.push_back(kv.first);
  return out;
}

std::string EngineRegistry::names_list() const {
  std::string out;
  for (const auto& kv : types_) out += (out.empty() ? "" : ", ") + kv.first;
  return out;
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

}  // namespace vitsim::arch

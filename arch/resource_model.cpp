#include "arch/resource_model.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "arch/engine_types.hpp"

namespace vitsim::arch {

extern const char* const kSynthesizedResourcesCsv;  // synth_table.cpp, generated from the table

namespace {
// Bit widths of the datapath (docs/resource-model.md, "Widths"): INT8 operands, their full 16-bit
// product, and the int32 accumulators the requantizer takes.
constexpr int kCodeBits = 8;
constexpr int kProductBits = 2 * kCodeBits;
constexpr int kAccumulatorBits = 32;
// Control FSMs, the DMA engine with its AXI master and the buffer address generators: an assumption (order of
// magnitude), not derived from the config.
constexpr int64_t kControlLuts = 10000;

// Fabric building blocks on a LUT6 + CARRY8 fabric, in LUTs: an adder or comparator uses one LUT per bit
// (the carry chain does the rest), a 2:1 mux one LUT per bit.
int64_t add_luts(int bits) {
  return bits;
}
int64_t mux_luts(int bits) {
  return bits;
}
// Clamp to a range: a comparator and a select.
int64_t clamp_luts(int bits) {
  return add_luts(bits) + mux_luts(bits);
}
// Logarithmic barrel shifter by a variable amount: ceil(log2(bits)) stages of `bits` 2:1 muxes.
int64_t shifter_luts(int bits) {
  return int64_t{bits} * ceil_log2(bits);
}
// Leading-one detector (priority encoder) giving floor(log2(x)): about one LUT per input bit.
int64_t leading_one_luts(int bits) {
  return bits;
}

struct EngineLuts {
  std::string what;
  int64_t luts;
};

// The LUT-built parts of one engine (its multipliers are DSPs).
std::vector<EngineLuts> engine_luts(const EngineConfig& e) {
  const EngineParams& p = *e.params;
  if (const auto* mat = dynamic_cast<const MatParams*>(&p)) {
    const int64_t lanes = int64_t{mat->lanes} * mat->replicas;
    return {{"adder trees", lanes * adder_tree_luts(mat->pe, kProductBits)},
            {"lane accumulators", lanes * add_luts(kAccumulatorBits)}};
  }
  if (const auto* rmac = dynamic_cast<const RmacParams*>(&p)) {
    // Output stationary: one accumulator per multiplier. Pointwise assist adds MAT's per-lane adder trees;
    // its lane sum then goes into one of the lane's accumulators (the 2:1 mode mux fits in the adder's LUTs).
    std::vector<EngineLuts> parts{{"accumulators", rmac->multipliers() * add_luts(kAccumulatorBits)}};
    if (rmac->assist_pointwise)
      parts.push_back({"pointwise adder trees",
                       int64_t{rmac->lanes} * rmac->replicas * adder_tree_luts(rmac->pe, kProductBits)});
    return parts;
  }
  if (const auto* sa = dynamic_cast<const SystolicParams*>(&p)) {
    // Every PE adds its product to a partial sum (its own in os, the one from above in ws/is); an
    // output-stationary PE also selects between accumulating and shifting its neighbour's result out.
    std::vector<EngineLuts> parts{{"PE adders", sa->multipliers() * add_luts(kAccumulatorBits)}};
    if (sa->dataflow == Dataflow::OutputStationary)
      parts.push_back({"PE drain muxes", sa->multipliers() * mux_luts(kAccumulatorBits)});
    return parts;
  }
  throw std::logic_error("resource model: no LUT model for engine type \"" + p.type() + "\" (engine \"" +
                         e.name + "\"); add one in arch/resource_model.cpp");
}

// BRAM36 port aspects (depth x width), UltraScale+ RAMB36E2. 512 x 72 exists only in simple dual-port
// mode (one read and one write port), so a bank with two read/write ports stops at 1K x 36.
struct Aspect {
  int64_t depth;
  int width;
};
constexpr Aspect kAspects[] = {{32768, 1}, {16384, 2}, {8192, 4}, {4096, 9},
                               {2048, 18}, {1024, 36}, {512, 72}};
}  // namespace

const SynthesizedUnit* synthesized_unit(const std::string& top, const std::string& parameters) {
  // The table: config,unit,top,parameters,luts,ffs,dsp48e2,bram36 (a header line, then one unit a line).
  static const std::map<std::string, SynthesizedUnit> table = [] {
    std::map<std::string, SynthesizedUnit> t;
    std::istringstream csv(kSynthesizedResourcesCsv);
    std::string line;
    std::getline(csv, line);
    while (std::getline(csv, line)) {
      std::vector<std::string> f;
      std::istringstream fields(line);
      for (std::string field; std::getline(fields, field, ',');) f.push_back(field);
      if (f.size() != 8) throw std::logic_error("configs/synth/resources.csv: bad line '" + line + "'");
      t[f[2] + " " + f[3]] = {std::stoll(f[4]), std::stoll(f[5]), std::stoll(f[6]), std::stoll(f[7])};
    }
    return t;
  }();
  const auto it = table.find(top + " " + parameters);
  return it == table.end() ? nullptr : &it->second;
}

std::pair<std::string, std::string> engine_rtl(const AccelConfig& config, const EngineConfig& engine) {
  const EngineParams& p = *engine.params;
  const PipelineLatency* stages = nullptr;
  int pe = 0, lanes = 0, replicas = 0;
  if (const auto* mat = dynamic_cast<const MatParams*>(&p))
    stages = &mat->pipeline, pe = mat->pe, lanes = mat->lanes, replicas = mat->replicas;
  else if (const auto* rmac = dynamic_cast<const RmacParams*>(&p))
    stages = &rmac->pipeline, pe = rmac->pe, lanes = rmac->lanes, replicas = rmac->replicas;
  else
    return {"", ""};
  const PortShare ports = port_share(config);
  std::ostringstream s;
  s << "PE=" << pe << " LANES=" << lanes << " REPLICAS=" << replicas << " FETCH=" << stages->fetch
    << " MULTIPLY=" << stages->multiply << " ACCUMULATE=" << stages->accumulate
    << " WRITEBACK=" << stages->writeback << " ACT_SHARE=" << ports.act_bytes_per_cycle
    << " WEIGHT_SHARE=" << ports.weight_bytes_per_cycle << " CHAIN_RATE=0";
  return {"vitsim_" + p.type() + "_engine", s.str()};
}

std::pair<std::string, std::string> aux_rtl(const AuxUnitConfig& unit) {
  const std::string lanes =
      "LANES=" + std::to_string(unit.throughput) + " LATENCY=" + std::to_string(unit.latency);
  if (unit.kind == AuxKind::Requantizer) return {"vitsim_requantizer", lanes};
  if (unit.kind == AuxKind::Log2Quantizer) return {"vitsim_log2_divider", lanes};
  return {"", ""};
}

double utilization_percent(int64_t used, int64_t capacity) {
  return 100.0 * static_cast<double>(used) / static_cast<double>(capacity);
}

int64_t adder_tree_luts(int64_t inputs, int input_bits) {
  int64_t luts = 0;
  int bits = input_bits;
  for (int64_t n = inputs; n > 1; n = (n + 1) / 2) {
    ++bits;  // each stage's sum is one bit wider than its inputs
    luts += (n / 2) * add_luts(bits);
  }
  return luts;
}

int64_t buffer_bram36(const BufferConfig& b) {
  const int word_bits = 8 * b.word_bytes;
  const int64_t words = b.bank_bytes() / b.word_bytes;
  const int max_width = b.ports_per_bank == 1 ? 72 : 36;
  int64_t best = std::numeric_limits<int64_t>::max();
  for (const Aspect& a : kAspects)
    if (a.width <= max_width) best = std::min(best, ceil_div(word_bits, a.width) * ceil_div(words, a.depth));
  return int64_t{b.banks} * best;
}

int64_t aux_luts_per_element(AuxKind kind) {
  switch (kind) {
    case AuxKind::Requantizer:  // rounding shift of the int32 product, round add, zero point, clamp to int8
      return shifter_luts(kAccumulatorBits) + add_luts(kAccumulatorBits) + add_luts(kCodeBits) +
             clamp_luts(kCodeBits);
    case AuxKind::Hswish:  // x + 3 clamped to [0, 6], (the product in DSPs), rescaling shift, clamp to int8
      return add_luts(kCodeBits) + clamp_luts(kCodeBits) + shifter_luts(kProductBits) + clamp_luts(kCodeBits);
    case AuxKind::Relu:  // max(x, zero point)
      return clamp_luts(kCodeBits);
    case AuxKind::ResidualAdd:  // two zero-point subtracts, (the rescales in DSPs), sum, shift, zp, clamp
      return 2 * add_luts(kCodeBits + 1) + add_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) +
             add_luts(kCodeBits) + clamp_luts(kCodeBits);
    case AuxKind::Log2Quantizer:  // one division lane: log2 of the divisor, dividend >> log2, clamp to int8
      return leading_one_luts(kAccumulatorBits) + shifter_luts(kAccumulatorBits) + clamp_luts(kCodeBits);
    case AuxKind::ShiftSubtractor:  // int8 code minus the channel's shift, clamped to int8
      return add_luts(kCodeBits + 1) + clamp_luts(kCodeBits);
    case AuxKind::AvgPool:  // int32 running sum (the division by H x W is a requantization)
      return add_luts(kAccumulatorBits);
    case AuxKind::LayerNorm:  // running sum and sum of squares (the squares, rsqrt and scale in DSPs)
      return 2 * add_luts(kAccumulatorBits);
  }
  throw std::logic_error("aux_luts_per_element: unknown kind");
}

ResourceEstimate estimate_resources(const AccelConfig& config) {
  ResourceEstimate r;
  // Packing is over all engines' multipliers together, as in AccelConfig::engine_dsps().
  r.items.push_back({"engine multipliers (" + std::to_string(config.multipliers()) + " / " +
                         std::to_string(config.dsp_packing) + " per DSP)",
                     config.engine_dsps(), 0, 0});
  for (const EngineConfig& e : config.engines) {
    const auto [top, parameters] = engine_rtl(config, e);
    if (const SynthesizedUnit* s = synthesized_unit(top, parameters)) {
      r.items.push_back({e.name + " datapath (synthesized LUTs)", 0, s->luts, s->bram36, true});
      continue;
    }
    for (const EngineLuts& part : engine_luts(e))
      r.items.push_back({e.name + " " + part.what, 0, part.luts, 0});
  }
  for (const AuxUnitConfig& a : config.aux_units) {
    const auto [top, parameters] = aux_rtl(a);
    const SynthesizedUnit* s = synthesized_unit(top, parameters);
    if (s)
      r.items.push_back(
          {std::string(aux_key(a.kind)) + " (synthesized LUTs)", a.dsps, s->luts, s->bram36, true});
    else
      r.items.push_back({aux_key(a.kind), a.dsps, a.throughput * aux_luts_per_element(a.kind), 0});
  }
  for (const BufferConfig& b : config.buffers)
    r.items.push_back({std::string(buffer_key(b.kind)) + " buffer", 0, 0, buffer_bram36(b)});
  r.items.push_back({"control and DMA", 0, kControlLuts, 0});
  for (const ResourceItem& item : r.items) {
    r.dsps += item.dsps;
    r.luts += item.luts;
    r.bram36 += item.bram36;
  }
  return r;
}

nlohmann::json ResourceEstimate::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const ResourceItem& i : items)
    list.push_back({{"component", i.component},
                    {"dsps", i.dsps},
                    {"luts", i.luts},
                    {"bram36", i.bram36},
                    {"synthesized", i.synthesized}});
  return {{"dsps", dsps}, {"luts", luts}, {"bram36", bram36}, {"items", list}};
}

nlohmann::json Device::to_json() const {
  return {{"name", name}, {"description", description}, {"dsps", dsps}, {"luts", luts}, {"bram36", bram36}};
}

Device load_device(const std::string& path) {
  const nlohmann::json j = quant::read_json_file(path);
  quant::JsonReader r(j, path);
  Device d;
  d.name = r.string("name");
  if (d.name.empty()) r.fail("name", "expected a non-empty string");
  d.description = r.string("description", "");
  constexpr int kMax = std::numeric_limits<int>::max();
  r.require("dsps");
  d.dsps = r.integer("dsps", 0, 1, kMax);
  r.require("luts");
  d.luts = r.integer("luts", 0, 1, kMax);
  r.require("bram36");
  d.bram36 = r.integer("bram36", 0, 1, kMax);
  r.reject_unknown_keys();
  return d;
}

Device find_device(const std::string& name_or_path, const std::string& config_dir) {
  const std::string dir = (std::filesystem::path(config_dir) / "devices").string();
  const std::string path = quant::find_named_json(name_or_path, dir);
  if (!path.empty()) return load_device(path);
  throw quant::ConfigError(name_or_path + ": cannot open the file, and no device of that name in " + dir +
                           " (known: " + quant::known_json_names(dir) + ")");
}

bool fits(const ResourceEstimate& estimate, const Device& device, std::string* why) {
  std::string over;
  const auto check = [&over](const char* what, int64_t used, int64_t capacity) {
    if (used > capacity)
      over += (over.empty() ? "" : ", ") + std::string(what) + " " + std::to_string(used) + " > " +
              std::to_string(capacity);
  };
  check("dsps", estimate.dsps, device.dsps);
  check("luts", estimate.luts, device.luts);
  check("bram36", estimate.bram36, device.bram36);
  if (why) *why = over;
  return over.empty();
}

nlohmann::json fit_json(const ResourceEstimate& estimate, const Device& device) {
  std::string why;
  const bool ok = fits(estimate, device, &why);
  return {{"device", device.to_json()},
          {"fits", ok},
          {"over", why},
          {"utilization_percent",
           {{"dsps", utilization_percent(estimate.dsps, device.dsps)},
            {"luts", utilization_percent(estimate.luts, device.luts)},
            {"bram36", utilization_percent(estimate.bram36, device.bram36)}}}};
}

}  // namespace vitsim::arch

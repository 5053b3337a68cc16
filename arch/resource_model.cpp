#include "arch/resource_model.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "arch/fabric_cost.hpp"

namespace vitsim::arch {

extern const char* const kSynthesizedResourcesCsv;  // synth_table.cpp, generated from the table

namespace {
// Control FSMs, the DMA engine with its AXI master and the buffer address generators: an assumption (order of
// magnitude), not derived from the config.
constexpr int64_t kControlLuts = 10000;

// BRAM36 port aspects (depth x width), UltraScale+ RAMB36E2. 512 x 72 exists only in simple dual-port
// mode (one read and one write port), so a bank with two read/write ports stops at 1K x 36.
struct Aspect {
  int64_t depth;
  int width;
};
constexpr Aspect kAspects[] = {{32768, 1}, {16384, 2}, {8192, 4}, {4096, 9},
                               {2048, 18}, {1024, 36}, {512, 72}};
}  // namespace

namespace {
// The table: config,unit,top,parameters,luts,ffs,dsp48e2,bram36 (a header line, then one unit a line),
// keyed by "top parameters".
const std::map<std::string, SynthesizedUnit>& synth_table() {
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
  return table;
}
}  // namespace

const SynthesizedUnit* synthesized_unit(const std::string& top, const std::string& parameters) {
  const auto it = synth_table().find(top + " " + parameters);
  return it == synth_table().end() ? nullptr : &it->second;
}

std::optional<ExtrapolatedUnit> replica_extrapolation(const std::string& top, const std::string& parameters) {
  const std::string key = " REPLICAS=";
  const std::string padded = " " + parameters + " ";
  const size_t at = padded.find(key);
  if (at == std::string::npos) return std::nullopt;
  const size_t value = at + key.size(), end = padded.find(' ', value);
  const int64_t replicas = std::stoll(padded.substr(value, end - value));
  const auto with_replicas = [&](int64_t r) {
    return padded.substr(1, value - 1) + std::to_string(r) + padded.substr(end, padded.size() - end - 1);
  };
  // The two ladder rows with the most replicas below `replicas`: b, then a.
  ExtrapolatedUnit x;
  x.replicas = replicas;
  const SynthesizedUnit *a = nullptr, *b = nullptr;
  for (int64_t r = replicas - 1; r >= 1 && !a; --r)
    if (const SynthesizedUnit* s = synthesized_unit(top, with_replicas(r))) {
      if (b) {
        a = s, x.from_a = r;
      } else {
        b = s, x.from_b = r;
      }
    }
  if (!a) return std::nullopt;
  const auto line = [&](int64_t SynthesizedUnit::*field) {
    const double slope =
        static_cast<double>(b->*field - a->*field) / static_cast<double>(x.from_b - x.from_a);
    return b->*field + std::llround(slope * static_cast<double>(replicas - x.from_b));
  };
  x.unit = {line(&SynthesizedUnit::luts), line(&SynthesizedUnit::ffs), line(&SynthesizedUnit::dsps),
            line(&SynthesizedUnit::bram36)};
  return x;
}

RtlInstance shift_product_rtl(bool log2_code, int code_bits) {
  return {"vitsim_shift_product",
          "LOG2_CODE=" + std::to_string(log2_code ? 1 : 0) + " CODE_BITS=" + std::to_string(code_bits)};
}

FabricPart shift_products(const std::string& what, int64_t count, bool log2_code, int code_bits,
                          int64_t formula_luts) {
  const RtlInstance rtl = shift_product_rtl(log2_code, code_bits);
  if (const SynthesizedUnit* s = synthesized_unit(rtl.top, rtl.parameters))
    return {what + " (synthesized, " + std::to_string(s->luts) + " LUTs each)", count * s->luts};
  return {what, count * formula_luts};
}

RtlInstance engine_rtl(const AccelConfig& config, const EngineConfig& engine) {
  RtlInstance rtl = engine.params->rtl(port_share(config));
  // The engines' RTL packs one or two INT8 products per DSP48E2 (docs/rtl.md); beyond that it has none.
  if (rtl.top.empty() || config.dsp_packing > 2) return {};
  rtl.parameters += " DSP_PACKING=" + std::to_string(config.dsp_packing);
  return rtl;
}

RtlInstance aux_rtl(const AuxUnitConfig& unit) {
  return unit.params->rtl(unit.throughput, unit.latency);
}

double utilization_percent(int64_t used, int64_t capacity) {
  return 100.0 * static_cast<double>(used) / static_cast<double>(capacity);
}

int64_t adder_tree_luts(int64_t inputs, int input_bits) {
  int64_t luts = 0;
  int bits = input_bits;
  for (int64_t n = inputs; n > 1; n = (n + 1) / 2) {
    ++bits;  // each stage's sum is one bit wider than its inputs
    luts += (n / 2) * fabric::add_luts(bits);
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

ResourceEstimate estimate_resources(const AccelConfig& config) {
  ResourceEstimate r;
  // Packing is over all engines' INT8 multipliers together, as in AccelConfig::engine_dsps(); FP32
  // multiply-adds are not packed.
  if (config.dsp_multipliers() > 0)
    r.items.push_back({"engine multipliers (" + std::to_string(config.dsp_multipliers()) + " / " +
                           std::to_string(config.dsp_packing) + " per DSP)",
                       ceil_div(config.dsp_multipliers(), config.dsp_packing), 0, 0});
  for (const EngineConfig& e : config.engines) {
    if (e.params->fp32_dsps() > 0)
      r.items.push_back({e.name + " FP32 multiply-add DSPs (" + std::to_string(e.params->multipliers()) + ")",
                         e.params->fp32_dsps(), 0, 0, false, e.name});
    const RtlInstance rtl = engine_rtl(config, e);
    if (const SynthesizedUnit* s = synthesized_unit(rtl.top, rtl.parameters)) {
      r.items.push_back({e.name + " datapath (synthesized LUTs)", 0, s->luts, s->bram36, true, e.name});
      continue;
    }
    for (const FabricPart& part : e.params->fabric())
      r.items.push_back({e.name + " " + part.what, 0, part.luts, 0, false, e.name});
  }
  for (const AuxUnitConfig& a : config.aux_units) {
    const RtlInstance rtl = aux_rtl(a);
    if (const SynthesizedUnit* s = synthesized_unit(rtl.top, rtl.parameters))
      r.items.push_back({a.type + " (synthesized LUTs)", a.dsps, s->luts, s->bram36, true});
    else
      r.items.push_back({a.type, a.dsps, a.throughput * a.params->luts_per_element(), 0});
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

int64_t ResourceEstimate::engine_luts(const std::string& engine) const {
  int64_t total = 0;
  for (const ResourceItem& i : items)
    if (i.engine == engine) total += i.luts;
  return total;
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
  return load_device(quant::require_named_json(name_or_path, dir, "device"));
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

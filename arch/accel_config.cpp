#include "arch/accel_config.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace vitsim::arch {

using quant::ConfigError;
using quant::JsonReader;

namespace {
constexpr const char* kBufferKeys[kBufferKinds] = {"activation", "weight", "output", "divisor"};
constexpr int kMaxInt = 2147483647;

EngineConfig read_engine(JsonReader& r, std::set<std::string>& names) {
  EngineConfig e;
  e.name = r.string("name");
  if (e.name.empty()) r.fail("name", "expected a non-empty string");
  if (!names.insert(e.name).second) r.fail("name", "duplicate engine name \"" + e.name + "\"");
  e.type = r.string("type");
  const UnitRegistry& registry = UnitRegistry::instance();
  const UnitType* type = registry.find(e.type);
  if (!type || type->role != UnitType::Role::Engine)
    r.fail("type", "unknown engine type \"" + e.type +
                       "\" (registered types: " + registry.names_list(UnitType::Role::Engine) + ")");
  e.params = type->parse_engine(r);
  r.reject_unknown_keys();
  return e;
}

// Every key of "aux_units" names a registered auxiliary unit type; the units are kept in registration
// order, so a config's resources and reports do not depend on the order of its keys.
std::vector<AuxUnitConfig> read_aux_units(JsonReader& units, const nlohmann::json& object) {
  const UnitRegistry& registry = UnitRegistry::instance();
  std::vector<AuxUnitConfig> out;
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    const UnitType* type = registry.find(key);
    if (!type || type->role != UnitType::Role::Aux)
      units.fail(key, "unknown auxiliary unit type (registered types: " +
                          registry.names_list(UnitType::Role::Aux) + ")");
    JsonReader r = units.required_object(key);
    AuxUnitConfig a;
    a.type = key;
    a.unit_type = type;
    r.require("throughput");
    a.throughput = r.integer("throughput", 1, 1, 4096);
    r.require("latency");
    a.latency = r.integer("latency", 1, 0, 4096);
    a.dsps = r.integer("dsps", 0, 0, 100000);
    a.params = type->parse_aux(r);
    r.reject_unknown_keys();
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const AuxUnitConfig& x, const AuxUnitConfig& y) {
    return x.unit_type->order < y.unit_type->order;
  });
  return out;
}

BufferConfig read_buffer(JsonReader& buffers, BufferKind kind) {
  JsonReader r = buffers.required_object(buffer_key(kind));
  BufferConfig b;
  b.kind = kind;
  r.require("capacity_bytes");
  b.capacity_bytes = r.integer("capacity_bytes", 0, 1, kMaxInt);
  b.banks = r.integer("banks", 1, 1, 1024);
  b.ports_per_bank = r.integer("ports_per_bank", 1, 1, 2);
  b.word_bytes = r.power_of_two("word_bytes", 8, 1, 1024);
  if (b.capacity_bytes % (int64_t{b.banks} * b.word_bytes) != 0)
    r.fail("capacity_bytes",
           "expected a multiple of banks x word_bytes = " + std::to_string(int64_t{b.banks} * b.word_bytes) +
               ", found " + std::to_string(b.capacity_bytes));
  if (kind == BufferKind::Activation) {
    const int64_t row = int64_t{b.banks} * b.word_bytes;
    b.resident_bytes = r.integer("resident_bytes", 0, 0, static_cast<int>(b.capacity_bytes - row));
    if (b.resident_bytes % row != 0)
      r.fail("resident_bytes", "expected a multiple of banks x word_bytes = " + std::to_string(row) +
                                   ", found " + std::to_string(b.resident_bytes));
  }
  r.reject_unknown_keys();
  return b;
}
// The ideal bus's bandwidth and latency, or the DDR4 preset with the config's controller overrides.
void read_dram(JsonReader& dram, AccelConfig& c) {
  const std::string model = dram.choice("model", "ideal-bus", {"ideal-bus", "ddr4"});
  c.dram.burst_bytes = dram.power_of_two("burst_bytes", 64, 1, 65536);
  if (model == "ideal-bus") {
    dram.require("bandwidth_gbps");
    c.dram.bandwidth_gbps = dram.number("bandwidth_gbps", 0, 0.001, 10000);
    dram.require("latency_ns");
    c.dram.latency_ns = dram.number("latency_ns", 0, 0, 1e6);
    return;
  }
  c.dram.model = DramModelKind::Ddr4;
  for (const char* key : {"bandwidth_gbps", "latency_ns"})
    if (dram.has(key))
      dram.fail(key, "belongs to the ideal-bus model; the DDR4 preset sets bandwidth and latency");
  for (const char* key : {"queue_depth", "starvation_cap"})
    if (dram.has(key))
      dram.fail(key,
                "the accelerator's DDR4 target serves bursts in arrival order (FCFS, docs/dram.md): no queue "
                "to size");
  dram.require("preset");
  const std::string preset = dram.string("preset");
  auto config = std::make_shared<ddr4::Config>();
  try {
    *config = ddr4::find_preset(preset, quant::bundled_config_dir());
  } catch (const ConfigError& e) {
    dram.fail("preset", e.what());
  }
  const bool scheduler_given = dram.has("scheduler");
  ddr4::read_policy(dram, config->policy);
  if (scheduler_given && config->policy.scheduler != ddr4::Scheduler::Fcfs)
    dram.fail("scheduler",
              "expected fcfs: the accelerator's DDR4 target serves bursts in arrival order (docs/dram.md)");
  config->policy.scheduler = ddr4::Scheduler::Fcfs;
  const double khz = c.clock_mhz * 1000;
  if (std::abs(khz - std::round(khz)) > 1e-6)
    dram.fail("model", "the DDR4 model converts cycles exactly and needs clock_mhz in whole kHz, found " +
                           std::to_string(c.clock_mhz));
  c.dram.bandwidth_gbps = config->peak_gbps();
  c.dram.ddr4 = config;
}
}  // namespace

const char* number_format_name(NumberFormat format) {
  return format == NumberFormat::Fp32 ? "fp32" : "int";
}

const char* buffer_key(BufferKind kind) {
  return kBufferKeys[static_cast<int>(kind)];
}

AccelConfig parse_accel_config(const nlohmann::json& j, const std::string& origin) {
  JsonReader r(j, origin);
  AccelConfig c;
  c.file = origin;
  c.name = r.string("name");
  if (c.name.empty()) r.fail("name", "expected a non-empty string");
  c.description = r.string("description", "");
  c.notes = r.strings("notes");
  r.require("clock_mhz");
  c.clock_mhz = r.number("clock_mhz", 0, 1, 10000);
  r.require("dsp_packing");
  c.dsp_packing = r.integer("dsp_packing", 1, 1, 8);
  c.number_format =
      r.choice("number_format", "int", {"int", "fp32"}) == "fp32" ? NumberFormat::Fp32 : NumberFormat::Int;

  r.require("engines");
  std::vector<JsonReader> engines = r.objects("engines");
  if (engines.empty()) r.fail("engines", "expected at least one engine, found an empty array");
  std::set<std::string> names;
  const bool fp32 = c.number_format == NumberFormat::Fp32;
  for (JsonReader& e : engines) {
    c.engines.push_back(read_engine(e, names));
    if (c.engines.back().params->fp32_datapath() != fp32)
      e.fail("type", std::string("engine type \"") + c.engines.back().type + "\" " +
                         (fp32 ? "is not an FP32 datapath, and number_format is \"fp32\""
                               : "is an FP32 datapath: it needs \"number_format\": \"fp32\""));
  }

  JsonReader aux = r.required_object("aux_units");
  c.aux_units = read_aux_units(aux, j.at("aux_units"));

  JsonReader buffers = r.required_object("buffers");
  for (int k = 0; k < kBufferKinds; ++k)
    c.buffers.push_back(read_buffer(buffers, static_cast<BufferKind>(k)));
  buffers.reject_unknown_keys();

  JsonReader dma = r.object("dma");
  c.dma.max_outstanding_bursts = dma.integer("max_outstanding_bursts", 4, 1, 1024);
  c.dma.setup_cycles = dma.integer("setup_cycles", 0, 0, 1000000);
  dma.reject_unknown_keys();

  JsonReader dram = r.required_object("dram");
  read_dram(dram, c);
  dram.reject_unknown_keys();

  c.arbitration = r.choice("arbitration", arbitration_name(c.arbitration),
                           {"round-robin", "fixed-priority"}) == "round-robin"
                      ? ArbitrationPolicy::RoundRobin
                      : ArbitrationPolicy::FixedPriority;

  JsonReader pipelining = r.object("pipelining");
  c.pipelining.inter_layer = pipelining.boolean("inter_layer", false);
  c.pipelining.intra_layer = pipelining.boolean("intra_layer", true);
  pipelining.reject_unknown_keys();

  r.reject_unknown_keys();
  return c;
}

AccelConfig load_accel_config(const std::string& path) {
  return parse_accel_config(quant::read_json_file(path), path);
}

AccelConfig find_accel_config(const std::string& name_or_path, const std::string& config_dir) {
  return load_accel_config(quant::require_named_json(name_or_path, config_dir, "accelerator config"));
}

const EngineConfig* AccelConfig::engine(const std::string& engine_name) const {
  for (const EngineConfig& e : engines)
    if (e.name == engine_name) return &e;
  return nullptr;
}

int AccelConfig::aux_for(AuxStep step) const {
  for (size_t i = 0; i < aux_units.size(); ++i)
    if (aux_units[i].performs(step)) return static_cast<int>(i);
  return -1;
}

int AccelConfig::aux_index(const std::string& type) const {
  for (size_t i = 0; i < aux_units.size(); ++i)
    if (aux_units[i].type == type) return static_cast<int>(i);
  return -1;
}

const AuxUnitConfig& AccelConfig::aux(const std::string& type) const {
  const int i = aux_index(type);
  if (i < 0) throw std::out_of_range("accelerator '" + name + "' has no auxiliary unit '" + type + "'");
  return aux_units[static_cast<size_t>(i)];
}

int64_t AccelConfig::multipliers() const {
  int64_t total = 0;
  for (const EngineConfig& e : engines) total += e.params->multipliers();
  return total;
}

int64_t AccelConfig::dsp_multipliers() const {
  int64_t total = 0;
  for (const EngineConfig& e : engines) total += e.params->dsp_multipliers();
  return total;
}

int64_t AccelConfig::fp32_dsps() const {
  int64_t total = 0;
  for (const EngineConfig& e : engines) total += e.params->fp32_dsps();
  return total;
}

int64_t AccelConfig::engine_dsps() const {
  return (dsp_multipliers() + dsp_packing - 1) / dsp_packing + fp32_dsps();
}

int64_t AccelConfig::element_bytes(int bits) const {
  if (number_format == NumberFormat::Fp32) return 4;
  return bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

int64_t AccelConfig::aux_dsps() const {
  int64_t total = 0;
  for (const AuxUnitConfig& a : aux_units) total += a.dsps;
  return total;
}

int64_t AccelConfig::onchip_bytes() const {
  int64_t total = 0;
  for (const BufferConfig& b : buffers) total += b.capacity_bytes;
  return total;
}

nlohmann::json AccelConfig::to_json() const {
  nlohmann::json j;
  j["file"] = file;
  j["name"] = name;
  j["description"] = description;
  j["notes"] = notes;
  j["clock_mhz"] = clock_mhz;
  j["dsp_packing"] = dsp_packing;
  j["number_format"] = number_format_name(number_format);
  j["arbitration"] = arbitration_name(arbitration);
  j["pipelining"] = {{"inter_layer", pipelining.inter_layer}, {"intra_layer", pipelining.intra_layer}};
  nlohmann::json engs = nlohmann::json::array();
  for (const EngineConfig& e : engines) {
    nlohmann::json ej = e.params->to_json();
    ej["name"] = e.name;
    ej["type"] = e.type;
    ej["multipliers"] = e.params->multipliers();
    ej["dsp_multipliers"] = e.params->dsp_multipliers();
    engs.push_back(ej);
  }
  j["engines"] = engs;
  j["aux_units"] = nlohmann::json::object();
  for (const AuxUnitConfig& a : aux_units) {
    nlohmann::json& u = j["aux_units"][a.type];
    u = a.params->to_json();
    u["throughput"] = a.throughput;
    u["latency"] = a.latency;
    u["dsps"] = a.dsps;
  }
  for (const BufferConfig& b : buffers) {
    j["buffers"][buffer_key(b.kind)] = {{"capacity_bytes", b.capacity_bytes},
                                        {"banks", b.banks},
                                        {"ports_per_bank", b.ports_per_bank},
                                        {"word_bytes", b.word_bytes}};
    if (b.kind == BufferKind::Activation)
      j["buffers"][buffer_key(b.kind)]["resident_bytes"] = b.resident_bytes;
  }
  j["dma"] = {{"max_outstanding_bursts", dma.max_outstanding_bursts}, {"setup_cycles", dma.setup_cycles}};
  j["dram"] = {{"model", dram.model == DramModelKind::Ddr4 ? "ddr4" : "ideal-bus"},
               {"bandwidth_gbps", dram.bandwidth_gbps},
               {"latency_ns", dram.latency_ns},
               {"burst_bytes", dram.burst_bytes}};
  if (dram.ddr4) j["dram"]["ddr4"] = dram.ddr4->to_json();
  j["totals"] = {{"multipliers", multipliers()},
                 {"dsp_multipliers", dsp_multipliers()},
                 {"engine_dsps", engine_dsps()},
                 {"aux_dsps", aux_dsps()},
                 {"dsps", dsps()},
                 {"peak_gops", peak_gops()},
                 {"onchip_bytes", onchip_bytes()},
                 {"dram_bytes_per_cycle", dram_bytes_per_cycle()}};
  return j;
}

}  // namespace vitsim::arch

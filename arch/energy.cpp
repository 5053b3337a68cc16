#include "arch/energy.hpp"

#include <filesystem>

namespace vitsim::arch {

using quant::ConfigError;
using quant::JsonReader;

namespace {

constexpr double kPico = 1e-12, kMilli = 1e-3, kNano = 1e-9;

// {"value": number in [min, max], "source": non-empty string}.
Coefficient read_coefficient(JsonReader& parent, const std::string& key, double max) {
  JsonReader c = parent.required_object(key);
  c.require("value");
  c.require("source");
  Coefficient k{c.number("value", 0, 0, max), c.string("source")};
  if (k.source.empty())
    c.fail("source", "expected a datasheet or characterization title, or \"assumption: why\"");
  c.reject_unknown_keys();
  return k;
}

}  // namespace

EnergyModel parse_energy_model(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object())
    throw ConfigError(origin + ": expected a JSON object, found " + quant::describe_json(j));
  JsonReader r(j, origin);
  EnergyModel m;
  m.file = origin;
  r.require("name");
  m.name = r.string("name");
  if (m.name.empty()) r.fail("name", "expected a non-empty name");
  m.description = r.string("description", "");

  JsonReader f = r.required_object("fpga");
  JsonReader d = r.required_object("dram");
  for (const NamedCoefficient& c : m.coefficients())
    *c.coefficient = read_coefficient(c.section == "fpga" ? f : d, c.key, c.max);
  f.require("bram_access_bits");
  m.fpga.bram_access_bits = f.integer("bram_access_bits", 64, 1, 4096);
  f.reject_unknown_keys();
  DramEnergy& de = m.dram;
  d.require("device_width_bits");
  de.device_width_bits = d.integer("device_width_bits", 16, 4, 16);
  if (de.device_width_bits != 4 && de.device_width_bits != 8 && de.device_width_bits != 16)
    d.fail("device_width_bits", "expected 4, 8 or 16, found " + std::to_string(de.device_width_bits));
  // Each command's energy is its current above the background it replaces: a smaller one is a typo.
  for (const auto& [key, current] :
       {std::pair{"idd0_ma", &de.idd0_ma}, std::pair{"idd4r_ma", &de.idd4r_ma},
        std::pair{"idd4w_ma", &de.idd4w_ma}, std::pair{"idd5b_ma", &de.idd5b_ma}})
    if (current->value < de.idd3n_ma.value)
      d.fail(key, "expected at least idd3n_ma (" + std::to_string(de.idd3n_ma.value) + " mA)");
  if (de.ipp0_ma.value < de.ipp3n_ma.value) d.fail("ipp0_ma", "expected at least ipp3n_ma");
  d.reject_unknown_keys();
  r.reject_unknown_keys();
  return m;
}

EnergyModel find_energy_model(const std::string& name_or_path, const std::string& config_dir) {
  const std::string dir = (std::filesystem::path(config_dir) / "energy").string();
  const std::string path = quant::require_named_json(name_or_path, dir, "energy model");
  return parse_energy_model(quant::read_json_file(path), path);
}

std::vector<NamedCoefficient> EnergyModel::coefficients() & {
  FpgaEnergy& f = fpga;
  DramEnergy& d = dram;
  return {{"fpga", "mac_pj", 1e3, &f.mac_pj},
          {"fpga", "packed_mac_pj", 1e3, &f.packed_mac_pj},
          {"fpga", "fp32_mac_pj", 1e3, &f.fp32_mac_pj},
          {"fpga", "idle_lane_pj", 1e3, &f.idle_lane_pj},
          {"fpga", "aux_op_pj", 1e3, &f.aux_op_pj},
          {"fpga", "bram_read_pj", 1e4, &f.bram_read_pj},
          {"fpga", "bram_write_pj", 1e4, &f.bram_write_pj},
          {"fpga", "clock_pj_per_cycle", 1e9, &f.clock_pj_per_cycle},
          {"fpga", "static_w", 1e3, &f.static_w},
          {"dram", "vdd_v", 5, &d.vdd_v},
          {"dram", "vpp_v", 5, &d.vpp_v},
          {"dram", "idd0_ma", 1e4, &d.idd0_ma},
          {"dram", "idd2n_ma", 1e4, &d.idd2n_ma},
          {"dram", "idd3n_ma", 1e4, &d.idd3n_ma},
          {"dram", "idd4r_ma", 1e4, &d.idd4r_ma},
          {"dram", "idd4w_ma", 1e4, &d.idd4w_ma},
          {"dram", "idd5b_ma", 1e4, &d.idd5b_ma},
          {"dram", "ipp0_ma", 1e4, &d.ipp0_ma},
          {"dram", "ipp3n_ma", 1e4, &d.ipp3n_ma}};
}

void Activity::add(const Activity& o) {
  macs += o.macs, lane_cycles += o.lane_cycles, aux_ops += o.aux_ops, result_bytes += o.result_bytes;
  for (size_t b = 0; b < read_bytes.size(); ++b)
    read_bytes[b] += o.read_bytes[b], write_bytes[b] += o.write_bytes[b];
}

nlohmann::json Activity::to_json() const {
  nlohmann::json reads, writes;
  for (int b = 0; b < kBufferKinds; ++b) {
    reads[buffer_key(static_cast<BufferKind>(b))] = read_bytes[static_cast<size_t>(b)];
    writes[buffer_key(static_cast<BufferKind>(b))] = write_bytes[static_cast<size_t>(b)];
  }
  return {{"lane_cycles", lane_cycles},   {"idle_lane_cycles", idle_lane_cycles()},
          {"aux_ops", aux_ops},           {"buffer_read_bytes", reads},
          {"buffer_write_bytes", writes}, {"result_bytes", result_bytes}};
}

nlohmann::json Energy::terms_json() const {
  return {{"mac", mac},
          {"idle_lanes", idle_lanes},
          {"aux", aux},
          {"clock", clock},
          {"bram_read", bram_read},
          {"bram_write", bram_write},
          {"dram_act_pre", dram_act_pre},
          {"dram_read", dram_read},
          {"dram_write", dram_write},
          {"dram_refresh", dram_refresh},
          {"dram_background", dram_background},
          {"static", static_leakage}};
}

nlohmann::json Energy::components_json() const {
  return {{"compute", compute()},
          {"clock", clock},
          {"onchip_memory", onchip_memory()},
          {"dram", dram()},
          {"static", static_leakage}};
}

DramCommandEnergy dram_command_energy(const DramEnergy& m, const ddr4::Config& preset) {
  if (preset.org.bus_bits % m.device_width_bits != 0)
    throw ConfigError(preset.file + ": organization/bus_bits: " + std::to_string(preset.org.bus_bits) +
                      " bits is not a whole number of the energy model's x" +
                      std::to_string(m.device_width_bits) + " devices");
  const int devices = preset.org.bus_bits / m.device_width_bits;
  const double tck_s = preset.tck_ns() * kNano;
  const ddr4::Timing& t = preset.timing;
  const double vdd = m.vdd_v.value, vpp = m.vpp_v.value;
  const double idd0 = m.idd0_ma.value * kMilli, idd2n = m.idd2n_ma.value * kMilli;
  const double idd3n = m.idd3n_ma.value * kMilli, ipp3n = m.ipp3n_ma.value * kMilli;
  const double rc = t.rc * tck_s, ras = t.ras * tck_s, burst = t.data_cycles() * tck_s;
  DramCommandEnergy e;
  // ACT-PRE: IDD0 over tRC above the background the bank would draw anyway (active during tRAS, precharged
  // for the rest of tRC), plus VPP's share.
  e.act_pre = devices * (vdd * (idd0 * rc - idd3n * ras - idd2n * (rc - ras)) +
                         vpp * (m.ipp0_ma.value - m.ipp3n_ma.value) * kMilli * rc);
  e.read = devices * vdd * (m.idd4r_ma.value * kMilli - idd3n) * burst;
  e.write = devices * vdd * (m.idd4w_ma.value * kMilli - idd3n) * burst;
  e.refresh = devices * vdd * (m.idd5b_ma.value * kMilli - idd3n) * t.rfc * tck_s;
  e.active_standby_w = devices * (vdd * idd3n + vpp * ipp3n);
  e.precharged_standby_w = devices * (vdd * idd2n + vpp * ipp3n);
  return e;
}

Energy onchip_energy(const FpgaEnergy& m, const AccelConfig& config, const Activity& a) {
  Energy e;
  const double mac_pj = config.number_format == NumberFormat::Fp32 ? m.fp32_mac_pj.value
                        : config.dsp_packing >= 2                  ? m.packed_mac_pj.value
                                                                   : m.mac_pj.value;
  e.mac = static_cast<double>(a.macs) * mac_pj * kPico;
  e.idle_lanes = static_cast<double>(a.idle_lane_cycles()) * m.idle_lane_pj.value * kPico;
  e.aux = static_cast<double>(a.aux_ops) * m.aux_op_pj.value * kPico;
  int64_t read = 0, written = a.result_bytes;
  for (size_t b = 0; b < a.read_bytes.size(); ++b) read += a.read_bytes[b], written += a.write_bytes[b];
  const double accesses_per_byte = 8.0 / m.bram_access_bits;
  e.bram_read = static_cast<double>(read) * accesses_per_byte * m.bram_read_pj.value * kPico;
  e.bram_write = static_cast<double>(written) * accesses_per_byte * m.bram_write_pj.value * kPico;
  return e;
}

Energy image_energy(const EnergyModel& model, const AccelConfig& config, const Activity& activity,
                    int64_t cycles, const std::optional<DramActivity>& dram) {
  Energy e = onchip_energy(model.fpga, config, activity);
  const double seconds = static_cast<double>(cycles) / (config.clock_mhz * 1e6);
  e.clock = static_cast<double>(cycles) * model.fpga.clock_pj_per_cycle.value * kPico;
  e.static_leakage = model.fpga.static_w.value * seconds;
  if (dram && config.dram.ddr4) {
    const DramCommandEnergy c = dram_command_energy(model.dram, *config.dram.ddr4);
    e.dram_act_pre = static_cast<double>(dram->activates) * c.act_pre;
    e.dram_read = static_cast<double>(dram->reads) * c.read;
    e.dram_write = static_cast<double>(dram->writes) * c.write;
    e.dram_refresh = static_cast<double>(dram->refreshes) * c.refresh;
    e.dram_background = c.active_standby_w * dram->active_standby_ns * kNano +
                        c.precharged_standby_w * dram->precharged_standby_ns * kNano;
  }
  return e;
}

}  // namespace vitsim::arch

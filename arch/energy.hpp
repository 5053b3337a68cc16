// The energy estimate (docs/energy.md): an energy model as data (configs/energy/*.json, per-action energies
// of the FPGA's resources and the IDD currents of the DDR4 devices), the activity counts a simulation
// gathers, and the closed form that prices the counts. Plain C++, no SystemC. Every error of the reader is a
// quant::ConfigError "<file>: <json path>: <what was expected>, found <value>".
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/ddr4/ddr4_config.hpp"

namespace vitsim::arch {

/// One number of an energy model and where it comes from: a public datasheet or vendor characterization
/// named by title, or "assumption: " and the reasoning.
struct Coefficient {
  double value = 0;
  std::string source;
};

/// The FPGA side: dynamic energy per action, and the device's static power.
struct FpgaEnergy {
  Coefficient mac_pj;              // one 8-bit MAC on a DSP slice that does one multiply per cycle, pJ
  Coefficient packed_mac_pj;       // one 8-bit MAC when two share a DSP slice (dsp_packing 2), pJ
  Coefficient fp32_mac_pj;         // one FP32 multiply-add (an FP32 config's, "number_format": "fp32"), pJ
  Coefficient idle_lane_pj;        // a multiplier lane clocked in a busy cycle without a useful MAC, pJ
  Coefficient aux_op_pj;           // one element through one auxiliary unit (LUT shift-adds, compares), pJ
  Coefficient bram_read_pj;        // one read of bram_access_bits from a block RAM, pJ
  Coefficient bram_write_pj;       // one write of bram_access_bits to a block RAM, pJ
  int bram_access_bits = 64;       // the access width the two BRAM energies are given for
  Coefficient clock_pj_per_cycle;  // registers and clock tree of the whole accelerator, per clock cycle, pJ
  Coefficient static_w;            // the device's static power (leakage), W
};

/// The DRAM side: the currents and voltages of one DDR4 device (the DRAMPower / Micron TN-40-07 method).
struct DramEnergy {
  int device_width_bits = 16;  // x4, x8 or x16: a rank of the preset's bus has bus_bits / width devices
  Coefficient vdd_v, vpp_v;
  Coefficient idd0_ma;   // one bank ACT-PRE cycling at tRC
  Coefficient idd2n_ma;  // precharged standby
  Coefficient idd3n_ma;  // active standby
  Coefficient idd4r_ma;  // burst reads
  Coefficient idd4w_ma;  // burst writes
  Coefficient idd5b_ma;  // burst refresh (REF every tRFC)
  Coefficient ipp0_ma;   // VPP current while ACT-PRE cycling
  Coefficient ipp3n_ma;  // VPP current in standby (active or precharged)
};

/// Where a coefficient is in the model's file, and its largest plausible value (the reader's bound).
struct NamedCoefficient {
  std::string section, key;  // "fpga", "mac_pj"
  double max = 0;
  Coefficient* coefficient = nullptr;
  std::string path() const { return section + "/" + key; }
};

struct EnergyModel {
  std::string name, file, description;
  FpgaEnergy fpga;
  DramEnergy dram;
  /// Every coefficient, in file order: what the reader reads and the sensitivity table moves. The entries
  /// point into this model, so a temporary cannot be asked (the & qualifier).
  std::vector<NamedCoefficient> coefficients() &;
};

/// Validates an energy model document (docs/energy-model.schema.json); `origin` names it in messages.
EnergyModel parse_energy_model(const nlohmann::json& j, const std::string& origin);
/// `name_or_path` as a file if it exists, else <config_dir>/energy/<name>.json; otherwise a ConfigError
/// listing the known models.
EnergyModel find_energy_model(const std::string& name_or_path, const std::string& config_dir);
/// The model vitsim uses when none is named (`--energy`).
constexpr const char* kDefaultEnergyModel = "zcu102-ddr4";

/// What on-chip units did: of the image, a layer or a unit (docs/metrics.md, "Activity").
struct Activity {
  int64_t macs = 0;         // useful multiply-accumulates
  int64_t lane_cycles = 0;  // multiplier lanes x busy cycles of engine tiles (the MAC slots issued)
  int64_t aux_ops = 0;      // elements accepted by auxiliary units (each unit of a chain counts)
  std::array<int64_t, kBufferKinds> read_bytes{}, write_bytes{};  // per on-chip buffer
  int64_t result_bytes = 0;  // results that left the units (one int8 byte each), written on chip
  int64_t idle_lane_cycles() const { return lane_cycles > macs ? lane_cycles - macs : 0; }
  void add(const Activity& other);
  nlohmann::json to_json() const;
};

/// DDR4 commands and background states of the image (from ddr4::Stats).
struct DramActivity {
  int64_t activates = 0, reads = 0, writes = 0, refreshes = 0;
  double active_standby_ns = 0, precharged_standby_ns = 0;  // summed over ranks
};

/// Energy by term, joules. The components: compute = mac + idle_lanes + aux; clock; onchip_memory =
/// bram_read + bram_write; dram = dram_act_pre + dram_read + dram_write + dram_refresh +
/// dram_background; static.
struct Energy {
  double mac = 0, idle_lanes = 0, aux = 0, clock = 0, bram_read = 0, bram_write = 0;
  double dram_act_pre = 0, dram_read = 0, dram_write = 0, dram_refresh = 0, dram_background = 0;
  double static_leakage = 0;
  double compute() const { return mac + idle_lanes + aux; }
  double onchip_memory() const { return bram_read + bram_write; }
  double dram() const { return dram_act_pre + dram_read + dram_write + dram_refresh + dram_background; }
  double total() const { return compute() + clock + onchip_memory() + dram() + static_leakage; }
  nlohmann::json terms_json() const;
  nlohmann::json components_json() const;
};

/// The DDR4 energies of one command, per rank (all its devices), joules (docs/energy.md).
struct DramCommandEnergy {
  double act_pre = 0, read = 0, write = 0, refresh = 0;
  double active_standby_w = 0, precharged_standby_w = 0;  // background power of one rank
};
/// Throws quant::ConfigError when the preset's bus is not a whole number of the model's devices.
DramCommandEnergy dram_command_energy(const DramEnergy& model, const ddr4::Config& preset);

/// Prices on-chip activity: MACs (packed when dsp_packing is 2), idle lanes, auxiliary operations and
/// buffer accesses. No clock, static or DRAM terms (they belong to the image, not to a layer or a unit).
Energy onchip_energy(const FpgaEnergy& model, const AccelConfig& config, const Activity& activity);
/// The energy of a whole image of `cycles` at the config's clock: onchip_energy, clock and static power over
/// the image's time, and the DRAM's commands and background (with the DDR4 model; `dram` empty otherwise).
Energy image_energy(const EnergyModel& model, const AccelConfig& config, const Activity& activity,
                    int64_t cycles, const std::optional<DramActivity>& dram);

}  // namespace vitsim::arch

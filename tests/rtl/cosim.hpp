// The co-simulation harness (docs/rtl.md): cycle-by-cycle driving of a Verilator model next to vitsim's
// model of the same unit, and the report of the first divergence.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>

#include "arch/accel_config.hpp"

namespace vitsim::rtl {

/// `width` bits at `offset` of a Verilator port (an integer up to 64 bits, or a VlWide of 32-bit words).
template <class Port>
void put_bits(Port& port, int offset, int width, uint64_t value) {
  for (int b = 0; b < width; ++b) {
    const bool bit = (value >> b) & 1;
    const int at = offset + b;
    if constexpr (std::is_integral_v<Port>) {
      const Port mask = static_cast<Port>(Port{1} << at);
      port = static_cast<Port>(bit ? (port | mask) : (port & ~mask));
    } else {
      const uint32_t mask = uint32_t{1} << (at % 32);
      port[static_cast<size_t>(at / 32)] =
          bit ? (port[static_cast<size_t>(at / 32)] | mask) : (port[static_cast<size_t>(at / 32)] & ~mask);
    }
  }
}

/// Byte `index` of a port (the operand buses: whole bytes, written once per wave).
template <class Port>
void put_byte(Port& port, size_t index, uint8_t value) {
  if constexpr (std::is_integral_v<Port>) {
    put_bits(port, static_cast<int>(8 * index), 8, value);
  } else {
    uint32_t& word = port[index / 4];
    const unsigned shift = 8 * (index % 4);
    word = (word & ~(uint32_t{0xff} << shift)) | (uint32_t{value} << shift);
  }
}

/// The same bits read back, sign-extended from `width`.
template <class Port>
int64_t signed_bits(const Port& port, int offset, int width) {
  uint64_t v = 0;
  for (int b = 0; b < width; ++b) {
    const int at = offset + b;
    uint64_t bit = 0;
    if constexpr (std::is_integral_v<Port>)
      bit = (static_cast<uint64_t>(port) >> at) & 1;
    else
      bit = (port[static_cast<size_t>(at / 32)] >> (at % 32)) & 1;
    v |= bit << b;
  }
  if (width < 64 && ((v >> (width - 1)) & 1)) v |= ~uint64_t{0} << width;
  return static_cast<int64_t>(v);
}

/// One rising edge: registers take their inputs; then the clock falls and inputs may change.
template <class Model>
void clock(Model& m) {
  m.clk = 1;
  m.eval();
  m.clk = 0;
  m.eval();
}

/// One cycle with rst high, so the next cycle is a tile's first.
template <class Model>
void reset(Model& m) {
  m.rst = 1;
  m.clk = 0;
  m.eval();
  clock(m);
  m.rst = 0;
  m.eval();
}

/// What a co-simulation run compared, and its first divergence ("" if none).
struct CosimResult {
  std::string divergence;
  int64_t tiles = 0, cycles = 0, values = 0;  // tiles run, cycles compared, output values compared
  std::string summary() const {
    return std::to_string(tiles) + " tiles, " + std::to_string(cycles) + " cycles, " +
           std::to_string(values) + " values compared" +
           (divergence.empty() ? "" : "; first divergence: " + divergence);
  }
};

/// Appends `fields` and the running test's name as one JSON line to the file that VITSIM_RTL_SUMMARY names,
/// if set (tools/rtl_validation.py turns the lines into docs/validation.md's RTL section).
inline void record(nlohmann::json fields) {
  const char* path = std::getenv("VITSIM_RTL_SUMMARY");
  if (!path || !*path) return;
  fields["test"] = Catch::getResultCapture().getCurrentTestName();
  std::ofstream(path, std::ios::app) << fields.dump() << '\n';
}

/// `r`, recorded: every co-simulation run (random tiles, or a mutated model's few) reports through this.
inline CosimResult recorded(const CosimResult& r) {
  record({{"tiles", r.tiles}, {"cycles", r.cycles}, {"values", r.values}, {"divergence", r.divergence}});
  return r;
}

/// Collects the first difference between the RTL and vitsim in a run of tiles.
class Divergence {
 public:
  /// Starts comparing cycle `cycle` of tile `tile`; false (and a recorded divergence) past `limit` cycles,
  /// or once a divergence was found.
  bool at(int64_t tile, int64_t cycle, int64_t limit) {
    if (found()) return false;
    if (tile != tile_ || cycles_ == 0) ++tiles_;
    tile_ = tile, cycle_ = cycle;
    ++cycles_;
    if (cycle > limit) fail("the tile did not end within " + std::to_string(limit) + " cycles");
    return !found();
  }
  /// check() for an output value (counted).
  bool value(const std::string& signal, int64_t rtl, int64_t vitsim) {
    ++values_;
    return check(signal, rtl, vitsim);
  }
  /// Records `signal` if the two values differ and nothing was recorded yet; returns whether they agree.
  bool check(const std::string& signal, int64_t rtl, int64_t vitsim) {
    if (rtl == vitsim || !first_.empty()) return rtl == vitsim;
    std::ostringstream s;
    s << "tile " << tile_ << ", cycle " << cycle_ << ": " << signal << ": RTL " << rtl << ", vitsim "
      << vitsim;
    first_ = s.str();
    return false;
  }
  void fail(const std::string& what) {
    if (first_.empty())
      first_ = "tile " + std::to_string(tile_) + ", cycle " + std::to_string(cycle_) + ": " + what;
  }
  bool found() const { return !first_.empty(); }
  CosimResult result() const { return {first_, tiles_, cycles_, values_}; }

 private:
  int64_t tile_ = 0, cycle_ = 0, tiles_ = 0, cycles_ = 0, values_ = 0;
  std::string first_;
};

/// Random stalls on one handshake: each cycle stalls with the tile's probability (0, 1/4 or 1/2).
class Stalls {
 public:
  explicit Stalls(std::mt19937_64& rng)
      : rng_(rng), percent_(std::uniform_int_distribution<int>(0, 2)(rng) * 25) {}
  bool go() { return std::uniform_int_distribution<int>(0, 99)(rng_) >= percent_; }

 private:
  std::mt19937_64& rng_;
  int percent_;
};

/// A shipped accelerator config (configs/accel/<name>.json), loaded once.
inline const arch::AccelConfig& config(const std::string& name) {
  static std::map<std::string, arch::AccelConfig> configs;
  auto it = configs.find(name);
  if (it == configs.end())
    it = configs.emplace(name, arch::load_accel_config(std::string(VITSIM_CONFIG_DIR) + "/" + name + ".json"))
             .first;
  return it->second;
}

}  // namespace vitsim::rtl

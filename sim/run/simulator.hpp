// The simulation top: compiles a quantized graph for an accelerator, runs it in SystemC, and aggregates the
// records into per-layer and per-resource statistics with the metrics of docs/metrics.md (defined in
// docs/metrics.md, the report's layout in docs/report.schema.json). Optionally runs functional simulation and
// compares every layer with the integer reference executor.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/accelerator.hpp"
#include "arch/energy.hpp"
#include "arch/program.hpp"
#include "arch/timing_mode.hpp"
#include "quant/qgraph.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/run/run_progress.hpp"

namespace vitsim::sim {

struct SimOptions {
  arch::TimingMode timing = arch::TimingMode::Fast;
  bool functional = false;          // compute real outputs and compare them with the integer executor
  CompileOptions compile;           // ideal memory, ...
  int64_t watchdog_cycles = 0;      // see arch::RunOptions (0: automatic)
  uint64_t seed = 0;                // the synthetic input image of functional simulation
  bool record_bursts = false;       // keep every DRAM burst in SimOutcome::records (for traces)
  int64_t max_cycles = 0;           // stop with arch::CycleLimitReached beyond this many cycles (0: no limit)
  RunProgress* progress = nullptr;  // cycle mode: the estimate and progress lines on stderr (may be null)
  const arch::EnergyModel* energy = nullptr;  // prices the activity counts (docs/energy.md); null: no energy
};

/// a / b, or 0 when b is 0.
inline double ratio(double a, double b) {
  return b == 0 ? 0.0 : a / b;
}

inline double as_double(int64_t v) {
  return static_cast<double>(v);
}

/// Cycles of a unit or a layer, by what the unit did (docs/metrics.md). For a resource they add up
/// to the total cycles; for a layer, busy and stalls are summed over its tiles (on all units).
struct CycleBreakdown {
  int64_t busy = 0;              // a tile in progress, operands flowing
  int64_t stall_port = 0;        // a tile in progress, waiting for buffer ports
  int64_t stall_aux = 0;         // a tile in progress, waiting for the auxiliary output path
  int64_t stall_dram = 0;        // between tiles, waiting for a DMA transfer (load, or store of a slot)
  int64_t stall_dependency = 0;  // between tiles, waiting for another unit's tile
  int64_t idle = 0;              // before the first tile and after the last (resources only)
  nlohmann::json to_json() const;
};

/// A stretch of back-to-back items of one layer on one unit (a tile or transfer starting the cycle after the
/// previous one ended extends it): the engine timeline of report.json and the figures.
struct TimelineSegment {
  int layer = -1;
  int64_t start = 0, end = 0;  // first and last cycle
  int64_t items = 0;           // tiles (compute units) or transfers (DMA queues) merged into it
};

struct ResourceStats {
  std::string name;
  bool is_engine = false;
  int64_t multipliers = 0;
  int64_t tiles = 0, macs = 0;
  CycleBreakdown cycles;
  double mac_utilization = 0;  // macs / (total cycles x multipliers); engines only
  std::vector<TimelineSegment> timeline;
  arch::Activity activity;             // its tiles' MAC slots, auxiliary operations, operand reads, results
  std::optional<arch::Energy> energy;  // the activity priced (compute, on-chip memory); with an energy model
};

/// A layer's accesses as the DDR4 model served them (report.json layers[].dram; DDR4 only): the column
/// accesses of the bursts of its DMA transfers.
struct LayerDram {
  int64_t accesses = 0, row_hits = 0, row_misses = 0, row_conflicts = 0;
  double row_hit_rate = 0;    // row_hits / accesses
  double achieved_gbps = 0;   // the layer's DRAM bytes / its span (first to last cycle)
  double avg_latency_ns = 0;  // per access: arrival in the controller to the end of its data
  /// Per cause (bank_conflict, refresh, turnaround, bus): latency beyond a row hit, summed over accesses, ns
  /// (arch/ddr4/ddr4_controller.hpp splits it).
  std::array<double, arch::ddr4::kCauses> stall_ns{};
  nlohmann::json to_json() const;
};

struct LayerStats {
  std::string name, label, op;
  int64_t start = -1,
          end = -1;  // first cycle of the layer's first item (tile or transfer), last cycle of its last
  int64_t span() const { return start < 0 ? 0 : end - start + 1; }
  int64_t macs = 0, tiles = 0, transfers = 0, dram_read = 0, dram_written = 0;
  CycleBreakdown cycles;
  std::vector<std::string> resources;  // units its tiles ran on
  int64_t mismatches = -1;        // functional: elements differing from the integer executor (-1: not run)
  std::optional<LayerDram> dram;  // with the DDR4 model only
  arch::Activity activity;        // its tiles' and its transfers' activity
  /// Its activity priced, and the DDR4 reads and writes of its bursts (dram_read, dram_write); the image's
  /// clock, static, ACT-PRE, refresh and background terms are not split by layer.
  std::optional<arch::Energy> energy;

  /// The units it ran on joined by '+' (summary, layers.csv, traces).
  std::string joined_resources() const;
};

/// What the DDR4 model saw during the image (report.json "dram"; only when the config's dram/model is ddr4):
/// the layers' statistics over the whole image (achieved_gbps: bytes moved / the image's simulated time),
/// and what only the image has.
struct DramReport : LayerDram {
  std::string preset;
  int64_t reads = 0, writes = 0;  // column accesses (one per access_bytes of a burst)
  int64_t activates = 0, precharges = 0, refreshes = 0;
  double peak_gbps = 0;        // the preset's peak
  double bus_utilization = 0;  // data-bus cycles with data / DRAM cycles of the image
  double active_standby_ns = 0,
         precharged_standby_ns = 0;  // rank time with a bank open (or refreshing) / not
  nlohmann::json to_json() const;
};

/// The energy of the image (report.json "energy", docs/energy.md): the image's activity and DRAM
/// commands priced by an energy model.
struct EnergyReport {
  std::string model;
  arch::Energy energy;
  bool dram_modeled = false;  // the DDR4 model ran (with the ideal bus, the DRAM terms are 0)
};

struct SimReport {
  /// Version of report.json's layout (docs/report.schema.json); bump it on any change of keys or meaning.
  static constexpr int kSchemaVersion = 4;
  std::string model, recipe, accel, timing;
  int resolution = 0;
  bool functional = false, ideal_memory = false;
  double clock_mhz = 0;
  double dram_bandwidth_gbps = 0;  // the config's DRAM bandwidth (the roofline's memory roof)
  int64_t cycles = 0, macs = 0, multipliers = 0, dsps = 0;
  int64_t dram_bytes_read = 0, dram_bytes_written = 0, tiles = 0, transfers = 0;
  int64_t mismatches = -1;     // total over layers (functional only)
  std::string first_mismatch;  // functional: the first mismatching layer and element (empty: none)
  std::vector<ResourceStats> resources;
  std::vector<LayerStats> layers;                    // per graph node
  std::vector<TimelineSegment> dma_load, dma_store;  // the DMA queues' timelines
  double wall_seconds = 0;                           // simulation only (compile + SystemC + functional)
  std::optional<DramReport> dram;                    // with the DDR4 model only
  arch::Activity activity;                           // the image's: the sum of its layers'
  std::vector<std::pair<std::string, int64_t>> aux_ops_by_unit;  // per auxiliary unit of the config
  std::optional<EnergyReport> energy;                            // with an energy model only

  // A ratio whose denominator is 0 (a graph with nothing to run takes 0 cycles) is reported as 0, so
  // every metric is a finite number (docs/metrics.md).
  double latency_ms() const { return ratio(as_double(cycles), clock_mhz * 1e3); }
  double fps() const { return ratio(clock_mhz * 1e6, as_double(cycles)); }
  double mac_utilization() const {
    return ratio(as_double(macs), as_double(cycles) * as_double(multipliers));
  }
  double gops() const { return 2.0 * as_double(macs) * fps() / 1e9; }
  double peak_gops() const { return 2.0 * as_double(multipliers) * clock_mhz / 1e3; }
  double dsp_efficiency() const { return ratio(gops(), as_double(dsps)); }
  double fps_per_dsp() const { return ratio(fps(), as_double(dsps)); }
  /// Energy per image / latency, W (0 without an energy model).
  double average_power_w() const { return energy ? ratio(energy->energy.total(), latency_ms() / 1e3) : 0.0; }
  double gops_per_w() const { return ratio(gops(), average_power_w()); }
  double fps_per_w() const { return ratio(fps(), average_power_w()); }
  nlohmann::json to_json() const;
};

/// A simulation with everything it was made of: the report, the compiled program and when each of its items
/// ran (for traces).
struct SimOutcome {
  SimReport report;
  arch::Program program;
  arch::RunRecords records;
};

/// Throws std::invalid_argument if `functional` is asked of a config whose datapath the functional model
/// cannot check: an FP32 one (number_format "fp32") has no integer datapath to compare with the integer
/// reference executor.
void check_functional(const arch::AccelConfig& config, bool functional);

/// Compiles and simulates; throws MappingError, arch::SimulationStalled, arch::CycleLimitReached or
/// std::invalid_argument (check_functional first).
SimOutcome simulate_detailed(const quant::QGraph& qgraph, const arch::AccelConfig& config,
                             const SimOptions& options);
inline SimReport simulate(const quant::QGraph& qgraph, const arch::AccelConfig& config,
                          const SimOptions& options) {
  return simulate_detailed(qgraph, config, options).report;
}

/// The image's energy from its counts in `report` priced by `model` (what simulate stores in
/// report.energy; the sensitivity table reprices the same counts with one coefficient moved).
arch::Energy report_energy(const SimReport& report, const arch::EnergyModel& model,
                           const arch::AccelConfig& config);

/// The ten-second summary: cycles, latency, FPS, MAC utilization, GOPS, DSP efficiency, per-engine
/// utilization, DRAM traffic, the layers taking the most cycles, and the functional mismatch count.
void print_summary(const SimReport& report, std::ostream& out, int top_layers = 8);

}  // namespace vitsim::sim

// Timing rules of compute tiles, in plain C++ (no SystemC kernel): one closed form per rule (fast timing
// mode) and one cycle-by-cycle state machine of the same rule (cycle timing mode). Tests hold the two
// equal on random shapes; docs/engines.md states the rules in words.
//
// THE OUTPUT-GROUP PIPELINE (MAT, R-MAC and systolic tiles). A tile is a sequence of `groups` output groups
// (the outputs the array holds at once). Each group needs `waves` issue slots; each wave first fetches its
// operands through the engine's share of the buffer ports, which takes p = max(ceil(act_bytes /
// act_share), ceil(weight_bytes / weight_share), 1) cycles (p - 1 of them are port stalls). A wave then
// takes `depth` pipeline stages (fetch, multiply, adder tree, accumulate, write-back). After a group's last
// wave leaves the pipeline, its `group_outputs` results go to the auxiliary chain (requantizer, hswish,
// ...), which accepts `rate` (the chain's slowest throughput) per cycle, so a = ceil(group_outputs / rate)
// cycles, then `aux_latency` more cycles. A group may only begin once the previous one has used its
// period T = max(waves * p, a) (the write-back bus takes one group per a cycles). So:
//   cycles     = (groups - 1) * T + waves * p + (depth - 1) + a + aux_latency
//   stall_port = groups * waves * (p - 1)
//   stall_aux  = (groups - 1) * (T - waves * p)
// With no auxiliary chain, a = aux_latency = 0.
//
// THE ELEMENTWISE RULE (standalone layers on an auxiliary unit: residual add, average pool, ...), with the
// unit type's passes (LayerNorm: 2; Softmax: 3) over the tile's elements:
//   cycles = ceil(passes x elements / throughput) + latency
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"

namespace vitsim::arch {

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}
/// Stages of a binary adder tree summing x values: ceil(log2(x)).
inline int ceil_log2(int64_t x) {
  int stages = 0;
  while ((int64_t{1} << stages) < x) ++stages;
  return stages;
}

/// An engine's share of the on-chip buffer ports (the closed forms' port, and the compiler's estimates):
/// the peak bytes per cycle of the activation and weight buffers divided equally among the config's
/// engines, at least 1 byte per cycle each. Fast mode divides the ports among the running tiles instead
/// (arch/port_fluid.hpp), cycle mode arbitrates them per cycle (arch/cycle_scheduler.hpp).
struct PortShare {
  int64_t act_bytes_per_cycle = 1;
  int64_t weight_bytes_per_cycle = 1;
};
PortShare port_share(const AccelConfig& config);

/// The auxiliary chain a tile's outputs pass through.
struct AuxPath {
  int64_t rate = 0;     // elements per cycle: the smallest throughput in the chain (0: no chain)
  int64_t latency = 0;  // sum of the chain's pipeline latencies
};
AuxPath aux_path(const AccelConfig& config, const std::vector<int>& chain);

/// Everything besides the tile that its timing depends on.
struct TileContext {
  PortShare ports;
  AuxPath aux;
};

/// The parameters of the output-group pipeline for one tile (see above).
struct GroupPipeline {
  int64_t groups = 0;                                 // output groups, >= 1
  int64_t waves = 0;                                  // issue slots per group, >= 1
  int64_t act_bytes = 0;                              // activation bytes fetched per wave
  int64_t weight_bytes = 0;                           // weight bytes fetched per wave
  int64_t depth = 1;                                  // pipeline stages a wave passes, >= 1
  int64_t group_outputs = 0;                          // results per group handed to the auxiliary chain
  int64_t port_cycles(const PortShare& ports) const;  // p
};

/// Cycle count and its breakdown for one tile.
struct TileCost {
  int64_t cycles = 0;      // first to last cycle of the tile (a count)
  int64_t stall_port = 0;  // issue cycles spent waiting for buffer ports
  int64_t stall_aux = 0;   // issue cycles spent waiting for the auxiliary chain to take a group
  int64_t busy() const { return cycles - stall_port - stall_aux; }
  bool operator==(const TileCost& o) const {
    return cycles == o.cycles && stall_port == o.stall_port && stall_aux == o.stall_aux;
  }
};

/// What a tile moves over its whole run (the activity counts of the energy estimate, docs/energy.md):
/// operand bytes read from the activation and weight buffers, results its auxiliary chain accepted (per
/// unit of the chain; standalone: its unit's, passes included) and results that left the unit. Cycle mode
/// sums every cycle's grants and output beats; fast mode takes tile_traffic(), the same rule's totals.
struct TileTraffic {
  int64_t act_bytes = 0, weight_bytes = 0, aux_results = 0, results = 0;
  bool operator==(const TileTraffic& o) const {
    return act_bytes == o.act_bytes && weight_bytes == o.weight_bytes && aux_results == o.aux_results &&
           results == o.results;
  }
};

/// What a unit's neighbours do in one cycle, for co-simulation against the RTL (docs/rtl.md).
/// input_valid: the upstream delivers this cycle's input beat (an engine's port share of operand bytes, an
/// auxiliary unit's next `throughput` elements); when it does not, an engine's fetch counters do not
/// advance (a port stall). output_ready: the downstream takes this cycle's output beat; when it does not,
/// the unit holds (a global stall: no pipeline register moves at the end of the cycle and no input is
/// taken in it).
struct Handshake {
  bool input_valid = true;
  bool output_ready = true;
};

/// Cycle mode (arch/cycle_scheduler.hpp): what a tile asks of the shared resources in the coming cycle,
/// before the scheduler arbitrates them among the units.
struct Demand {
  int64_t act_bytes = 0;     // operand bytes of the current wave still to read from the activation buffer
  int64_t weight_bytes = 0;  // ... from the weight buffer
  int64_t aux_results = 0;   // results its auxiliary chain (or, standalone, its aux unit) would take now
};
/// What the scheduler granted for the cycle (each at most the demand).
struct Grant {
  int64_t act_bytes = 0, weight_bytes = 0, aux_results = 0;
  bool output_ready = true;  // see Handshake
};

/// A tile's state machine, advanced one cycle per call. Nothing about the tile's duration is fixed when it
/// starts: every cycle's progress depends on that cycle's grants.
class TileStepper {
 public:
  virtual ~TileStepper() = default;
  /// What the next cycle would take if everything were granted.
  virtual Demand demand() const = 0;
  /// Advances one cycle with `grant` (each field at most demand()'s); returns true when that cycle was the
  /// tile's last.
  virtual bool advance(const Grant& grant) = 0;
  /// Advances one cycle with the given neighbours and the engine's fixed port share (the closed form's
  /// assumption, and the RTL co-simulation's port): operands at the share when input_valid, the chain at
  /// its full rate. Output stalls need a registered output (a pipeline depth or chain latency of at least
  /// 1 register) and no auxiliary chain after an engine: std::invalid_argument otherwise.
  bool step(const Handshake& handshake) { return advance(handshake_grant(handshake)); }
  /// step() with always-ready neighbours.
  bool step() { return step(Handshake{}); }
  /// The last cycle's output beat: results that left the unit (0: no beat, or a held one). An engine
  /// without a chain sends a group's results in one beat; a chain sends up to its rate per cycle.
  virtual int64_t beat_results() const = 0;
  /// Whether the last cycle took an input beat (an engine: its fetch counters took operand bytes).
  virtual bool took_input() const = 0;
  /// Counts so far (equal to the closed form once step() has returned true).
  virtual TileCost counted() const = 0;
  /// One line for the watchdog, e.g. "group 3/16 wave 2/4, 5 waves in flight, aux 12/128".
  virtual std::string state() const = 0;

 protected:
  /// The grant that step(handshake) implies.
  virtual Grant handshake_grant(const Handshake& handshake) const = 0;
};

/// Closed form of the output-group pipeline.
TileCost group_pipeline_cost(const GroupPipeline& g, const PortShare& ports, const AuxPath& aux);
/// Its state machine: an issue stage with port fetch counters, a `depth`-stage shift register of waves,
/// the auxiliary chain's input queue, acceptance rate and latency register.
std::unique_ptr<TileStepper> group_pipeline_stepper(const GroupPipeline& g, const PortShare& ports,
                                                    const AuxPath& aux);

/// Closed form of the elementwise rule on one auxiliary unit: `elements` streamed through it (a tile's
/// elements times the unit's passes).
TileCost elementwise_cost(int64_t elements, const AuxUnitConfig& unit);
std::unique_ptr<TileStepper> elementwise_stepper(int64_t elements, const AuxUnitConfig& unit);

/// The timing of a tile on its resource: an engine's (through EngineParams::group_pipeline) or an
/// auxiliary unit's. Throws std::invalid_argument if the resource cannot run the tile.
TileCost tile_cost(const AccelConfig& config, const Resource& resource, const ComputeTile& tile);
std::unique_ptr<TileStepper> tile_stepper(const AccelConfig& config, const Resource& resource,
                                          const ComputeTile& tile);
/// A tile's traffic as its timing rule moves it: every wave fetches its operands once, every group's
/// outputs pass the chain once; a standalone tile streams its elements once per pass.
TileTraffic tile_traffic(const AccelConfig& config, const Resource& resource, const ComputeTile& tile);

}  // namespace vitsim::arch

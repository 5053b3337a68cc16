// Fast mode's buffer ports (docs/simulation.md, "Fast mode"): the engines' running tiles share the
// activation and weight buffers' read ports as a fluid, after the DMA's writes into the buffers. Plain C++,
// no SystemC: tests drive it with hand-computed cases.
//
// A tile is the output-group pipeline of tile_timing.hpp: an issue phase of `groups` groups, each taking
// the period T = max(waves x p, a) but the last, which takes waves x p, then a tail of (depth - 1) + a +
// aux_latency cycles that uses no port. Its price p (cycles per wave) follows its port shares s_act,
// s_weight (bytes per cycle):
//   - alone (the only tile issuing): p = max(1, ceil(act_bytes / s_act), ceil(weight_bytes / s_weight)),
//     the closed form's price (s: the whole port, less the DMA's writes);
//   - sharing: p = max(1, act_bytes / s_act, weight_bytes / s_weight), a fraction: cycle mode's arbiter
//     hands the cycle's bytes a wave does not need to the other units, so the shared port divides bytes,
//     not cycles.
// Each port's capacity, its peak minus the DMA's writes, is divided max-min fairly (water filling) among
// the issuing tiles, each asking for the bytes per cycle it would fetch with the whole capacity
// (waves x bytes / T).
//
// The run is cut into pieces at every event: a tile starts, a tile's issue phase ends, the DMA's write
// rate into a buffer changes (only where that can change a price: not while no tile issues, nor while one
// tile issues alone at the same price with or without the writes). Within a piece every share is constant and
// each tile's remaining issue time (in cycles at its price) falls by one per cycle; at the piece's end shares
// are recomputed and each remaining time is converted at the new price through the groups left:
//   groups left r = 1 + (rem - waves x p) / T  (rem >= waves x p), else rem / (waves x p)
//   rem = (r - 1) x T + waves x p              (r >= 1),           else r x waves x p
// A tile alone at an unchanged price keeps an integer remaining time, so it ends on its closed form's
// cycle exactly. Its issue phase ends at the real time X; its last cycle is ceil(X) + tail - 1.
//
// DMA writes, as cycle mode's landing writes (arch/arbiter.hpp) in the mean: a load burst of B bytes may be
// written from the first of the last ceil(B / DRAM bytes per cycle) cycles before its last byte arrives
// (not before the cycle after its issue); its ceil(B / word_bytes) accesses queue behind the port's earlier
// bursts and are written at the DMA's write width W = clamp(ceil(DRAM bytes per cycle / word_bytes), 1,
// accesses per cycle) accesses per cycle. So writes take W x word_bytes of the port from
// max(that first cycle, the previous burst's end) for ceil(B / word_bytes) / W cycles (a real time): a port
// never loses more than its write width, and a stream of bursts is one piece, not one per burst.
//
// Prediction (next_finish) runs a copy of the committed state ahead to the first issue end and keeps the
// state at every piece boundary on the way. A burst reported later changes only the pieces from its first
// write on, so only those are dropped and redone; a start drops them all. Each burst of a stream landing
// before the predicted end costs a few pieces, not a walk from the committed state.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

class PortFluid {
 public:
  /// `act_peak`, `weight_peak`: the ports' bytes per cycle; `*_word`: their word bytes; `dram_bytes`:
  /// the DRAM's bytes per cycle (the landing rate of the DMA's writes).
  PortFluid(int64_t act_peak, int64_t act_word, int64_t weight_peak, int64_t weight_word, double dram_bytes);
  explicit PortFluid(const AccelConfig& config);

  /// A tile starts issuing in cycle t (not before the cycles already advanced over). Returns its handle.
  int start(int64_t t, const GroupPipeline& g, const AuxPath& aux);
  /// A DMA load burst into `buffer`, issued in cycle `issued`, its last byte arriving in `arrival`. Its
  /// writes must lie in time not yet advanced over (they begin after `issued`; std::logic_error
  /// otherwise). Returns the first cycle they take a port in (INT64_MAX: not a port the engines read).
  int64_t burst(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes);
  /// Integrates every cycle before `t` (only whole pieces are committed, so the result does not depend on
  /// how often this is called). Returns the handles of the tiles whose issue phase ended by cycle t - 1,
  /// with their last cycle; each is reported once.
  struct Finished {
    int tile;
    int64_t done;  // last cycle: ceil(issue end) + tail - 1
    TileCost cost;
  };
  std::vector<Finished> advance(int64_t t);
  /// The first cycle t at which advance(t + 1) may report a tile as finished, from what is known now
  /// (INT64_MAX: no tile issuing). A start or a burst may move it either way (a write that slows one tile
  /// may leave another more of the other port), so it is to be asked again after each; the answer is
  /// kept until one of them invalidates it, and recomputed only from the last piece they leave intact.
  int64_t next_finish();
  /// The tiles issuing as of the last start or advance.
  size_t issuing() const { return now_.active.size(); }

 private:
  struct Tile {
    int handle;
    int64_t start;
    GroupPipeline g;
    int64_t a;                 // cycles the chain takes per group
    int64_t tail;              // cycles after the issue phase
    double p = 0, period = 0;  // current price and period (0: not yet priced)
    double rem = 0;            // remaining issue cycles at the current price
    double stall_port = 0, stall_aux = 0;
    bool write_proof = false;  // alone, its price is the same with and without the DMA's writes
  };
  struct Port {
    int64_t peak, word;
    int64_t write_accesses;  // the DMA's write width W, accesses per cycle
    double drained;          // when the writes of the bursts known so far end
    // (time, change of the number of bursts being written, 0 or 1, from then), in time order.
    std::deque<std::pair<double, int>> edges;
    // The first edge after time t.
    std::deque<std::pair<double, int>>::const_iterator after(double t) const {
      return std::upper_bound(edges.begin(), edges.end(), t,
                              [](double v, const std::pair<double, int>& e) { return v < e.first; });
    }
  };
  // The fluid at a piece boundary: settled when the write edges up to `time` are in `writes` and the
  // active tiles are priced for the piece beginning at `time` (applied == time); a step settles first.
  struct State {
    double time = 0;         // real time up to which everything is integrated
    int writes[2] = {0, 0};  // bursts being written into each port in the current piece
    double applied = -1;     // the time up to which write edges are in `writes`
    std::vector<Tile> active;
  };
  static constexpr int64_t kUnknown = -1;

  // A new last slot of ahead_ (its content stale).
  State& push_ahead();
  // A port's bytes per cycle for the engines while `writes` bursts are being written into it (0 or 1).
  double capacity(int port, int writes) const;
  // The price of a tile with shares (act, weight) bytes per cycle: whole cycles per wave when `alone`.
  static double price_at(const Tile& tile, double act, double weight, bool alone);
  // Recomputes shares and prices of the active tiles for the piece beginning at s.time.
  void price(State& s) const;
  // The period of a group at price p, and a tile's change of price (its remaining issue time converted
  // through the groups left).
  static double period_at(const Tile& tile, double p);
  static void reprice(Tile& tile, double p);
  // The end of the piece beginning at s.time: the next write edge or issue end (INFINITY: neither).
  double piece_end(const State& s) const;
  // Moves s.time to `end` (no edge or issue end before it) and moves the tiles whose issue ended at `end`
  // to `finished`; s is then to be settled.
  void integrate(State& s, double end, std::vector<Finished>* finished) const;
  // Adds the write edges up to s.time to s.writes and reprices.
  void settle(State& s) const;
  // Settles s, then integrates it over its piece if that ends by `t` (false otherwise).
  bool step(State& s, double t, std::vector<Finished>* finished) const;
  // Integrates s up to `t` through whole pieces only (pieces ending after t are left); with `partial`,
  // also the part of the last piece before t. s is left unsettled if a piece ends at t.
  void run(State& s, double t, bool partial, std::vector<Finished>* finished) const;

  Port ports_[2];  // activation, weight
  double dram_bytes_;
  State now_;  // committed
  // next_finish()'s pieces after now_, up to the predicted issue end: ahead_[ahead_begin_, ahead_end_).
  // The slots outside keep their storage for reuse (a State holds a vector of tiles).
  std::vector<State> ahead_;
  size_t ahead_begin_ = 0, ahead_end_ = 0;
  int64_t predicted_ = kUnknown;                                 // next_finish()'s answer while ahead_ holds
  std::vector<Finished> finished_;                               // reported by the next advance()
  mutable std::vector<double> full_period_, demand_, share_[2];  // price()'s scratch
  mutable std::vector<size_t> order_;
  int next_handle_ = 0;
};

}  // namespace vitsim::arch

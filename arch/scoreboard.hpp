// Completion times of the program's items (compute tiles and DMA transfers), shared by every module.
// A module records an item's last cycle as soon as it knows it (fast mode: when the tile starts; cycle
// mode: in that cycle) and notifies `changed`; waiting modules read only the recorded values, so their
// decisions do not depend on when, within a time step, they ran.
#pragma once

#include <systemc>
#include <vector>

namespace vitsim::arch {

class Scoreboard {
 public:
  static constexpr int64_t kPending = -1;

  Scoreboard(size_t tiles, size_t transfers) : tiles_(tiles, kPending), transfers_(transfers, kPending) {}

  int64_t tile_done(int i) const { return tiles_[static_cast<size_t>(i)]; }
  int64_t transfer_done(int i) const { return transfers_[static_cast<size_t>(i)]; }
  void finish_tile(int i, int64_t last_cycle) { record(tiles_[static_cast<size_t>(i)], last_cycle); }
  void finish_transfer(int i, int64_t last_cycle) { record(transfers_[static_cast<size_t>(i)], last_cycle); }

  /// When a set of waits is satisfied: the first cycle after the last of them (0 with no waits).
  struct Ready {
    bool known = true;      // false while any wait has no recorded completion
    int64_t cycle = 0;      // valid when known
    int binding_tile = -1;  // the wait that finished last (for stall attribution), or -1
    int binding_transfer = -1;
  };
  Ready ready(const std::vector<int>& wait_tiles, const std::vector<int>& wait_transfers) const {
    Ready r;
    for (int t : wait_tiles) {
      const int64_t d = tile_done(t);
      if (d == kPending) return Ready{false, 0, t, -1};
      if (d + 1 > r.cycle || (r.binding_tile < 0 && r.binding_transfer < 0))
        r.cycle = std::max(r.cycle, d + 1), r.binding_tile = t, r.binding_transfer = -1;
    }
    for (int t : wait_transfers) {
      const int64_t d = transfer_done(t);
      if (d == kPending) return Ready{false, 0, -1, t};
      if (d + 1 > r.cycle || (r.binding_tile < 0 && r.binding_transfer < 0))
        r.cycle = std::max(r.cycle, d + 1), r.binding_tile = -1, r.binding_transfer = t;
    }
    return r;
  }

  /// Items completed so far (the watchdog's progress measure).
  int64_t completed() const { return completed_; }
  int64_t total() const { return static_cast<int64_t>(tiles_.size() + transfers_.size()); }
  /// The last cycle of any item recorded so far.
  int64_t last_cycle() const { return last_; }
  sc_core::sc_event& changed() { return changed_; }

 private:
  void record(int64_t& slot, int64_t last_cycle) {
    slot = last_cycle;
    ++completed_;
    last_ = std::max(last_, last_cycle);
    changed_.notify(sc_core::SC_ZERO_TIME);
  }
  std::vector<int64_t> tiles_, transfers_;
  int64_t completed_ = 0, last_ = -1;
  sc_core::sc_event changed_;
};

}  // namespace vitsim::arch

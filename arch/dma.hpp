// The DMA engine: runs the program's load queue (DRAM -> buffers) and store queue (buffers -> DRAM), each in
// order, and sends their bursts to the DRAM through a TLM-2.0 initiator socket.
//
// THE RULE, per cycle t. A queue's head transfer becomes active at the first cycle its waits allow (all
// waited-for items finished by t - 1); it then spends `setup_cycles` programming its descriptor, and from
// then on issues its bursts: each run of its descriptor in bursts of burst_bytes, the run's last one partial
// (a burst never crosses a run). At most one burst is issued
// per cycle over both queues (the load queue first), and each direction keeps at most
// `max_outstanding_bursts` bursts in flight; a burst's slot frees the cycle after its last byte arrives. A
// transfer is complete when its last burst's last byte has arrived; the next transfer of the queue becomes
// the head the cycle after its predecessor issued its last burst.
// Cycle mode steps this every cycle; fast mode evaluates the same step only at the cycles where something
// can change (a setup ends, a slot frees, a wait is satisfied, a burst can issue) and sleeps in between.
//
// FAST MODE STEPS AHEAD of the SystemC kernel, in a plain loop within one activation, through the cycles
// that nothing else can change or observe, so a run of bursts costs no kernel event per burst. A step of
// cycle t reads only the DMA's own state and, for a queue head still waiting, the scoreboard; it is taken
// ahead of time only when
//   - every waiting head's waits are recorded (recorded completions never change), or cannot be satisfied
//     by t from what can still be recorded (wait_bound: a wait on an unrecorded transfer cannot be before
//     the DMA records it, which it never does ahead; an unrecorded tile ends at now or later, and if it has
//     not started, starts no earlier than now, than its queue predecessor and than its own waits);
//   - it issues no transfer's last burst (the scoreboard records the transfer then, at that cycle, for the
//     other modules and the watchdog's progress count);
//   - t lies before the watchdog's next look at the DMA's state (step_ahead_until).
// Each burst carries its request cycle to the DRAM as the TLM delay past the kernel's time, so the DRAM
// sees the same requests in the same order: results are the same as stepping cycle by cycle.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <deque>
#include <functional>
#include <string>
#include <systemc>
#include <tlm>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/dram.hpp"
#include "arch/memory_image.hpp"
#include "arch/program.hpp"
#include "arch/scoreboard.hpp"
#include "arch/timing_mode.hpp"

namespace vitsim::arch {

/// When each transfer ran (for reports and traces).
struct TransferRecord {
  int64_t start = -1;   // cycle the transfer became active (its setup began)
  int64_t issued = -1;  // cycle its last burst was issued (the queue's next transfer may start after it)
  int64_t done = -1;    // cycle its last byte arrived
};

class DmaEngine : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<DmaEngine> socket;

  DmaEngine(sc_core::sc_module_name name, const Program& program, const AccelConfig& config, TimingMode mode,
            Scoreboard& scoreboard, std::vector<TransferRecord>& records);

  /// Cycle mode: called for every load burst with its buffer, the cycle it is issued, the cycle its last
  /// byte arrives and its bytes, so the buffer's write ports can be charged (arch/cycle_scheduler.hpp).
  void on_load_burst(std::function<void(BufferKind, int64_t, int64_t, int64_t)> report) {
    load_burst_ = std::move(report);
  }

  /// One line per queue for the watchdog.
  std::string state() const;
  /// Lets fast mode step ahead (off until called), up to the next multiple of `watch_period`, where the
  /// watchdog reads state() (0: no such limit).
  void step_ahead_until(int64_t watch_period) {
    step_ahead_ = true;
    watch_period_ = watch_period;
  }
  bool finished() const;
  /// Moves real bytes: each burst's payload points into `buffers` at the transfer's buffer address (null:
  /// a scratch burst, timing only).
  void attach_buffers(OnChipMemory* buffers) { buffers_ = buffers; }

 private:
  SC_HAS_PROCESS(DmaEngine);
  enum class Phase { Waiting, Setup, Issuing };
  struct Queue {
    const char* name;
    tlm::tlm_command command;
    const std::vector<int>* order;
    size_t head = 0;
    Phase phase = Phase::Waiting;
    int64_t setup_end = 0;
    int64_t bursts_issued = 0, bursts_total = 0, last_arrival = -1;
    size_t run_set = 0;  // the burst cursor: run set, run in it, bytes issued of the run
    int64_t run = 0, run_offset = 0, bytes_issued = 0;
    std::deque<int64_t> in_flight;  // arrival cycles of issued bursts, ascending
  };

  enum class Step { Idle, Changed, Blocked };
  void run();
  // The step of cycle t: Changed if it changed any state, Idle if not. `ahead` (t past the kernel's time):
  // Blocked, before issuing, when the burst to issue is a transfer's last (step(t) at cycle t then redoes
  // the part already done, which changes nothing the second time).
  Step step(int64_t t, bool ahead);
  void issue_burst(Queue& q, int64_t t);
  // Fast mode: the next cycle after t at which step() can change state (INT64_MAX: only on an event).
  int64_t next_change(int64_t t) const;
  // Fast mode: steps ahead from cycle `next` while allowed (see above); returns the first cycle not stepped.
  int64_t step_ahead(int64_t now, int64_t next);
  // A cycle before which waits not yet recorded cannot be satisfied (INT64_MAX: not before the DMA records
  // a transfer), from what the scoreboard holds at cycle `now`; memoized per tile in bound_ for one `now` (a
  // bound stays valid while the scoreboard fills).
  int64_t wait_bound(const std::vector<int>& wait_tiles, const std::vector<int>& wait_transfers, int64_t now,
                     int depth);
  int64_t tile_start_bound(int tile, int64_t now, int depth);

  const Program& program_;
  const AccelConfig& config_;
  TimingMode mode_;
  Scoreboard& scoreboard_;
  std::vector<TransferRecord>& records_;
  Queue queues_[2];
  int64_t last_stepped_ = -1;
  bool last_changed_ = false;  // whether the step of last_stepped_ changed state
  bool step_ahead_ = false;
  int64_t watch_period_ = 0;            // 0: not watched
  std::vector<int> queue_predecessor_;  // per tile: the tile before it on its resource, or -1
  std::vector<int64_t> bound_;          // per tile: tile_start_bound, valid where bound_at_ == now
  std::vector<int64_t> bound_at_;
  std::vector<unsigned char> burst_data_;
  std::function<void(BufferKind, int64_t, int64_t, int64_t)> load_burst_;
  OnChipMemory* buffers_ = nullptr;
  BurstOwner* owner_;  // the extension on payload_ naming the burst's layer
  tlm::tlm_generic_payload payload_;
};

}  // namespace vitsim::arch

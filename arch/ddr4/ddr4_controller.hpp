// A command-level DDR4 memory controller and its devices, in DRAM clock cycles. Plain C++, no SystemC.
//
// THE MODEL. Each channel has a request queue (ControllerPolicy::queue_depth), one command bus (at most one
// command per cycle) and one data bus, and per rank its bank groups and banks with an open row or none. A
// request is one column access (Config::access_bytes bytes) at a byte address, split by the address mapping.
// It needs, in order: PRE if its bank has another row open (a row CONFLICT), ACT if the bank is closed (a row
// MISS, or after the PRE), then RD or WR (a row HIT needs only this). Each command issues at the first cycle
// every JEDEC rule allows (docs/dram.md lists them: tRCD, tRP, tRAS, tRC, tRRD_S/L, tFAW, tCCD_S/L, tWR,
// tWTR_S/L, tRTP, read-to-write turnaround, tRFC, data bus occupancy). Read data occupy the bus from
// RD + CL, write data from WR + CWL, for BL/2 cycles. The closed page policy auto-precharges after every
// column access. Refresh: every tREFI a rank gets a REF (after a precharge-all if a bank is open), which
// blocks it for tRFC; a due refresh goes before any command that would issue at or after its due cycle.
//
// SCHEDULING, next-event: step() computes, for the queue's requests, the earliest cycle of each one's next
// command, and issues one command at the smallest such cycle (FCFS: always the oldest request's; FR-FCFS:
// among those ready at that cycle a column command first, then the oldest; a PRE is held back while a queued
// request hits the bank's open row; after `starvation_cap` column commands passed the oldest request, only
// the oldest may issue). Idle cycles are never visited one by one.
//
// STALL CAUSES. A request's latency (arrival to the end of its data) beyond a row hit on an idle device
// (CL or CWL, plus BL/2) is split exactly into four causes: `bank` (the PRE/ACT of a miss or conflict, and
// waits on same-bank rules, tRRD and tFAW), `refresh` (waits on tRFC), `turnaround` (tWTR, read-to-write)
// and `bus` (command bus, data bus, tCCD, and waiting while the scheduler serves other requests). Each wait
// goes to the rule that set the command's earliest cycle.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "arch/ddr4/ddr4_config.hpp"

namespace vitsim::arch::ddr4 {

/// Where an address lands.
struct Location {
  int channel = 0, rank = 0, bank_group = 0, bank = 0;  // bank: index within its bank group
  int64_t row = 0;
  int64_t column = 0;  // column access (burst) index within the row
};
/// Splits byte addresses by a config's mapping (bits above the capacity wrap around).
class AddressDecoder {
 public:
  explicit AddressDecoder(const Config& config);
  Location operator()(uint64_t address) const;

 private:
  struct Part {
    int shift = 0;      // of the field's lowest bit in the address
    uint64_t mask = 0;  // count - 1
    int64_t of(uint64_t address) const { return static_cast<int64_t>((address >> shift) & mask); }
  };
  std::array<Part, 6> parts_;  // indexed by Field
};

enum class Command { Act, Pre, PreAll, Rd, Wr, Ref };
const char* command_name(Command c);

/// One issued command (recorded on request, for tests and traces).
struct CommandRecord {
  int64_t cycle = 0;
  Command command = Command::Act;
  int rank = 0, bank_group = 0, bank = 0;  // bank-level commands only
  int64_t row = -1;                        // ACT only
};

enum class RowOutcome { Hit, Miss, Conflict };
enum class Cause { Bank, Refresh, Turnaround, Bus };
constexpr int kCauses = 4;
const char* cause_name(Cause c);  // "bank_conflict", "refresh", "turnaround", "bus"

struct Request {
  uint64_t address = 0;
  bool write = false;
  int64_t arrival = 0;  // DRAM cycle it enters the controller; not below the previous request's
  int64_t id = 0;       // the caller's, echoed in the completion
};

struct Completion {
  int64_t id = 0;
  bool write = false;
  int64_t arrival = 0;
  int64_t column = 0;    // cycle of its RD / WR (its queue slot frees here)
  int64_t data_end = 0;  // first cycle after its last data beat
  RowOutcome outcome = RowOutcome::Hit;
  std::array<int64_t, kCauses> stall{};  // data_end - arrival - (CL or CWL) - BL/2, split by cause
};

/// Counters of one channel or a whole memory.
struct Stats {
  int64_t reads = 0, writes = 0, hits = 0, misses = 0, conflicts = 0;
  int64_t activates = 0, precharges = 0, refreshes = 0;
  int64_t data_cycles = 0;     // cycles the data bus carried data
  int64_t last_data_end = 0;   // the latest completion's data_end
  int64_t latency_cycles = 0;  // sum over requests of data_end - arrival
  /// Rank-cycles in active standby: a bank of the rank open (ACT to its PRE, explicit or automatic) or a
  /// refresh under way (REF to REF + tRFC); the ranks' other cycles are precharged standby (the two
  /// background states of the energy estimate, docs/energy.md; the controller never powers down).
  int64_t active_cycles = 0;
  std::array<int64_t, kCauses> stall{};
  void add(const Completion& c, int data_cycles);
  void merge(const Stats& other);
  int64_t requests() const { return reads + writes; }
};

/// One channel: its controller, command and data bus, ranks and banks.
class Channel {
 public:
  explicit Channel(const Config& config);

  bool full() const { return static_cast<int>(queue_.size()) >= config_.policy.queue_depth; }
  bool empty() const { return queue_.empty(); }
  /// Queues a request (the caller keeps the queue from overflowing: check full() first).
  void enqueue(const Request& request);
  /// The same, with the request's location already decoded.
  void enqueue(const Request& request, const Location& at);
  /// Issues the next command, at the earliest cycle the rules and the scheduler allow, and appends the
  /// completion of a request whose column command it was. Returns false (and does nothing) when empty.
  bool step(std::vector<Completion>& done);
  /// Steps until the queue is empty.
  void drain(std::vector<Completion>& done);
  /// Serves one request with the queue empty, command by command, and returns its completion: what
  /// enqueue() and drain() give (with one request, FR-FCFS has no choice to make), without the queue.
  Completion serve(const Request& request, const Location& at);

  const Stats& stats() const { return stats_; }
  /// stats() with active_cycles counted up to DRAM cycle `until` (the end of the run), not only to the last
  /// command.
  Stats stats_until(int64_t until) const;
  /// Appends every command issued from now on to `log` (null: stop).
  void record_commands(std::vector<CommandRecord>* log) { log_ = log; }

 private:
  struct Bank {
    int64_t open_row = -1;
    int64_t act = kLongAgo;     // last ACT
    int64_t closes = kLongAgo;  // when the row opened by `act` closes (still open: never)
    int64_t next_act = 0, next_pre = 0, next_col = 0;  // earliest ACT / PRE / RD-WR by same-bank rules
  };
  struct Rank {
    std::vector<Bank> banks;                               // bank_group x banks_per_group
    std::vector<int64_t> act_bg, rd_bg, wr_bg, wr_end_bg;  // per bank group: last ACT, RD, WR, end of WR data
    int64_t act_any = kLongAgo, rd_any = kLongAgo, wr_any = kLongAgo, wr_end_any = kLongAgo;
    std::array<int64_t, 4> faw{};  // the last four ACTs, oldest first
    int64_t refresh_due = 0, refresh_start = kLongAgo, refresh_end = 0;
    int64_t accounted = 0;  // active standby is counted in stats_.active_cycles up to this DRAM cycle
  };
  struct Queued {
    Request request;
    Location at;
    int64_t ready_from = 0;  // where its next command's wait starts (arrival, or own last command + gap)
    bool precharged = false, activated = false;
    int bypassed = 0;
    std::array<int64_t, kCauses> stall{};
  };
  // The earliest cycle of a command and the rule that set it.
  struct Earliest {
    int64_t cycle = 0;
    Cause cause = Cause::Bus;
    void at_least(int64_t c, Cause why) {
      if (c > cycle) cycle = c, cause = why;
    }
  };
  static constexpr int64_t kLongAgo = -(int64_t{1} << 40);

  Command next_command(const Queued& q) const;
  Earliest earliest(Command c, const Location& at, int64_t from) const;
  bool row_wanted(const Location& at, const Queued* except) const;
  // The rank's next refresh step (PREA or REF) and its cycle, if refresh is on.
  Earliest refresh_step(int rank, Command& command) const;
  // Issues the step of a rank's refresh due at or before `cycle`, if any (refresh goes first).
  bool refresh_due_by(int64_t cycle);
  // Issues `command` of `q` at `when`; true when it was q's column command, `done` then its completion.
  bool advance(Queued& q, Command command, const Earliest& when, Completion& done);
  void issue(Command c, const Location& at, int64_t cycle);
  void refresh(int rank, Command command, int64_t cycle);
  void log(Command c, const Location& at, int64_t cycle, int64_t row = -1);
  // Active standby cycles of `rank` from its `accounted` cycle up to `now`. Commands issue in cycle order
  // and open a row or start a refresh only at their own cycle, so every interval that covers part of
  // [accounted, now) covers `accounted`: their union there is [accounted, the latest end).
  int64_t active_since_accounted(const Rank& rank, int64_t now) const;
  // Adds that to stats_ and moves `accounted` to `now` (before every command to the rank).
  void account_background(Rank& rank, int64_t now);

  const Config& config_;
  std::vector<Rank> ranks_;
  std::vector<Queued> queue_;  // oldest first (at most queue_depth: erasing is cheap)
  AddressDecoder decode_;
  int64_t last_command_ = -1;
  int64_t data_free_ = 0;  // first cycle the data bus is free
  int data_rank_ = -1;     // rank of the last data burst
  Stats stats_;
  std::vector<CommandRecord>* log_ = nullptr;
};

/// All channels of a memory, served in arrival order (each request completed before the next is queued:
/// the FCFS service of the TLM target, docs/dram.md).
class Memory {
 public:
  explicit Memory(const Config& config);
  Memory(const Memory&) = delete;  // the channels refer to config_
  Memory& operator=(const Memory&) = delete;
  /// Serves one column access arriving at DRAM cycle `arrival` (not below the previous one's).
  Completion access(uint64_t address, bool write, int64_t arrival);
  Stats stats() const;
  /// stats() with active standby counted up to DRAM cycle `until` (Channel::stats_until).
  Stats stats_until(int64_t until) const;
  /// Appends every command any channel issues from now on to `log` (null: stop).
  void record_commands(std::vector<CommandRecord>* log);
  const Config& config() const { return config_; }

 private:
  Config config_;
  AddressDecoder decode_;
  std::vector<Channel> channels_;
};

}  // namespace vitsim::arch::ddr4

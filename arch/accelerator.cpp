#include "arch/accelerator.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "arch/cycle_scheduler.hpp"
#include "arch/ddr4/ddr4_dram.hpp"
#include "arch/dram.hpp"
#include "arch/sc_time_base.hpp"

// SystemC 2.3 keeps one global simulation context; a process that simulates more than once (tests, sweeps)
// needs a fresh one for each elaboration.
namespace sc_core {
extern sc_simcontext* sc_curr_simcontext;
extern sc_simcontext* sc_default_global_context;
}  // namespace sc_core

namespace vitsim::arch {

namespace {

constexpr int64_t kMinAutoWatchdog = 1000000;

// An upper bound of a transfer's cycles with the DMA and the DRAM to itself: its setup, then every burst
// issued only after the previous one's last byte arrived.
int64_t transfer_cycles_alone(const AccelConfig& config, const DramModel& dram, const Transfer& transfer) {
  return config.dma.setup_cycles + burst_count(transfer.runs, config.dram.burst_bytes) *
                                       (1 + dram.burst_cycles_bound(config.dram.burst_bytes));
}

// The timing model the config's dram/model selects; `ddr4` is set when it is the DDR4 model.
std::unique_ptr<DramModel> make_dram_model(const AccelConfig& config, ddr4::Ddr4Dram*& ddr4) {
  if (config.dram.model == DramModelKind::IdealBus) return std::make_unique<DramChannel>(dram_timing(config));
  auto model = std::make_unique<ddr4::Ddr4Dram>(*config.dram.ddr4, std::llround(config.clock_mhz * 1000));
  ddr4 = model.get();
  return model;
}

void fresh_context() {
  static bool used = false;
  if (used) {
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  }
  used = true;
}

class Accelerator : public sc_core::sc_module {
 public:
  Accelerator(sc_core::sc_module_name name, const Program& program, const AccelConfig& config,
              const RunOptions& options, RunRecords& records)
      : sc_module(name),
        scoreboard_(program.tiles.size(), program.transfers.size()),
        dram_model_(make_dram_model(config, ddr4_)),
        dram_("dram", *dram_model_),
        dma_("dma", program, config, options.mode, scoreboard_, records.transfers),
        watchdog_cycles_(options.watchdog_cycles > 0 ? options.watchdog_cycles : kMinAutoWatchdog) {
    dma_.socket.bind(dram_.socket);
    if (options.record_bursts) dram_.record_bursts(&records.bursts);
    if (options.record_bursts && ddr4_) ddr4_->record_commands(&records.ddr4_commands);
    if (options.memory) {
      dram_.attach_storage(&options.memory->dram);
      dma_.attach_buffers(&options.memory->buffers);
    }
    if (options.mode == TimingMode::Cycle) {
      scheduler_ = std::make_unique<CycleScheduler>("units", program, config, scoreboard_, records.tiles,
                                                    options.functional);
      dma_.on_load_burst([this](BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) {
        scheduler_->burst_arrives(buffer, issued, arrival, bytes);
      });
    }
    // In cycle mode a tile shares ports and auxiliary units with every other unit, so it may take up to
    // that many times its closed form.
    int64_t sharing = 1;
    if (options.mode == TimingMode::Cycle)
      for (const auto& q : program.queues) sharing += q.empty() ? 0 : 1;
    for (size_t r = 0; r < program.resources.size(); ++r) {
      if (program.queues[r].empty()) continue;
      if (options.mode == TimingMode::Fast)
        units_.push_back(std::make_unique<ComputeUnit>(program.resources[r].name.c_str(), program,
                                                       static_cast<int>(r), config, scoreboard_,
                                                       records.tiles, options.functional));
      if (options.watchdog_cycles > 0) continue;
      for (int t : program.queues[r])
        watchdog_cycles_ = std::max(
            watchdog_cycles_,
            2 * sharing *
                tile_cost(config, program.resources[r], program.tiles[static_cast<size_t>(t)]).cycles);
    }
    for (const auto& u : units_) {
      std::vector<const ComputeUnit*> peers;
      for (const auto& other : units_)
        if (other != u && other->is_engine()) peers.push_back(other.get());
      if (u->is_engine()) u->set_port_peers(std::move(peers));
    }
    // A long transfer on a slow DRAM completes nothing for as long as it takes, like a long tile.
    if (options.watchdog_cycles <= 0)
      for (const Transfer& t : program.transfers)
        watchdog_cycles_ = std::max(watchdog_cycles_, 2 * transfer_cycles_alone(config, *dram_model_, t));
    SC_METHOD(watchdog);
  }

  bool complete() const { return scoreboard_.completed() == scoreboard_.total(); }
  const std::string& stall_message() const { return stall_message_; }
  const DramTarget& dram() const { return dram_; }
  /// The DDR4 model, when the config selects it (else null).
  const ddr4::Ddr4Dram* ddr4() const { return ddr4_; }
  int64_t last_cycle() const { return scoreboard_.last_cycle(); }

  std::string states() const {
    std::string s;
    for (const auto& u : units_) s += "\n  " + u->state();
    if (scheduler_)
      for (const std::string& line : scheduler_->states()) s += "\n  " + line;
    return s + "\n  dma: " + dma_.state();
  }

 private:
  SC_HAS_PROCESS(Accelerator);

  // Wakes every watchdog_cycles_; stops the simulation when nothing completed since the last wake-up.
  void watchdog() {
    if (complete()) return;
    const int64_t done = scoreboard_.completed();
    if (done == last_completed_ && now_cycle() > 0) {
      stall_message_ = "no progress for " + std::to_string(watchdog_cycles_) + " cycles at cycle " +
                       std::to_string(now_cycle()) + " (" + std::to_string(done) + " of " +
                       std::to_string(scoreboard_.total()) + " items done):" + states();
      sc_core::sc_stop();
      return;
    }
    last_completed_ = done;
    next_trigger(cycles_time(watchdog_cycles_));
  }

  Scoreboard scoreboard_;
  ddr4::Ddr4Dram* ddr4_ = nullptr;
  std::unique_ptr<DramModel> dram_model_;
  DramTarget dram_;
  DmaEngine dma_;
  std::vector<std::unique_ptr<ComputeUnit>> units_;  // fast mode
  std::unique_ptr<CycleScheduler> scheduler_;        // cycle mode
  int64_t watchdog_cycles_;
  int64_t last_completed_ = -1;
  std::string stall_message_;
};

}  // namespace

RunRecords run_program(const Program& program, const AccelConfig& config, const RunOptions& options) {
  program.validate();
  fresh_context();
  RunRecords records;
  records.tiles.resize(program.tiles.size());
  records.transfers.resize(program.transfers.size());
  auto top = std::make_unique<Accelerator>("accel", program, config, options, records);
  sc_core::sc_start();
  if (!top->complete()) {
    const std::string why = top->stall_message().empty()
                                ? "deadlock at cycle " + std::to_string(now_cycle()) +
                                      ": no unit can proceed and no event is pending:" + top->states()
                                : top->stall_message();
    throw SimulationStalled("simulation stopped making progress: " + why);
  }
  records.cycles = top->last_cycle() + 1;
  records.dram_bytes_read = top->dram().bytes_read();
  records.dram_bytes_written = top->dram().bytes_written();
  records.dram_bursts = top->dram().bursts();
  if (top->ddr4()) {
    records.ddr4 = top->ddr4()->stats();
    records.ddr4_layers = top->ddr4()->owner_stats();
    for (ddr4::CommandRecord& c : records.ddr4_commands) c.cycle = top->ddr4()->to_accel_end(c.cycle + 1);
  }
  return records;
}

}  // namespace vitsim::arch

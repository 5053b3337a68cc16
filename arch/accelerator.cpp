#include "arch/accelerator.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "arch/cycle_scheduler.hpp"
#include "arch/ddr4/ddr4_dram.hpp"
#include "arch/dram.hpp"
#include "arch/fast_scheduler.hpp"
#include "arch/sc_time_base.hpp"
#include "quant/json_reader.hpp"

// SystemC 2.3 keeps one global simulation context; a process that simulates more than once (tests, sweeps)
// needs a fresh one for each elaboration.
namespace sc_core {
extern sc_simcontext* sc_curr_simcontext;
extern sc_simcontext* sc_default_global_context;
}  // namespace sc_core

namespace vitsim::arch {

namespace {

constexpr int64_t kMinAutoWatchdog = 1000000;
// The cycle-limit monitor's longest sleep without a progress callback: simulated time goes at most this far
// past the run's end.
constexpr int64_t kMonitorHorizon = int64_t{1} << 40;

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
  // sc_stop (the watchdog, the cycle limit) reports "Simulation stopped by user." as an info on stdout, in
  // the middle of a command's output: the stop is explained by the exception that follows it instead.
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  // SystemC 2.3.4 cannot safely delete a context that has run (its processes and events are still
  // referenced from statics), so each finished one is kept, reachable and never destroyed: a process
  // simulates a handful of programs at most, and LeakSanitizer then reports only real leaks.
  static auto* finished = new std::vector<sc_core::sc_simcontext*>();
  static bool used = false;
  if (used) {
    finished->push_back(sc_core::sc_curr_simcontext);
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
        watchdog_cycles_(options.watchdog_cycles > 0 ? options.watchdog_cycles : kMinAutoWatchdog),
        max_cycles_(options.max_cycles),
        on_progress_(options.on_progress) {
    dma_.socket.bind(dram_.socket);
    if (options.record_bursts) dram_.record_bursts(&records.bursts);
    if (options.record_bursts && ddr4_) ddr4_->record_commands(&records.ddr4_commands);
    if (options.memory) {
      dram_.attach_storage(&options.memory->dram);
      dma_.attach_buffers(&options.memory->buffers);
    }
    if (options.mode == TimingMode::Cycle)
      units_ = std::make_unique<CycleScheduler>("units", program, config, scoreboard_, records.tiles,
                                                options.functional);
    else
      units_ = std::make_unique<FastScheduler>("units", program, config, scoreboard_, records.tiles,
                                               options.functional);
    dma_.on_load_burst([this](BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) {
      units_->burst_arrives(buffer, issued, arrival, bytes);
    });
    // A tile shares ports and auxiliary units with every other unit, so it may take up to that many times
    // its closed form.
    int64_t sharing = 1;
    for (const auto& q : program.queues) sharing += q.empty() ? 0 : 1;
    for (size_t r = 0; r < program.resources.size() && options.watchdog_cycles <= 0; ++r)
      for (int t : program.queues[r])
        watchdog_cycles_ = std::max(
            watchdog_cycles_,
            2 * sharing *
                tile_cost(config, program.resources[r], program.tiles[static_cast<size_t>(t)]).cycles);
    // A long transfer on a slow DRAM completes nothing for as long as it takes, like a long tile.
    if (options.watchdog_cycles <= 0)
      for (const Transfer& t : program.transfers)
        watchdog_cycles_ = std::max(watchdog_cycles_, 2 * transfer_cycles_alone(config, *dram_model_, t));
    if (options.dma_step_ahead) dma_.step_ahead_until(watchdog_cycles_);
    SC_METHOD(watchdog);
    if (max_cycles_ > 0 || on_progress_) SC_METHOD(monitor);
  }

  bool complete() const { return scoreboard_.completed() == scoreboard_.total(); }
  const std::string& stall_message() const { return stall_message_; }
  bool limit_reached() const { return limit_reached_; }
  const DramTarget& dram() const { return dram_; }
  /// The DDR4 model, when the config selects it (else null).
  const ddr4::Ddr4Dram* ddr4() const { return ddr4_; }
  int64_t last_cycle() const { return scoreboard_.last_cycle(); }

  std::string states() const {
    std::string s;
    for (const std::string& line : units_->states()) s += "\n  " + line;
    return s + "\n  dma: " + dma_.state();
  }

 private:
  SC_HAS_PROCESS(Accelerator);

  // Looks every watchdog_cycles_ cycles, at the end of cycles W - 1, 2W - 1, ... once no process has
  // anything left to do in the cycle (so what it sees never depends on the order in which the kernel ran
  // the processes of that cycle); stops the simulation when nothing completed since its last look.
  void watchdog() {
    if (complete()) return;
    if (last_completed_ >= 0 && sc_core::sc_pending_activity_at_current_time()) {
      next_trigger(sc_core::SC_ZERO_TIME);
      return;
    }
    const int64_t done = scoreboard_.completed();
    if (done == last_completed_) {
      stall_message_ = "no progress for " + std::to_string(watchdog_cycles_) + " cycles at cycle " +
                       std::to_string(now_cycle() + 1) + " (" + std::to_string(done) + " of " +
                       std::to_string(scoreboard_.total()) + " items done):" + states();
      sc_core::sc_stop();
      return;
    }
    next_trigger(cycles_time(last_completed_ < 0 ? watchdog_cycles_ - 1 : watchdog_cycles_));
    last_completed_ = done;
  }

  // Wakes at every progress point and at the cycle limit (sleeping at most kMonitorHorizon cycles), apart
  // from the units' per-cycle work. Stops the run at cycle max_cycles_ if an item is still to finish then
  // or later (the run needs more cycles). Once every item is recorded it decides at once (fast mode records
  // an item's end ahead, which may lie past the limit) and schedules nothing more, so a limit far beyond
  // the run (up to INT64_MAX) never moves simulated time there.
  void monitor() {
    const int64_t t = now_cycle();
    if (max_cycles_ > 0 && (complete() ? scoreboard_.last_cycle() >= max_cycles_ : t >= max_cycles_)) {
      limit_reached_ = true;
      sc_core::sc_stop();
      return;
    }
    if (complete()) return;
    if (t > 0 && on_progress_) on_progress_(t);
    int64_t next = t + (on_progress_ ? RunOptions::kProgressCycles : kMonitorHorizon);
    if (max_cycles_ > 0) next = std::min(next, max_cycles_);
    next_trigger(cycles_time(next - t));
  }

  Scoreboard scoreboard_;
  ddr4::Ddr4Dram* ddr4_ = nullptr;
  std::unique_ptr<DramModel> dram_model_;
  DramTarget dram_;
  DmaEngine dma_;
  std::unique_ptr<UnitScheduler> units_;  // FastScheduler or CycleScheduler
  int64_t watchdog_cycles_;
  int64_t last_completed_ = -1;
  std::string stall_message_;
  int64_t max_cycles_;
  std::function<void(int64_t)> on_progress_;
  bool limit_reached_ = false;
};

// Why a run stopped at its cycle limit: the layers with an item under way at cycle `limit` (started before
// it, not finished before it; their tiles', or when no tile runs, their transfers'), or, in a cycle between
// items, the layer of the item that ended last; and how many items were done.
std::string limit_message(const Program& program, const RunRecords& records, int64_t limit) {
  std::set<int> tile_layers, transfer_layers;
  int64_t done = 0, last_end = -1;
  int last_layer = -1;
  const auto visit = [&](int64_t start, int64_t end, int layer, std::set<int>& under_way) {
    if (start >= 0 && start < limit && (end < 0 || end >= limit)) under_way.insert(layer);
    if (end < 0 || end >= limit) return;
    ++done;
    if (end > last_end || (end == last_end && layer > last_layer)) last_end = end, last_layer = layer;
  };
  for (size_t i = 0; i < program.tiles.size(); ++i)
    visit(records.tiles[i].start, records.tiles[i].done, program.tiles[i].layer, tile_layers);
  for (size_t i = 0; i < program.transfers.size(); ++i)
    visit(records.transfers[i].start, records.transfers[i].done, program.transfers[i].layer, transfer_layers);
  const std::set<int>& layers = tile_layers.empty() ? transfer_layers : tile_layers;
  const auto name = [&](int layer) {
    return "'" + quant::excerpt(program.layer_names[static_cast<size_t>(layer)]) + "'";
  };
  std::string running;
  for (const int layer : layers) running += (running.empty() ? "" : ", ") + name(layer);
  if (layers.size() == 1) running = "running layer " + running;
  if (layers.size() > 1) running = "running layers " + running;
  if (layers.empty())
    running = last_layer < 0 ? "before any item ran"
                             : "between items, the last one ending at cycle " + std::to_string(last_end) +
                                   " in layer " + name(last_layer);
  return "the run reached its limit of " + std::to_string(limit) + " cycles at cycle " +
         std::to_string(limit) + ", " + running + " (" + std::to_string(done) + " of " +
         std::to_string(program.tiles.size() + program.transfers.size()) + " tiles and transfers done)";
}

}  // namespace

RunRecords run_program(const Program& program, const AccelConfig& config, const RunOptions& options) {
  program.validate();
  fresh_context();
  RunRecords records;
  records.tiles.resize(program.tiles.size());
  records.transfers.resize(program.transfers.size());
  auto top = std::make_unique<Accelerator>("accel", program, config, options, records);
  sc_core::sc_start();
  if (top->limit_reached()) throw CycleLimitReached(limit_message(program, records, options.max_cycles));
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
    records.ddr4 = top->ddr4()->stats_until_accel(records.cycles);
    records.ddr4_layers = top->ddr4()->owner_stats();
    for (ddr4::CommandRecord& c : records.ddr4_commands) c.cycle = top->ddr4()->to_accel_end(c.cycle + 1);
  }
  return records;
}

}  // namespace vitsim::arch

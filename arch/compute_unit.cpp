#include "arch/compute_unit.hpp"

#include <stdexcept>

#include "arch/functional.hpp"
#include "arch/sc_time_base.hpp"

namespace vitsim::arch {

ComputeUnit::ComputeUnit(sc_core::sc_module_name name, const Program& program, int resource,
                         const AccelConfig& config, TimingMode mode, Scoreboard& scoreboard,
                         std::vector<TileRecord>& records, FunctionalModel* functional)
    : sc_module(name),
      program_(program),
      resource_(program.resources[static_cast<size_t>(resource)]),
      queue_(program.queues[static_cast<size_t>(resource)]),
      config_(config),
      mode_(mode),
      scoreboard_(scoreboard),
      records_(records),
      functional_(functional) {
  SC_METHOD(run);
}

void ComputeUnit::begin(int tile, int64_t t, const Scoreboard::Ready& ready) {
  TileRecord& r = records_[static_cast<size_t>(tile)];
  r.start = t;
  r.wait = t - free_from_;
  if (r.wait > 0) r.wait_cause = ready.binding_transfer >= 0 ? StallCause::Dram : StallCause::Dependency;
  if (functional_) functional_->execute(program_.tiles[static_cast<size_t>(tile)]);
}

void ComputeUnit::finish(int tile, int64_t last_cycle, const TileCost& cost) {
  TileRecord& r = records_[static_cast<size_t>(tile)];
  r.done = last_cycle;
  r.cost = cost;
  scoreboard_.finish_tile(tile, last_cycle);
  free_from_ = last_cycle + 1;
}

void ComputeUnit::run() {
  const int64_t t = now_cycle();
  if (stepper_) {  // cycle mode, a tile in progress
    if (stepper_->step()) {
      finish(current_, t, stepper_->counted());
      stepper_.reset();
    }
    if (!finished()) next_trigger(cycles_time(1));
    return;
  }
  if (next_ >= queue_.size()) return;
  const int tile = queue_[next_];
  const ComputeTile& work = program_.tiles[static_cast<size_t>(tile)];
  const Scoreboard::Ready ready = scoreboard_.ready(work.wait_tiles, work.wait_transfers);
  if (!ready.known) {
    next_trigger(scoreboard_.changed());
    return;
  }
  const int64_t start = std::max(ready.cycle, free_from_);
  if (start > t) {
    next_trigger(cycles_time(start - t));
    return;
  }
  if (start < t)  // every wake-up is scheduled for the start cycle or earlier
    throw std::logic_error(std::string(name()) + ": tile " + std::to_string(tile) + " could start at cycle " +
                           std::to_string(start) + " but the unit woke at " + std::to_string(t));
  begin(tile, t, ready);
  ++next_;
  if (mode_ == TimingMode::Fast) {
    const TileCost cost = tile_cost(config_, resource_, work);
    finish(tile, t + cost.cycles - 1, cost);
    if (!finished()) next_trigger(cycles_time(free_from_ - t));
    return;
  }
  current_ = tile;
  stepper_ = tile_stepper(config_, resource_, work);
  if (stepper_->step()) {
    finish(tile, t, stepper_->counted());
    stepper_.reset();
  }
  if (!finished()) next_trigger(cycles_time(1));
}

std::string ComputeUnit::state() const {
  const std::string unit = resource_.name + ": ";
  if (stepper_) {
    const ComputeTile& w = program_.tiles[static_cast<size_t>(current_)];
    return unit + "running tile " + std::to_string(current_) + " of layer '" +
           program_.layer_names[static_cast<size_t>(w.layer)] + "' (" + stepper_->state() + ")";
  }
  if (next_ >= queue_.size()) return unit + "done (" + std::to_string(queue_.size()) + " tiles)";
  const int tile = queue_[next_];
  const ComputeTile& w = program_.tiles[static_cast<size_t>(tile)];
  std::string s = unit + "tile " + std::to_string(tile) + " (" + std::to_string(next_) + "/" +
                  std::to_string(queue_.size()) + ") of layer '" +
                  program_.layer_names[static_cast<size_t>(w.layer)] + "' waits for";
  bool any = false;
  for (int d : w.wait_tiles)
    if (scoreboard_.tile_done(d) == Scoreboard::kPending) s += " tile " + std::to_string(d), any = true;
  for (int d : w.wait_transfers)
    if (scoreboard_.transfer_done(d) == Scoreboard::kPending)
      s += " transfer " + std::to_string(d), any = true;
  return s + (any ? "" : " nothing (ready)");
}

}  // namespace vitsim::arch

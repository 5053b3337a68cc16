#include "arch/compute_unit.hpp"

#include <stdexcept>

#include "arch/functional.hpp"
#include "arch/sc_time_base.hpp"

namespace vitsim::arch {

void record_start(TileRecord& record, int64_t t, int64_t free_from, const Scoreboard::Ready& ready) {
  record.start = t;
  record.wait = t - free_from;
  if (record.wait > 0)
    record.wait_cause = ready.binding_transfer >= 0 ? StallCause::Dram : StallCause::Dependency;
}

ComputeUnit::ComputeUnit(sc_core::sc_module_name name, const Program& program, int resource,
                         const AccelConfig& config, Scoreboard& scoreboard, std::vector<TileRecord>& records,
                         FunctionalModel* functional)
    : sc_module(name),
      program_(program),
      resource_(program.resources[static_cast<size_t>(resource)]),
      queue_(program.queues[static_cast<size_t>(resource)]),
      config_(config),
      scoreboard_(scoreboard),
      records_(records),
      functional_(functional) {
  SC_METHOD(run);
}

ComputeUnit::Activity ComputeUnit::activity_at(int64_t t) const {
  if (last_start_ >= 0 && last_start_ <= t - 1 && free_from_ > t) return Activity::Running;
  if (last_start_ == t) return Activity::Starting;
  if (next_ >= queue_.size() || free_from_ > t) return Activity::Idle;
  const ComputeTile& next = program_.tiles[static_cast<size_t>(queue_[next_])];
  const Scoreboard::Ready ready = scoreboard_.ready(next.wait_tiles, next.wait_transfers);
  return ready.known && ready.cycle <= t ? Activity::Starting : Activity::Idle;
}

void ComputeUnit::run() {
  const int64_t t = now_cycle();
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
  TileRecord& record = records_[static_cast<size_t>(tile)];
  record_start(record, t, free_from_, ready);
  if (functional_) functional_->execute(work);
  ++next_;
  if (resource_.is_engine) {
    PortShare left = port_share(config_, 1);  // the peak
    int64_t sharers = 1, starting = 0;
    for (const ComputeUnit* peer : peers_) {
      const Activity a = peer->activity_at(t);
      sharers += a != Activity::Idle ? 1 : 0;
      starting += a == Activity::Starting ? 1 : 0;
      if (a != Activity::Running) continue;
      left.act_bytes_per_cycle -= peer->port_use().act_bytes_per_cycle;
      left.weight_bytes_per_cycle -= peer->port_use().weight_bytes_per_cycle;
    }
    const PortShare equal = port_share(config_, sharers);
    const PortShare share{
        std::max(left.act_bytes_per_cycle - starting * equal.act_bytes_per_cycle, equal.act_bytes_per_cycle),
        std::max(left.weight_bytes_per_cycle - starting * equal.weight_bytes_per_cycle,
                 equal.weight_bytes_per_cycle)};
    const GroupPipeline g =
        config_.engines[static_cast<size_t>(resource_.engine)].params->group_pipeline(work);
    record.cost = tile_cost(config_, resource_, work, share);
    const int64_t fetched = g.groups * g.waves;
    use_ = {ceil_div(fetched * g.act_bytes, record.cost.cycles),
            ceil_div(fetched * g.weight_bytes, record.cost.cycles)};
  } else {
    record.cost = tile_cost(config_, resource_, work);
  }
  record.traffic = tile_traffic(config_, resource_, work);
  record.done = t + record.cost.cycles - 1;
  last_start_ = t;
  scoreboard_.finish_tile(tile, record.done);
  free_from_ = record.done + 1;
  if (!finished()) next_trigger(cycles_time(free_from_ - t));
}

std::string awaiting_state(const Program& program, const Scoreboard& scoreboard, const std::string& unit,
                           int tile, size_t position, size_t queued) {
  const ComputeTile& w = program.tiles[static_cast<size_t>(tile)];
  std::string s = unit + ": tile " + std::to_string(tile) + " (" + std::to_string(position) + "/" +
                  std::to_string(queued) + ") of layer '" +
                  program.layer_names[static_cast<size_t>(w.layer)] + "' waits for";
  bool any = false;
  for (int d : w.wait_tiles)
    if (scoreboard.tile_done(d) == Scoreboard::kPending) s += " tile " + std::to_string(d), any = true;
  for (int d : w.wait_transfers)
    if (scoreboard.transfer_done(d) == Scoreboard::kPending)
      s += " transfer " + std::to_string(d), any = true;
  return s + (any ? "" : " nothing (ready)");
}

std::string ComputeUnit::state() const {
  if (next_ >= queue_.size()) return resource_.name + ": done (" + std::to_string(queue_.size()) + " tiles)";
  return awaiting_state(program_, scoreboard_, resource_.name, queue_[next_], next_, queue_.size());
}

}  // namespace vitsim::arch

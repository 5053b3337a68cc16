#include "arch/fast_scheduler.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "arch/functional.hpp"
#include "arch/sc_time_base.hpp"

namespace vitsim::arch {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
}  // namespace

FastScheduler::FastScheduler(sc_core::sc_module_name name, const Program& program, const AccelConfig& config,
                             Scoreboard& scoreboard, std::vector<TileRecord>& records,
                             FunctionalModel* functional)
    : UnitScheduler(name),
      program_(program),
      config_(config),
      scoreboard_(scoreboard),
      records_(records),
      functional_(functional),
      fluid_(config) {
  for (size_t r = 0; r < program.resources.size(); ++r) {
    if (program.queues[r].empty()) continue;
    Unit u;
    u.resource = static_cast<int>(r);
    u.queue = &program.queues[r];
    units_.push_back(u);
  }
  SC_METHOD(run);
}

void FastScheduler::burst_arrives(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) {
  // Writes after wake_ are seen by the activation at wake_; writes on the ports of a tile issuing alone can
  // only delay its end, so the activation at wake_, too early then, re-predicts.
  if (fluid_.burst(buffer, issued, arrival, bytes) > wake_ || fluid_.issuing() < 2) return;
  const int64_t finish = fluid_.next_finish();
  if (finish >= wake_) return;
  wake_ = finish;
  sooner_.notify(cycles_time(finish - now_cycle()));
}

void FastScheduler::try_start(size_t unit, int64_t t) {
  Unit& u = units_[unit];
  if (u.current >= 0 || u.next >= u.queue->size() || u.free_from > t) return;
  const int tile = (*u.queue)[u.next];
  const ComputeTile& work = program_.tiles[static_cast<size_t>(tile)];
  const Scoreboard::Ready ready = scoreboard_.ready(work.wait_tiles, work.wait_transfers);
  if (!ready.known || ready.cycle > t) return;
  TileRecord& record = records_[static_cast<size_t>(tile)];
  record_start(record, t, u.free_from, ready);
  if (functional_) functional_->execute(work);
  ++u.next;
  const Resource& resource = program_.resources[static_cast<size_t>(u.resource)];
  record.traffic = tile_traffic(config_, resource, work);  // checks that the resource can run the tile
  if (resource.is_engine) {
    const GroupPipeline g =
        config_.engines[static_cast<size_t>(resource.engine)].params->group_pipeline(work);
    const int handle = fluid_.start(t, g, aux_path(config_, work.aux_chain));
    fluid_unit_.resize(static_cast<size_t>(handle) + 1);
    fluid_unit_[static_cast<size_t>(handle)] = unit;
    u.current = tile;
    return;
  }
  record.cost = tile_cost(config_, resource, work);
  record.done = t + record.cost.cycles - 1;
  scoreboard_.finish_tile(tile, record.done);
  u.free_from = record.done + 1;
}

int64_t FastScheduler::next_start(int64_t t) const {
  int64_t next = kNever;
  for (const Unit& u : units_)
    if (u.current < 0)
      next = std::min(next, earliest_start(program_, scoreboard_, *u.queue, u.next, u.free_from, t));
  return next;
}

void FastScheduler::run() {
  const int64_t t = now_cycle();
  // A wake-up in a cycle already stepped changes nothing: completions recorded in this cycle satisfy waits
  // only from the next one on.
  if (t != last_stepped_) {
    last_stepped_ = t;
    for (size_t i = 0; i < units_.size(); ++i) try_start(i, t);
    for (const PortFluid::Finished& f : fluid_.advance(t + 1)) {
      Unit& u = units_[fluid_unit_[static_cast<size_t>(f.tile)]];
      if (f.done < t)
        throw std::logic_error("fast mode: tile " + std::to_string(u.current) + " ended at cycle " +
                               std::to_string(f.done) + ", found at cycle " + std::to_string(t));
      TileRecord& record = records_[static_cast<size_t>(u.current)];
      record.cost = f.cost;
      record.done = f.done;
      scoreboard_.finish_tile(u.current, f.done);
      u.free_from = f.done + 1;
      u.current = -1;
    }
  }
  wake_ = std::min(next_start(t), fluid_.next_finish());
  if (wake_ == kNever)
    next_trigger(scoreboard_.changed() | sooner_);
  else
    next_trigger(cycles_time(wake_ - t), scoreboard_.changed() | sooner_);
}

std::vector<std::string> FastScheduler::states() const {
  std::vector<std::string> lines;
  for (const Unit& u : units_) {
    const std::string& name = program_.resources[static_cast<size_t>(u.resource)].name;
    if (u.current >= 0)
      lines.push_back(
          name + ": running tile " + std::to_string(u.current) + " of layer '" +
          program_.layer_names[static_cast<size_t>(program_.tiles[static_cast<size_t>(u.current)].layer)] +
          "'");
    else if (u.next >= u.queue->size())
      lines.push_back(name + ": done (" + std::to_string(u.queue->size()) + " tiles)");
    else
      lines.push_back(
          awaiting_state(program_, scoreboard_, name, (*u.queue)[u.next], u.next, u.queue->size()));
  }
  return lines;
}

}  // namespace vitsim::arch

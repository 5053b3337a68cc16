#include "arch/cycle_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "arch/functional.hpp"
#include "arch/sc_time_base.hpp"

namespace vitsim::arch {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int kActPorts = 0, kWeightPorts = 1, kFirstAux = 2;

int64_t buffer_accesses(const BufferConfig& b) {
  return int64_t{b.banks} * b.ports_per_bank;
}
}  // namespace

CycleScheduler::CycleScheduler(sc_core::sc_module_name name, const Program& program,
                               const AccelConfig& config, Scoreboard& scoreboard,
                               std::vector<TileRecord>& records, FunctionalModel* functional)
    : UnitScheduler(name),
      program_(program),
      config_(config),
      scoreboard_(scoreboard),
      records_(records),
      functional_(functional) {
  for (BufferKind kind : {BufferKind::Activation, BufferKind::Weight}) {
    const BufferConfig& b = config.buffer(kind);
    shared_.push_back({std::string(buffer_key(kind)) + " buffer ports",
                       CycleCapacity(buffer_accesses(b), b.word_bytes),
                       {}});
    const int64_t stream_accesses =
        static_cast<int64_t>(std::ceil(config.dram_bytes_per_cycle() / static_cast<double>(b.word_bytes)));
    landing_[static_cast<size_t>(kind)] = std::make_unique<LandingWrites>(
        std::clamp<int64_t>(stream_accesses, 1, buffer_accesses(b)), b.word_bytes);
  }
  for (const AuxUnitConfig& unit : config.aux_units)
    shared_.push_back({unit.type + " unit", CycleCapacity(unit.throughput, 1), {}});
  for (size_t r = 0; r < program.resources.size(); ++r) {
    if (program.queues[r].empty()) continue;
    Unit u;
    u.resource = static_cast<int>(r);
    u.queue = &program.queues[r];
    units_.push_back(std::move(u));
  }
  SC_METHOD(run);
}

void CycleScheduler::burst_arrives(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) {
  if (buffer != BufferKind::Activation && buffer != BufferKind::Weight) return;
  const int64_t streaming =
      static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / config_.dram_bytes_per_cycle()));
  landing_[static_cast<size_t>(buffer)]->add(std::max(issued + 1, arrival - streaming + 1), bytes);
}

void CycleScheduler::try_start(Unit& u, int64_t t) {
  if (u.stepper || u.next >= u.queue->size() || u.free_from > t) return;
  const int tile = (*u.queue)[u.next];
  const ComputeTile& work = program_.tiles[static_cast<size_t>(tile)];
  const Scoreboard::Ready ready = scoreboard_.ready(work.wait_tiles, work.wait_transfers);
  if (!ready.known || ready.cycle > t) return;
  record_start(records_[static_cast<size_t>(tile)], t, u.free_from, ready);
  if (functional_) functional_->execute(work);
  const Resource& resource = program_.resources[static_cast<size_t>(u.resource)];
  u.current = tile;
  u.stepper = tile_stepper(config_, resource, work);
  u.aux_shared.clear();
  if (resource.is_engine)
    for (int aux : work.aux_chain) u.aux_shared.push_back(kFirstAux + aux);
  else
    u.aux_shared.push_back(kFirstAux + resource.aux);
  ++u.next;
}

bool CycleScheduler::deny(Unit& u, int unit, int shared, int64_t t) {
  const Shared& s = shared_[static_cast<size_t>(shared)];
  std::vector<int> holders;
  for (int h : s.granted)
    if (h != unit) holders.push_back(h);
  if (holders.empty() && !s.dma_writes) return false;  // the unit alone asks more than one cycle gives
  if (u.denial.shared != shared) u.denial.since = t;
  u.denial.shared = shared;
  u.denial.holders = std::move(holders);
  return true;
}

void CycleScheduler::advance_all(int64_t t) {
  for (Shared& s : shared_) {
    s.capacity.begin_cycle();
    s.granted.clear();
    s.dma_writes = false;
  }
  for (int b : {kActPorts, kWeightPorts}) {
    const int64_t writes = landing_[static_cast<size_t>(b)]->take(t);
    shared_[static_cast<size_t>(b)].capacity.begin_cycle(writes);
    shared_[static_cast<size_t>(b)].dma_writes = writes > 0;
  }

  service_order(config_.arbitration, t, units_.size(), order_);
  for (size_t i : order_) {
    Unit& u = units_[i];
    if (!u.stepper) continue;
    const int unit = static_cast<int>(i);
    const Demand d = u.stepper->demand();
    Grant g;
    bool denied = false;
    auto take = [&](int shared, int64_t wanted) {
      Shared& s = shared_[static_cast<size_t>(shared)];
      const int64_t granted = s.capacity.take(wanted);
      if (granted > 0) s.granted.push_back(unit);
      if (granted < wanted && deny(u, unit, shared, t)) denied = true;
      return granted;
    };
    g.act_bytes = take(kActPorts, d.act_bytes);
    g.weight_bytes = take(kWeightPorts, d.weight_bytes);
    if (d.aux_results > 0) {
      // A chain takes results only as fast as its most contended unit lets it, from every unit at once.
      int64_t wanted = d.aux_results;
      for (int s : u.aux_shared) wanted = std::min(wanted, shared_[static_cast<size_t>(s)].capacity.left());
      for (int s : u.aux_shared)
        if (shared_[static_cast<size_t>(s)].capacity.left() < d.aux_results && deny(u, unit, s, t))
          denied = true;
      for (int s : u.aux_shared) take(s, wanted);
      g.aux_results = wanted;
    }
    if (!denied) u.denial = Denial{};
    TileRecord& r = records_[static_cast<size_t>(u.current)];
    const bool last = u.stepper->advance(g);
    r.traffic.act_bytes += g.act_bytes;
    r.traffic.weight_bytes += g.weight_bytes;
    r.traffic.aux_results += g.aux_results;
    r.traffic.results += u.stepper->beat_results();
    if (last) {
      r.done = t;
      r.cost = u.stepper->counted();
      scoreboard_.finish_tile(u.current, t);
      u.free_from = t + 1;
      u.stepper.reset();
      u.current = -1;
    }
  }
}

int64_t CycleScheduler::next_start(int64_t t) const {
  int64_t next = kNever;
  for (const Unit& u : units_)
    if (!u.stepper)
      next = std::min(next, earliest_start(program_, scoreboard_, *u.queue, u.next, u.free_from, t));
  return next;
}

void CycleScheduler::run() {
  const int64_t t = now_cycle();
  // A wake-up in a cycle already stepped changes nothing: completions recorded in this cycle satisfy waits
  // only from the next one on.
  if (t != last_stepped_) {
    last_stepped_ = t;
    for (Unit& u : units_) try_start(u, t);
    advance_all(t);
  }
  bool running = false;
  for (const Unit& u : units_) running = running || u.stepper;
  if (running) {
    next_trigger(cycles_time(1));
    return;
  }
  const int64_t next = next_start(t);
  if (next == kNever)
    next_trigger(scoreboard_.changed());
  else
    next_trigger(cycles_time(next - t), scoreboard_.changed());
}

std::string CycleScheduler::unit_state(const Unit& u) const {
  const Resource& resource = program_.resources[static_cast<size_t>(u.resource)];
  const std::string unit = resource.name + ": ";
  if (!u.stepper) {
    if (u.next >= u.queue->size()) return unit + "done (" + std::to_string(u.queue->size()) + " tiles)";
    return awaiting_state(program_, scoreboard_, resource.name, (*u.queue)[u.next], u.next, u.queue->size());
  }
  const ComputeTile& w = program_.tiles[static_cast<size_t>(u.current)];
  std::string s = unit + "running tile " + std::to_string(u.current) + " of layer '" +
                  program_.layer_names[static_cast<size_t>(w.layer)] + "' (" + u.stepper->state() + ")";
  if (u.denial.shared >= 0) {
    s += "; short of the " + shared_[static_cast<size_t>(u.denial.shared)].name + " since cycle " +
         std::to_string(u.denial.since) + ", held by ";
    std::string holders;
    for (int h : u.denial.holders)
      holders += (holders.empty() ? "" : ", ") +
                 program_.resources[static_cast<size_t>(units_[static_cast<size_t>(h)].resource)].name;
    s += holders.empty() ? "the DMA's writes" : holders;
  }
  return s;
}

std::vector<std::string> CycleScheduler::states() const {
  std::vector<std::string> lines;
  for (const Unit& u : units_) lines.push_back(unit_state(u));
  return lines;
}

}  // namespace vitsim::arch

#include "arch/dma.hpp"

#include <algorithm>
#include <limits>

#include "arch/sc_time_base.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// How far wait_bound follows unrecorded tiles back (their waits, their queue predecessors) before it
// settles for the weakest bound, the current cycle.
constexpr int kMaxBoundDepth = 64;
}  // namespace

DmaEngine::DmaEngine(sc_core::sc_module_name name, const Program& program, const AccelConfig& config,
                     TimingMode mode, Scoreboard& scoreboard, std::vector<TransferRecord>& records)
    : sc_module(name),
      socket("socket"),
      program_(program),
      config_(config),
      mode_(mode),
      scoreboard_(scoreboard),
      records_(records),
      burst_data_(static_cast<size_t>(config.dram.burst_bytes)),
      owner_(new BurstOwner) {
  payload_.set_extension(owner_);  // the payload owns it (freed with it)
  queues_[0].name = "load";
  queues_[0].command = tlm::TLM_READ_COMMAND;
  queues_[0].order = &program.load_queue;
  queues_[1].name = "store";
  queues_[1].command = tlm::TLM_WRITE_COMMAND;
  queues_[1].order = &program.store_queue;
  queue_predecessor_.assign(program.tiles.size(), -1);
  for (const std::vector<int>& queue : program.queues)
    for (size_t i = 1; i < queue.size(); ++i)
      queue_predecessor_[static_cast<size_t>(queue[i])] = queue[i - 1];
  bound_.assign(program.tiles.size(), 0);
  bound_at_.assign(program.tiles.size(), -1);
  SC_METHOD(run);
}

bool DmaEngine::finished() const {
  for (const Queue& q : queues_)
    if (q.head < q.order->size()) return false;
  return true;
}

DmaEngine::Step DmaEngine::step(int64_t t, bool ahead) {
  bool changed = false;
  for (Queue& q : queues_) {
    while (!q.in_flight.empty() && q.in_flight.front() <= t - 1) q.in_flight.pop_front(), changed = true;
    if (q.head >= q.order->size()) continue;
    const int id = (*q.order)[q.head];
    const Transfer& transfer = program_.transfers[static_cast<size_t>(id)];
    if (q.phase == Phase::Waiting) {
      const Scoreboard::Ready r = scoreboard_.ready(transfer.wait_tiles, transfer.wait_transfers);
      if (r.known && r.cycle <= t) {
        q.phase = Phase::Setup;
        q.setup_end = t + config_.dma.setup_cycles;
        q.bursts_total = burst_count(transfer.runs, config_.dram.burst_bytes);
        q.bursts_issued = q.run = q.run_offset = q.bytes_issued = 0;
        q.run_set = 0;
        q.last_arrival = -1;
        records_[static_cast<size_t>(id)].start = t;
        changed = true;
      }
    }
    if (q.phase == Phase::Setup && t >= q.setup_end) q.phase = Phase::Issuing, changed = true;
  }
  for (Queue& q : queues_)  // one burst per cycle, loads first
    if (q.phase == Phase::Issuing &&
        static_cast<int64_t>(q.in_flight.size()) < config_.dma.max_outstanding_bursts) {
      if (ahead && q.bursts_issued + 1 == q.bursts_total) return Step::Blocked;
      issue_burst(q, t);
      return Step::Changed;
    }
  return changed ? Step::Changed : Step::Idle;
}

void DmaEngine::issue_burst(Queue& q, int64_t t) {
  const int id = (*q.order)[q.head];
  const Transfer& transfer = program_.transfers[static_cast<size_t>(id)];
  const RunSet& runs = transfer.runs[q.run_set];
  const int64_t bytes = std::min<int64_t>(config_.dram.burst_bytes, runs.run_bytes - q.run_offset);
  payload_.set_command(q.command);
  payload_.set_address(static_cast<uint64_t>(runs.dram_address + q.run * runs.stride + q.run_offset));
  payload_.set_data_ptr(buffers_
                            ? buffers_->at(transfer.buffer, transfer.buffer_address + q.bytes_issued, bytes)
                            : burst_data_.data());
  payload_.set_data_length(static_cast<unsigned>(bytes));
  payload_.set_streaming_width(static_cast<unsigned>(bytes));
  payload_.set_byte_enable_ptr(nullptr);
  payload_.set_dmi_allowed(false);
  payload_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  owner_->layer = transfer.layer;
  const int64_t now = now_cycle();
  sc_core::sc_time delay = cycles_time(t - now);  // the request cycle, past the kernel's time when ahead
  socket->b_transport(payload_, delay);
  if (payload_.is_response_error())
    throw std::runtime_error("DRAM rejected a " + std::string(q.name) +
                             " burst: " + payload_.get_response_string());
  const int64_t arrival = now + to_cycles(delay);
  if (load_burst_ && q.command == tlm::TLM_READ_COMMAND) load_burst_(transfer.buffer, t, arrival, bytes);
  q.in_flight.push_back(arrival);
  q.last_arrival = std::max(q.last_arrival, arrival);
  q.bytes_issued += bytes;
  if ((q.run_offset += bytes) == runs.run_bytes) {
    q.run_offset = 0;
    if (++q.run == runs.count) q.run = 0, ++q.run_set;
  }
  if (++q.bursts_issued == q.bursts_total) {
    scoreboard_.finish_transfer(id, q.last_arrival);
    records_[static_cast<size_t>(id)].issued = t;
    records_[static_cast<size_t>(id)].done = q.last_arrival;
    ++q.head;
    q.phase = Phase::Waiting;
  }
}

int64_t DmaEngine::next_change(int64_t t) const {
  int64_t next = kNever;
  for (const Queue& q : queues_) {
    if (!q.in_flight.empty()) next = std::min(next, q.in_flight.front() + 1);
    if (q.head >= q.order->size()) continue;
    if (q.phase == Phase::Setup) next = std::min(next, q.setup_end);
    if (q.phase == Phase::Waiting) {
      const Transfer& transfer = program_.transfers[static_cast<size_t>((*q.order)[q.head])];
      const Scoreboard::Ready r = scoreboard_.ready(transfer.wait_tiles, transfer.wait_transfers);
      if (r.known) next = std::min(next, std::max(r.cycle, t + 1));
    }
  }
  return next;
}

int64_t DmaEngine::tile_start_bound(int tile, int64_t now, int depth) {
  const auto i = static_cast<size_t>(tile);
  if (bound_at_[i] == now) return bound_[i];
  // Unrecorded at `now`: it ends at `now` or later (fast mode records an engine's tile once the port fluid
  // has passed its issue end, any other tile when it starts); if it has not started, it starts at `now` or
  // later, after its queue predecessor started (which ends at its start - 1 or later) and when its waits are
  // satisfied. Either way its end + 1 is at least the bound.
  int64_t bound = now;
  if (depth < kMaxBoundDepth) {
    const int before = queue_predecessor_[i];
    if (before >= 0) {
      const int64_t done = scoreboard_.tile_done(before);
      bound =
          std::max(bound, done == Scoreboard::kPending ? tile_start_bound(before, now, depth + 1) : done + 1);
    }
    const ComputeTile& work = program_.tiles[i];
    bound = std::max(bound, wait_bound(work.wait_tiles, work.wait_transfers, now, depth + 1));
  }
  bound_at_[i] = now;
  bound_[i] = bound;
  return bound;
}

int64_t DmaEngine::wait_bound(const std::vector<int>& wait_tiles, const std::vector<int>& wait_transfers,
                              int64_t now, int depth) {
  int64_t bound = now;
  for (int t : wait_transfers) {
    const int64_t done = scoreboard_.transfer_done(t);
    if (done == Scoreboard::kPending) return kNever;
    bound = std::max(bound, done + 1);
  }
  for (int t : wait_tiles) {
    const int64_t done = scoreboard_.tile_done(t);
    // An unrecorded tile ends at its start - 1 or later.
    bound = std::max(bound, done == Scoreboard::kPending ? tile_start_bound(t, now, depth) : done + 1);
  }
  return bound;
}

int64_t DmaEngine::step_ahead(int64_t now, int64_t next) {
  int64_t horizon = kNever;  // the watchdog's next look, then the bounds of the waits not yet recorded
  if (watch_period_ > 0 && now / watch_period_ < kNever / watch_period_ - 1)
    horizon = (now / watch_period_ + 1) * watch_period_;
  for (const Queue& q : queues_) {
    if (q.head >= q.order->size() || q.phase != Phase::Waiting) continue;
    const Transfer& transfer = program_.transfers[static_cast<size_t>((*q.order)[q.head])];
    if (!scoreboard_.ready(transfer.wait_tiles, transfer.wait_transfers).known)
      horizon = std::min(horizon, wait_bound(transfer.wait_tiles, transfer.wait_transfers, now, 0));
  }
  while (next < horizon) {
    const Step s = step(next, true);
    if (s == Step::Blocked) {
      // The cycles before `next` change nothing, and `next` is to be stepped again at its time.
      last_stepped_ = next - 1;
      last_changed_ = true;
      return next;
    }
    last_stepped_ = next;
    last_changed_ = s == Step::Changed;
    if (finished()) return kNever;
    next = last_changed_ ? next + 1 : next_change(next);
  }
  return next;
}

void DmaEngine::run() {
  const int64_t now = now_cycle();
  // A wake-up by the scoreboard in a cycle already stepped changes nothing: completions recorded now lie
  // in the future (fast mode) or in this cycle, and satisfy waits only from the next cycle on.
  if (now > last_stepped_) {
    last_changed_ = step(now, false) == Step::Changed;
    last_stepped_ = now;
  }
  if (finished()) return;
  if (mode_ == TimingMode::Cycle) {
    next_trigger(cycles_time(1));
    return;
  }
  int64_t next = last_changed_ ? last_stepped_ + 1 : next_change(last_stepped_);
  if (step_ahead_) next = step_ahead(now, next);
  if (finished()) return;
  if (last_changed_ && next == last_stepped_ + 1)
    next_trigger(cycles_time(next - now));
  else if (next == kNever)
    next_trigger(scoreboard_.changed());
  else
    next_trigger(cycles_time(next - now), scoreboard_.changed());
}

std::string DmaEngine::state() const {
  static const char* const phases[] = {"waiting for its dependencies", "in descriptor setup",
                                       "issuing bursts"};
  std::string s;
  for (const Queue& q : queues_) {
    s += std::string(q.name) + " queue: ";
    if (q.head >= q.order->size()) {
      s += "done; ";
      continue;
    }
    const int id = (*q.order)[q.head];
    const Transfer& tr = program_.transfers[static_cast<size_t>(id)];
    s += "transfer " + std::to_string(id) + " (" + std::to_string(q.head) + "/" +
         std::to_string(q.order->size()) + ", layer '" + program_.layer_names[static_cast<size_t>(tr.layer)] +
         "', " + std::to_string(tr.bytes) + " bytes) " + phases[static_cast<int>(q.phase)] + ", " +
         std::to_string(q.in_flight.size()) + " bursts in flight; ";
  }
  return s;
}

}  // namespace vitsim::arch

#include "arch/dma.hpp"

#include <algorithm>
#include <limits>

#include "arch/sc_time_base.hpp"
#include "arch/tile_timing.hpp"

namespace vitsim::arch {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
}

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
  SC_METHOD(run);
}

bool DmaEngine::finished() const {
  for (const Queue& q : queues_)
    if (q.head < q.order->size()) return false;
  return true;
}

bool DmaEngine::step(int64_t t) {
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
        static_cast<int64_t>(q.in_flight.size()) < config_.dma.max_outstanding_bursts)
      return issue_burst(q, t);
  return changed;
}

bool DmaEngine::issue_burst(Queue& q, int64_t t) {
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
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  socket->b_transport(payload_, delay);
  if (payload_.is_response_error())
    throw std::runtime_error("DRAM rejected a " + std::string(q.name) +
                             " burst: " + payload_.get_response_string());
  const int64_t arrival = t + to_cycles(delay);
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
  return true;
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

void DmaEngine::run() {
  const int64_t t = now_cycle();
  // A wake-up by the scoreboard in a cycle already stepped changes nothing: completions recorded now lie
  // in the future (fast mode) or in this cycle, and satisfy waits only from the next cycle on.
  const bool changed = t != last_stepped_ && step(t);
  last_stepped_ = t;
  if (finished()) return;
  if (mode_ == TimingMode::Cycle || changed) {
    next_trigger(cycles_time(1));
    return;
  }
  const int64_t next = next_change(t);
  if (next == kNever)
    next_trigger(scoreboard_.changed());
  else
    next_trigger(cycles_time(next - t), scoreboard_.changed());
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

#include "arch/ddr4/ddr4_controller.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <tuple>

namespace vitsim::arch::ddr4 {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int log2_of(int64_t x) {
  int bits = 0;
  while ((int64_t{1} << bits) < x) ++bits;
  return bits;
}

int64_t field_count(const Config& c, Field f) {
  switch (f) {
    case Field::Channel:
      return c.org.channels;
    case Field::Rank:
      return c.org.ranks;
    case Field::BankGroup:
      return c.org.bank_groups;
    case Field::Bank:
      return c.org.banks_per_group;
    case Field::Row:
      return c.org.rows;
    case Field::Column:
      return c.org.columns / c.timing.burst_length;
  }
  return 1;
}

bool is_column(Command c) {
  return c == Command::Rd || c == Command::Wr;
}
}  // namespace

const char* command_name(Command c) {
  static const char* const names[] = {"ACT", "PRE", "PREA", "RD", "WR", "REF"};
  return names[static_cast<int>(c)];
}

const char* cause_name(Cause c) {
  static const char* const names[] = {"bank_conflict", "refresh", "turnaround", "bus"};
  return names[static_cast<int>(c)];
}

AddressDecoder::AddressDecoder(const Config& config) {
  int shift = log2_of(config.access_bytes());
  for (auto f = config.policy.mapping.order.rbegin(); f != config.policy.mapping.order.rend(); ++f) {
    const int64_t count = field_count(config, *f);
    parts_[static_cast<size_t>(*f)] = {shift, static_cast<uint64_t>(count - 1)};
    shift += log2_of(count);
  }
}

Location AddressDecoder::operator()(uint64_t address) const {
  const auto part = [&](Field f) { return parts_[static_cast<size_t>(f)].of(address); };
  Location at;
  at.channel = static_cast<int>(part(Field::Channel));
  at.rank = static_cast<int>(part(Field::Rank));
  at.bank_group = static_cast<int>(part(Field::BankGroup));
  at.bank = static_cast<int>(part(Field::Bank));
  at.row = part(Field::Row);
  at.column = part(Field::Column);
  return at;
}

void Stats::add(const Completion& c, int data_cycles_per_access) {
  ++(c.write ? writes : reads);
  ++(c.outcome == RowOutcome::Hit ? hits : c.outcome == RowOutcome::Miss ? misses : conflicts);
  data_cycles += data_cycles_per_access;
  last_data_end = std::max(last_data_end, c.data_end);
  latency_cycles += c.data_end - c.arrival;
  for (int k = 0; k < kCauses; ++k) stall[static_cast<size_t>(k)] += c.stall[static_cast<size_t>(k)];
}

void Stats::merge(const Stats& o) {
  reads += o.reads, writes += o.writes, hits += o.hits, misses += o.misses, conflicts += o.conflicts;
  activates += o.activates, precharges += o.precharges, refreshes += o.refreshes;
  data_cycles += o.data_cycles, latency_cycles += o.latency_cycles, active_cycles += o.active_cycles;
  last_data_end = std::max(last_data_end, o.last_data_end);
  for (size_t k = 0; k < stall.size(); ++k) stall[k] += o.stall[k];
}

Channel::Channel(const Config& config) : config_(config), decode_(config) {
  queue_.reserve(static_cast<size_t>(config.policy.queue_depth));
  const auto groups = static_cast<size_t>(config.org.bank_groups);
  Rank rank;
  rank.banks.resize(static_cast<size_t>(config.org.banks()));
  rank.act_bg.assign(groups, kLongAgo);
  rank.rd_bg.assign(groups, kLongAgo);
  rank.wr_bg.assign(groups, kLongAgo);
  rank.wr_end_bg.assign(groups, kLongAgo);
  rank.faw.fill(kLongAgo);
  rank.refresh_due = config.timing.refi;
  ranks_.assign(static_cast<size_t>(config.org.ranks), rank);
}

void Channel::enqueue(const Request& request) {
  enqueue(request, decode_(request.address));
}

void Channel::enqueue(const Request& request, const Location& at) {
  if (full()) throw std::logic_error("DDR4 controller queue overflow");
  if (!queue_.empty() && request.arrival < queue_.back().request.arrival)
    throw std::logic_error("DDR4 requests must arrive in time order");
  Queued& q = queue_.emplace_back();
  q.request = request;
  q.at = at;
  q.ready_from = request.arrival;
}

Command Channel::next_command(const Queued& q) const {
  const Bank& bank =
      ranks_[static_cast<size_t>(q.at.rank)]
          .banks[static_cast<size_t>(q.at.bank_group * config_.org.banks_per_group + q.at.bank)];
  if (bank.open_row == q.at.row) return q.request.write ? Command::Wr : Command::Rd;
  return bank.open_row < 0 ? Command::Act : Command::Pre;
}

Channel::Earliest Channel::earliest(Command c, const Location& at, int64_t from) const {
  const Timing& t = config_.timing;
  const Rank& rank = ranks_[static_cast<size_t>(at.rank)];
  const Bank& bank = rank.banks[static_cast<size_t>(at.bank_group * config_.org.banks_per_group + at.bank)];
  const auto bg = static_cast<size_t>(at.bank_group);
  Earliest e{from, Cause::Bus};
  e.at_least(rank.refresh_end, Cause::Refresh);
  const int rank_switch = data_rank_ >= 0 && data_rank_ != at.rank ? t.rtrs : 0;
  switch (c) {
    case Command::Act:
      e.at_least(bank.next_act, Cause::Bank);
      e.at_least(rank.act_bg[bg] + t.rrd_l, Cause::Bank);
      e.at_least(rank.act_any + t.rrd_s, Cause::Bank);
      e.at_least(rank.faw[0] + t.faw, Cause::Bank);
      break;
    case Command::Pre:
      e.at_least(bank.next_pre, Cause::Bank);
      break;
    case Command::Rd:
      e.at_least(bank.next_col, Cause::Bank);
      e.at_least(rank.wr_end_bg[bg] + t.wtr_l, Cause::Turnaround);
      e.at_least(rank.wr_end_any + t.wtr_s, Cause::Turnaround);
      e.at_least(rank.rd_bg[bg] + t.ccd_l, Cause::Bus);
      e.at_least(rank.rd_any + t.ccd_s, Cause::Bus);
      e.at_least(data_free_ + rank_switch - t.cl, Cause::Bus);
      break;
    case Command::Wr:
      e.at_least(bank.next_col, Cause::Bank);
      // JEDEC read-to-write: RL + BL/2 - WL + 2 tCK (the write preamble and a bus turnaround cycle).
      e.at_least(rank.rd_any + t.cl + t.data_cycles() + 2 - t.cwl, Cause::Turnaround);
      e.at_least(rank.wr_bg[bg] + t.ccd_l, Cause::Bus);
      e.at_least(rank.wr_any + t.ccd_s, Cause::Bus);
      e.at_least(data_free_ + rank_switch - t.cwl, Cause::Bus);
      break;
    default:
      break;
  }
  e.at_least(last_command_ + 1, Cause::Bus);
  return e;
}

bool Channel::row_wanted(const Location& at, const Queued* except) const {
  const Bank& bank = ranks_[static_cast<size_t>(at.rank)]
                         .banks[static_cast<size_t>(at.bank_group * config_.org.banks_per_group + at.bank)];
  for (const Queued& q : queue_)
    if (&q != except && q.at.rank == at.rank && q.at.bank_group == at.bank_group && q.at.bank == at.bank &&
        q.at.row == bank.open_row)
      return true;
  return false;
}

Channel::Earliest Channel::refresh_step(int rank_index, Command& command) const {
  const Rank& rank = ranks_[static_cast<size_t>(rank_index)];
  Earliest e{rank.refresh_due, Cause::Refresh};
  const bool any_open =
      std::any_of(rank.banks.begin(), rank.banks.end(), [](const Bank& b) { return b.open_row >= 0; });
  command = any_open ? Command::PreAll : Command::Ref;
  for (const Bank& b : rank.banks) {
    if (any_open && b.open_row >= 0) e.at_least(b.next_pre, Cause::Bank);
    if (!any_open) e.at_least(b.next_act, Cause::Bank);
  }
  e.at_least(last_command_ + 1, Cause::Bus);
  return e;
}

void Channel::log(Command c, const Location& at, int64_t cycle, int64_t row) {
  if (log_) log_->push_back({cycle, c, at.rank, at.bank_group, at.bank, row});
}

int64_t Channel::active_since_accounted(const Rank& rank, int64_t now) const {
  const int64_t from = rank.accounted;
  int64_t end = from;
  const auto cover = [&](int64_t start, int64_t stop) {
    if (start <= from && stop > from) end = std::max(end, std::min(stop, now));
  };
  for (const Bank& b : rank.banks) cover(b.act, b.closes);
  cover(rank.refresh_start, rank.refresh_end);
  return std::max<int64_t>(0, end - from);
}

void Channel::account_background(Rank& rank, int64_t now) {
  if (now <= rank.accounted) return;
  stats_.active_cycles += active_since_accounted(rank, now);
  rank.accounted = now;
}

Stats Channel::stats_until(int64_t until) const {
  Stats s = stats_;
  for (const Rank& rank : ranks_)
    if (until > rank.accounted) s.active_cycles += active_since_accounted(rank, until);
  return s;
}

void Channel::refresh(int rank_index, Command command, int64_t cycle) {
  Rank& rank = ranks_[static_cast<size_t>(rank_index)];
  account_background(rank, cycle);
  last_command_ = cycle;
  Location at;
  at.rank = rank_index;
  log(command, at, cycle);
  if (command == Command::PreAll) {
    for (Bank& b : rank.banks) {
      if (b.open_row >= 0) ++stats_.precharges, b.closes = cycle;
      b.open_row = -1;
      b.next_act = std::max(b.next_act, cycle + config_.timing.rp);
    }
    return;
  }
  rank.refresh_start = cycle;
  rank.refresh_end = cycle + config_.timing.rfc;
  rank.refresh_due += config_.timing.refi;
  ++stats_.refreshes;
}

void Channel::issue(Command c, const Location& at, int64_t cycle) {
  const Timing& t = config_.timing;
  Rank& rank = ranks_[static_cast<size_t>(at.rank)];
  Bank& bank = rank.banks[static_cast<size_t>(at.bank_group * config_.org.banks_per_group + at.bank)];
  const auto bg = static_cast<size_t>(at.bank_group);
  account_background(rank, cycle);
  last_command_ = cycle;
  log(c, at, cycle, c == Command::Act ? at.row : -1);
  int64_t auto_precharge = kNever;  // closed page: when the RDA / WRA precharges the bank
  switch (c) {
    case Command::Act:
      bank.open_row = at.row;
      bank.act = cycle;
      bank.closes = kNever;
      bank.next_col = cycle + t.rcd;
      bank.next_pre = std::max(bank.next_pre, cycle + t.ras);
      bank.next_act = std::max(bank.next_act, cycle + t.rc);
      rank.act_bg[bg] = rank.act_any = cycle;
      rank.faw = {rank.faw[1], rank.faw[2], rank.faw[3], cycle};
      ++stats_.activates;
      return;
    case Command::Pre:
      bank.open_row = -1;
      bank.closes = cycle;
      bank.next_act = std::max(bank.next_act, cycle + t.rp);
      ++stats_.precharges;
      return;
    case Command::Rd:
      rank.rd_bg[bg] = rank.rd_any = cycle;
      data_free_ = cycle + t.cl + t.data_cycles();
      bank.next_pre = std::max(bank.next_pre, cycle + t.rtp);
      auto_precharge = std::max<int64_t>(cycle + t.rtp, bank.act + t.ras);
      break;
    case Command::Wr: {
      const int64_t end = cycle + t.cwl + t.data_cycles();
      rank.wr_bg[bg] = rank.wr_any = cycle;
      rank.wr_end_bg[bg] = rank.wr_end_any = end;
      data_free_ = end;
      bank.next_pre = std::max(bank.next_pre, end + t.wr);
      auto_precharge = std::max<int64_t>(end + t.wr, bank.act + t.ras);
      break;
    }
    default:
      return;
  }
  data_rank_ = at.rank;
  if (config_.policy.page_policy == PagePolicy::Closed) {
    bank.open_row = -1;
    bank.closes = auto_precharge;
    bank.next_act = std::max(bank.next_act, auto_precharge + t.rp);
    ++stats_.precharges;
  }
}

bool Channel::refresh_due_by(int64_t cycle) {
  if (config_.timing.refi == 0) return false;
  for (int r = 0; r < config_.org.ranks; ++r) {
    if (ranks_[static_cast<size_t>(r)].refresh_due > cycle) continue;
    Command step_command = Command::Ref;
    const Earliest e = refresh_step(r, step_command);
    refresh(r, step_command, e.cycle);
    return true;
  }
  return false;
}

bool Channel::advance(Queued& q, Command command, const Earliest& when, Completion& done) {
  q.stall[static_cast<size_t>(when.cause)] += std::max<int64_t>(0, when.cycle - q.ready_from);
  issue(command, q.at, when.cycle);
  const Timing& t = config_.timing;
  if (command == Command::Pre) {
    q.precharged = true;
    q.ready_from = when.cycle + t.rp;
    q.stall[static_cast<size_t>(Cause::Bank)] += t.rp;
    return false;
  }
  if (command == Command::Act) {
    q.activated = true;
    q.ready_from = when.cycle + t.rcd;
    q.stall[static_cast<size_t>(Cause::Bank)] += t.rcd;
    return false;
  }
  done.id = q.request.id;
  done.write = q.request.write;
  done.arrival = q.request.arrival;
  done.column = when.cycle;
  done.data_end = when.cycle + (done.write ? t.cwl : t.cl) + t.data_cycles();
  done.outcome = q.precharged ? RowOutcome::Conflict : q.activated ? RowOutcome::Miss : RowOutcome::Hit;
  done.stall = q.stall;
  stats_.add(done, t.data_cycles());
  return true;
}

bool Channel::step(std::vector<Completion>& done) {
  if (queue_.empty()) return false;
  // The request command to issue next (index into the queue) and when.
  size_t pick = 0;
  Command command = next_command(queue_.front());
  Earliest when = earliest(command, queue_.front().at, queue_.front().ready_from);
  const bool fr_fcfs = config_.policy.scheduler == Scheduler::FrFcfs &&
                       queue_.front().bypassed < config_.policy.starvation_cap;
  if (fr_fcfs) {
    bool found = false;
    for (size_t i = 0; i < queue_.size(); ++i) {
      const Command c = next_command(queue_[i]);
      if (c == Command::Pre && row_wanted(queue_[i].at, nullptr)) continue;  // keep a row others hit
      const Earliest e = earliest(c, queue_[i].at, queue_[i].ready_from);
      if (!found ||
          std::make_tuple(e.cycle, !is_column(c)) < std::make_tuple(when.cycle, !is_column(command))) {
        pick = i, command = c, when = e, found = true;
      }
    }
  }
  if (refresh_due_by(when.cycle)) return true;
  Completion c;
  if (!advance(queue_[pick], command, when, c)) return true;
  if (pick != 0) ++queue_.front().bypassed;
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(pick));
  done.push_back(c);
  return true;
}

Completion Channel::serve(const Request& request, const Location& at) {
  if (!queue_.empty()) throw std::logic_error("DDR4 serve() with requests queued");
  Queued q;
  q.request = request;
  q.at = at;
  q.ready_from = request.arrival;
  Completion done;
  for (;;) {
    const Command command = next_command(q);
    const Earliest when = earliest(command, q.at, q.ready_from);
    if (!refresh_due_by(when.cycle) && advance(q, command, when, done)) return done;
  }
}

void Channel::drain(std::vector<Completion>& done) {
  while (step(done)) {
  }
}

Memory::Memory(const Config& config) : config_(config), decode_(config_) {
  channels_.reserve(static_cast<size_t>(config_.org.channels));
  for (int c = 0; c < config_.org.channels; ++c) channels_.emplace_back(config_);
}

Completion Memory::access(uint64_t address, bool write, int64_t arrival) {
  const Location at = decode_(address);
  return channels_[static_cast<size_t>(at.channel)].serve({address, write, arrival, 0}, at);
}

void Memory::record_commands(std::vector<CommandRecord>* log) {
  for (Channel& c : channels_) c.record_commands(log);
}

Stats Memory::stats() const {
  Stats s;
  for (const Channel& c : channels_) s.merge(c.stats());
  return s;
}

Stats Memory::stats_until(int64_t until) const {
  Stats s;
  for (const Channel& c : channels_) s.merge(c.stats_until(until));
  return s;
}

}  // namespace vitsim::arch::ddr4

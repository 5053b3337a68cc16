#include "arch/port_fluid.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace vitsim::arch {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// A port the DMA's writes take entirely still passes this many bytes per cycle, so every price is finite.
constexpr double kMinCapacity = 1e-3;

int64_t write_width(int64_t peak, int64_t word, double dram_bytes) {
  const auto accesses = static_cast<int64_t>(std::ceil(dram_bytes / static_cast<double>(word)));
  return std::clamp<int64_t>(accesses, 1, std::max<int64_t>(1, peak / word));
}
}  // namespace

PortFluid::PortFluid(int64_t act_peak, int64_t act_word, int64_t weight_peak, int64_t weight_word,
                     double dram_bytes)
    : ports_{{act_peak, act_word, write_width(act_peak, act_word, dram_bytes), 0, {}},
             {weight_peak, weight_word, write_width(weight_peak, weight_word, dram_bytes), 0, {}}},
      dram_bytes_(dram_bytes) {}

PortFluid::PortFluid(const AccelConfig& config)
    : PortFluid(config.buffer(BufferKind::Activation).peak_bytes_per_cycle(),
                config.buffer(BufferKind::Activation).word_bytes,
                config.buffer(BufferKind::Weight).peak_bytes_per_cycle(),
                config.buffer(BufferKind::Weight).word_bytes, config.dram_bytes_per_cycle()) {}

int PortFluid::start(int64_t t, const GroupPipeline& g, const AuxPath& aux) {
  run(now_, static_cast<double>(t), true, &finished_);
  settle(now_);
  Tile tile;
  tile.handle = next_handle_++;
  tile.start = t;
  tile.g = g;
  tile.a = aux.rate > 0 ? ceil_div(g.group_outputs, aux.rate) : 0;
  tile.tail = (g.depth - 1) + tile.a + aux.latency;
  tile.write_proof = price_at(tile, capacity(0, 1), capacity(1, 1), true) ==
                     price_at(tile, capacity(0, 0), capacity(1, 0), true);
  now_.active.push_back(tile);
  price(now_);
  ahead_begin_ = ahead_end_ = 0;  // every later piece changes
  predicted_ = kUnknown;
  return tile.handle;
}

int64_t PortFluid::burst(BufferKind buffer, int64_t issued, int64_t arrival, int64_t bytes) {
  if (buffer != BufferKind::Activation && buffer != BufferKind::Weight) return kNever;
  Port& port = ports_[buffer == BufferKind::Activation ? 0 : 1];
  const auto streaming = static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / dram_bytes_));
  const double first =
      std::max(static_cast<double>(std::max(issued + 1, arrival - streaming + 1)), port.drained);
  if (first <= now_.applied)
    throw std::logic_error("fast mode: a DMA burst's writes begin at " + std::to_string(first) +
                           ", in time the port fluid has passed (" + std::to_string(now_.applied) + ")");
  port.drained =
      first + static_cast<double>(ceil_div(bytes, port.word)) / static_cast<double>(port.write_accesses);
  // Edges come in time order: a burst's writes begin where the port's earlier ones have drained or later.
  if (!port.edges.empty() && port.edges.back().first == first)
    port.edges.pop_back();  // written on from its predecessor: the write rate does not change
  else
    port.edges.emplace_back(first, 1);
  port.edges.emplace_back(port.drained, -1);
  // The predicted pieces from `first` on did not know these writes: keep the checkpoints up to `first`
  // that have not applied the edges at `first` yet.
  while (ahead_end_ > ahead_begin_ &&
         (ahead_[ahead_end_ - 1].time > first || ahead_[ahead_end_ - 1].applied >= first)) {
    --ahead_end_;
    predicted_ = kUnknown;
  }
  return static_cast<int64_t>(std::floor(first));
}

std::vector<PortFluid::Finished> PortFluid::advance(int64_t t) {
  run(now_, static_cast<double>(t), false, &finished_);
  for (Port& port : ports_)  // edges already applied are no longer needed
    port.edges.erase(port.edges.begin(), port.after(now_.applied));
  // Checkpoints behind the committed state are of no more use (and may need the edges just erased).
  while (ahead_end_ > ahead_begin_ &&
         (ahead_[ahead_begin_].time < now_.time || ahead_[ahead_begin_].applied < now_.applied))
    ++ahead_begin_;
  if (predicted_ < t) predicted_ = kUnknown;  // reported now (or unknown): predict the next one
  std::vector<Finished> out;
  out.swap(finished_);
  return out;
}

int64_t PortFluid::next_finish() {
  if (now_.active.empty()) return kNever;
  if (predicted_ != kUnknown) return predicted_;
  if (ahead_end_ == ahead_begin_) push_ahead() = now_;
  std::vector<Finished> finished;
  while (finished.empty()) {
    State& s = push_ahead();
    s = ahead_[ahead_end_ - 2];
    if (!step(s, kInf, &finished))  // a tile issuing always ends its piece
      throw std::logic_error("fast mode: the port fluid predicts no end of an issuing tile");
  }
  predicted_ = static_cast<int64_t>(std::ceil(ahead_[ahead_end_ - 1].time)) - 1;
  return predicted_;
}

double PortFluid::capacity(int port, int writes) const {
  const Port& p = ports_[port];
  return std::max(static_cast<double>(p.peak - writes * p.write_accesses * p.word), kMinCapacity);
}

double PortFluid::price_at(const Tile& tile, double act, double weight, bool alone) {
  double p = 1;
  for (const auto& [bytes, share] :
       {std::pair{tile.g.act_bytes, act}, std::pair{tile.g.weight_bytes, weight}})
    if (bytes > 0) {
      const double cycles = static_cast<double>(bytes) / share;
      p = std::max(p, alone ? std::ceil(cycles) : cycles);
    }
  return p;
}

PortFluid::State& PortFluid::push_ahead() {
  if (ahead_begin_ == ahead_end_) {
    ahead_begin_ = ahead_end_ = 0;
  } else if (ahead_end_ == ahead_.size() && 2 * ahead_begin_ > ahead_.size()) {  // reuse the front half
    std::move(ahead_.begin() + static_cast<std::ptrdiff_t>(ahead_begin_),
              ahead_.begin() + static_cast<std::ptrdiff_t>(ahead_end_), ahead_.begin());
    ahead_end_ -= ahead_begin_;
    ahead_begin_ = 0;
  }
  if (ahead_end_ == ahead_.size()) ahead_.emplace_back();
  return ahead_[ahead_end_++];
}

void PortFluid::price(State& s) const {
  const size_t n = s.active.size();
  if (n == 0) return;
  const double capacity[2] = {this->capacity(0, s.writes[0]), this->capacity(1, s.writes[1])};
  auto price_at = [n](const Tile& tile, double act, double weight) {
    return PortFluid::price_at(tile, act, weight, n == 1);
  };
  if (n == 1) {  // alone: the closed form's price
    reprice(s.active[0], price_at(s.active[0], capacity[0], capacity[1]));
    return;
  }
  // Water filling: each tile asks for what it would fetch with the whole capacity, in its period then.
  full_period_.resize(n);
  for (size_t i = 0; i < n; ++i)
    full_period_[i] = period_at(s.active[i], price_at(s.active[i], capacity[0], capacity[1]));
  demand_.resize(n);
  order_.resize(n);
  for (int k = 0; k < 2; ++k) {
    share_[k].assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const Tile& tile = s.active[i];
      const int64_t bytes = k == 0 ? tile.g.act_bytes : tile.g.weight_bytes;
      demand_[i] = static_cast<double>(tile.g.waves * bytes) / full_period_[i];
      order_[i] = i;
    }
    for (size_t i = 1; i < n; ++i)  // a stable insertion sort by demand: n is the engines, a few
      for (size_t j = i; j > 0 && demand_[order_[j]] < demand_[order_[j - 1]]; --j)
        std::swap(order_[j], order_[j - 1]);
    double left = capacity[k];
    size_t waiting = n;
    for (size_t i : order_) {
      share_[k][i] = std::min(demand_[i], left / static_cast<double>(waiting--));
      left -= share_[k][i];
    }
  }
  for (size_t i = 0; i < n; ++i) reprice(s.active[i], price_at(s.active[i], share_[0][i], share_[1][i]));
}

double PortFluid::period_at(const Tile& tile, double p) {
  return std::max(static_cast<double>(tile.g.waves) * p, static_cast<double>(tile.a));
}

void PortFluid::reprice(Tile& tile, double p) {
  const double waves = static_cast<double>(tile.g.waves);
  const double period = period_at(tile, p);
  if (tile.p == 0) {
    tile.rem = static_cast<double>(tile.g.groups - 1) * period + waves * p;
  } else if (p != tile.p) {
    const double issue = waves * tile.p;
    const double groups = tile.rem >= issue ? 1 + (tile.rem - issue) / tile.period : tile.rem / issue;
    tile.rem = groups >= 1 ? (groups - 1) * period + waves * p : groups * waves * p;
  }
  tile.p = p;
  tile.period = period;
}

double PortFluid::piece_end(const State& s) const {
  double end = kInf;
  // Write edges cut pieces only where they can change a price: not while no tile issues, nor while one
  // tile issues alone at the same price with or without the writes (settle() still counts them).
  const bool writes_matter = s.active.size() > 1 || (s.active.size() == 1 && !s.active[0].write_proof);
  for (const Port& port : ports_) {
    if (!writes_matter) break;
    const auto it = port.after(s.applied);
    if (it != port.edges.end()) end = std::min(end, it->first);
  }
  for (const Tile& tile : s.active) end = std::min(end, s.time + tile.rem);
  return end;
}

void PortFluid::integrate(State& s, double end, std::vector<Finished>* finished) const {
  const double dt = end - s.time;
  size_t kept = 0;
  for (Tile& tile : s.active) {
    const double waves = static_cast<double>(tile.g.waves), issue = waves * tile.p;
    const double grouped = std::clamp(tile.rem - issue, 0.0, dt);  // in the groups before the last
    tile.stall_port += grouped * waves * (tile.p - 1) / tile.period + (dt - grouped) * (tile.p - 1) / tile.p;
    tile.stall_aux += grouped * (tile.period - issue) / tile.period;
    if (s.time + tile.rem <= end) {  // the same expression that chose `end`
      Finished f;
      f.tile = tile.handle;
      f.done = static_cast<int64_t>(std::ceil(end)) + tile.tail - 1;
      f.cost.cycles = f.done - tile.start + 1;
      f.cost.stall_port = std::llround(tile.stall_port);
      f.cost.stall_aux = std::llround(tile.stall_aux);
      finished->push_back(f);
      continue;
    }
    tile.rem -= dt;
    s.active[kept++] = tile;
  }
  s.active.resize(kept);
  s.time = end;
}

void PortFluid::settle(State& s) const {
  for (int k = 0; k < 2; ++k)
    for (auto it = ports_[k].after(s.applied); it != ports_[k].edges.end() && it->first <= s.time; ++it)
      s.writes[k] += it->second;
  s.applied = s.time;
  price(s);
}

bool PortFluid::step(State& s, double t, std::vector<Finished>* finished) const {
  if (s.applied < s.time) settle(s);
  const double end = piece_end(s);
  if (end > t || end == kInf) return false;
  integrate(s, end, finished);
  return true;
}

void PortFluid::run(State& s, double t, bool partial, std::vector<Finished>* finished) const {
  while (s.time < t)
    if (!step(s, t, finished)) {
      if (partial) integrate(s, t, finished);
      return;
    }
}

}  // namespace vitsim::arch

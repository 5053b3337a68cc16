#include "arch/tile_timing.hpp"

#include <algorithm>
#include <stdexcept>

#include "arch/unit_registry.hpp"

namespace vitsim::arch {

PortShare port_share(const AccelConfig& config) {
  const auto engines = static_cast<int64_t>(config.engines.size());
  PortShare s;
  s.act_bytes_per_cycle =
      std::max<int64_t>(1, config.buffer(BufferKind::Activation).peak_bytes_per_cycle() / engines);
  s.weight_bytes_per_cycle =
      std::max<int64_t>(1, config.buffer(BufferKind::Weight).peak_bytes_per_cycle() / engines);
  return s;
}

AuxPath aux_path(const AccelConfig& config, const std::vector<int>& chain) {
  AuxPath p;
  for (int index : chain) {
    const AuxUnitConfig& unit = config.aux_units.at(static_cast<size_t>(index));
    p.rate = p.rate == 0 ? unit.throughput : std::min<int64_t>(p.rate, unit.throughput);
    p.latency += unit.latency;
  }
  return p;
}

int64_t GroupPipeline::port_cycles(const PortShare& ports) const {
  return std::max<int64_t>({1, ceil_div(act_bytes, ports.act_bytes_per_cycle),
                            ceil_div(weight_bytes, ports.weight_bytes_per_cycle)});
}

TileCost group_pipeline_cost(const GroupPipeline& g, const PortShare& ports, const AuxPath& aux) {
  const int64_t p = g.port_cycles(ports);
  const int64_t issue = g.waves * p;
  const int64_t a = aux.rate > 0 ? ceil_div(g.group_outputs, aux.rate) : 0;
  const int64_t period = std::max(issue, a);
  TileCost c;
  c.cycles = (g.groups - 1) * period + issue + (g.depth - 1) + a + aux.latency;
  c.stall_port = g.groups * g.waves * (p - 1);
  c.stall_aux = (g.groups - 1) * (period - issue);
  return c;
}

TileCost elementwise_cost(int64_t elements, const AuxUnitConfig& unit) {
  TileCost c;
  c.cycles = ceil_div(elements, unit.throughput) + unit.latency;
  return c;
}

namespace {

// A chain of pipeline registers: what enters in cycle t occupies stage 1 in cycle t, the last stage in cycle
// t + stages - 1, and leaves at the end of that cycle. A ring buffer, so a shift is O(1).
template <typename Slot>
class ShiftRegister {
 public:
  explicit ShiftRegister(int64_t stages) : slots_(static_cast<size_t>(stages)) {}
  /// Starts a cycle: everything moves one stage on; the last stage's occupant (gone at the end of the
  /// previous cycle) is dropped and its register becomes stage 1.
  void shift() {
    first_ = (first_ + slots_.size() - 1) % slots_.size();
    slots_[first_] = Slot{};
  }
  Slot& first() { return slots_[first_]; }
  const Slot& last() const { return slots_[(first_ + slots_.size() - 1) % slots_.size()]; }

 private:
  std::vector<Slot> slots_;
  size_t first_ = 0;
};

// A wave in the engine pipeline; the last wave of a group carries the group's results out.
struct WaveSlot {
  bool present = false;
  bool ends_group = false;
};

class GroupPipelineStepper final : public TileStepper {
 public:
  GroupPipelineStepper(const GroupPipeline& g, const PortShare& ports, const AuxPath& aux)
      : g_(g),
        ports_(ports),
        aux_(aux),
        bus_cycles_per_group_(aux.rate > 0 ? ceil_div(g.group_outputs, aux.rate) : 0),
        pipeline_(g.depth),
        aux_stages_(aux.latency + 1) {
    if (g.groups < 1 || g.waves < 1 || g.depth < 1 || ports.act_bytes_per_cycle < 1 ||
        ports.weight_bytes_per_cycle < 1 || aux.rate < 0 || aux.latency < 0 ||
        (aux.rate > 0 && g.group_outputs < 1))
      throw std::invalid_argument(
          "group pipeline stepper: groups, waves, depth, port shares (and, with an "
          "auxiliary chain, group outputs) must be positive");
  }

  Demand demand() const override {
    Demand d;
    if (aux_.rate > 0) d.aux_results = std::min(aux_.rate, aux_queue_);
    if (group_ == g_.groups) return d;
    // A group that has not begun waits for the write-back bus first (the cycle being demanded is
    // cycle_ + 1).
    if (!group_started_ && group_ > 0 && cycle_ + 1 - last_group_start_ < bus_cycles_per_group_) return d;
    d.act_bytes = g_.act_bytes - act_fetched_;
    d.weight_bytes = g_.weight_bytes - weight_fetched_;
    return d;
  }

  bool advance(const Grant& grant) override {
    if (done_) return true;
    if (!grant.output_ready && (aux_.rate > 0 || g_.depth < 2))
      throw std::invalid_argument(
          "group pipeline stepper: an output stall needs a registered output (depth >= 2) and no "
          "auxiliary chain (its input queue has no back-pressure)");
    ++cycle_;
    if (!held_) pipeline_.shift();  // a held pipeline keeps every register
    aux_stages_.shift();

    // The auxiliary chain takes up to `rate` queued results (as many as it was granted); they leave its
    // last latency stage `latency` cycles later (the acceptance register is stage 1 of aux_stages_).
    const int64_t accepted = std::min({aux_.rate, aux_queue_, grant.aux_results});
    aux_queue_ -= accepted;
    aux_stages_.first() = accepted;

    // Without a chain a group's results leave in one beat from the last stage; a downstream that does not
    // take it holds the whole pipeline. With a chain, a group's results enter the chain's input register,
    // which holds one group: while the chain has not taken all of the previous group (it was granted less
    // than its rate), the pipeline holds.
    const WaveSlot& leaving = pipeline_.last();
    held_ = leaving.present && leaving.ends_group && (!grant.output_ready || aux_queue_ > 0);
    issue(grant);

    beat_ = 0;
    if (leaving.present && !held_) {
      --waves_in_flight_;
      if (leaving.ends_group) {
        ++groups_out_;
        if (aux_.rate > 0)
          aux_queue_ += g_.group_outputs;  // the chain accepts from the next cycle
        else
          beat_ = g_.group_outputs;
      }
    }
    results_out_ += aux_stages_.last();
    if (aux_.rate > 0) beat_ = aux_stages_.last();
    done_ = aux_.rate > 0 ? results_out_ == g_.groups * g_.group_outputs : groups_out_ == g_.groups;
    return done_;
  }

  int64_t beat_results() const override { return beat_; }
  bool took_input() const override { return took_input_; }

  TileCost counted() const override {
    TileCost c = cost_;
    c.cycles = cycle_;
    return c;
  }

  std::string state() const override {
    const std::string issuing =
        group_ == g_.groups ? "all " + std::to_string(g_.groups) + " groups issued"
                            : "group " + std::to_string(group_ + 1) + "/" + std::to_string(g_.groups) +
                                  " wave " + std::to_string(wave_ + 1) + "/" + std::to_string(g_.waves);
    std::string s = issuing + ", " + std::to_string(waves_in_flight_) + " waves in flight";
    if (aux_.rate > 0)
      s += ", aux queue " + std::to_string(aux_queue_) + ", results out " + std::to_string(results_out_) +
           "/" + std::to_string(g_.groups * g_.group_outputs);
    return s;
  }

 private:
  Grant handshake_grant(const Handshake& hs) const override {
    const Demand d = demand();
    Grant g;
    if (hs.input_valid) {
      g.act_bytes = std::min(d.act_bytes, ports_.act_bytes_per_cycle);
      g.weight_bytes = std::min(d.weight_bytes, ports_.weight_bytes_per_cycle);
    }
    g.aux_results = d.aux_results;
    g.output_ready = hs.output_ready;
    return g;
  }

  // The issue stage: waits for the write-back bus to be free for a new group, then fetches each wave's
  // operands with the bytes granted and sends the wave into pipeline stage 1 in the cycle they are
  // complete, unless the pipeline is held.
  void issue(const Grant& grant) {
    took_input_ = false;
    if (group_ == g_.groups) return;
    if (!group_started_) {
      // The bus carries one group's results per bus_cycles_per_group_ cycles, so group starts are spaced
      // at least that far apart (the previous group's own waves already space them by its issue time).
      if (group_ > 0 && cycle_ - last_group_start_ < bus_cycles_per_group_) {
        ++cost_.stall_aux;
        return;
      }
      group_started_ = true;
      last_group_start_ = cycle_;
    }
    if (grant.act_bytes > 0 || grant.weight_bytes > 0) {
      took_input_ = true;
      act_fetched_ = std::min(g_.act_bytes, act_fetched_ + grant.act_bytes);
      weight_fetched_ = std::min(g_.weight_bytes, weight_fetched_ + grant.weight_bytes);
    }
    if (act_fetched_ < g_.act_bytes || weight_fetched_ < g_.weight_bytes) {
      ++cost_.stall_port;
      return;
    }
    if (held_) {                              // complete operands wait for the pipeline to move
      if (aux_queue_ > 0) ++cost_.stall_aux;  // held by the chain, not by a handshake
      return;
    }
    act_fetched_ = weight_fetched_ = 0;
    ++wave_;
    ++waves_in_flight_;
    WaveSlot& entering = pipeline_.first();
    entering.present = true;
    entering.ends_group = wave_ == g_.waves;
    if (entering.ends_group) {
      ++group_;
      wave_ = 0;
      group_started_ = false;
    }
  }

  const GroupPipeline g_;
  const PortShare ports_;
  const AuxPath aux_;
  const int64_t bus_cycles_per_group_;  // cycles the auxiliary chain needs to accept one group's results
  ShiftRegister<WaveSlot> pipeline_;
  ShiftRegister<int64_t> aux_stages_;  // results accepted by the chain, then its latency stages

  int64_t cycle_ = 0;
  TileCost cost_;
  bool done_ = false;
  // Issue stage.
  int64_t group_ = 0, wave_ = 0;  // the next wave to issue
  bool group_started_ = false;    // group_ has begun fetching (passed the bus spacing check)
  int64_t last_group_start_ = 0;
  int64_t act_fetched_ = 0, weight_fetched_ = 0;  // operand bytes of the current wave so far
  // Pipeline and auxiliary chain.
  int64_t waves_in_flight_ = 0;
  int64_t groups_out_ = 0;   // groups whose last wave left the pipeline
  int64_t aux_queue_ = 0;    // results waiting for the chain
  int64_t results_out_ = 0;  // results that left the chain
  // Handshakes.
  bool held_ = false;        // the last stage's group was not taken: the pipeline holds
  bool took_input_ = false;  // this cycle's grant advanced the fetch counters
  int64_t beat_ = 0;         // results that left this cycle
};

// One auxiliary unit streaming `elements` through: `throughput` accepted per cycle, each leaving `latency`
// cycles after it was accepted.
class ElementwiseStepper final : public TileStepper {
 public:
  ElementwiseStepper(int64_t elements, const AuxUnitConfig& unit)
      : elements_(elements),
        throughput_(unit.throughput),
        latency_(unit.latency),
        stages_(int64_t{unit.latency} + 1),
        queue_(elements) {
    if (elements < 1 || unit.throughput < 1 || unit.latency < 0)
      throw std::invalid_argument("elementwise stepper: elements and throughput must be positive");
  }

  Demand demand() const override {
    Demand d;
    d.aux_results = std::min(throughput_, queue_);
    return d;
  }

  bool advance(const Grant& grant) override {
    if (out_ == elements_) return true;
    if (!grant.output_ready && latency_ == 0)
      throw std::invalid_argument("elementwise stepper: an output stall needs a latency of at least 1");
    ++cycle_;
    if (!held_) stages_.shift();  // a held unit keeps every register
    held_ = stages_.last() > 0 && !grant.output_ready;
    const int64_t accepted = held_ ? 0 : std::min({throughput_, queue_, grant.aux_results});
    took_input_ = accepted > 0;
    queue_ -= accepted;
    stages_.first() = accepted;
    beat_ = held_ ? 0 : stages_.last();
    out_ += beat_;
    return out_ == elements_;
  }

  int64_t beat_results() const override { return beat_; }
  bool took_input() const override { return took_input_; }

  TileCost counted() const override {
    TileCost c;
    c.cycles = cycle_;
    return c;
  }

  std::string state() const override {
    return "elementwise: " + std::to_string(queue_) + " queued, " +
           std::to_string(elements_ - queue_ - out_) + " in the pipeline, " + std::to_string(out_) + "/" +
           std::to_string(elements_) + " out";
  }

 protected:
  Grant handshake_grant(const Handshake& hs) const override {
    Grant g;
    if (hs.input_valid) g.aux_results = demand().aux_results;
    g.output_ready = hs.output_ready;
    return g;
  }

 private:
  const int64_t elements_, throughput_, latency_;
  ShiftRegister<int64_t> stages_;  // the acceptance register, then the latency stages
  int64_t cycle_ = 0, queue_, out_ = 0;
  bool held_ = false;        // the last stage's beat was not taken: the unit holds
  bool took_input_ = false;  // this cycle took an input beat
  int64_t beat_ = 0;         // results that left this cycle
};

std::string tile_description(const ComputeTile& tile) {
  std::string s = std::string(tile_work_name(tile.work)) + " tile of layer " + std::to_string(tile.layer);
  if (tile.work == TileWork::Depthwise)
    s += " (kernel " + std::to_string(tile.kernel) + ", stride " + std::to_string(tile.stride) + ")";
  return s;
}

// The engine that runs `tile`, after checking it can.
const EngineParams& engine_for(const AccelConfig& config, const Resource& resource, const ComputeTile& tile) {
  const EngineParams& params = *config.engines.at(static_cast<size_t>(resource.engine)).params;
  if (!params.supports(tile.work, tile.kernel, tile.stride))
    throw std::invalid_argument("engine '" + resource.name + "' (" + params.type() + ") cannot run a " +
                                tile_description(tile));
  return params;
}

// The auxiliary unit that runs `tile`, after checking it is elementwise.
const AuxUnitConfig& aux_unit_for(const AccelConfig& config, const Resource& resource,
                                  const ComputeTile& tile) {
  if (tile.work != TileWork::Elementwise)
    throw std::invalid_argument("auxiliary unit '" + resource.name + "' cannot run a " +
                                tile_description(tile) + " (only elementwise tiles)");
  return config.aux_units.at(static_cast<size_t>(resource.aux));
}

// Elements a standalone tile streams through its unit: the tile's elements, once per pass.
int64_t streamed(const AuxUnitConfig& unit, const ComputeTile& tile) {
  return tile.m * unit.params->passes();
}

TileContext tile_context(const AccelConfig& config, const ComputeTile& tile) {
  return {port_share(config), aux_path(config, tile.aux_chain)};
}

}  // namespace

std::unique_ptr<TileStepper> group_pipeline_stepper(const GroupPipeline& g, const PortShare& ports,
                                                    const AuxPath& aux) {
  return std::make_unique<GroupPipelineStepper>(g, ports, aux);
}

std::unique_ptr<TileStepper> elementwise_stepper(int64_t elements, const AuxUnitConfig& unit) {
  return std::make_unique<ElementwiseStepper>(elements, unit);
}

TileCost tile_cost(const AccelConfig& config, const Resource& resource, const ComputeTile& tile) {
  if (!resource.is_engine) {
    const AuxUnitConfig& unit = aux_unit_for(config, resource, tile);
    return elementwise_cost(streamed(unit, tile), unit);
  }
  const TileContext ctx = tile_context(config, tile);
  return group_pipeline_cost(engine_for(config, resource, tile).group_pipeline(tile), ctx.ports, ctx.aux);
}

std::unique_ptr<TileStepper> tile_stepper(const AccelConfig& config, const Resource& resource,
                                          const ComputeTile& tile) {
  if (!resource.is_engine) {
    const AuxUnitConfig& unit = aux_unit_for(config, resource, tile);
    return elementwise_stepper(streamed(unit, tile), unit);
  }
  const TileContext ctx = tile_context(config, tile);
  return group_pipeline_stepper(engine_for(config, resource, tile).group_pipeline(tile), ctx.ports, ctx.aux);
}

TileTraffic tile_traffic(const AccelConfig& config, const Resource& resource, const ComputeTile& tile) {
  if (!resource.is_engine) {
    const int64_t elements = streamed(aux_unit_for(config, resource, tile), tile);
    return {0, 0, elements, elements};
  }
  const GroupPipeline g = engine_for(config, resource, tile).group_pipeline(tile);
  const int64_t waves = g.groups * g.waves, results = g.groups * g.group_outputs;
  return {waves * g.act_bytes, waves * g.weight_bytes, tile.aux_chain.empty() ? 0 : results, results};
}

}  // namespace vitsim::arch

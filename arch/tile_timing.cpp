#include "arch/tile_timing.hpp"

#include <algorithm>
#include <stdexcept>

namespace vitsim::arch {

PortShare port_share(const AccelConfig& config) {
  const int64_t engines = static_cast<int64_t>(config.engines.size());
  PortShare s;
  s.act_bytes_per_cycle =
      std::max<int64_t>(1, config.buffer(BufferKind::Activation).peak_bytes_per_cycle() / engines);
  s.weight_bytes_per_cycle =
      std::max<int64_t>(1, config.buffer(BufferKind::Weight).peak_bytes_per_cycle() / engines);
  return s;
}

AuxPath aux_path(const AccelConfig& config, const std::vector<AuxKind>& chain) {
  AuxPath p;
  for (AuxKind kind : chain) {
    const AuxUnitConfig& unit = config.aux(kind);
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

}  // namespace vitsim::arch

// Cycle mode's per-cycle arbitration (arch/arbiter.hpp, arch/cycle_scheduler.hpp): the primitives, and
// hand-derived cycle counts of two engines contending for the weight buffer's ports and for one
// requantizer, under both arbitration policies; a starved unit is named with the resource and its holder.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arch/accelerator.hpp"
#include "arch/arbiter.hpp"
#include "quant/json_reader.hpp"
#include "test_support.hpp"

using namespace vitsim;
using arch::ArbitrationPolicy;

namespace {

// small-memory.json (activation ports 4 x 8 B, weight ports 2 x 8 B per cycle) with two MAT engines "a" and
// "b" of pe 8 and the given lanes and replicas, default pipeline (depth 4 + adder tree 3 = 7).
arch::AccelConfig two_engines(int lanes, int replicas, const std::string& policy, int weight_banks = 2) {
  nlohmann::json j = quant::read_json_file(test::config_dir() + "/accel/small-memory.json");
  nlohmann::json mat = {{"type", "mat"}, {"pe", 8}, {"lanes", lanes}, {"replicas", replicas}};
  j["engines"] = nlohmann::json::array({mat, mat});
  j["engines"][0]["name"] = "a";
  j["engines"][1]["name"] = "b";
  j["buffers"]["weight"]["banks"] = weight_banks;
  j["aux_units"]["requantizer"] = {{"throughput", 4}, {"latency", 1}, {"dsps", 0}};
  j["arbitration"] = policy;
  return arch::parse_accel_config(j, "two engines (test)");
}

// One Gemm tile of m x n x k on each engine, both ready at cycle 0, no DRAM traffic.
arch::Program two_tiles(const arch::AccelConfig& c, int64_t m, int64_t n, int64_t k, std::vector<int> chain) {
  arch::Program p;
  for (size_t e = 0; e < 2; ++e) {
    p.resources.push_back(arch::Resource::for_engine(c, e));
    arch::ComputeTile t;
    t.layer = 0, t.resource = static_cast<int>(e);
    t.m = m, t.n = n, t.k = k;
    t.macs = m * n * k;
    t.aux_chain = chain;
    p.tiles.push_back(t);
    p.queues.push_back({static_cast<int>(e)});
  }
  p.layer_names = {"x"};
  return p;
}

arch::RunRecords run_cycle(const arch::Program& p, const arch::AccelConfig& c, int64_t watchdog = 0) {
  arch::RunOptions o;
  o.mode = arch::TimingMode::Cycle;
  o.watchdog_cycles = watchdog;
  return arch::run_program(p, c, o);
}

int64_t cycles_of(const arch::TileRecord& r) {
  return r.done - r.start + 1;
}

}  // namespace

TEST_CASE("Arbitration: service order, per-cycle capacity in whole accesses, landing writes",
          "[cycle_mode][arbiter]") {
  std::vector<size_t> order;
  arch::service_order(ArbitrationPolicy::FixedPriority, 7, 3, order);
  CHECK(order == std::vector<size_t>{0, 1, 2});
  arch::service_order(ArbitrationPolicy::RoundRobin, 7, 3, order);
  CHECK(order == std::vector<size_t>{1, 2, 0});

  arch::CycleCapacity ports(4, 8);  // 4 accesses of 8 bytes
  ports.begin_cycle(1);             // one taken by a write
  CHECK(ports.take(9) == 9);        // two accesses
  CHECK(ports.left() == 8);
  CHECK(ports.take(20) == 8);
  CHECK(ports.take(1) == 0);
  ports.begin_cycle();
  CHECK(ports.left() == 32);

  // 3 accesses per cycle; bursts of 40 B = 5 words writable from cycles 10 and 11.
  arch::LandingWrites landing(3, 8);
  landing.add(10, 40);
  landing.add(11, 40);
  CHECK(landing.take(9) == 0);
  CHECK(landing.take(10) == 3);
  CHECK(landing.take(11) == 3);  // 2 left of the first + 5 of the second, 3 per cycle
  CHECK(landing.backlog() == 4);
  CHECK(landing.take(14) == 0);  // cycles 12 and 13 drained the rest with nothing else competing
  CHECK_THROWS_WITH(landing.add(12, 8), Catch::Contains("already accounted"));
}

TEST_CASE("Two engines sharing the weight ports: fixed priority and round robin, derived by hand",
          "[cycle_mode][contention]") {
  // m 1, n 2, k 80 on MAT pe 8, lanes 2, replicas 1: one group of 10 waves, each fetching 8 activation
  // bytes (one access of the 4) and 16 weight bytes (both accesses of the 2). Alone: a wave per cycle,
  // cycles = 10 + (7 - 1) = 16. Together the weight ports serve one wave per cycle in total.
  {
    // Fixed priority: a takes the weight ports every cycle and ends as if alone; b fetches nothing for 10
    // cycles (10 port stalls), then a wave per cycle: 10 + 10 + 6 = 26.
    const arch::AccelConfig c = two_engines(2, 1, "fixed-priority");
    const arch::RunRecords r = run_cycle(two_tiles(c, 1, 2, 80, {}), c);
    CHECK(cycles_of(r.tiles[0]) == 16);
    CHECK(r.tiles[0].cost.stall_port == 0);
    CHECK(cycles_of(r.tiles[1]) == 26);
    CHECK(r.tiles[1].cost.stall_port == 10);
    CHECK(r.cycles == 26);
  }
  {
    // Round robin: the first served alternates (a in even cycles, b in odd), so a issues in cycles 0, 2,
    // ..., 18 and b in 1, 3, ..., 19: a ends at 18 + 6 (25 cycles, 9 stalls), b at 19 + 6 (26, 10 stalls).
    const arch::AccelConfig c = two_engines(2, 1, "round-robin");
    const arch::RunRecords r = run_cycle(two_tiles(c, 1, 2, 80, {}), c);
    CHECK(cycles_of(r.tiles[0]) == 25);
    CHECK(r.tiles[0].cost.stall_port == 9);
    CHECK(cycles_of(r.tiles[1]) == 26);
    CHECK(r.tiles[1].cost.stall_port == 10);
  }
}

TEST_CASE("Two engines sharing one requantizer: the starved engine's pipeline holds, derived by hand",
          "[cycle_mode][contention]") {
  // m 24, n 2, k 8 on MAT pe 8, lanes 2, replicas 2: G = 12 groups of one wave and 4 results; weight ports
  // 4 x 8 B, so the operands of both engines fit every cycle. The requantizer takes 4 results per cycle
  // (latency 1) for both engines together. Alone: a group per cycle, cycles = (12 - 1) + 1 + 6 + 1 + 1 = 20.
  const int64_t groups = 12;
  {
    // Fixed priority: a's chain takes the requantizer's 4 results in every cycle from 7 to 18, so b's first
    // group waits in the chain's input register, and b's second group, leaving the pipeline in cycle 7,
    // holds it until cycle 19: b runs 12 cycles behind a alone (32 cycles), stalled 12 cycles by the chain.
    const arch::AccelConfig c = two_engines(2, 2, "fixed-priority", 4);
    const arch::RunRecords r = run_cycle(two_tiles(c, 2 * groups, 2, 8, {c.aux_index("requantizer")}), c);
    CHECK(cycles_of(r.tiles[0]) == groups + 8);
    CHECK(r.tiles[0].cost.stall_aux == 0);
    CHECK(cycles_of(r.tiles[1]) == 2 * groups + 8);
    CHECK(r.tiles[1].cost.stall_aux == groups);
  }
  {
    // Round robin: b is served first in odd cycles, a in even ones, so each chain takes a group every
    // other cycle from cycle 7 (b) and 8 (a). Groups 0-6 issue in cycles 0-6; then each pipeline holds
    // every other cycle while its issue stage has the next group's operands: a holds in cycles 7, 9, ...,
    // 15 (5 stalls) and issues groups 7-11 in 8, 10, ..., 16; b holds in 8, ..., 14 (4) and issues in 7,
    // ..., 15. The chains take the last groups in cycles 30 (a) and 29 (b), out after the latency: a runs
    // 32 cycles, b 31.
    const arch::AccelConfig c = two_engines(2, 2, "round-robin", 4);
    const arch::RunRecords r = run_cycle(two_tiles(c, 2 * groups, 2, 8, {c.aux_index("requantizer")}), c);
    CHECK(cycles_of(r.tiles[0]) == 32);
    CHECK(r.tiles[0].cost.stall_aux == 5);
    CHECK(cycles_of(r.tiles[1]) == 31);
    CHECK(r.tiles[1].cost.stall_aux == 4);
  }
}

TEST_CASE("A unit starved by arbitration is named with the resource it waits for and who holds it",
          "[cycle_mode][watchdog]") {
  // a's 2,000-wave tile takes the weight ports every cycle under fixed priority; b gets none, and nothing
  // completes within the watchdog's 500 cycles.
  const arch::AccelConfig c = two_engines(2, 1, "fixed-priority");
  REQUIRE_THROWS_WITH(run_cycle(two_tiles(c, 1, 2, 16000, {}), c, 500),
                      Catch::Contains("no progress for 500 cycles") &&
                          Catch::Contains("b: running tile 1 of layer 'x'") &&
                          Catch::Contains("short of the weight buffer ports since cycle 0, held by a"));
}

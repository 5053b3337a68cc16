// Tile timing rules (arch/tile_timing.hpp): closed forms derived by hand on small tiles, the cycle-mode state
// machines held equal to the closed forms on random shapes, and the systolic engine against SCALE-Sim.
#include <catch2/catch.hpp>
#include <random>
#include <sstream>

#include "arch/engine_types.hpp"
#include "arch/tile_timing.hpp"
#include "sim/compile/inputs.hpp"

using namespace vitsim::arch;

namespace {

Resource engine_resource(const AccelConfig& config, const std::string& name) {
  for (size_t i = 0; i < config.engines.size(); ++i)
    if (config.engines[i].name == name) {
      Resource r;
      r.name = name;
      r.is_engine = true;
      r.engine = static_cast<int>(i);
      r.multipliers = config.engines[i].params->multipliers();
      return r;
    }
  FAIL("no engine " << name);
  return {};
}

Resource aux_resource(const AccelConfig& config, const std::string& type) {
  const int unit = config.aux_index(type);
  REQUIRE(unit >= 0);
  return Resource::for_aux(config, static_cast<size_t>(unit));
}

// The chain of auxiliary units of these types (indices into config.aux_units).
std::vector<int> units(const AccelConfig& config, const std::vector<std::string>& types) {
  std::vector<int> chain;
  for (const std::string& type : types) chain.push_back(aux_resource(config, type).aux);
  return chain;
}

ComputeTile gemm(int64_t m, int64_t n, int64_t k, std::vector<int> chain) {
  ComputeTile t;
  t.work = TileWork::Gemm;
  t.m = m, t.n = n, t.k = k;
  t.aux_chain = std::move(chain);
  return t;
}

ComputeTile depthwise(int64_t channels, int64_t pixels, int kernel, int stride, std::vector<int> chain) {
  ComputeTile t;
  t.work = TileWork::Depthwise;
  t.n = channels, t.m = pixels, t.k = int64_t{kernel} * kernel;
  t.kernel = kernel, t.stride = stride;
  t.aux_chain = std::move(chain);
  return t;
}

std::string describe(const TileCost& c) {
  std::ostringstream s;
  s << "{cycles " << c.cycles << ", stall_port " << c.stall_port << ", stall_aux " << c.stall_aux << "}";
  return s.str();
}

std::string describe(const GroupPipeline& g, const PortShare& ports, const AuxPath& aux) {
  std::ostringstream s;
  s << "groups " << g.groups << ", waves " << g.waves << ", act_bytes " << g.act_bytes << ", weight_bytes "
    << g.weight_bytes << ", depth " << g.depth << ", group_outputs " << g.group_outputs << "; ports act "
    << ports.act_bytes_per_cycle << " weight " << ports.weight_bytes_per_cycle << "; aux rate " << aux.rate
    << " latency " << aux.latency;
  return s.str();
}

// Steps until step() reports the last cycle (at most limit + 1 steps, so a stepper that never ends shows up
// as limit + 1 cycles); the counts must agree with the number of steps taken.
TileCost run(TileStepper& stepper, int64_t limit) {
  int64_t steps = 1;
  while (!stepper.step() && steps <= limit) ++steps;
  const TileCost c = stepper.counted();
  CHECK(c.cycles == steps);
  return c;
}

// The closed form and the state machine both give `expected`.
void check_tile(const AccelConfig& config, const Resource& resource, const ComputeTile& tile,
                const TileCost& expected) {
  INFO("expected " << describe(expected));
  CHECK(describe(tile_cost(config, resource, tile)) == describe(expected));
  CHECK(describe(run(*tile_stepper(config, resource, tile), expected.cycles)) == describe(expected));
}

TileCost cost(int64_t cycles, int64_t stall_port, int64_t stall_aux) {
  TileCost c;
  c.cycles = cycles, c.stall_port = stall_port, c.stall_aux = stall_aux;
  return c;
}

// Random values for the property tests (fixed seeds: every run checks the same shapes).
int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

PipelineLatency random_pipeline(std::mt19937_64& rng) {
  PipelineLatency p;
  p.fetch = static_cast<int>(pick(rng, 1, 3));
  p.multiply = static_cast<int>(pick(rng, 1, 3));
  p.accumulate = static_cast<int>(pick(rng, 1, 2));
  p.writeback = static_cast<int>(pick(rng, 1, 2));
  return p;
}

// Port shares from 1 byte per cycle (every wave stalls) to more than any wave here needs.
PortShare random_ports(std::mt19937_64& rng) {
  PortShare p;
  p.act_bytes_per_cycle = pick(rng, 0, 3) == 0 ? 4096 : pick(rng, 1, 64);
  p.weight_bytes_per_cycle = pick(rng, 0, 3) == 0 ? 4096 : pick(rng, 1, 64);
  return p;
}

// No chain a quarter of the time, else a chain from 1 element per cycle (slower than most arrays) to 128.
AuxPath random_aux(std::mt19937_64& rng) {
  static const int64_t rates[] = {1, 2, 3, 4, 6, 8, 16, 128};
  AuxPath a;
  if (pick(rng, 0, 3) == 0) return a;
  a.rate = rates[pick(rng, 0, 7)];
  a.latency = pick(rng, 0, 6);
  return a;
}

// Tallies how many random cases exercised each stall, so the property tests are known to cover them.
struct Coverage {
  int cases = 0, port_stalls = 0, aux_stalls = 0, no_chain = 0;
  void check(int min_cases) const {
    CHECK(cases >= min_cases);
    CHECK(port_stalls >= min_cases / 10);
    CHECK(aux_stalls >= min_cases / 10);
    CHECK(no_chain >= min_cases / 10);
  }
};

void check_stepper(const GroupPipeline& g, const PortShare& ports, const AuxPath& aux, Coverage& coverage) {
  INFO(describe(g, ports, aux));
  const TileCost closed = group_pipeline_cost(g, ports, aux);
  const TileCost stepped = run(*group_pipeline_stepper(g, ports, aux), closed.cycles);
  CHECK(describe(stepped) == describe(closed));
  ++coverage.cases;
  coverage.port_stalls += closed.stall_port > 0;
  coverage.aux_stalls += closed.stall_aux > 0;
  coverage.no_chain += aux.rate == 0;
}

}  // namespace

// small-test: MAT pe 4, lanes 4, replicas 2, pipeline stages 1 each; R-MAC pe 4, lanes 2, replicas 2.
// Port shares: activation 4 banks x 1 port x 4 B = 16 B/cycle, weight 2 x 1 x 4 = 8 B/cycle, each halved
// between the two engines: 8 B and 4 B per cycle.
// trio-vit: MAT and R-MAC pe 8, lanes 8, replicas 16, stages fetch 1 + multiply 2 + accumulate 1 +
// writeback 1 = 5. Port shares: activation 128 x 2 x 8 = 2048 / 2 = 1024 B, weight 16 x 2 x 8 = 256 / 2 =
// 128 B per cycle.

TEST_CASE("Tile timing: pointwise conv on MAT, weight-port bound (small-test)", "[tile_timing]") {
  const AccelConfig c = vitsim::sim::find_accel("small-test");
  // 1x1 conv, 12 -> 8 channels over 4 pixels, requantized (rate 2, latency 3).
  // groups = ceil(8 / 4 lanes) * ceil(4 / 2 replicas) = 4; waves = ceil(12 / 4 pe) = 3
  // wave operands: act 4 pe x 2 replicas = 8 B (1 cycle at 8 B), weight 4 pe x 4 lanes = 16 B (4 cycles
  // at 4 B) => p = 4; depth = 4 stages + ceil(log2 4) = 2 tree stages = 6
  // a = ceil(8 outputs / 2) = 4; T = max(3 x 4, 4) = 12
  // cycles = 3 x 12 + 12 + 5 + 4 + 3 = 60; stall_port = 4 x 3 x 3 = 36; stall_aux = 3 x (12 - 12) = 0
  check_tile(c, engine_resource(c, "mat"), gemm(4, 8, 12, units(c, {"requantizer"})), cost(60, 36, 0));
}

TEST_CASE("Tile timing: pointwise conv on MAT without stalls (trio-vit)", "[tile_timing]") {
  const AccelConfig c = vitsim::sim::find_accel("trio-vit");
  // 1x1 conv, 128 -> 64 channels over 14 x 14 = 196 pixels, requantizer + hswish (rate 128, latency 7).
  // groups = ceil(64 / 8) * ceil(196 / 16) = 8 x 13 = 104; waves = 128 / 8 = 16
  // act 8 x 16 = 128 B <= 1024, weight 8 x 8 = 64 B <= 128 => p = 1; depth = 5 + 3 = 8
  // a = ceil(128 / 128) = 1; T = max(16, 1) = 16
  // cycles = 103 x 16 + 16 + 7 + 1 + 7 = 1679; no stalls
  check_tile(c, engine_resource(c, "mat"), gemm(196, 64, 128, units(c, {"requantizer", "hswish"})),
             cost(1679, 0, 0));
}

TEST_CASE("Tile timing: depthwise 3x3 on R-MAC", "[tile_timing]") {
  const AccelConfig small = vitsim::sim::find_accel("small-test");
  // small-test, 8 channels x 10 output pixels, requantized (rate 2, latency 3).
  // groups = ceil(8 / 4 pe) * ceil(10 / (2 lanes x 2 replicas)) = 2 x 3 = 6; waves = 9 taps
  // act 4 x 2 x 2 = 16 B (2 cycles at 8 B), weight 4 B (1 cycle at 4 B) => p = 2; depth = 4 (no tree)
  // a = ceil(16 / 2) = 8; T = max(9 x 2, 8) = 18
  // cycles = 5 x 18 + 18 + 3 + 8 + 3 = 122; stall_port = 6 x 9 x 1 = 54
  check_tile(small, engine_resource(small, "rmac"), depthwise(8, 10, 3, 1, units(small, {"requantizer"})),
             cost(122, 54, 0));

  const AccelConfig trio = vitsim::sim::find_accel("trio-vit");
  // trio-vit, 64 channels x 196 pixels, stride 2 (the stride changes which pixels, not the count).
  // groups = ceil(64 / 8) * ceil(196 / 128) = 16; waves = 9; act 1024 B <= 1024, weight 8 B => p = 1
  // depth 5; a = ceil(1024 / 128) = 8; T = max(9, 8) = 9
  // cycles = 15 x 9 + 9 + 4 + 8 + 4 = 160; no stalls
  check_tile(trio, engine_resource(trio, "rmac"), depthwise(64, 196, 3, 2, units(trio, {"requantizer"})),
             cost(160, 0, 0));
}

TEST_CASE("Tile timing: attention head, V'K^T on R-MAC (assist) then (V'K^T)q on MAT", "[tile_timing]") {
  const AccelConfig small = vitsim::sim::find_accel("small-test");
  // small-test, head dim d = 4, N = 16 tokens.
  // V'K^T: (d + 1) x d = 5 x 4 outputs reducing K = N = 16, on R-MAC in the MAT arrangement, requantized.
  // groups = ceil(4 / 2 lanes) * ceil(5 / 2 replicas) = 6; waves = ceil(16 / 4) = 4
  // act 4 x 2 = 8 B (1 cycle), weight 4 x 2 = 8 B (2 cycles at 4 B) => p = 2; depth = 4 + 2 = 6
  // a = ceil(4 / 2) = 2; T = max(8, 2) = 8
  // cycles = 5 x 8 + 8 + 5 + 2 + 3 = 58; stall_port = 6 x 4 x 1 = 24
  check_tile(small, engine_resource(small, "rmac"), gemm(5, 4, 16, units(small, {"requantizer"})),
             cost(58, 24, 0));
  // o = (V'K^T) q: N = 16 tokens x (d + 1) = 5 outputs reducing d = 4, on MAT, through the requantizer and
  // the log2 quantizer (rate min(2, 1) = 1, latency 3 + 2 = 5): the chain is slower than the array.
  // groups = ceil(5 / 4) * ceil(16 / 2) = 16; waves = 1; weight 16 B at 4 B => p = 4; depth 6
  // a = ceil(8 / 1) = 8; T = max(4, 8) = 8
  // cycles = 15 x 8 + 4 + 5 + 8 + 5 = 142; stall_port = 16 x 1 x 3 = 48; stall_aux = 15 x (8 - 4) = 60
  check_tile(small, engine_resource(small, "mat"),
             gemm(16, 5, 4, units(small, {"requantizer", "log2_quantizer"})), cost(142, 48, 60));

  const AccelConfig trio = vitsim::sim::find_accel("trio-vit");
  // trio-vit, d = 16, N = 196. V'K^T on R-MAC: groups = ceil(16 / 8) * ceil(17 / 16) = 4,
  // waves = ceil(196 / 8) = 25, p = 1, depth 8, a = 1: cycles = 3 x 25 + 25 + 7 + 1 + 4 = 112
  check_tile(trio, engine_resource(trio, "rmac"), gemm(17, 16, 196, units(trio, {"requantizer"})),
             cost(112, 0, 0));
  // (V'K^T) q on MAT into the log2 quantizer (rate 16, latency 2): groups = ceil(17 / 8) * ceil(196 / 16)
  // = 39, waves = 2, p = 1, a = ceil(128 / 16) = 8, T = max(2, 8) = 8
  // cycles = 38 x 8 + 2 + 7 + 8 + 2 = 323; stall_aux = 38 x (8 - 2) = 228
  check_tile(trio, engine_resource(trio, "mat"), gemm(196, 17, 16, units(trio, {"log2_quantizer"})),
             cost(323, 0, 228));
}

TEST_CASE("Tile timing: GEMM on the systolic baseline", "[tile_timing]") {
  const AccelConfig c = vitsim::sim::find_accel("systolic-32x32-os");
  // 32 x 32 output stationary, 196 x 64 by 64 x 128: folds = ceil(196 / 32) x ceil(128 / 32) = 28, each
  // 32 + 32 + 64 - 2 = 126 cycles (= waves, p = 1, depth 1). Without a chain: 28 x 126 = 3528.
  check_tile(c, engine_resource(c, "sa"), gemm(196, 128, 64, {}), cost(3528, 0, 0));
  // Requantized (rate 16, latency 4): a = 1024 / 16 = 64 < 126 = T: 27 x 126 + 126 + 0 + 64 + 4 = 3596.
  check_tile(c, engine_resource(c, "sa"), gemm(196, 128, 64, units(c, {"requantizer"})), cost(3596, 0, 0));
}

TEST_CASE("Tile timing: elementwise tile on an auxiliary unit", "[tile_timing]") {
  ComputeTile add;
  add.work = TileWork::Elementwise;
  // small-test residual add (throughput 2, latency 2), 7 elements: ceil(7 / 2) + 2 = 6
  const AccelConfig small = vitsim::sim::find_accel("small-test");
  add.m = 7;
  check_tile(small, aux_resource(small, "residual_add"), add, cost(6, 0, 0));
  // trio-vit residual add (64 per cycle, latency 2), 64 channels x 196 pixels: 12544 / 64 + 2 = 198
  const AccelConfig trio = vitsim::sim::find_accel("trio-vit");
  add.m = 64 * 196;
  check_tile(trio, aux_resource(trio, "residual_add"), add, cost(198, 0, 0));
}

TEST_CASE("Tile timing: multi-pass units stream a tile's elements once per pass", "[tile_timing]") {
  const AccelConfig all = load_accel_config(std::string(VITSIM_TEST_DATA_DIR) + "/accel/all-units.json");
  ComputeTile rows;
  rows.work = TileWork::Elementwise;
  rows.m = 197 * 3;  // three rows of 197 tokens
  // layernorm (1 per cycle, latency 8): statistics and normalize passes, 2 x 591 + 8 = 1190
  check_tile(all, aux_resource(all, "layernorm"), rows, cost(2 * 591 + 8, 0, 0));
  // softmax (1 per cycle, latency 6): max, exp and sum, log2 encode: 3 x 591 + 6 = 1779
  check_tile(all, aux_resource(all, "softmax"), rows, cost(3 * 591 + 6, 0, 0));
  // residual_add (2 per cycle, latency 2), one pass: ceil(591 / 2) + 2 = 298
  check_tile(all, aux_resource(all, "residual_add"), rows, cost(296 + 2, 0, 0));
}

TEST_CASE("Tile timing: a resource rejects tiles it cannot run, naming both", "[tile_timing]") {
  const AccelConfig c = vitsim::sim::find_accel("trio-vit");
  const ComputeTile dw7 = depthwise(8, 8, 7, 1, {});
  CHECK_THROWS_WITH(tile_cost(c, engine_resource(c, "mat"), depthwise(8, 8, 3, 1, {})),
                    Catch::Contains("'mat'") && Catch::Contains("depthwise"));
  CHECK_THROWS_WITH(tile_stepper(c, engine_resource(c, "rmac"), dw7),
                    Catch::Contains("'rmac'") && Catch::Contains("kernel 7"));
  CHECK_THROWS_WITH(tile_cost(c, aux_resource(c, "hswish"), gemm(4, 4, 4, {})),
                    Catch::Contains("'hswish'") && Catch::Contains("gemm"));
  ComputeTile add;
  add.work = TileWork::Elementwise;
  add.m = 16;
  CHECK_THROWS_WITH(tile_cost(c, engine_resource(c, "mat"), add), Catch::Contains("'mat'"));
}

TEST_CASE("Tile timing: the stepper's state line follows the tile", "[tile_timing]") {
  GroupPipeline g;
  g.groups = 2, g.waves = 3, g.act_bytes = 4, g.weight_bytes = 4, g.depth = 4, g.group_outputs = 6;
  PortShare ports;
  ports.act_bytes_per_cycle = ports.weight_bytes_per_cycle = 4;  // p = 1
  AuxPath aux;
  aux.rate = 2, aux.latency = 1;  // a = 3
  const auto s = group_pipeline_stepper(g, ports, aux);
  CHECK(s->state() == "group 1/2 wave 1/3, 0 waves in flight, aux queue 0, results out 0/12");
  // A wave issued in cycle t is in stage 4 in cycle t + 3 and gone after it.
  int64_t cycle = 0;
  const auto step_to = [&](int64_t last) {
    for (; cycle < last; ++cycle) CHECK_FALSE(s->step());
  };
  step_to(5);
  // Cycles 1-3 issued group 1; cycles 4-5 waves 1-2 of group 2; the waves of cycles 1 and 2 have left.
  CHECK(s->state() == "group 2/2 wave 3/3, 3 waves in flight, aux queue 0, results out 0/12");
  step_to(7);
  // Cycle 6 issued the last wave; group 1's last wave left in cycle 6, and the chain took 2 of its 6
  // results in cycle 7.
  CHECK(s->state() == "all 2 groups issued, 2 waves in flight, aux queue 4, results out 0/12");
  step_to(12);
  // Group 2's last wave left in cycle 9, the chain took its results in cycles 10-12: the last leaves the
  // latency stage in cycle 13 = (2 - 1) x 3 + 3 + 3 + 3 + 1.
  CHECK(s->step());
  CHECK(describe(s->counted()) == describe(cost(13, 0, 0)));
  CHECK(s->state() == "all 2 groups issued, 0 waves in flight, aux queue 0, results out 12/12");
}

TEST_CASE("Tile timing: stepper == closed form on random MAT GEMM tiles", "[tile_timing][random]") {
  std::mt19937_64 rng(101);
  Coverage coverage;
  for (int i = 0; i < 300; ++i) {
    MatParams mat;
    mat.pe = static_cast<int>(pick(rng, 1, 16));
    mat.lanes = static_cast<int>(pick(rng, 1, 16));
    mat.replicas = static_cast<int>(pick(rng, 1, 8));
    mat.adder_tree_stages = ceil_log2(mat.pe);
    mat.pipeline = random_pipeline(rng);
    ComputeTile t = gemm(pick(rng, 1, 40), pick(rng, 1, 40), pick(rng, 1, 64), {});
    t.groups = pick(rng, 1, 3);
    CAPTURE(i, mat.summary(), t.groups, t.m, t.n, t.k);
    check_stepper(mat.group_pipeline(t), random_ports(rng), random_aux(rng), coverage);
  }
  coverage.check(300);
}

namespace {
RmacParams random_rmac(std::mt19937_64& rng) {
  RmacParams rmac;
  rmac.pe = static_cast<int>(pick(rng, 1, 16));
  rmac.lanes = static_cast<int>(pick(rng, 1, 8));
  rmac.replicas = static_cast<int>(pick(rng, 1, 4));
  rmac.pipeline = random_pipeline(rng);
  return rmac;
}
}  // namespace

TEST_CASE("Tile timing: stepper == closed form on random R-MAC depthwise tiles", "[tile_timing][random]") {
  std::mt19937_64 rng(202);
  Coverage coverage;
  for (int i = 0; i < 300; ++i) {
    const RmacParams rmac = random_rmac(rng);
    const int kernel = pick(rng, 0, 1) ? 5 : 3;
    const int stride = static_cast<int>(pick(rng, 1, 2));
    const ComputeTile t = depthwise(pick(rng, 1, 40), pick(rng, 1, 50), kernel, stride, {});
    CAPTURE(i, rmac.summary(), t.n, t.m, kernel, stride);
    REQUIRE(rmac.supports(t.work, kernel, stride));
    check_stepper(rmac.group_pipeline(t), random_ports(rng), random_aux(rng), coverage);
  }
  coverage.check(300);
}

TEST_CASE("Tile timing: stepper == closed form on random R-MAC assist GEMM tiles", "[tile_timing][random]") {
  std::mt19937_64 rng(303);
  Coverage coverage;
  for (int i = 0; i < 300; ++i) {
    const RmacParams rmac = random_rmac(rng);
    // Attention-like shapes: (d + 1) x d outputs reducing N tokens, or N x (d + 1) reducing d.
    const int64_t d = pick(rng, 1, 16), tokens = pick(rng, 1, 64);
    ComputeTile t = pick(rng, 0, 1) ? gemm(d + 1, d, tokens, {}) : gemm(tokens, d + 1, d, {});
    t.groups = pick(rng, 1, 2);
    CAPTURE(i, rmac.summary(), t.groups, t.m, t.n, t.k);
    check_stepper(rmac.group_pipeline(t), random_ports(rng), random_aux(rng), coverage);
  }
  coverage.check(300);
}

TEST_CASE("Tile timing: stepper == closed form on random systolic tiles", "[tile_timing][random]") {
  std::mt19937_64 rng(404);
  Coverage coverage;
  for (int i = 0; i < 300; ++i) {
    SystolicParams sa;
    sa.rows = static_cast<int>(pick(rng, 1, 16));
    sa.cols = static_cast<int>(pick(rng, 1, 16));
    sa.dataflow = static_cast<Dataflow>(pick(rng, 0, 2));
    ComputeTile t = gemm(pick(rng, 1, 16), pick(rng, 1, 16), pick(rng, 1, 16), {});
    t.groups = pick(rng, 1, 2);
    CAPTURE(i, sa.summary(), t.groups, t.m, t.n, t.k);
    // The systolic engine fetches no operands through the ports: only the chain can stall it.
    check_stepper(sa.group_pipeline(t), random_ports(rng), random_aux(rng), coverage);
  }
  CHECK(coverage.port_stalls == 0);
  coverage.port_stalls = coverage.cases;
  coverage.check(300);
}

TEST_CASE("Tile timing: elementwise stepper == closed form on random tiles", "[tile_timing][random]") {
  std::mt19937_64 rng(505);
  for (int i = 0; i < 300; ++i) {
    AuxUnitConfig unit;
    unit.throughput = static_cast<int>(pick(rng, 1, 16));
    unit.latency = static_cast<int>(pick(rng, 0, 20));
    const int64_t elements = pick(rng, 1, 500);
    CAPTURE(i, elements, unit.throughput, unit.latency);
    const TileCost closed = elementwise_cost(elements, unit);
    CHECK(describe(run(*elementwise_stepper(elements, unit), closed.cycles)) == describe(closed));
  }
}

TEST_CASE("Tile timing: random tiles through the config dispatchers agree in both modes",
          "[tile_timing][random]") {
  std::mt19937_64 rng(606);
  const std::vector<std::vector<std::string>> chains = {
      {}, {"requantizer"}, {"requantizer", "hswish"}, {"log2_quantizer"}};
  for (const char* name : {"small-test", "trio-vit", "systolic-32x32-os"}) {
    const AccelConfig c = vitsim::sim::find_accel(name);
    for (int i = 0; i < 100; ++i) {
      const EngineConfig& engine =
          c.engines[static_cast<size_t>(pick(rng, 0, static_cast<int64_t>(c.engines.size()) - 1))];
      const std::vector<int> chain = units(c, chains[static_cast<size_t>(pick(rng, 0, 3))]);
      ComputeTile t = engine.type == "rmac" && pick(rng, 0, 1)
                          ? depthwise(pick(rng, 1, 64), pick(rng, 1, 300), 3, 1, chain)
                          : gemm(pick(rng, 1, 64), pick(rng, 1, 64), pick(rng, 1, 64), chain);
      CAPTURE(name, i, engine.name, t.m, t.n, t.k, t.aux_chain.size());
      const TileCost closed = tile_cost(c, engine_resource(c, engine.name), t);
      CHECK(describe(run(*tile_stepper(c, engine_resource(c, engine.name), t), closed.cycles)) ==
            describe(closed));
    }
  }
}

TEST_CASE("Tile timing: a systolic tile without a chain is SCALE-Sim's total + 1", "[tile_timing][random]") {
  const nlohmann::json base =
      vitsim::quant::read_json_file(vitsim::sim::config_dir() + "/accel/systolic-32x32-os.json");
  std::mt19937_64 rng(707);
  const char* dataflows[] = {"os", "ws", "is"};
  for (int i = 0; i < 500; ++i) {
    nlohmann::json j = base;
    j["engines"][0]["rows"] = pick(rng, 1, 64);
    j["engines"][0]["cols"] = pick(rng, 1, 64);
    j["engines"][0]["dataflow"] = dataflows[pick(rng, 0, 2)];
    const AccelConfig c = parse_accel_config(j, "random systolic");
    const auto& sa = dynamic_cast<const SystolicParams&>(*c.engines[0].params);
    const ComputeTile t = gemm(pick(rng, 1, 300), pick(rng, 1, 300), pick(rng, 1, 300), {});
    CAPTURE(i, sa.summary(), t.m, t.k, t.n);
    const SystolicFoldTiming fold = systolic_fold_timing({t.m, t.k, t.n}, sa.array());
    const TileCost tile = tile_cost(c, engine_resource(c, "sa"), t);
    CHECK(tile.cycles == fold.cycles());
    CHECK(tile.cycles == fold.scalesim_total_cycles() + 1);
    CHECK(tile.stall_port + tile.stall_aux == 0);
  }
}

namespace {
// The example of docs/engines.md, "Mixed": pe 4, dsp_lanes 2, lut_lanes 1, replicas 2, unit stages, merge 1.
MixedParams small_mixed() {
  MixedParams p;
  p.pe = 4, p.dsp_lanes = 2, p.lut_lanes = 1, p.replicas = 2, p.merge_latency = 1;
  p.adder_tree_stages = ceil_log2(p.pe);
  return p;
}
// Output groups by dealing rows one pass at a time (each pass: up to dsp_lanes fixed rows and lut_lanes
// power-of-two rows), times the replicas' pixel blocks: the count the closed form must give.
int64_t dealt_groups(const MixedParams& p, int64_t n, int64_t pot_n, int64_t m) {
  int64_t fixed = n - pot_n, pot = pot_n, passes = 0;
  while (fixed > 0 || pot > 0) {
    fixed -= p.dsp_lanes, pot -= p.lut_lanes;
    ++passes;
  }
  int64_t pixel_blocks = 0;
  for (int64_t done = 0; done < m; done += p.replicas) ++pixel_blocks;
  return passes * pixel_blocks;
}
}  // namespace

TEST_CASE("Tile timing: the mixed engine deals fixed and power-of-two rows to its two lane kinds",
          "[tile_timing][mixed]") {
  const MixedParams p = small_mixed();
  const PortShare wide{1 << 20, 1 << 20};
  ComputeTile t = gemm(4, 6, 8, {});
  t.pot_n = 2;
  // groups = max(ceil(4 / 2), ceil(2 / 1)) x ceil(4 / 2) = 4; waves = ceil(8 / 4) = 2; depth = 4 + 2 + 1 = 7
  // act 4 x 2 = 8 B, weight 4 x (2 + 1) = 12 B; cycles = (4 - 1) x 2 + 2 + 6 = 14
  GroupPipeline g = p.group_pipeline(t);
  CHECK(g.groups == 4);
  CHECK(g.waves == 2);
  CHECK(g.depth == 7);
  CHECK(g.act_bytes == 8);
  CHECK(g.weight_bytes == 12);
  CHECK(g.group_outputs == 6);
  CHECK(group_pipeline_cost(g, wide, {}) == cost(14, 0, 0));
  // Four power-of-two rows: the one shift-add lane needs 4 passes, the DSP lanes 1: 8 groups, 22 cycles.
  t.pot_n = 4;
  CHECK(group_pipeline_cost(p.group_pipeline(t), wide, {}) == cost(22, 0, 0));
  // No power-of-two rows (a MatMul): the DSP lanes alone, ceil(6 / 2) = 3 passes: 6 groups, 18 cycles.
  t.pot_n = 0;
  CHECK(group_pipeline_cost(p.group_pipeline(t), wide, {}) == cost(18, 0, 0));
  // Any shape: the closed form's groups are the rows dealt pass by pass.
  std::mt19937_64 rng(77);
  for (int i = 0; i < 200; ++i) {
    MixedParams r = p;
    r.dsp_lanes = static_cast<int>(pick(rng, 1, 9));
    r.lut_lanes = static_cast<int>(pick(rng, 1, 9));
    r.replicas = static_cast<int>(pick(rng, 1, 5));
    ComputeTile x = gemm(pick(rng, 1, 30), pick(rng, 1, 40), pick(rng, 1, 20), {});
    x.pot_n = pick(rng, 0, x.n);
    CAPTURE(i, r.summary(), x.m, x.n, x.pot_n);
    CHECK(r.group_pipeline(x).groups == dealt_groups(r, x.n, x.pot_n, x.m));
  }
}

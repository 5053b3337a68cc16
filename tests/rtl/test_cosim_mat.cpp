// Co-simulation of the MAT engine (docs/rtl.md): random GEMM tiles (shapes, int8 data, random stalls on
// the operand port and the output) into the RTL and into vitsim's model of the engine: the group pipeline
// stepper of MatParams::group_pipeline (the cycle of every operand beat and output beat) and the PE-chunked
// dot product of arch/functional.hpp plus the requantizer of quant/int_ops.hpp (every output value).
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <vector>

#include "Vmat_bus.h"
#include "Vmat_small.h"
#include "Vmat_trio.h"
#include "arch/accel_config.hpp"
#include "arch/engine_types.hpp"
#include "arch/functional.hpp"
#include "arch/tile_timing.hpp"
#include "cosim.hpp"
#include "quant/int_ops.hpp"

using namespace vitsim;
using rtl::Divergence;

namespace {

constexpr int kTiles = 1000;

// The engine an RTL model implements, its port shares and its chain (rate 0: none).
struct MatSetup {
  arch::MatParams params;
  arch::PortShare ports;
  arch::AuxPath chain;
};

#define VITSIM_MAT_SETUP(P)                                                                      \
  [] {                                                                                           \
    MatSetup made;                                                                               \
    made.params.pe = P##_PE, made.params.lanes = P##_LANES, made.params.replicas = P##_REPLICAS; \
    made.params.adder_tree_stages = arch::ceil_log2(P##_PE);                                     \
    made.params.pipeline = {P##_FETCH, P##_MULTIPLY, P##_ACCUMULATE, P##_WRITEBACK};             \
    made.ports = {P##_ACT_SHARE, P##_WEIGHT_SHARE};                                              \
    made.chain = {P##_CHAIN_RATE, P##_CHAIN_RATE > 0 ? P##_CHAIN_LATENCY : 0};                   \
    return made;                                                                                 \
  }()

// A random GEMM tile: m x k activations times k x n weights (int8), zero-padded to whole groups and waves.
struct GemmTile {
  int64_t m, n, k;
  std::vector<int8_t> a, w;  // a[row * k + i], w[i * n + col]
  quant::Requantizer rq;
  int32_t zp = 0;
  int8_t act(int64_t row, int64_t i) const {
    return row < m && i < k ? a[static_cast<size_t>(row * k + i)] : 0;
  }
  int8_t weight(int64_t i, int64_t col) const {
    return i < k && col < n ? w[static_cast<size_t>(i * n + col)] : 0;
  }
};

GemmTile random_tile(const arch::MatParams& p, std::mt19937_64& rng) {
  GemmTile t;
  t.m = std::uniform_int_distribution<int64_t>(1, 3 * p.replicas)(rng);
  t.n = std::uniform_int_distribution<int64_t>(1, 3 * p.lanes)(rng);
  t.k = std::uniform_int_distribution<int64_t>(1, 6 * p.pe)(rng);
  std::uniform_int_distribution<int> code(-128, 127);
  t.a.resize(static_cast<size_t>(t.m * t.k));
  t.w.resize(static_cast<size_t>(t.k * t.n));
  for (int8_t& v : t.a) v = static_cast<int8_t>(code(rng));
  for (int8_t& v : t.w) v = static_cast<int8_t>(code(rng));
  t.rq = quant::requantizer_for(std::exp2(std::uniform_real_distribution<double>(-14, -6)(rng)));
  t.zp = code(rng);
  return t;
}

// Runs `tiles` random tiles on the RTL model and on vitsim's model of `setup` (whose GroupPipeline
// `mutate` may alter, to show a changed model is caught), with random operand-port stalls if
// `input_stalls` and random output stalls if the engine has no chain. Returns the first divergence, or "".
template <class Model>
std::string cosimulate_mat(const MatSetup& setup, bool input_stalls, int tiles, uint64_t seed,
                           void (*mutate)(arch::GroupPipeline&) = nullptr) {
  auto context = std::make_unique<VerilatedContext>();
  Model m{context.get()};
  std::mt19937_64 rng(seed);
  Divergence d;
  const arch::MatParams& p = setup.params;
  const bool chain = setup.chain.rate > 0;
  for (int t = 0; t < tiles && !d.found(); ++t) {
    const GemmTile tile = random_tile(p, rng);
    arch::ComputeTile work;
    work.m = tile.m, work.n = tile.n, work.k = tile.k;
    arch::GroupPipeline g = p.group_pipeline(work);
    const int64_t pixel_blocks = arch::ceil_div(tile.m, p.replicas), waves = arch::ceil_div(tile.k, p.pe);
    if (mutate) mutate(g);
    const auto model = arch::group_pipeline_stepper(g, setup.ports, setup.chain);

    // vitsim's values, in output order: group by group (channel blocks outer, pixel blocks inner), each
    // group's results replica-major; through the requantizer when there is a chain.
    std::vector<int64_t> expected;
    for (int64_t group = 0; group < g.groups; ++group)
      for (int64_t r = 0; r < p.replicas; ++r)
        for (int64_t l = 0; l < p.lanes; ++l) {
          const int64_t row = (group % pixel_blocks) * p.replicas + r,
                        col = (group / pixel_blocks) * p.lanes + l;
          const int64_t sum = arch::pe_chunked_dot(
              waves * p.pe, p.pe, [&](int64_t i) { return int64_t{tile.act(row, i)} * tile.weight(i, col); });
          expected.push_back(chain ? quant::int_ops::requantize_code(sum, tile.rq, tile.zp, 8) : sum);
        }

    rtl::reset(m);
    m.cfg_groups = static_cast<uint16_t>(g.groups);
    m.cfg_waves = static_cast<uint16_t>(waves);
    m.cfg_multiplier = static_cast<uint32_t>(tile.rq.multiplier);
    m.cfg_shift = static_cast<uint8_t>(tile.rq.shift);
    m.cfg_zero_point = static_cast<uint16_t>(tile.zp);
    rtl::Stalls input(rng), output(rng);
    int64_t wave = 0;  // the wave whose operands the port is delivering (all waves of all groups, in order)
    size_t received = 0;
    const int64_t limit = 8 * g.groups * (g.waves * 8 + g.depth + g.group_outputs) + 64;
    bool done = false;
    for (int64_t cycle = 1; !done && !d.found(); ++cycle) {
      d.at(t, cycle);
      if (cycle > limit) {
        d.fail("the tile did not end within " + std::to_string(limit) + " cycles");
        break;
      }
      const bool valid = !input_stalls || input.go(), ready = chain || output.go();
      const int64_t group = wave / waves, w = wave % waves;
      for (int64_t r = 0; r < p.replicas; ++r)
        for (int64_t i = 0; i < p.pe; ++i)
          rtl::put_bits(
              m.op_act, static_cast<int>((r * p.pe + i) * 8), 8,
              static_cast<uint8_t>(tile.act((group % pixel_blocks) * p.replicas + r, w * p.pe + i)));
      for (int64_t l = 0; l < p.lanes; ++l)
        for (int64_t i = 0; i < p.pe; ++i)
          rtl::put_bits(
              m.op_wgt, static_cast<int>((l * p.pe + i) * 8), 8,
              static_cast<uint8_t>(tile.weight(w * p.pe + i, (group / pixel_blocks) * p.lanes + l)));
      m.op_valid = valid;
      m.out_ready = ready;
      m.eval();
      done = model->step({valid, ready});
      d.check("operand beat taken (op_valid && op_ready)", m.op_valid && m.op_ready, model->took_input());
      const int64_t beat = m.out_valid && m.out_ready ? m.out_count : 0;
      d.check("output beat (results if out_valid && out_ready)", beat, model->beat_results());
      for (int64_t i = 0; i < beat && received + static_cast<size_t>(i) < expected.size(); ++i)
        d.check("out_data lane " + std::to_string(i) + " (result " + std::to_string(received + i) + ")",
                rtl::signed_bits(m.out_data, static_cast<int>(i) * 32, 32),
                expected[received + static_cast<size_t>(i)]);
      d.check("overflow (a group reached the busy write-back buffer)", m.overflow, 0);
      received += static_cast<size_t>(beat);
      if (m.wave_taken) ++wave;
      rtl::clock(m);
    }
    d.check("results of the tile", static_cast<int64_t>(received), static_cast<int64_t>(expected.size()));
  }
  return d.first();
}

const arch::AccelConfig& config(const std::string& name) {
  static std::map<std::string, arch::AccelConfig> configs;
  auto it = configs.find(name);
  if (it == configs.end())
    it = configs.emplace(name, arch::load_accel_config(std::string(VITSIM_CONFIG_DIR) + "/" + name + ".json"))
             .first;
  return it->second;
}

// The RTL's parameters are the named config's MAT engine, port shares and requantizer (if any).
void require_config(const MatSetup& s, const std::string& name) {
  const arch::AccelConfig& c = config(name);
  const auto& mat = dynamic_cast<const arch::MatParams&>(*c.engine("mat")->params);
  REQUIRE(mat.to_json() == s.params.to_json());
  const arch::PortShare ports = arch::port_share(c);
  REQUIRE(ports.act_bytes_per_cycle == s.ports.act_bytes_per_cycle);
  REQUIRE(ports.weight_bytes_per_cycle == s.ports.weight_bytes_per_cycle);
  if (s.chain.rate > 0) {
    const arch::AuxPath chain = arch::aux_path(c, {arch::AuxKind::Requantizer});
    REQUIRE(chain.rate == s.chain.rate);
    REQUIRE(chain.latency == s.chain.latency);
  }
}

}  // namespace

TEST_CASE("RTL MAT (trio-vit.json, requantizer chain) == vitsim on 1,000 random tiles", "[rtl]") {
  const MatSetup s = VITSIM_MAT_SETUP(VMAT_TRIO);
  require_config(s, "trio-vit");
  CHECK(cosimulate_mat<Vmat_trio>(s, true, kTiles, 14101) == "");
}

TEST_CASE("RTL MAT (small-test.json, port stalls, int32 outputs, output stalls) == vitsim on 1,000 tiles",
          "[rtl]") {
  const MatSetup s = VITSIM_MAT_SETUP(VMAT_SMALL);
  require_config(s, "small-test");
  CHECK(cosimulate_mat<Vmat_small>(s, true, kTiles, 14102) == "");
}

TEST_CASE("RTL MAT with a chain slower than the engine (aux stalls) == vitsim on 1,000 random tiles",
          "[rtl]") {
  // No operand-port stalls: vitsim's write-back bus rule spaces group starts, which keeps a slow chain's
  // input to one group only while every wave's fetch takes the same p cycles (docs/rtl.md, "Findings").
  CHECK(cosimulate_mat<Vmat_bus>(VITSIM_MAT_SETUP(VMAT_BUS), false, kTiles, 14103) == "");
}

TEST_CASE("A one-cycle change to the engine's cycle model makes the MAT co-simulation fail", "[rtl]") {
  // One more pipeline stage in the model than in the RTL: the first group's output beat comes a cycle late.
  const std::string deeper = cosimulate_mat<Vmat_trio>(VITSIM_MAT_SETUP(VMAT_TRIO), true, 5, 14104,
                                                       [](arch::GroupPipeline& g) { ++g.depth; });
  INFO(deeper);
  CHECK(deeper.find("tile 0, cycle ") == 0);
  CHECK(deeper.find("output beat") != std::string::npos);
  // One more port cycle per wave (a wave's weights needing one byte more than the share delivers).
  const std::string slower = cosimulate_mat<Vmat_small>(VITSIM_MAT_SETUP(VMAT_SMALL), true, 5, 14105,
                                                        [](arch::GroupPipeline& g) { ++g.weight_bytes; });
  INFO(slower);
  CHECK(slower.find("tile 0, cycle ") == 0);
}

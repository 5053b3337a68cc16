// P²-ViT's accelerator (configs/accel/p2-vit.json; docs/engines.md, "P²-ViT's sub-processors" and
// "Pipelining switches"): the closed forms of the PS-MAC and shifter arrays on small tiles, derived by hand;
// A·V on the shifter array and everything else on the PS-MAC; the shift-only requantizer refusing a
// multiplier; bit exact runs of the p2vit recipes on real bytes; and what each pipelining switch changes in
// the emitted program and its cycles.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "arch/tile_timing.hpp"
#include "functional_support.hpp"
#include "quant/dataset.hpp"
#include "quant/onnx_import.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim;

arch::Resource engine(const arch::AccelConfig& c, const std::string& name) {
  for (size_t e = 0; e < c.engines.size(); ++e)
    if (c.engines[e].name == name) return arch::Resource::for_engine(c, e);
  FAIL("no engine " << name);
  return {};
}

arch::ComputeTile gemm(const arch::AccelConfig& c, int64_t m, int64_t n, int64_t k, int weight_bits) {
  arch::ComputeTile t;
  t.work = arch::TileWork::Gemm;
  t.m = m, t.n = n, t.k = k;
  t.weight_bits = weight_bits;
  t.aux_chain = {c.aux_index("requant_shifter")};
  return t;
}

arch::TileCost cost(int64_t cycles, int64_t stall_aux) {
  arch::TileCost c;
  c.cycles = cycles;
  c.stall_aux = stall_aux;
  return c;
}

// The trained ViT fixture (tests/data/fashion_vit/, docs/fixture.md) quantized on 2 synthetic images.
quant::QGraph fixture(const std::string& recipe) {
  const quant::Graph g = quant::import_onnx(std::string(VITSIM_TEST_DATA_DIR) + "/fashion_vit/model.onnx");
  const auto calib = quant::synthetic_images(2, g.nodes[0].out_shape, 9).images;
  return quant::quantize_graph(g, quant::find_recipe(recipe, test::config_dir() + "/quant"), calib);
}

// p2-vit with its pipelining switches set; without a resident region every operand is loaded from DRAM.
arch::AccelConfig p2vit(bool inter, bool intra, bool resident = true) {
  nlohmann::json j = quant::read_json_file(test::config_dir() + "/accel/p2-vit.json");
  j["pipelining"] = {{"inter_layer", inter}, {"intra_layer", intra}};
  if (!resident) j["buffers"]["activation"]["resident_bytes"] = 0;
  return arch::parse_accel_config(j, "p2-vit");
}

}  // namespace

TEST_CASE("P2-ViT: PS-MAC and shifter-array tiles take the output-group pipeline's closed form",
          "[tile_timing][p2vit]") {
  const arch::AccelConfig c = sim::find_accel("p2-vit");
  const arch::PortShare ports = arch::port_share(c);
  // Two engines share the ports: activation 128 banks x 2 x 8 B / 2 = 1,024 B, weight 64 x 2 x 8 / 2 = 512 B.
  REQUIRE(ports.act_bytes_per_cycle == 1024);
  REQUIRE(ports.weight_bytes_per_cycle == 512);
  // PS-MAC 16 x 16 x 16, stages 1 + 2 + 1 + 1 and a 4-stage adder tree: depth 9. requant_shifter: rate 128,
  // latency 2. A 20 x 24 output reducing 40, 8-bit weights: groups ceil(24 / 16) x ceil(20 / 16) = 4, waves
  // ceil(40 / 16) = 3, a wave 16 x 16 = 256 activation and 256 weight bytes (p = 1), 256 outputs per group
  // (a = 2), T = max(3, 2) = 3: cycles = 3 x 3 + 3 + 8 + 2 + 2 = 24, no stalls.
  CHECK(arch::tile_cost(c, engine(c, "ps_mac"), gemm(c, 20, 24, 40, 8)) == cost(24, 0));
  // 4-bit weights: a lane computes 2 features, so groups ceil(24 / 32) x 2 = 2, a wave reads 512 weight
  // codes (p = 1 at 512 B), 512 outputs per group (a = 4), T = max(3, 4) = 4, so the second group waits
  // 1 cycle for the chain: cycles = 1 x 4 + 3 + 8 + 4 + 2 = 21, stall_aux = 1 x (4 - 3) = 1.
  CHECK(arch::tile_cost(c, engine(c, "ps_mac"), gemm(c, 20, 24, 40, 4)) == cost(21, 1));
  // The shifter array 16 x 8 x 4, stages 1 + 1 + 1 + 1 and 4 tree stages: depth 8; weight bits do not
  // matter. A 20 x 12 output reducing 40: groups ceil(12 / 8) x ceil(20 / 4) = 10, waves 3, a wave 64 + 128
  // bytes (p = 1), 32 outputs per group (a = 1), T = 3: cycles = 9 x 3 + 3 + 7 + 1 + 2 = 40.
  CHECK(arch::tile_cost(c, engine(c, "shifters"), gemm(c, 20, 12, 40, 4)) == cost(40, 0));
  CHECK(arch::tile_cost(c, engine(c, "shifters"), gemm(c, 20, 12, 40, 8)) == cost(40, 0));
  // No DSPs for the shifters or the shift-only requantizer: 4,096 multipliers / 2 + Softmax 128 +
  // LayerNorm 64. The 512 shifters are product units all the same (peak GOPS, MAC utilization).
  CHECK(c.multipliers() == 4096 + 512);
  CHECK(c.dsp_multipliers() == 4096);
  CHECK(c.dsps() == 2048 + 128 + 64);
}

TEST_CASE("P2-ViT: the ViT fixture runs bit exact, A·V on the shifters, and a multiplier is refused",
          "[functional][p2vit]") {
  const arch::AccelConfig c = sim::find_accel("p2-vit");
  const int ps_mac = 0, shifters = 1;
  for (const std::string recipe : {"p2vit-w8a8", "p2vit-w4a8"}) {
    const quant::QGraph q = fixture(recipe);
    for (const bool ideal : {false, true}) {
      const arch::Program p = sim::compile(q, c, {ideal});
      int64_t av_tiles = 0, gemm_tiles = 0;
      for (const arch::ComputeTile& t : p.tiles) {
        if (t.work != arch::TileWork::Gemm) continue;
        const bool av =
            q.nodes[static_cast<size_t>(q.graph.nodes[static_cast<size_t>(t.layer)].inputs[0])].out.log2;
        CHECK(t.resource == (av ? shifters : ps_mac));
        (av ? av_tiles : gemm_tiles) += 1;
        if (q.graph.nodes[static_cast<size_t>(t.layer)].op == quant::OpKind::Linear)
          CHECK(t.weight_bits == q.nodes[static_cast<size_t>(t.layer)].weight_bits);
      }
      CHECK(av_tiles > 0);
      CHECK(gemm_tiles > 0);
      const test::BytesOutcome out = test::run_bytes(q, c, p, quant::synthetic_input(q.graph, 5));
      INFO(recipe << (ideal ? ", ideal memory: " : ": ") << out.first);
      CHECK(out.total == 0);
    }
  }
  // vit-w8a8's requantizers multiply: the shift-only unit refuses the first layer that needs one.
  const quant::QGraph multiplies = fixture("vit-w8a8");
  CHECK_THROWS_AS(sim::compile(multiplies, c, {}), sim::MappingError);
  CHECK_THROWS_WITH(sim::compile(multiplies, c, {}),
                    Catch::Matchers::StartsWith("layer '") &&
                        Catch::Matchers::Contains("the requant_shifter unit of config 'p2-vit' only shifts"));
}

TEST_CASE("P2-ViT: each pipelining switch changes the emitted waits, and never slows the chains",
          "[compiler][p2vit]") {
  const quant::QGraph q = fixture("p2vit-w8a8");
  const quant::Graph& g = q.graph;
  const int qk = g.find("blocks.0.attn.matmul_qk"), softmax = g.find("blocks.0.attn.softmax");
  REQUIRE(qk >= 0);
  REQUIRE(softmax >= 0);
  const int64_t heads = g.nodes[static_cast<size_t>(qk)].out_shape[0];
  REQUIRE(heads > 2);

  // Inter-layer: Softmax's first tile (head 0) loads after the stores of head 0's Q·Kᵀ tiles only; without
  // it, after every Q·Kᵀ store. The chain is emitted head by head (skewed by a head per stage): Softmax's
  // head-0 tile comes before Q·Kᵀ's last head.
  auto first_softmax_load_waits = [&](const arch::Program& p) {
    for (const arch::ComputeTile& t : p.tiles)
      if (t.layer == softmax) {
        REQUIRE(t.wait_transfers.size() == 1);
        return p.transfers[static_cast<size_t>(t.wait_transfers[0])].wait_transfers.size();
      }
    FAIL("no Softmax tile");
    return size_t{0};
  };
  auto first_index = [](const arch::Program& p, int layer, int64_t head) {
    for (size_t i = 0; i < p.tiles.size(); ++i)
      if (p.tiles[i].layer == layer && p.tiles[i].region.c0 == head) return static_cast<int64_t>(i);
    return int64_t{-1};
  };
  const arch::Program off = sim::compile(q, p2vit(false, true)), on = sim::compile(q, p2vit(true, true));
  int64_t qk_tiles = 0, qk_head0 = 0;
  for (const arch::ComputeTile& t : on.tiles)
    if (t.layer == qk) qk_tiles += 1, qk_head0 += t.region.c0 == 0;
  CHECK(first_softmax_load_waits(off) == static_cast<size_t>(qk_tiles));
  CHECK(first_softmax_load_waits(on) == static_cast<size_t>(qk_head0));
  CHECK(first_index(off, softmax, 0) > first_index(off, qk, heads - 1));
  CHECK(first_index(on, softmax, 0) < first_index(on, qk, heads - 1));

  // Intra-layer: a tile's loads wait for the tile two positions earlier on its resource (double buffering),
  // or, switched off, for the previous one (without a resident region, so that every tile loads).
  const arch::Program single = sim::compile(q, p2vit(true, false, false)),
                      double_buffered = sim::compile(q, p2vit(true, true, false));
  // The distances (1: the previous tile, 2: the one before) at which the PS-MAC's activation loads wait.
  auto reuse_distances = [&](const arch::Program& p) {
    std::set<size_t> distances;
    const std::vector<int>& queue = p.queues[0];  // the PS-MAC's
    for (size_t i = 2; i < queue.size(); ++i)
      for (int x : p.tiles[static_cast<size_t>(queue[i])].wait_transfers) {
        const arch::Transfer& load = p.transfers[static_cast<size_t>(x)];
        if (load.dir != arch::TransferDir::Load || load.buffer != arch::BufferKind::Activation) continue;
        for (size_t d : {size_t{1}, size_t{2}})
          if (std::count(load.wait_tiles.begin(), load.wait_tiles.end(), queue[i - d])) distances.insert(d);
      }
    return distances;
  };
  CHECK(reuse_distances(double_buffered) == std::set<size_t>{2});
  CHECK(reuse_distances(single) == std::set<size_t>{1});

  // Cycles: each switch never slows the attention chain (Q·Kᵀ's first to A·V's last cycle) nor the image,
  // and inter-layer pipelining makes the attention chain strictly faster.
  const int av = g.find("blocks.0.attn.matmul_av");
  auto run = [&](bool inter, bool intra) {
    const sim::SimReport r = sim::simulate(q, p2vit(inter, intra), {});
    return std::pair{r.layers[static_cast<size_t>(av)].end - r.layers[static_cast<size_t>(qk)].start + 1,
                     r.cycles};
  };
  const auto neither = run(false, false), inter = run(true, false), intra = run(false, true),
             both = run(true, true);
  CHECK(inter.first < neither.first);
  CHECK(both.first < intra.first);
  CHECK(intra.first <= neither.first);
  CHECK(both.first <= inter.first);
  CHECK(both.second <= intra.second);
  CHECK(both.second <= inter.second);
  CHECK(intra.second <= neither.second);
  CHECK(inter.second <= neither.second);
}

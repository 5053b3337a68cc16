// Standard ViTs (DeiT) on the accelerators (issue 15, part 4; docs/engines.md, "Mapping standard ViTs"):
// every op of DeiT-T/S/B maps onto a unit of vit-gemm and of the systolic preset; the ViT units' tiles take
// the closed form of the elementwise rule, which the per-cycle stepper reproduces; a config without the
// unit a step needs is a MappingError naming the op and the type; and deit-tiny quantized with vit-w8a8 runs
// bit exact on real bytes, while a broken datapath does not.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "arch/tile_timing.hpp"
#include "functional_support.hpp"
#include "quant/dataset.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim;
using quant::OpKind;

arch::AccelConfig accel(const std::string& name) {
  return arch::load_accel_config(test::config_dir() + "/accel/" + name + ".json");
}

nlohmann::json accel_json(const std::string& name) {
  return quant::read_json_file(test::config_dir() + "/accel/" + name + ".json");
}

// A DeiT graph with default quantizers: what a timing-only compile reads (shapes, element widths, and an
// i-GELU activation, as vit-w8a8 quantizes it).
quant::QGraph deit_structure(const std::string& model) {
  quant::QGraph q;
  q.graph = quant::build_model(model, 224);
  q.nodes.resize(q.graph.nodes.size());
  return q;
}

// The tile of `layer` (the only one, or the first) in `p`.
const arch::ComputeTile& first_tile(const arch::Program& p, const quant::Graph& g, const std::string& layer) {
  const int index = g.find(layer);
  REQUIRE(index >= 0);
  for (const arch::ComputeTile& t : p.tiles)
    if (t.layer == index) return t;
  FAIL("no tile of " << layer);
  return p.tiles.front();
}

int64_t tiles_of(const arch::Program& p, int layer) {
  int64_t n = 0;
  for (const arch::ComputeTile& t : p.tiles) n += t.layer == layer;
  return n;
}

}  // namespace

TEST_CASE("Every op of DeiT-T/S/B maps onto the units of vit-gemm and the systolic preset",
          "[compiler][vit]") {
  for (const std::string model : {"deit-tiny", "deit-small", "deit-base"}) {
    const quant::QGraph q = deit_structure(model);
    for (const std::string name : {"vit-gemm", "systolic-32x32-os"}) {
      const arch::AccelConfig c = accel(name);
      const arch::Program p = sim::compile(q, c);
      REQUIRE_NOTHROW(p.validate());
      INFO(model << " on " << name);
      for (size_t l = 1; l < q.graph.nodes.size(); ++l) {
        const quant::Node& n = q.graph.nodes[l];
        INFO(n.name);
        CHECK(tiles_of(p, static_cast<int>(l)) > 0);
        for (const arch::ComputeTile& t : p.tiles) {
          if (t.layer != static_cast<int>(l)) continue;
          const arch::Resource& r = p.resources[static_cast<size_t>(t.resource)];
          const bool gemm = n.op == OpKind::Conv2d || n.op == OpKind::Linear || n.op == OpKind::MatMul;
          CHECK(r.is_engine == gemm);
          if (gemm) continue;
          const std::map<OpKind, std::string> unit{
              {OpKind::LayerNorm, "layernorm"},  {OpKind::Softmax, "softmax"},
              {OpKind::Add, "residual_add"},     {OpKind::PatchTokens, "token_ops"},
              {OpKind::ClassToken, "token_ops"}, {OpKind::PosEmbed, "token_ops"},
              {OpKind::HeadSplit, "token_ops"},  {OpKind::HeadMerge, "token_ops"},
              {OpKind::TokenSelect, "token_ops"}};
          CHECK(r.name == unit.at(n.op));
        }
      }
      // The fc1 layers' output chain: the requantizer, then the gelu unit.
      const arch::ComputeTile& fc1 = first_tile(p, q.graph, "blocks.0.mlp.fc1");
      REQUIRE(fc1.aux_chain.size() == 2);
      CHECK(c.aux_units[static_cast<size_t>(fc1.aux_chain[1])].type == "gelu");
    }
  }
}

TEST_CASE("The ViT units' tiles take the elementwise rule's closed form, which the stepper reproduces",
          "[tile_timing][vit]") {
  const quant::QGraph q = deit_structure("deit-tiny");
  const arch::AccelConfig c = accel("vit-gemm");
  const arch::Program p = sim::compile(q, c);
  auto cycles = [&](const std::string& layer) {
    const arch::ComputeTile& t = first_tile(p, q.graph, layer);
    return arch::tile_cost(c, p.resources[static_cast<size_t>(t.resource)], t).cycles;
  };
  // Worked by hand in docs/engines.md: layernorm (16 per cycle, latency 16, two passes) over 197 x 192;
  // softmax (32, 12, three passes) over 3 heads of 197 x 197; token_ops (64, 2, one pass) over 197 x 192.
  CHECK(first_tile(p, q.graph, "blocks.0.norm1").m == 197 * 192);
  CHECK(cycles("blocks.0.norm1") == (2 * 197 * 192 + 15) / 16 + 16);
  CHECK(cycles("blocks.0.norm1") == 4744);
  CHECK(first_tile(p, q.graph, "blocks.0.attn.softmax").m == 3 * 197 * 197);
  CHECK(cycles("blocks.0.attn.softmax") == 10928);
  CHECK(cycles("pos_embed") == 593);
  // Small cases of each unit's closed form, then the stepper against it on every ViT tile of DeiT-T.
  for (const auto& [unit, elements, expected] :
       {std::tuple{"layernorm", 1, 1 + 16}, std::tuple{"layernorm", 8, 1 + 16},
        std::tuple{"layernorm", 9, 2 + 16}, std::tuple{"softmax", 32, 3 + 12},
        std::tuple{"softmax", 11, 2 + 12}, std::tuple{"token_ops", 65, 2 + 2},
        std::tuple{"token_ops", 64, 1 + 2}}) {
    const arch::AuxUnitConfig& a = c.aux(unit);
    INFO(unit << " x " << elements);
    CHECK(arch::elementwise_cost(elements * a.params->passes(), a).cycles == expected);
  }
  int64_t checked = 0;
  for (const arch::ComputeTile& t : p.tiles) {
    const arch::Resource& r = p.resources[static_cast<size_t>(t.resource)];
    if (r.is_engine) continue;
    const arch::TileCost closed = arch::tile_cost(c, r, t);
    auto stepper = arch::tile_stepper(c, r, t);
    int64_t stepped = 1;
    while (!stepper->step()) ++stepped;
    CHECK(stepped == closed.cycles);
    ++checked;
  }
  // One tile per non-GEMM layer: patch tokens, class token, position embedding; 12 blocks of norm1, head
  // split, softmax, head merge, add, norm2, add; the final norm and the class-token select.
  CHECK(checked == 3 + 12 * 7 + 2);
}

TEST_CASE("A DeiT step no unit of the config performs is a MappingError naming the op and the unit type",
          "[compiler][vit]") {
  const quant::QGraph q = deit_structure("deit-tiny");
  for (const auto& [unit, message] :
       {std::pair{"token_ops",
                  "layer 'patch_embed.tokens' (patch_tokens, 196x192): op patch_tokens needs its "
                  "token-move step on an auxiliary unit of type token_ops, and config 'cut' has none"},
        std::pair{"layernorm",
                  "layer 'blocks.0.norm1' (layernorm, 197x192): op layernorm needs its layernorm "
                  "step on an auxiliary unit of type layernorm, and config 'cut' has none"},
        std::pair{"softmax",
                  "layer 'blocks.0.attn.softmax' (softmax, 3x197x197): op softmax needs its softmax "
                  "step on an auxiliary unit of type softmax, and config 'cut' has none"},
        std::pair{"gelu",
                  "layer 'blocks.0.mlp.fc1' (linear, 197x768): op linear needs its gelu step on an "
                  "auxiliary unit of type gelu, and config 'cut' has none"}}) {
    nlohmann::json j = accel_json("vit-gemm");
    j["name"] = "cut";
    j["aux_units"].erase(unit);
    CHECK_THROWS_MATCHES(sim::compile(q, arch::parse_accel_config(j, "cut")), sim::MappingError,
                         Catch::Message(message));
  }
  // A GELU table unit does not run I-BERT's polynomial GELU.
  nlohmann::json j = accel_json("vit-gemm");
  j["aux_units"]["gelu"]["method"] = "table";
  CHECK_THROWS_MATCHES(
      sim::compile(q, arch::parse_accel_config(j, "table")), sim::MappingError,
      Catch::Message("layer 'blocks.0.mlp.fc1' (linear, 197x768): op linear needs its gelu "
                     "step, and the gelu unit of config 'vit-gemm' is a 256-entry table, and "
                     "the layer's GELU is I-BERT's polynomial"));
}

TEST_CASE("deit-tiny (vit-w8a8) runs bit exact on vit-gemm's real bytes, and a broken datapath is found",
          "[functional][vit]") {
  const quant::QGraph q = test::quantize(quant::build_model("deit-tiny", 112), "vit-w8a8", 2);
  const arch::AccelConfig c = accel("vit-gemm");
  const quant::Tensor image = quant::synthetic_input(q.graph, 5);
  for (const bool ideal : {false, true}) {
    const arch::Program p = sim::compile(q, c, {ideal});
    const test::BytesOutcome out = test::run_bytes(q, c, p, image);
    INFO((ideal ? "ideal memory: " : "") << out.first);
    CHECK(out.total == 0);
  }
  const arch::Program p = sim::compile(q, c);
  // Mutation: the attention x V MatMul skips its requantization on one tile (the log2-shift path).
  const int av = q.graph.find("blocks.0.attn.matmul_av");
  const int av_tile = static_cast<int>(&first_tile(p, q.graph, "blocks.0.attn.matmul_av") - p.tiles.data());
  test::BytesOutcome out = test::run_bytes(q, c, p, image, av_tile);
  CHECK(out.mismatches[static_cast<size_t>(av)] > 0);
  CHECK_THAT(out.first, Catch::StartsWith("layer 'blocks.0.attn.matmul_av'"));
  // Mutation: the token_ops unit adds a position embedding other than the executor's.
  quant::QGraph shifted = q;
  const int pos = q.graph.find("pos_embed");
  for (int32_t& v : shifted.nodes[static_cast<size_t>(pos)].const_codes) v += 1000;
  out = test::run_bytes(shifted, c, p, image, -1, &q);
  CHECK(out.mismatches[static_cast<size_t>(pos)] > 0);
  CHECK_THAT(out.first, Catch::StartsWith("layer 'pos_embed'"));
}

TEST_CASE("vitsim run and simulate give a DeiT vit-w8a8 on vit-gemm unless told otherwise", "[cli][vit]") {
  test::TempDir dir("vit", "defaults");
  const std::string vqg = dir.file("deit.vqg");
  const test::Run run =
      test::run_vitsim({"run", "--model", "deit-tiny", "--calib-count", "1", "--save-qgraph", vqg});
  INFO(run.err);
  REQUIRE(run.code == 0);
  CHECK_THAT(run.out, Catch::Contains("deit-tiny @224, vit-w8a8 on vit-gemm (fast timing)"));
  const test::Run simulate = test::run_vitsim({"simulate", "--qgraph", vqg});
  CHECK(simulate.code == 0);
  CHECK_THAT(simulate.out, Catch::Contains("vit-w8a8 on vit-gemm"));
  const test::Run systolic = test::run_vitsim({"simulate", "--qgraph", vqg, "--accel", "systolic-32x32-os"});
  CHECK(systolic.code == 0);
  CHECK_THAT(systolic.out, Catch::Contains("vit-w8a8 on systolic-32x32-os"));
  // trio-vit, named, has no unit for the token ops: exit 2 with one line naming the layer and the type.
  const test::Run trio = test::run_vitsim({"simulate", "--qgraph", vqg, "--accel", "trio-vit"});
  CHECK(trio.code == 2);
  CHECK_THAT(trio.err,
             Catch::Contains("op patch_tokens needs its token-move step on an auxiliary unit of type "
                             "token_ops, and config 'trio-vit' has none"));
}

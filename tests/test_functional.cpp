// Functional simulation (arch/functional.hpp): every layer cut into random tiles (random channel and pixel
// splits, the tile kinds the compiler emits), executed in graph order, must reproduce the integer reference
// executor bit for bit, on the trained Fashion-MNIST fixture and on EfficientViT-B0 with synthetic weights.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "arch/functional.hpp"
#include "quant/dataset.hpp"
#include "quant/int_executor.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"

namespace {

using namespace vitsim::quant;
using vitsim::arch::ComputeTile;
using vitsim::arch::FunctionalModel;
using vitsim::arch::Region;
using vitsim::arch::TileWork;

const std::string kDataDir = VITSIM_TEST_DATA_DIR;
const std::string kRecipeDir = kDataDir + "/../../configs/quant";

// 0 = b0 < b1 < ... < bn = extent: 1 to 4 random pieces (fewer when the extent is smaller).
std::vector<int64_t> random_cuts(int64_t extent, std::mt19937& rng) {
  const int64_t pieces = std::min<int64_t>(extent, std::uniform_int_distribution<int64_t>(1, 4)(rng));
  std::vector<int64_t> inner(static_cast<size_t>(extent - 1));
  for (size_t i = 0; i < inner.size(); ++i) inner[i] = static_cast<int64_t>(i) + 1;
  std::shuffle(inner.begin(), inner.end(), rng);
  std::vector<int64_t> cuts(inner.begin(), inner.begin() + pieces - 1);
  cuts.push_back(0);
  cuts.push_back(extent);
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

bool depthwise(const Node& n) {
  return n.op == OpKind::Conv2d && n.groups == n.in_features && n.groups == n.out_features;
}

// The work of a tile of `node` over `r`, as the compiler describes it (the functional model reads only the
// kind and the region; the dimensions are filled for realism).
ComputeTile make_tile(const QGraph& q, int layer, const Region& r, TileWork work) {
  const Node& n = q.graph.nodes[static_cast<size_t>(layer)];
  ComputeTile t;
  t.layer = layer;
  t.work = work;
  t.region = r;
  const int64_t channels = r.c1 - r.c0, pixels = r.p1 - r.p0;
  t.m = pixels;
  t.n = channels;
  t.kernel = n.kernel;
  t.stride = n.stride;
  if (work == TileWork::Elementwise) {
    t.m = channels * pixels;
  } else if (n.op == OpKind::Conv2d) {
    t.k = n.in_features / n.groups * n.kernel * n.kernel;
    if (depthwise(n) && work == TileWork::Gemm) {
      t.groups = channels;
      t.n = 1;
    }
  } else if (n.op == OpKind::Linear) {
    t.k = n.in_features;
  } else if (n.op == OpKind::MatMul) {
    t.groups = channels;
    t.m = n.out_shape[1];
    t.n = pixels;
    t.k = n.in_features;
  }
  return t;
}

// Every computed layer in graph order, each cut into random regions (a float_layernorm Linear: Gemm tiles,
// then its one LayerNorm tile over the whole output). Depthwise convs alternate between the depthwise
// datapath and GEMM tiles with one group per channel.
std::vector<ComputeTile> random_tiles(const QGraph& q, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<ComputeTile> tiles;
  for (size_t l = 1; l < q.graph.nodes.size(); ++l) {
    const Node& n = q.graph.nodes[l];
    if (n.op == OpKind::Concat) continue;  // layout only
    const int layer = static_cast<int>(l);
    const vitsim::arch::RegionSpace space = vitsim::arch::region_space(n);
    const bool aux = n.op == OpKind::Add || n.op == OpKind::AttnKernel || n.op == OpKind::AttnNormalize ||
                     n.op == OpKind::GlobalAvgPool;
    const TileWork work =
        aux ? TileWork::Elementwise : (depthwise(n) && l % 2 ? TileWork::Depthwise : TileWork::Gemm);
    std::vector<ComputeTile> layer_tiles;
    const std::vector<int64_t> cs = random_cuts(space.channels, rng), ps = random_cuts(space.pixels, rng);
    for (size_t i = 0; i + 1 < cs.size(); ++i)
      for (size_t j = 0; j + 1 < ps.size(); ++j)
        layer_tiles.push_back(make_tile(q, layer, Region{cs[i], cs[i + 1], ps[j], ps[j + 1]}, work));
    std::shuffle(layer_tiles.begin(), layer_tiles.end(), rng);
    tiles.insert(tiles.end(), layer_tiles.begin(), layer_tiles.end());
    if (n.op == OpKind::Linear && q.nodes[l].float_layernorm)
      tiles.push_back(make_tile(q, layer, Region{0, space.channels, 0, space.pixels}, TileWork::Elementwise));
  }
  return tiles;
}

// Runs the tiles and requires every layer to equal the integer executor; names the first bad layer.
void require_bit_exact(const QGraph& q, const Tensor& image, uint32_t seed) {
  const QTensor input = quantize_input(q, image);
  const std::vector<QTensor> golden = run_int_all(q, input);
  FunctionalModel model(q, input);
  const std::vector<ComputeTile> tiles = random_tiles(q, seed);
  for (const ComputeTile& t : tiles) model.execute(t);
  const std::vector<int64_t> bad = model.mismatches(golden);
  const auto first = std::find_if(bad.begin(), bad.end(), [](int64_t c) { return c != 0; });
  const size_t at = static_cast<size_t>(first - bad.begin());
  INFO(tiles.size() << " tiles; first mismatching layer: "
                    << (first == bad.end() ? std::string("none")
                                           : q.graph.nodes[at].name + " (" + std::to_string(*first) + " of " +
                                                 std::to_string(golden[at].data.size()) + " codes)"));
  CHECK(first == bad.end());
}

// The trained fixture, quantized with `recipe`, calibrated on its first reference image.
struct Fixture {
  QGraph q;
  Tensor image;
};

Fixture fashion_fixture(const std::string& recipe) {
  const Graph g = import_onnx(kDataDir + "/fashion_evit/model.onnx");
  Tensor image(g.nodes[0].out_shape);
  std::ifstream in(kDataDir + "/fashion_evit/input.bin", std::ios::binary);
  in.read(reinterpret_cast<char*>(image.data.data()), static_cast<std::streamsize>(image.data.size() * 4));
  REQUIRE(in.gcount() == static_cast<std::streamsize>(image.data.size() * 4));
  return {quantize_graph(g, find_recipe(recipe, kRecipeDir), {image}), image};
}

QGraph efficientvit_b0(const std::string& recipe, int resolution) {
  Graph g = build_model("efficientvit-b0", resolution);
  materialize_synthetic_weights(g, 3);
  const auto calib = synthetic_images(2, g.nodes[0].out_shape, 11).images;
  return quantize_graph(g, find_recipe(recipe, kRecipeDir), calib);
}

}  // namespace

TEST_CASE("Functional model: trained fixture, trio-w8a8, random tiles are bit exact", "[functional]") {
  const Fixture f = fashion_fixture("trio-w8a8");
  require_bit_exact(f.q, f.image, 1);
}

TEST_CASE("Functional model: EfficientViT-B0 at 96, trio-w8a8, random tiles are bit exact", "[functional]") {
  const QGraph q = efficientvit_b0("trio-w8a8", 96);
  require_bit_exact(q, synthetic_input(q.graph, 9), 2);
}

TEST_CASE("Functional model: EfficientViT-B0 at 64, naive-w8a8, random tiles are bit exact", "[functional]") {
  const QGraph q = efficientvit_b0("naive-w8a8", 64);
  require_bit_exact(q, synthetic_input(q.graph, 9), 3);
}

TEST_CASE("Functional model: one wrong code is reported in its layer only: bad tiles are rejected",
          "[functional]") {
  const Fixture f = fashion_fixture("trio-w8a8");
  const QTensor input = quantize_input(f.q, f.image);
  std::vector<QTensor> golden = run_int_all(f.q, input);
  FunctionalModel model(f.q, input);
  for (const ComputeTile& t : random_tiles(f.q, 4)) model.execute(t);

  // One code of a middle layer differs: that layer counts 1, every other layer 0.
  const size_t layer = f.q.graph.nodes.size() / 2;
  golden[layer].data[golden[layer].data.size() / 3] += 1;
  const std::vector<int64_t> bad = model.mismatches(golden);
  INFO("corrupted layer " << f.q.graph.nodes[layer].name);
  for (size_t l = 0; l < bad.size(); ++l) CHECK(bad[l] == (l == layer ? 1 : 0));

  // A tile kind the layer cannot have, a region outside the output, an incomplete input.
  const int add = [&] {
    for (size_t l = 0; l < f.q.graph.nodes.size(); ++l)
      if (f.q.graph.nodes[l].op == OpKind::Add) return static_cast<int>(l);
    return -1;
  }();
  REQUIRE(add > 0);
  CHECK_THROWS_AS(model.execute(make_tile(f.q, add, Region{0, 1, 0, 1}, TileWork::Gemm)),
                  std::invalid_argument);
  CHECK_THROWS_AS(model.execute(make_tile(f.q, add, Region{0, 1, 0, 1 << 20}, TileWork::Elementwise)),
                  std::invalid_argument);
  // A tile that runs before its inputs are computed (a scheduling bug) is not caught by execute(): its
  // outputs come out wrong and mismatches() reports them, in that layer only.
  FunctionalModel fresh(f.q, input);
  const vitsim::arch::RegionSpace space =
      vitsim::arch::region_space(f.q.graph.nodes[static_cast<size_t>(add)]);
  fresh.execute(make_tile(f.q, add, Region{0, space.channels, 0, space.pixels}, TileWork::Elementwise));
  const std::vector<int64_t> premature = fresh.mismatches(run_int_all(f.q, input));
  CHECK(premature[static_cast<size_t>(add)] > 0);
  for (size_t l = 1; l < premature.size(); ++l) {
    INFO("layer " << l << " of " << f.q.graph.nodes[l].name);
    const bool computed = static_cast<int>(l) == add;
    // Every other layer computed nothing, so each of its elements counts.
    if (!computed) CHECK(premature[l] == vitsim::quant::numel(f.q.graph.nodes[l].out_shape));
  }
}

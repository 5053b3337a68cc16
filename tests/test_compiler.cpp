// The compiler / mapper: every EfficientViT-B0/B1 layer maps onto the shipped configs, the program is
// well formed, tiles cover each layer's output once with the layer's MACs and fit their buffer slots,
// DW -> PW fusion and the attention head pipeline follow docs/engines.md, and impossible mappings fail
// with messages that name the layer and what it lacks.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "arch/tile_timing.hpp"
#include "quant/dataset.hpp"
#include "quant/json_reader.hpp"
#include "quant/ptq.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;
using arch::BufferKind;
using arch::TileWork;
using arch::TransferDir;
using quant::OpKind;

namespace {
const std::string kConfigDir = std::string(VITSIM_TEST_DATA_DIR) + "/../../configs";

quant::QGraph quantized(const std::string& model) {
  quant::Graph g = quant::build_model(model, 224);
  quant::materialize_synthetic_weights(g, 3);
  const auto calib = quant::synthetic_images(2, g.nodes[0].out_shape, 11).images;
  return quant::quantize_graph(g, quant::find_recipe("trio-w8a8", kConfigDir + "/quant"), calib);
}

arch::AccelConfig accel(const std::string& name) {
  return arch::load_accel_config(kConfigDir + "/accel/" + name + ".json");
}

nlohmann::json accel_json(const std::string& name) {
  return quant::read_json_file(kConfigDir + "/accel/" + name + ".json");
}

// A layer's output as regions index it: axis 0 extent x the extent of the region's pixel axis.
std::pair<int64_t, int64_t> region_extent(const quant::Node& n) {
  const quant::Shape& s = n.out_shape;
  switch (n.op) {
    case OpKind::MatMul:
    case OpKind::AttnKernel:
      return {s[0], s[2]};
    case OpKind::AttnNormalize:
      return {s[0] / n.head_dim, s[1] * s[2]};
    case OpKind::Linear:
      return s.size() == 1 ? std::pair<int64_t, int64_t>{s[0], 1} : std::pair<int64_t, int64_t>{s[1], s[0]};
    default:
      return {s[0], quant::numel(s) / s[0]};
  }
}

bool is_layernorm_tile(const quant::Graph& g, const arch::ComputeTile& t) {
  return g.nodes[static_cast<size_t>(t.layer)].op == OpKind::Linear && t.work == TileWork::Elementwise;
}

bool has_store(const arch::Program& p, int layer) {
  for (const arch::Transfer& x : p.transfers)
    if (x.layer == layer && x.dir == TransferDir::Store) return true;
  return false;
}

std::set<int> resident_layers(const arch::Program& p) {
  std::set<int> layers;
  for (const arch::Allocation& a : p.memory_plan)
    if (a.space == arch::Allocation::Space::Activation) layers.insert(a.layer);
  return layers;
}

// The memory plan: resident outputs lie in the resident region on whole bank rows, no two that are alive at
// once share a byte, a resident output is never stored, and a tile that writes a range an earlier output
// held waits for every tile that read that output.
void check_memory_plan(const quant::QGraph& q, const arch::AccelConfig& config, const arch::Program& p) {
  const arch::BufferConfig& act = config.buffer(BufferKind::Activation);
  const int64_t row = int64_t{act.banks} * act.word_bytes;
  std::vector<arch::Allocation> resident;
  for (const arch::Allocation& a : p.memory_plan)
    if (a.space == arch::Allocation::Space::Activation) resident.push_back(a);
  if (act.resident_bytes == 0) CHECK(resident.empty());
  for (const arch::Allocation& a : resident) {
    INFO("resident output of " << q.graph.nodes[static_cast<size_t>(a.layer)].name);
    CHECK(a.offset % row == 0);
    CHECK(a.bytes % row == 0);
    CHECK(a.offset + a.bytes <= act.resident_bytes);
    CHECK(a.bytes >= quant::numel(q.graph.nodes[static_cast<size_t>(a.layer)].out_shape));
    CHECK_FALSE(has_store(p, a.layer));
  }
  for (const arch::Allocation& a : resident)
    for (const arch::Allocation& b : resident) {
      if (a.layer >= b.layer || a.offset >= b.offset + b.bytes || b.offset >= a.offset + a.bytes) continue;
      INFO(q.graph.nodes[static_cast<size_t>(a.layer)].name
           << " and " << q.graph.nodes[static_cast<size_t>(b.layer)].name);
      REQUIRE(a.last_layer < b.first_layer);  // overlapping ranges: one lifetime ends before the other begins
      for (size_t reader = 0; reader < q.graph.nodes.size(); ++reader) {
        // It reads a's output directly, or through a Concat.
        bool reads = false;
        for (int in : q.graph.nodes[reader].inputs) {
          const auto& via = q.graph.nodes[static_cast<size_t>(in)];
          reads = reads || in == a.layer ||
                  (via.op == OpKind::Concat && std::count(via.inputs.begin(), via.inputs.end(), a.layer));
        }
        if (!reads) continue;
        for (size_t w = 0; w < p.tiles.size(); ++w) {
          if (p.tiles[w].layer != b.layer) continue;
          for (size_t r = 0; r < p.tiles.size(); ++r)
            if (p.tiles[r].layer == static_cast<int>(reader)) {
              // It waits for the reader tile, or for a later tile of the same resource queue (which runs
              // after it).
              const auto& waits = p.tiles[w].wait_tiles;
              CHECK(std::any_of(waits.begin(), waits.end(), [&](int x) {
                return p.tiles[static_cast<size_t>(x)].resource == p.tiles[r].resource &&
                       x >= static_cast<int>(r);
              }));
            }
        }
      }
    }
}

// Structure, coverage, MACs and slot fit of a compiled program.
void check_program(const quant::QGraph& q, const arch::AccelConfig& config, const arch::Program& p,
                   bool ideal) {
  REQUIRE_NOTHROW(p.validate());
  const quant::Graph& g = q.graph;
  REQUIRE(p.layer_names.size() == g.nodes.size());
  std::vector<std::vector<int>> by_layer(g.nodes.size());
  for (size_t t = 0; t < p.tiles.size(); ++t)
    by_layer[static_cast<size_t>(p.tiles[t].layer)].push_back(static_cast<int>(t));

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const quant::Node& n = g.nodes[i];
    INFO("layer " << n.name);
    if (n.op == OpKind::Input || n.op == OpKind::Concat) {
      CHECK(by_layer[i].empty());
      continue;
    }
    REQUIRE(!by_layer[i].empty());
    const auto [channels, pixels] = region_extent(n);
    std::vector<int> covered(static_cast<size_t>(channels * pixels), 0);
    int64_t macs = 0;
    for (int t : by_layer[i]) {
      const arch::ComputeTile& tile = p.tiles[static_cast<size_t>(t)];
      macs += tile.macs;
      if (is_layernorm_tile(g, tile)) {
        CHECK(tile.region.c1 - tile.region.c0 == channels);
        continue;
      }
      const arch::Region& r = tile.region;
      REQUIRE(0 <= r.c0);
      REQUIRE(r.c0 < r.c1);
      REQUIRE(r.c1 <= channels);
      REQUIRE(0 <= r.p0);
      REQUIRE(r.p0 < r.p1);
      REQUIRE(r.p1 <= pixels);
      for (int64_t c = r.c0; c < r.c1; ++c)
        for (int64_t px = r.p0; px < r.p1; ++px) ++covered[static_cast<size_t>(c * pixels + px)];
    }
    CHECK(std::count(covered.begin(), covered.end(), 1) == static_cast<long>(covered.size()));
    CHECK(macs == n.macs());
  }

  if (ideal) {
    CHECK(p.transfers.empty());
    // Ideal memory keeps every tensor in DRAM (functional simulation reads and writes it there).
    for (const arch::Allocation& a : p.memory_plan) CHECK(a.space == arch::Allocation::Space::Dram);
    return;
  }
  check_memory_plan(q, config, p);
  // Slot fit, recomputed: the loads each tile waits for (per buffer), every store, and each conv /
  // Linear tile's weights and outputs from its region.
  const int64_t act_slot = sim::slot_bytes(config, BufferKind::Activation);
  const int64_t weight_slot = sim::slot_bytes(config, BufferKind::Weight);
  const int64_t out_slot = sim::slot_bytes(config, BufferKind::Output);
  for (const arch::Transfer& x : p.transfers)
    if (x.dir == TransferDir::Store) CHECK(x.bytes <= out_slot);
  for (const arch::ComputeTile& t : p.tiles) {
    std::map<BufferKind, int64_t> loaded;
    for (int x : t.wait_transfers) {
      const arch::Transfer& tr = p.transfers[static_cast<size_t>(x)];
      if (tr.dir == TransferDir::Load && tr.layer == t.layer) loaded[tr.buffer] += tr.bytes;
    }
    CHECK(loaded[BufferKind::Activation] <= act_slot);
    CHECK(loaded[BufferKind::Weight] <= weight_slot);
    const quant::Node& n = g.nodes[static_cast<size_t>(t.layer)];
    const quant::QNode& qn = q.nodes[static_cast<size_t>(t.layer)];
    if ((n.op == OpKind::Conv2d || n.op == OpKind::Linear) && !is_layernorm_tile(g, t)) {
      const int64_t channels = t.region.c1 - t.region.c0, px = t.region.p1 - t.region.p0;
      const int64_t per_channel = n.in_features / n.groups * n.kernel * n.kernel;
      CHECK(channels * per_channel + 4 * channels <= weight_slot);
      if (!resident_layers(p).count(t.layer))  // a resident output is written to its range, not a slot
        CHECK(channels * px * (qn.float_layernorm ? 4 : config.element_bytes(qn.out.bits)) <= out_slot);
    }
  }
}

int resource_index(const arch::Program& p, const std::string& name) {
  for (size_t r = 0; r < p.resources.size(); ++r)
    if (p.resources[r].name == name) return static_cast<int>(r);
  return -1;
}

std::vector<int> tiles_of(const arch::Program& p, int layer) {
  std::vector<int> tiles;
  for (size_t t = 0; t < p.tiles.size(); ++t)
    if (p.tiles[t].layer == layer) tiles.push_back(static_cast<int>(t));
  return tiles;
}

// Whether the tile's output chain passes the shift subtractor.
bool has_shift(const arch::Program& p, const arch::ComputeTile& t) {
  for (const arch::Resource& r : p.resources)
    if (!r.is_engine && r.name == "shift_subtractor")
      return std::count(t.aux_chain.begin(), t.aux_chain.end(), r.aux) > 0;
  return false;
}

// MBConv / DSConv depthwise layers (the aggregation dw of LiteMLA feeds a grouped conv: never fused).
std::vector<int> mbconv_depthwise(const quant::Graph& g) {
  std::vector<int> layers;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].label() == "dw3x3" && g.nodes[i].name.find("aggreg") == std::string::npos)
      layers.push_back(static_cast<int>(i));
  return layers;
}

// small-test's buffers (4 KiB activations) cannot hold one Linear input row of the classifier head or one
// attention head at 224; this keeps its engines and ratios with buffers large enough for those.
arch::AccelConfig small_test_scaled() {
  nlohmann::json j = accel_json("small-test");
  for (auto& [key, buffer] : j["buffers"].items())
    if (key != "divisor") buffer["capacity_bytes"] = buffer["capacity_bytes"].get<int64_t>() * 64;
  return arch::parse_accel_config(j, "small-test x64");
}
}  // namespace

// Calls `byte` for every DRAM byte of a transfer's runs.
template <class F>
void for_each_run_byte(const arch::Transfer& t, const F& byte) {
  for (const arch::RunSet& r : t.runs)
    for (int64_t k = 0; k < r.count; ++k)
      for (int64_t b = 0; b < r.run_bytes; ++b) byte(static_cast<size_t>(r.dram_address + k * r.stride + b));
}

// The DRAM layout holds together: the stores of every stored layer write each byte of its range exactly
// once, and every byte a load reads is the input image, a weight, or a byte a store wrote.
void check_dram_bytes(const arch::Program& p) {
  size_t end = 0;
  for (const arch::Allocation& a : p.memory_plan)
    if (a.space == arch::Allocation::Space::Dram)
      end = std::max(end, static_cast<size_t>(a.offset + a.bytes));
  std::vector<uint8_t> writes(end, 0), readable(end, 0);
  for (const arch::Allocation& a : p.memory_plan)
    if (a.space == arch::Allocation::Space::Dram &&
        (a.tensor == arch::Allocation::Tensor::Weights || a.layer == 0))
      std::fill_n(readable.begin() + a.offset, a.bytes, 1);
  for (const arch::Transfer& t : p.transfers)
    if (t.dir == TransferDir::Store) for_each_run_byte(t, [&](size_t b) { ++writes[b], readable[b] = 1; });
  for (const arch::Allocation& a : p.memory_plan) {
    if (a.space != arch::Allocation::Space::Dram || a.tensor != arch::Allocation::Tensor::Output ||
        a.layer == 0)
      continue;
    INFO("layer " << p.layer_names[static_cast<size_t>(a.layer)]);
    CHECK(std::count(writes.begin() + a.offset, writes.begin() + a.offset + a.bytes, 1) == a.bytes);
  }
  int64_t unreadable = 0;
  for (const arch::Transfer& t : p.transfers)
    if (t.dir == TransferDir::Load) for_each_run_byte(t, [&](size_t b) { unreadable += readable[b] == 0; });
  CHECK(unreadable == 0);
}

TEST_CASE("EfficientViT-B0 at 224 maps onto every shipped config", "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  for (const std::string name : {"trio-vit", "systolic-32x32-os"}) {
    INFO(name);
    const arch::AccelConfig config = accel(name);
    const arch::Program p = sim::compile(q, config);
    check_program(q, config, p, false);
    check_dram_bytes(p);
    check_program(q, config, sim::compile(q, config, {true}), true);
  }
  const arch::AccelConfig small = accel("small-test");
  check_program(q, small, sim::compile(q, small, {true}), true);
  const arch::AccelConfig scaled = small_test_scaled();
  const arch::Program p_scaled = sim::compile(q, scaled);
  check_program(q, scaled, p_scaled, false);
  check_dram_bytes(p_scaled);
}

TEST_CASE("EfficientViT-B1 at 224 maps onto every shipped config", "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b1");
  for (const std::string name : {"trio-vit", "systolic-32x32-os"}) {
    INFO(name);
    const arch::AccelConfig config = accel(name);
    const arch::Program p = sim::compile(q, config);
    check_program(q, config, p, false);
    check_dram_bytes(p);
    check_program(q, config, sim::compile(q, config, {true}), true);
    WARN(name << ": " << p.tiles.size() << " tiles, " << p.load_queue.size() << " loads, "
              << p.store_queue.size() << " stores");
  }
  const arch::AccelConfig small = accel("small-test");
  check_program(q, small, sim::compile(q, small, {true}), true);
  const arch::AccelConfig scaled = small_test_scaled();
  const arch::Program p_scaled = sim::compile(q, scaled);
  check_program(q, scaled, p_scaled, false);
  check_dram_bytes(p_scaled);
}

// The tile-shape search tries its candidates best bound first, stops when no bound can beat the best trial,
// and its trials leave out what they do not count (sim/compile/compiler.cpp, least_traffic_blocking): it must
// compile, byte for byte, the program of trying every candidate in full. Random configs: test_properties.
TEST_CASE("EfficientViT-B1 at 224: the bounded tile-shape search compiles the exhaustive search's program",
          "[compiler][tile_search]") {
  const quant::QGraph q = quantized("efficientvit-b1");
  sim::CompileOptions exhaustive;
  exhaustive.exhaustive_search = true;
  for (const std::string name : {"trio-vit", "systolic-32x32-os", "trio-vit-authors-model", "small-memory"}) {
    INFO(name);
    const arch::AccelConfig config = accel(name);
    const std::string program = test::program_text(sim::compile(q, config));
    CHECK(program == test::program_text(sim::compile(q, config, exhaustive)));
    CHECK(program.size() > 100000);  // a whole program, not an empty one
  }
}

TEST_CASE("MBConv depthwise convs fuse into their pointwise conv on trio-vit, not on the systolic array",
          "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  const quant::Graph& g = q.graph;
  const std::vector<int> dws = mbconv_depthwise(g);
  REQUIRE(dws.size() >= 10);
  for (bool ideal : {false, true}) {
    const arch::Program p = sim::compile(q, accel("trio-vit"), {ideal});
    const int rmac = resource_index(p, "rmac"), mat = resource_index(p, "mat");
    const std::vector<int>& rmac_queue = p.queues[static_cast<size_t>(rmac)];
    auto rmac_position = [&](int t) {
      return std::find(rmac_queue.begin(), rmac_queue.end(), t) - rmac_queue.begin();
    };
    // Pointwise tiles R-MAC takes once its depthwise tiles are done: with ideal memory, or where the memory
    // plan keeps the depthwise output on chip whole (trio-vit's resident region).
    int64_t joined = 0, joined_blocks = 0, apart = 0;
    const std::set<int> resident = resident_layers(p);
    for (int dw : dws) {
      INFO(g.nodes[static_cast<size_t>(dw)].name << (ideal ? " (ideal)" : ""));
      const int pw = dw + 1;  // the project conv follows its depthwise conv
      REQUIRE(g.nodes[static_cast<size_t>(pw)].inputs == std::vector<int>{dw});
      CHECK_FALSE(has_store(p, dw));
      const std::vector<int> dw_tiles = tiles_of(p, dw);
      std::set<int> waited;
      const bool pair_apart =
          !dw_tiles.empty() && !has_shift(p, p.tiles[static_cast<size_t>(dw_tiles.front())]);
      for (int t : tiles_of(p, pw)) {
        const arch::ComputeTile& tile = p.tiles[static_cast<size_t>(t)];
        const bool whole_on_chip = ideal || resident.count(dw);
        if (whole_on_chip && tile.resource == rmac) {
          ++joined;
          CHECK(rmac_position(t) > rmac_position(tiles_of(p, dw).back()));
        } else if (tile.resource == rmac) {
          // Joined by blocks: the block's last channels, right after the block's depthwise tile.
          ++joined_blocks;
          CHECK(tile.region.c1 == g.nodes[static_cast<size_t>(pw)].out_shape[0]);
          REQUIRE(rmac_position(t) > 0);
          CHECK(tile.wait_tiles == std::vector<int>{rmac_queue[static_cast<size_t>(rmac_position(t) - 1)]});
        } else {
          CHECK(tile.resource == mat);
        }
        // Its producer: the one depthwise tile of its block; or, when the memory plan keeps the depthwise
        // output on chip and mapping the two layers apart moves fewer DRAM bytes (then the depthwise tiles
        // carry no filter-wise shift), the last depthwise tile, after which R-MAC has run them all.
        std::vector<int> producers;
        for (int w : tile.wait_tiles)
          if (p.tiles[static_cast<size_t>(w)].layer == dw) producers.push_back(w);
        if (pair_apart) {
          CHECK(resident.count(dw) == 1);
          CHECK(producers == std::vector<int>{dw_tiles.back()});
          waited.insert(dw_tiles.begin(), dw_tiles.end());
          continue;
        }
        REQUIRE(producers.size() == 1);
        const int producer = producers.front();
        // Same output-pixel block: the PW tile consumes exactly the DW tile's pixels.
        CHECK(p.tiles[static_cast<size_t>(producer)].region.p0 == tile.region.p0);
        CHECK(p.tiles[static_cast<size_t>(producer)].region.p1 == tile.region.p1);
        waited.insert(producer);
      }
      CHECK(waited.size() == dw_tiles.size());
      apart += pair_apart;
      if (ideal) {
        // R-MAC joins MAT (docs/engines.md): the depthwise blocks are exactly R-MAC's lanes x replicas = 128
        // output pixels, across row boundaries, or one whole row when a row is longer, the last one short.
        const quant::Node& n = g.nodes[static_cast<size_t>(dw)];
        const int64_t pixels = n.out_shape[1] * n.out_shape[2];
        const int64_t block = std::min(pixels, std::max<int64_t>(128, n.out_shape[2]));
        REQUIRE(static_cast<int64_t>(dw_tiles.size()) == (pixels + block - 1) / block);
        for (size_t i = 0; i < dw_tiles.size(); ++i) {
          const arch::Region& r = p.tiles[static_cast<size_t>(dw_tiles[i])].region;
          CHECK(r.p0 == static_cast<int64_t>(i) * block);
          CHECK(r.p1 == std::min(pixels, static_cast<int64_t>(i + 1) * block));
        }
      }
      for (int t : dw_tiles) {
        const arch::ComputeTile& tile = p.tiles[static_cast<size_t>(t)];
        CHECK(tile.resource == rmac);
        CHECK(tile.work == TileWork::Depthwise);
        CHECK(has_shift(p, tile) != pair_apart);  // the filter-wise shift is on the fused DW -> PW path
      }
    }
    CHECK(joined > 0);
    if (ideal) CHECK(joined_blocks == 0);  // (B0's non-resident pairs are not estimated faster joined)
    CHECK(apart * 4 < static_cast<int64_t>(dws.size()));  // most pairs run fused
    if (!ideal) continue;
    // S3/b1.mb.dw, 256 channels on 14 x 14 pixels, in blocks of 128 and 68 pixels: each block is
    // ceil(256 / 8) = 32 channel groups x 1 pixel group of R-MAC's 128, 9 waves (taps) of 1,024 activation
    // bytes (the port share: p = 1), depth 5, through requantizer, hswish and shift subtractor (rate 128,
    // latency 4 + 3 + 1 = 8, a = 1,024 / 128 = 8, T = max(9, 8) = 9): 31 x 9 + 9 + 4 + 8 + 8 = 308 cycles.
    // (Blocks of whole rows, 140 + 56 pixels, took 2 + 1 pixel groups: 596 + 308 cycles.)
    const std::vector<int> s3 = tiles_of(p, g.find("S3/b1.mb.dw"));
    REQUIRE(s3.size() == 2);
    for (int t : s3) {
      const arch::ComputeTile& tile = p.tiles[static_cast<size_t>(t)];
      CHECK(tile.n == 256);
      CHECK(arch::tile_cost(accel("trio-vit"), p.resources[static_cast<size_t>(rmac)], tile).cycles == 308);
    }
  }
  const arch::Program s = sim::compile(q, accel("systolic-32x32-os"));
  for (int dw : dws) {
    INFO(g.nodes[static_cast<size_t>(dw)].name);
    CHECK(has_store(s, dw));
    for (int t : tiles_of(s, dw)) {
      CHECK(s.tiles[static_cast<size_t>(t)].work == TileWork::Gemm);
      CHECK(s.tiles[static_cast<size_t>(t)].groups ==
            s.tiles[static_cast<size_t>(t)].region.c1 - s.tiles[static_cast<size_t>(t)].region.c0);
      CHECK_FALSE(has_shift(s, s.tiles[static_cast<size_t>(t)]));
    }
  }
}

// R-MAC joins MAT by blocks on a fused pair whose depthwise output is not resident (docs/engines.md): a 3x3
// depthwise conv on 64 channels of 16 x 16 pixels into a 64 -> 64 pointwise conv, on trio-vit without its
// resident region and with a 16 KiB output buffer (4 KiB slots: depthwise blocks of 64 channels x 64 pixels,
// four rows). R-MAC runs each block's depthwise tile, then the block's second half of the output channels
// (32 of 64: half, whole lanes of 8), reading the pointwise weights where MAT loaded them; MAT runs the
// first half. Each weight set is loaded once: the depthwise weights stay in R-MAC's slot between its
// pointwise tiles.
TEST_CASE("R-MAC joins MAT by blocks on a fused pair whose depthwise output is not resident",
          "[compiler][join]") {
  quant::GraphBuilder b("pair", 16, {64, 16, 16});
  const int dw = b.conv("dw", 0, 64, 3, 1, 64, true, quant::Norm::None, quant::Act::None);
  const int pw = b.conv("pw", dw, 64, 1, 1, 1, true, quant::Norm::None, quant::Act::None);
  const quant::QGraph q = test::quantize(b.finish(), "naive-w8a8");
  nlohmann::json j = accel_json("trio-vit");
  j["buffers"]["activation"].erase("resident_bytes");
  j["buffers"]["output"]["capacity_bytes"] = 16384;
  const arch::AccelConfig config = arch::parse_accel_config(j, "trio-vit, 16 KiB output");
  for (auto& e : j["engines"])
    if (e["name"] == "rmac") e["assist_pointwise"] = false;
  const arch::AccelConfig alone = arch::parse_accel_config(j, "trio-vit, 16 KiB output, no assist");
  const arch::Program p = sim::compile(q, config);
  const int rmac = resource_index(p, "rmac"), mat = resource_index(p, "mat");
  const std::vector<int> dw_tiles = tiles_of(p, dw);
  REQUIRE(dw_tiles.size() == 4);
  const std::vector<int>& rmac_queue = p.queues[static_cast<size_t>(rmac)];
  const std::vector<int>& mat_queue = p.queues[static_cast<size_t>(mat)];
  REQUIRE(rmac_queue.size() == 8);
  REQUIRE(mat_queue.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("block " << i);
    const int64_t p0 = static_cast<int64_t>(i) * 64, p1 = p0 + 64;
    CHECK(rmac_queue[2 * i] == dw_tiles[i]);
    const arch::ComputeTile& dt = p.tiles[static_cast<size_t>(dw_tiles[i])];
    CHECK((dt.region.p0 == p0 && dt.region.p1 == p1));
    for (const auto& [tile, c0] : {std::pair{rmac_queue[2 * i + 1], 32}, std::pair{mat_queue[i], 0}}) {
      const arch::ComputeTile& t = p.tiles[static_cast<size_t>(tile)];
      CHECK(t.layer == pw);
      CHECK((t.region.c0 == c0 && t.region.c1 == c0 + 32 && t.region.p0 == p0 && t.region.p1 == p1));
      CHECK(t.macs == 32 * 64 * 64);
      CHECK(std::count(t.wait_tiles.begin(), t.wait_tiles.end(), dw_tiles[i]) == 1);
      // Both read the pointwise weights where MAT loaded them.
      CHECK(t.weights.address == p.tiles[static_cast<size_t>(mat_queue[0])].weights.address);
    }
  }
  // Weights: the depthwise (64 x 9 codes + 64 int32 biases) and the pointwise (64 x 64 + 64 x 4) once each.
  std::vector<int64_t> weight_loads;
  int64_t bytes = 0;
  for (const arch::Transfer& t : p.transfers) {
    bytes += t.bytes;
    if (t.buffer == BufferKind::Weight) weight_loads.push_back(t.bytes);
  }
  CHECK(weight_loads == std::vector<int64_t>{64 * 9 + 64 * 4, 64 * 64 + 64 * 4});
  // Input rows with the halo (5 + 6 + 6 + 5 of 16 x 64 bytes), both weights, the stored output.
  CHECK(bytes == 22 * 16 * 64 + 832 + 4352 + 64 * 256);
  int64_t bytes_alone = 0;
  for (const arch::Transfer& t : sim::compile(q, alone).transfers) bytes_alone += t.bytes;
  CHECK(bytes_alone == bytes);
  // And the joined pair is faster than MAT alone on the pointwise conv.
  sim::SimOptions o;
  CHECK(sim::simulate(q, config, o).cycles < sim::simulate(q, alone, o).cycles);
}

TEST_CASE("Linear attention pipelines heads: V'K^T on R-MAC, its product with Q on MAT", "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  const quant::Graph& g = q.graph;
  const arch::AccelConfig config = accel("trio-vit");
  const arch::Program p = sim::compile(q, config);
  const int rmac = resource_index(p, "rmac"), mat = resource_index(p, "mat");
  const int log2 = resource_index(p, "log2_quantizer");
  int blocks = 0;
  for (size_t vk = 0; vk < g.nodes.size(); ++vk) {
    if (g.nodes[vk].name.find("matmul_vk") == std::string::npos) continue;
    ++blocks;
    const int out = static_cast<int>(vk) + 1, normalize = static_cast<int>(vk) + 2;
    REQUIRE(g.nodes[static_cast<size_t>(normalize)].op == OpKind::AttnNormalize);
    INFO(g.nodes[vk].name);
    CHECK_FALSE(has_store(p, static_cast<int>(vk)));
    CHECK_FALSE(has_store(p, out));
    CHECK(has_store(p, normalize) != (resident_layers(p).count(normalize) == 1));  // stored, or kept on chip
    const int64_t heads = g.nodes[vk].out_shape[0];
    const std::vector<int> vk_tiles = tiles_of(p, static_cast<int>(vk)), out_tiles = tiles_of(p, out),
                           norm_tiles = tiles_of(p, normalize);
    REQUIRE(static_cast<int64_t>(vk_tiles.size()) == heads);
    REQUIRE(static_cast<int64_t>(out_tiles.size()) == heads);
    REQUIRE(static_cast<int64_t>(norm_tiles.size()) == heads);
    const int64_t d = g.nodes[vk].out_shape[2], n = g.nodes[static_cast<size_t>(out)].out_shape[2];
    for (int64_t h = 0; h < heads; ++h) {
      const arch::ComputeTile& a = p.tiles[static_cast<size_t>(vk_tiles[static_cast<size_t>(h)])];
      const arch::ComputeTile& b = p.tiles[static_cast<size_t>(out_tiles[static_cast<size_t>(h)])];
      const arch::ComputeTile& c = p.tiles[static_cast<size_t>(norm_tiles[static_cast<size_t>(h)])];
      CHECK(a.resource == rmac);
      CHECK(b.resource == mat);
      CHECK(c.resource == log2);
      CHECK(a.region.c0 == h);
      CHECK(b.region.c0 == h);
      CHECK(c.region.c0 == h);
      // V'K^T's (d + 1) x d output puts its d + 1 rows on R-MAC's 8 lanes and its d columns on the 16
      // replicas: ceil(17 / 8) x ceil(16 / 16) = 3 output groups (the other way round, 2 x 2 = 4), each
      // ceil(N / 8) waves, depth 5 + 3, through the requantizer (rate 128, latency 4, a = 128 / 128 = 1)
      // unless int32: 2 x waves + waves + 7 (+ 1 + 4) cycles, 87 for N = 196 (stage 3), 33 for N = 49.
      REQUIRE(d == 16);
      CHECK((a.m == d && a.n == d + 1 && a.k == n));
      CHECK(arch::tile_cost(config, p.resources[static_cast<size_t>(rmac)], a).cycles ==
            3 * ((n + 7) / 8) + 7 + (a.aux_chain.empty() ? 0 : 5));
      // (V'K^T)Q keeps its N columns on the replicas: 3 x 13 groups for N = 196 (25 x 2 the other way).
      CHECK((b.m == n && b.n == d + 1 && b.k == d));
      // int32 results skip the requantizer.
      CHECK(a.aux_chain.empty() == (q.nodes[vk].out.bits == 32));
      CHECK(b.aux_chain.empty() == (q.nodes[static_cast<size_t>(out)].out.bits == 32));
      CHECK(std::count(b.wait_tiles.begin(), b.wait_tiles.end(), vk_tiles[static_cast<size_t>(h)]) == 1);
      CHECK(std::count(c.wait_tiles.begin(), c.wait_tiles.end(), out_tiles[static_cast<size_t>(h)]) == 1);
      CHECK(c.m == d * n);
    }
  }
  CHECK(blocks == 4);  // B0: two LiteMLA blocks in each of stages 3 and 4
}

TEST_CASE("An engine split follows the earliest estimated finish, deterministically", "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  const arch::AccelConfig config = accel("trio-vit");
  const arch::Program a = sim::compile(q, config, {true}), b = sim::compile(q, config, {true});
  REQUIRE(a.tiles.size() == b.tiles.size());
  for (size_t t = 0; t < a.tiles.size(); ++t) CHECK(a.tiles[t].resource == b.tiles[t].resource);
  // Ideal memory: the stem conv is cut in two equal row blocks, one per GEMM engine (MAT first on a tie).
  const std::vector<int> stem = tiles_of(a, q.graph.find("stem.0"));
  REQUIRE(stem.size() == 2);
  const arch::ComputeTile& first = a.tiles[static_cast<size_t>(stem[0])];
  const arch::ComputeTile& second = a.tiles[static_cast<size_t>(stem[1])];
  CHECK(first.resource == resource_index(a, "mat"));
  CHECK(second.resource == resource_index(a, "rmac"));
  CHECK((first.region.p0 == 0 && first.region.p1 == 56 * 112));
  CHECK((second.region.p0 == 56 * 112 && second.region.p1 == 112 * 112));
  CHECK((first.m == 56 * 112 && first.n == 8 && first.k == 27 && first.groups == 1));
}

TEST_CASE("Impossible mappings throw MappingError naming the layer and what it lacks", "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  nlohmann::json tiny = accel_json("trio-vit");
  tiny["buffers"]["weight"] = {
      {"capacity_bytes", 64}, {"banks", 1}, {"ports_per_bank", 1}, {"word_bytes", 8}};
  try {
    sim::compile(q, arch::parse_accel_config(tiny, "tiny-weights"));
    FAIL("no MappingError");
  } catch (const sim::MappingError& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("layer 'stem.0' (conv3x3, 8x112x112)"));
    CHECK_THAT(what,
               Catch::Contains("weights needs 31 bytes, the weight buffer slot of engine 'mat' holds 16 "
                               "(capacity 64 / 2 engines / 2)"));
  }
  // Ideal memory has no capacity limits.
  CHECK_NOTHROW(sim::compile(q, arch::parse_accel_config(tiny, "tiny-weights"), {true}));

  nlohmann::json dw_only = accel_json("trio-vit");
  dw_only["engines"] = nlohmann::json::array({dw_only["engines"][1]});
  dw_only["engines"][0]["assist_pointwise"] = false;
  CHECK_THROWS_WITH(sim::compile(q, arch::parse_accel_config(dw_only, "dw-only")),
                    Catch::Contains("layer 'stem.0'") && Catch::Contains("no engine of config") &&
                        Catch::Contains("runs GEMM tiles"));

  // The engines multiply INT8 codes: a layer with wider weights has no engine.
  quant::QGraph wide = q;
  wide.nodes[static_cast<size_t>(q.graph.find("stem.0"))].weight_bits = 16;
  CHECK_THROWS_WITH(sim::compile(wide, accel("trio-vit")),
                    Catch::Contains("layer 'stem.0'") &&
                        Catch::Contains("no engine of config 'trio-vit' runs GEMM tiles of 16-bit operands"));

  // trio-vit has no unit for the ViT token ops: a DeiT stops at the first one with a MappingError naming it
  // and the unit type it needs (vit-gemm runs it: tests/test_vit_mapping.cpp).
  quant::QGraph vit;
  vit.graph = quant::build_model("deit-tiny", 224);
  vit.nodes.resize(vit.graph.nodes.size());
  CHECK_THROWS_AS(sim::compile(vit, accel("trio-vit")), sim::MappingError);
  CHECK_THROWS_WITH(
      sim::compile(vit, accel("trio-vit")),
      Catch::Contains("layer 'patch_embed.tokens'") &&
          Catch::Contains("op patch_tokens needs its token-move step on an auxiliary unit of type "
                          "token_ops, and config 'trio-vit' has none"));
}

TEST_CASE("A step no auxiliary unit of the config performs is a MappingError naming the op and the type",
          "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  nlohmann::json j = accel_json("trio-vit");
  j["name"] = "no-hswish";
  j["aux_units"].erase("hswish");
  CHECK_THROWS_MATCHES(
      sim::compile(q, arch::parse_accel_config(j, "no-hswish")), sim::MappingError,
      Catch::Message("layer 'stem.0' (conv3x3, 8x112x112): op conv2d needs its hswish step on an "
                     "auxiliary unit of type hswish, and config 'no-hswish' has none"));
  // The same config with the unit back compiles.
  j["aux_units"]["hswish"] = accel_json("trio-vit")["aux_units"]["hswish"];
  CHECK_NOTHROW(sim::compile(q, arch::parse_accel_config(j, "hswish")));
}

TEST_CASE("GELU runs on the gelu unit, priced and timed as itself", "[compiler]") {
  quant::GraphBuilder b("gelu", 16, {8, 6, 6});
  b.conv("pw", 0, 16, 1, 1, 1, true, quant::Norm::None, quant::Act::GeluTanh);
  quant::Graph g = b.finish();
  quant::materialize_synthetic_weights(g, 3);
  const quant::QGraph q = quant::quantize_graph(g, quant::find_recipe("naive-w8a8", kConfigDir + "/quant"),
                                                quant::synthetic_images(1, g.nodes[0].out_shape, 11).images);
  nlohmann::json j = accel_json("small-test");
  CHECK_THROWS_MATCHES(sim::compile(q, arch::parse_accel_config(j, "no-gelu")), sim::MappingError,
                       Catch::Message("layer 'pw' (pw1x1, 16x6x6): op conv2d needs its gelu step on an "
                                      "auxiliary unit of type gelu, and config 'small-test' has none"));
  j["aux_units"]["gelu"] = {{"throughput", 1}, {"latency", 9}, {"dsps", 3}};
  const arch::AccelConfig c = arch::parse_accel_config(j, "gelu");
  const arch::Program p = sim::compile(q, c);
  const int requantizer = c.aux_index("requantizer"), gelu = c.aux_index("gelu");
  int tiles = 0;
  for (const arch::ComputeTile& t : p.tiles) {
    if (t.layer != 1) continue;
    ++tiles;
    CHECK(t.aux_chain == std::vector<int>{requantizer, gelu});
    // The chain takes the gelu unit's 1 result per cycle (the requantizer takes 2) and the latencies 3 + 9.
    const arch::AuxPath path = arch::aux_path(c, t.aux_chain);
    CHECK(path.rate == 1);
    CHECK(path.latency == 3 + 9);
  }
  CHECK(tiles > 0);
}

TEST_CASE("Program::validate rejects bad indices, queue membership and cycles", "[compiler]") {
  arch::Program p;
  p.layer_names = {"a", "b"};
  arch::Resource engine;
  engine.name = "e";
  engine.is_engine = true;
  engine.engine = 0;
  p.resources = {engine};
  arch::ComputeTile t0, t1;
  t0.layer = 0;
  t1.layer = 1;
  t0.resource = t1.resource = 0;
  t1.wait_transfers = {0};
  p.tiles = {t0, t1};
  p.queues = {{0, 1}};
  arch::Transfer store;
  store.layer = 0;
  store.dir = TransferDir::Store;
  store.buffer = BufferKind::Output;
  store.bytes = 16;
  store.runs = {{0, 8, 32, 2}};  // two runs of 8 bytes
  store.wait_tiles = {0};
  p.transfers = {store};
  p.store_queue = {0};
  CHECK_NOTHROW(p.validate());
  arch::Program short_runs = p;
  short_runs.transfers[0].runs[0].count = 1;  // its runs hold 8 of its 16 bytes
  CHECK_THROWS_WITH(short_runs.validate(), Catch::Contains("transfer 0 moves 16 bytes but its runs hold 8"));

  arch::Program cyclic = p;
  cyclic.transfers[0].wait_tiles = {1};  // the store waits for the tile that waits for the store
  CHECK_THROWS_WITH(cyclic.validate(),
                    Catch::Contains("cycle") && Catch::Contains("tile 1") && Catch::Contains("layer 'b'"));
  arch::Program queue_cycle = p;
  queue_cycle.tiles[0].wait_tiles = {1};  // tile 0 waits for tile 1, queued behind it
  CHECK_THROWS_WITH(queue_cycle.validate(), Catch::Contains("cycle"));
  arch::Program unqueued = p;
  unqueued.queues = {{0}};
  CHECK_THROWS_WITH(unqueued.validate(), Catch::Contains("tile 1 is in no queue"));
  arch::Program wrong_queue = p;
  wrong_queue.load_queue = {0};
  CHECK_THROWS_WITH(wrong_queue.validate(), Catch::Contains("the load queue holds transfer 0"));
  arch::Program out_of_range = p;
  out_of_range.tiles[1].wait_tiles = {7};
  CHECK_THROWS_WITH(out_of_range.validate(), Catch::Contains("tile 1 waits for tile 7, out of range"));
}

TEST_CASE("On-chip links go through DRAM when a head or the LayerNorm row does not fit one slot",
          "[compiler]") {
  const quant::QGraph q = quantized("efficientvit-b0");
  const quant::Graph& g = q.graph;
  nlohmann::json j = accel_json("trio-vit");
  j["buffers"]["output"]["capacity_bytes"] = 16384;  // 4 KiB slots
  const arch::AccelConfig config = arch::parse_accel_config(j, "trio-vit, small output buffer");
  const arch::Program p = sim::compile(q, config);
  check_program(q, config, p, false);
  // Stage 3's attention output (17 x 196 int32 per head) no longer fits: it is stored and normalized
  // layer-wise; stage 4's (17 x 49) still stays on chip.
  const int s3_out = g.find("S3/b1.mla.matmul_out"), s4_out = g.find("S4/b1.mla.matmul_out");
  CHECK(has_store(p, s3_out));
  CHECK_FALSE(has_store(p, s4_out));
  CHECK(tiles_of(p, s3_out).size() > tiles_of(p, s3_out - 1).size());  // column blocks per head
  // The head's 1280-feature int32 row (5 KiB) goes through DRAM to the LayerNorm unit.
  const int head = g.find("head.op_list.2");
  REQUIRE(q.nodes[static_cast<size_t>(head)].float_layernorm);
  const std::vector<int> tiles = tiles_of(p, head);
  const arch::ComputeTile& norm = p.tiles[static_cast<size_t>(tiles.back())];
  CHECK(norm.resource == resource_index(p, "layernorm"));
  REQUIRE(norm.wait_transfers.size() >= 1);
  const arch::Transfer& row = p.transfers[static_cast<size_t>(norm.wait_transfers.front())];
  CHECK((row.dir == TransferDir::Load && row.layer == head && row.bytes == 1280 * 4));
  CHECK(has_store(p, head));
}

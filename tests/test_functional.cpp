// Functional simulation on real bytes (arch/functional.hpp, arch/memory_image.hpp): compiled programs run
// with the DRAM's backing store and the on-chip buffers' bytes, and every layer's output, read back from
// where it landed, equals the integer reference executor's, on the trained Fashion-MNIST fixture and on
// EfficientViT-B0, with real and with ideal memory. Mutations of the dataflow (a dropped DMA load, a slot
// released one tile early, two slots swapped, a skipped requantization, an ideal-memory tile that writes
// nothing) must produce mismatches, and the report must name the first mismatching layer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "arch/accelerator.hpp"
#include "arch/functional.hpp"
#include "functional_support.hpp"
#include "quant/dataset.hpp"
#include "quant/int_executor.hpp"
#include "quant/onnx_import.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "test_support.hpp"

namespace {

using namespace vitsim;
using arch::BufferKind;
using arch::TransferDir;

const std::string kDataDir = VITSIM_TEST_DATA_DIR;

arch::AccelConfig config(const std::string& name) {
  return arch::load_accel_config(test::config_dir() + "/accel/" + name + ".json");
}

using Outcome = test::BytesOutcome;
using test::run_bytes;

quant::QGraph fixture() {
  return test::quantize(quant::import_onnx(kDataDir + "/fashion_evit/model.onnx"), "trio-w8a8", 4);
}

quant::QGraph efficientvit_b0(const std::string& recipe, int resolution) {
  return test::quantize(quant::build_model("efficientvit-b0", resolution), recipe);
}

// The program without transfer `id`: nothing waits for it any more.
void drop_transfer(arch::Program& p, int id) {
  auto fix = [id](std::vector<int>& v) {
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
    for (int& x : v)
      if (x > id) --x;
  };
  for (arch::ComputeTile& t : p.tiles) fix(t.wait_transfers);
  for (arch::Transfer& t : p.transfers) fix(t.wait_transfers);
  fix(p.load_queue);
  fix(p.store_queue);
  p.transfers.erase(p.transfers.begin() + id);
}

// The activation loads of `layer`'s tiles that are at least the third on their resource (their slot held an
// earlier tile's operands), in load order.
std::vector<int> reused_slot_loads(const arch::Program& p, int layer) {
  std::vector<int> position(p.tiles.size(), 0);
  for (const auto& queue : p.queues)
    for (size_t i = 0; i < queue.size(); ++i) position[static_cast<size_t>(queue[i])] = static_cast<int>(i);
  std::vector<int> loads;
  for (size_t t = 0; t < p.tiles.size(); ++t)
    if (p.tiles[t].layer == layer && position[t] >= 2)
      for (int x : p.tiles[t].wait_transfers) {
        const arch::Transfer& tr = p.transfers[static_cast<size_t>(x)];
        if (tr.dir == TransferDir::Load && tr.buffer == BufferKind::Activation && tr.layer == layer)
          loads.push_back(x);
      }
  std::sort(loads.begin(), loads.end());
  loads.erase(std::unique(loads.begin(), loads.end()), loads.end());
  return loads;
}

// The layer with the most activation loads into reused slots (the mutations' target).
int busiest_loaded_layer(const arch::Program& p) {
  int best = -1;
  size_t most = 0;
  for (size_t l = 0; l < p.layer_names.size(); ++l) {
    const size_t n = reused_slot_loads(p, static_cast<int>(l)).size();
    if (n > most) most = n, best = static_cast<int>(l);
  }
  REQUIRE(best >= 0);
  return best;
}

void require_names(const Outcome& out, const arch::Program& p, int layer) {
  INFO(out.first);
  CHECK(out.total > 0);
  CHECK(out.mismatches[static_cast<size_t>(layer)] > 0);
  CHECK_THAT(out.first, Catch::StartsWith("layer '" + p.layer_names[static_cast<size_t>(layer)] + "'"));
  CHECK_THAT(out.first, Catch::Contains("element"));
}

}  // namespace

TEST_CASE("Real bytes: compiled programs are bit exact, with real and with ideal memory", "[functional]") {
  const quant::QGraph fix = fixture();
  const quant::QGraph b0_96 = efficientvit_b0("trio-w8a8", 96), b0_64 = efficientvit_b0("naive-w8a8", 64);
  for (const quant::QGraph* q : {&fix, &b0_96, &b0_64})
    for (const std::string name : {"trio-vit", "small-memory"})
      for (const bool ideal : {false, true}) {
        if (q != &fix && name == "small-memory") continue;  // its buffers hold no attention head of B0
        const arch::AccelConfig c = config(name);
        const arch::Program p = sim::compile(*q, c, {ideal});
        const Outcome out = run_bytes(*q, c, p, quant::synthetic_input(q->graph, 9));
        INFO(q->graph.model << " on " << name << (ideal ? ", ideal memory: " : ": ") << out.first);
        CHECK(out.total == 0);
        CHECK(out.first.empty());
      }
}

// The layer types torchvision's MobileNetV2 and ResNet-18 add (docs/models.md): a ResNet stem (conv, max
// pool), an inverted residual with ReLU6 (expand, depthwise, project), a residual add + ReLU, the head.
quant::Graph small_cnn() {
  using quant::Act;
  using quant::Norm;
  quant::GraphBuilder b("small-cnn", 32, {3, 32, 32});
  const int stem = b.conv("stem", 0, 16, 3, 2, 1, false, Norm::BatchNorm, Act::ReLU);
  const int pool = b.max_pool("maxpool", stem, 3, 2, 1);
  const int expand = b.conv("expand", pool, 48, 1, 1, 1, false, Norm::BatchNorm, Act::ReLU6);
  const int dw = b.conv("dw", expand, 48, 3, 1, 48, false, Norm::BatchNorm, Act::ReLU6);
  const int project = b.conv("project", dw, 16, 1, 1, 1, false, Norm::BatchNorm, Act::None);
  const int add = b.add("add", pool, project, Act::ReLU);
  const int gap = b.global_avg_pool("gap", add);
  b.linear("fc", gap, 10, true, Norm::None, Act::None);
  return b.finish();
}

TEST_CASE("Real bytes: a CNN with max pool, ReLU6 and add + ReLU is bit exact on trio-vit and systolic",
          "[functional]") {
  for (const std::string recipe : {"trio-w8a8", "naive-w8a8"}) {
    const quant::QGraph q = test::quantize(small_cnn(), recipe, 2);
    for (const std::string name : {"trio-vit", "systolic-32x32-os"}) {
      const arch::AccelConfig c = config(name);
      const arch::Program p = sim::compile(q, c, {});
      const Outcome out = run_bytes(q, c, p, quant::synthetic_input(q.graph, 9));
      INFO(recipe << " on " << name << ": " << out.first);
      CHECK(out.total == 0);
      CHECK(out.first.empty());
    }
  }
}

// The layer types torchvision's MobileNetV3 and EfficientNet add (docs/models.md): hard swish and SiLU
// convs, squeeze-excite blocks (average pool, two Linears with ReLU / SiLU then hard sigmoid / sigmoid, the
// channel multiply).
quant::Graph se_cnn() {
  using quant::Act;
  using quant::Norm;
  quant::GraphBuilder b("se-cnn", 32, {3, 32, 32});
  const int stem = b.conv("stem", 0, 16, 3, 2, 1, false, Norm::BatchNorm, Act::HSwish);
  const int dw = b.conv("dw", stem, 16, 3, 1, 16, false, Norm::BatchNorm, Act::SiLU);
  int gate = b.linear("se1.fc1", b.global_avg_pool("se1.pool", dw), 8, true, Norm::None, Act::ReLU);
  gate = b.linear("se1.fc2", gate, 16, true, Norm::None, Act::HSigmoid);
  const int scaled = b.channel_mul("se1.mul", dw, gate);
  const int expand = b.conv("expand", scaled, 48, 1, 1, 1, false, Norm::BatchNorm, Act::SiLU);
  gate = b.linear("se2.fc1", b.global_avg_pool("se2.pool", expand), 12, true, Norm::None, Act::SiLU);
  gate = b.linear("se2.fc2", gate, 48, true, Norm::None, Act::Sigmoid);
  const int project = b.conv("project", b.channel_mul("se2.mul", expand, gate), 16, 1, 1, 1, false,
                             Norm::BatchNorm, Act::None);
  const int gap = b.global_avg_pool("gap", b.add("add", stem, project));
  b.linear("fc", gap, 10, true, Norm::None, Act::None);
  return b.finish();
}

TEST_CASE("Real bytes: a CNN with squeeze-excite, sigmoid, hard sigmoid and SiLU is bit exact",
          "[functional]") {
  for (const std::string recipe : {"trio-w8a8", "naive-w8a8"}) {
    const quant::QGraph q = test::quantize(se_cnn(), recipe, 2);
    // trio-vit as published has no unit for the sigmoid tables: a clear refusal, not a wrong mapping.
    CHECK_THROWS_WITH(sim::compile(q, config("trio-vit"), {}),
                      Catch::Contains("auxiliary unit of type act_table") && Catch::Contains("'trio-vit'"));
    for (const arch::AccelConfig& c : {test::trio_vit_with_cnn_units(), config("systolic-32x32-os")}) {
      const arch::Program p = sim::compile(q, c, {});
      const Outcome out = run_bytes(q, c, p, quant::synthetic_input(q.graph, 9));
      INFO(recipe << " on " << c.name << ": " << out.first);
      CHECK(out.total == 0);
      CHECK(out.first.empty());
    }
  }
}

TEST_CASE("Real bytes: a dropped DMA load leaves stale bytes in the slot", "[functional][mutation]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("small-memory");
  arch::Program p = sim::compile(q, c);
  const int layer = busiest_loaded_layer(p);
  drop_transfer(p, reused_slot_loads(p, layer).back());
  require_names(run_bytes(q, c, p, quant::synthetic_input(q.graph, 9)), p, layer);
}

TEST_CASE("Real bytes: slots released one tile early are overwritten before their tiles read them",
          "[functional][mutation]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("small-memory");
  arch::Program p = sim::compile(q, c);
  // A load into a slot waits for the tile two positions earlier on its resource (the slot's last reader);
  // the mutation waits for the tile before that one instead, for every load. Where the DMA runs ahead of an
  // engine, a load then lands while the slot's tile has not read it yet.
  std::vector<int> previous(p.tiles.size(), -1), position(p.tiles.size(), 0);
  for (const auto& queue : p.queues)
    for (size_t i = 0; i < queue.size(); ++i) {
      position[static_cast<size_t>(queue[i])] = static_cast<int>(i);
      if (i > 0) previous[static_cast<size_t>(queue[i])] = queue[i - 1];
    }
  std::set<std::string> mutated;
  for (int x : p.load_queue)
    for (int& t : p.transfers[static_cast<size_t>(x)].wait_tiles)
      if (previous[static_cast<size_t>(t)] >= 0) {
        t = previous[static_cast<size_t>(t)];
        mutated.insert(p.layer_names[static_cast<size_t>(p.transfers[static_cast<size_t>(x)].layer)]);
      }
  REQUIRE(!mutated.empty());
  const Outcome out = run_bytes(q, c, p, quant::synthetic_input(q.graph, 9));
  INFO(out.first);
  REQUIRE(out.total > 0);
  // The first layer that goes wrong is one whose operands a mutated load overwrote.
  const std::string name = out.first.substr(7, out.first.find('\'', 7) - 7);
  CHECK_THAT(out.first, Catch::StartsWith("layer '") && Catch::Contains("element"));
  CHECK(mutated.count(name) == 1);
}

TEST_CASE("Real bytes: two slots swapped give each tile the other's operands", "[functional][mutation]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("small-memory");
  arch::Program p = sim::compile(q, c);
  const int layer = busiest_loaded_layer(p);
  const std::vector<int> loads = reused_slot_loads(p, layer);
  REQUIRE(loads.size() >= 2);
  std::swap(p.transfers[static_cast<size_t>(loads[0])].buffer_address,
            p.transfers[static_cast<size_t>(loads[1])].buffer_address);
  require_names(run_bytes(q, c, p, quant::synthetic_input(q.graph, 9)), p, layer);
}

TEST_CASE("Real bytes: one tile that skips its requantization is found", "[functional][mutation]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("trio-vit");
  const arch::Program p = sim::compile(q, c);
  int tile = -1;
  for (size_t t = p.tiles.size() / 2; t < p.tiles.size() && tile < 0; ++t)
    if (!p.tiles[t].aux_chain.empty() && p.tiles[t].aux_chain[0] == c.aux_index("requantizer"))
      tile = static_cast<int>(t);
  REQUIRE(tile >= 0);
  require_names(run_bytes(q, c, p, quant::synthetic_input(q.graph, 9), tile), p,
                p.tiles[static_cast<size_t>(tile)].layer);
}

TEST_CASE("Real bytes: with ideal memory data still moves, so a tile that writes nothing is found",
          "[functional][mutation]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("trio-vit");
  arch::Program p = sim::compile(q, c, {true});
  REQUIRE(p.transfers.empty());
  arch::ComputeTile& t = p.tiles[p.tiles.size() / 2];
  t.write.space = arch::BufferView::Space::None;
  require_names(run_bytes(q, c, p, quant::synthetic_input(q.graph, 9)), p, t.layer);
}

TEST_CASE("Functional model: mismatches are counted per layer, and impossible tiles are rejected",
          "[functional]") {
  const quant::QGraph q = fixture();
  const arch::AccelConfig c = config("trio-vit");
  const arch::Program p = sim::compile(q, c);
  const quant::QTensor input = quant::quantize_input(q, quant::synthetic_input(q.graph, 9));
  arch::MemoryImage memory(c);
  arch::preload_dram(memory.dram, p, q, input);
  arch::FunctionalModel model(q, p, c, memory);
  arch::RunOptions o;
  o.functional = &model;
  o.memory = &memory;
  arch::run_program(p, c, o);

  // One code of a middle layer differs: that layer counts 1, every other layer 0, and the message names it.
  std::vector<quant::QTensor> golden = quant::run_int_all(q, input);
  const size_t layer = q.graph.nodes.size() / 2;
  const size_t element = golden[layer].data.size() / 3;
  golden[layer].data[element] += 1;
  const std::vector<int64_t> bad = model.mismatches(golden);
  INFO("corrupted layer " << q.graph.nodes[layer].name);
  for (size_t l = 0; l < bad.size(); ++l) CHECK(bad[l] == (l == layer ? 1 : 0));
  CHECK_THAT(model.first_mismatch(), Catch::StartsWith("layer '" + q.graph.nodes[layer].name + "'") &&
                                         Catch::Contains("element " + std::to_string(element) + ":"));

  // A tile kind its layer cannot have, a region outside the output.
  arch::ComputeTile add;
  for (const arch::ComputeTile& t : p.tiles)
    if (q.graph.nodes[static_cast<size_t>(t.layer)].op == quant::OpKind::Add) add = t;
  REQUIRE(add.layer > 0);
  arch::ComputeTile wrong_kind = add;
  wrong_kind.work = arch::TileWork::Gemm;
  CHECK_THROWS_AS(model.execute(wrong_kind), std::invalid_argument);
  arch::ComputeTile outside = add;
  outside.region.p1 = 1 << 20;
  CHECK_THROWS_AS(model.execute(outside), std::invalid_argument);
}

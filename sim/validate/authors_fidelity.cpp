#include "sim/validate/authors_fidelity.hpp"

#include <algorithm>
#include <stdexcept>

#include "sim/compile/inputs.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

namespace {

using authors_model::Part;

// The model's block of a vitsim layer name: "stem.N", "Sx/bY", "Sx/bY.mla" or "Sx/bY.mb"; empty for the head.
std::string block_of(const std::string& layer) {
  if (layer.rfind("stem.", 0) == 0) return layer.substr(0, layer.find('.', 5));
  if (layer.empty() || layer[0] != 'S') return "";
  const size_t dot = layer.find_first_of(". ");
  const std::string block = layer.substr(0, dot);
  for (const char* sub : {".mla", ".mb"})
    if (layer.compare(dot, std::string(sub).size(), sub) == 0) return block + sub;
  return block;
}

// The model's piece type of a vitsim layer; `after_depthwise`: the layer consumes a depthwise conv. Residual
// adds (-1) belong to no piece: the model has none.
int part_of(const LayerStats& l, bool after_depthwise) {
  if (l.op == "add" || l.op == "input") return -1;
  if (l.label.rfind("dw", 0) == 0 || after_depthwise) return static_cast<int>(Part::FusedDepthwise);
  if (l.op == "matmul" || l.op == "attn_kernel" || l.op == "attn_normalize" || l.op == "concat")
    return static_cast<int>(Part::AttentionMatmul);
  if (l.label == "conv3x3") return static_cast<int>(Part::Stem);
  return static_cast<int>(Part::Pointwise);
}

}  // namespace

Fidelity compare_with_authors_model(const quant::QGraph& qgraph, const std::string& model, int resolution) {
  Fidelity f;
  f.model = model;
  f.resolution = resolution;
  const auto entries =
      authors_model::price(authors_model::variant(model, resolution), authors_model::Arrays{});
  SimOptions options;
  options.compile.ideal_memory = true;
  const SimReport r = simulate(qgraph, find_accel("trio-vit-authors-model"), options);

  // Consecutive layers of one block and piece type form one piece.
  struct Span {
    std::string block;
    int part = -1;
    int64_t start = 0, end = 0;
  };
  std::vector<Span> spans;
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const LayerStats& l = r.layers[i];
    const std::string block = block_of(l.name);
    if (block.empty() || l.start < 0) continue;
    f.vitsim_cycles = std::max(f.vitsim_cycles, l.end + 1);
    const auto& inputs = qgraph.graph.nodes[i].inputs;
    const bool after_dw =
        inputs.size() == 1 && r.layers[static_cast<size_t>(inputs[0])].label.rfind("dw", 0) == 0;
    const int part = part_of(l, after_dw);
    if (part < 0) continue;
    if (!spans.empty() && spans.back().block == block && spans.back().part == part) {
      spans.back().start = std::min(spans.back().start, l.start);
      spans.back().end = std::max(spans.back().end, l.end);
    } else {
      spans.push_back({block, part, l.start, l.end});
    }
  }
  if (spans.size() != entries.size())
    throw std::logic_error("authors' model comparison: vitsim's " + model + " has " +
                           std::to_string(spans.size()) + " pieces, the model " +
                           std::to_string(entries.size()));
  for (size_t i = 0; i < entries.size(); ++i) {
    const authors_model::Entry& e = entries[i];
    if (spans[i].block != e.block || spans[i].part != static_cast<int>(e.part))
      throw std::logic_error("authors' model comparison: piece " + std::to_string(i) + " is " + e.block +
                             " (" + authors_model::part_name(e.part) + ") in the model but " +
                             spans[i].block + " in vitsim");
    f.pieces.push_back({e.block, e.stage, e.part, e.cycles, spans[i].end - spans[i].start + 1});
    f.model_cycles += e.cycles;
  }
  return f;
}

}  // namespace vitsim::sim

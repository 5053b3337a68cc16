// Functional simulation: the engines' integer datapaths, executed tile by tile on real codes. Each compute
// tile computes its Region of its layer's output the way its resource does (MAT / R-MAC GEMM: products of
// pe-wide input slices accumulated per output group; R-MAC depthwise: tap-by-tap output-stationary
// accumulation; auxiliary units: requantizer, activation, residual add, average pool, log2 divisor and shift
// division, LayerNorm), so a layer's output is complete once all its tiles ran. Layout-only layers (Input,
// Concat) have no tiles: their outputs are assembled from their inputs when first needed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "arch/program.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::arch {

/// sum_{i < k} product(i) as a PE lane computes it: `pe`-wide partial sums (one adder tree's output per
/// wave) added to the accumulator in order. The RTL co-simulation (docs/rtl.md) holds the MAT lanes to it.
template <class Product>
int64_t pe_chunked_dot(int64_t k, int64_t pe, const Product& product) {
  int64_t acc = 0;
  for (int64_t first = 0; first < k; first += pe) {
    int64_t partial = 0;
    for (int64_t i = first; i < std::min(k, first + pe); ++i) partial += product(i);
    acc += partial;
  }
  return acc;
}

/// The two axes a Region indexes in a layer's output (see Region): c in [0, channels), p in [0, pixels).
struct RegionSpace {
  int64_t channels = 0, pixels = 0;
};
RegionSpace region_space(const quant::Node& node);

class FunctionalModel {
 public:
  /// `input`: the quantized image (quant::quantize_input). Keeps a reference to `qgraph`.
  FunctionalModel(const quant::QGraph& qgraph, quant::QTensor input);

  /// Executes one tile (tiles of a layer in program order; a layer's inputs complete before it starts).
  /// Throws std::invalid_argument for a tile its layer cannot have (work kind, region outside the output).
  /// Pipelined tiles legitimately read inputs that are only partly computed, so reading an element no tile
  /// wrote yet is not detected here: the outputs come out wrong and mismatches() reports them.
  void execute(const ComputeTile& tile);

  /// The output codes of `layer` (complete once all its tiles executed; layout-only layers on demand).
  const quant::QTensor& output(int layer);

  /// Per layer: elements that differ from `golden` (the integer reference executor's outputs, indexed
  /// like the graph). Elements no tile computed count as mismatches.
  std::vector<int64_t> mismatches(const std::vector<quant::QTensor>& golden);

 private:
  // What the tiles produced so far for one layer.
  struct LayerState {
    quant::QTensor codes;
    std::vector<bool> written;  // per element of `codes`: computed by a tile (or assembled from such)
    int64_t written_count = 0;
    std::vector<int64_t> accumulators;  // float_layernorm Linear: int32 sums (bias included) of the GEMM
    std::vector<bool> accumulated;      // per accumulator: computed by a Gemm tile
  };

  LayerState& state(int layer);
  bool complete(int layer);
  void write(LayerState& s, int64_t flat, int32_t code);
  const quant::QTensor& input(const ComputeTile& tile, size_t k);

  void conv_gemm(const ComputeTile& tile, LayerState& s);
  void conv_depthwise(const ComputeTile& tile, LayerState& s);
  void linear_gemm(const ComputeTile& tile, LayerState& s);
  void linear_layernorm(const ComputeTile& tile, LayerState& s);
  void matmul_gemm(const ComputeTile& tile, LayerState& s);
  void elementwise(const ComputeTile& tile, LayerState& s);

  const quant::QGraph& qgraph_;
  std::vector<LayerState> layers_;
};

}  // namespace vitsim::arch

// Functional simulation: the engines' integer datapaths, executed tile by tile on real codes. Each compute
// tile computes its Region of its layer's output the way its resource does (MAT / R-MAC GEMM: products of
// pe-wide input slices accumulated per output group; R-MAC depthwise: tap-by-tap output-stationary
// accumulation; auxiliary units: requantizer, activation, residual add, average pool, log2 divisor and shift
// division, LayerNorm), so a layer's output is complete once all its tiles ran. Layout-only layers (Input,
// Concat) have no tiles: their outputs are assembled from their inputs when first needed.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/program.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::arch {

class FunctionalModel {
 public:
  /// `input`: the quantized image (quant::quantize_input). Keeps a reference to `qgraph`.
  FunctionalModel(const quant::QGraph& qgraph, quant::QTensor input);

  /// Executes one tile (tiles of a layer in program order; a layer's inputs complete before it starts).
  void execute(const ComputeTile& tile);

  /// The output codes of `layer` (complete once all its tiles executed; layout-only layers on demand).
  const quant::QTensor& output(int layer);

  /// Per layer: elements that differ from `golden` (the integer reference executor's outputs, indexed
  /// like the graph). Layers never computed count every element as a mismatch.
  std::vector<int64_t> mismatches(const std::vector<quant::QTensor>& golden);

 private:
  const quant::QGraph& qgraph_;
  std::vector<quant::QTensor> outputs_;
  std::vector<std::vector<int64_t>>
      accumulators_;  // per layer: int32/int64 partials where a layer needs them
  std::vector<bool> ready_;
};

}  // namespace vitsim::arch

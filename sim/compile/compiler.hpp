// The compiler / mapper: quantized graph + accelerator config -> Program (arch/program.hpp).
//
// It assigns every layer to resources (depthwise convs to an engine that supports the kernel and stride,
// else lowered to a grouped GEMM; pointwise / generic convs, Linear and MatMul to the MAC engines, split
// between them by a greedy earliest-finish rule using the closed-form tile costs; standalone element-wise
// layers to their auxiliary unit), tiles each layer so every tile's operands fit its double-buffered slot
// of the on-chip buffers, fuses a depthwise conv into the pointwise conv that consumes it (R-MAC and MAT
// pipelined tile by tile, the intermediate stays on chip), pipelines linear attention across heads (R-MAC
// computes head i's V'K^T while MAT computes head i-1's output), and emits the DMA loads and stores with
// double buffering. docs/engines.md describes the mapping of every EfficientViT layer type.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arch/accel_config.hpp"
#include "arch/program.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::sim {

struct CompileOptions {
  /// Ideal memory: no DMA transfers at all (operands are on chip when needed) and no buffer capacity
  /// limits (one tile per layer, except the cuts that split a layer across GEMM engines, attention heads
  /// and fusion blocks). For hand-checked closed forms and SCALE-Sim compatibility.
  bool ideal_memory = false;
  /// For tests: the tile-shape search tries every candidate in full (no bound spares a trial, and a trial
  /// emits everything a tile gets), the reference that the default search must reproduce exactly.
  bool exhaustive_search = false;
};

/// A layer that cannot be mapped: names the layer and the resource it lacks.
class MappingError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// One engine's double-buffered slot of a buffer: capacity / engines / 2.
int64_t slot_bytes(const arch::AccelConfig& config, arch::BufferKind buffer);

arch::Program compile(const quant::QGraph& qgraph, const arch::AccelConfig& config,
                      const CompileOptions& options = {});

}  // namespace vitsim::sim

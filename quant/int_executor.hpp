// Integer reference executor: runs a QGraph with integer-only arithmetic (int codes, int32/int64
// accumulators, Requantizers), exactly as documented in qgraph.hpp. This is the golden model the
// simulator's functional mode must match bit for bit. Deterministic; one thread.
#pragma once

#include <vector>

#include "quant/qgraph.hpp"

namespace vitsim::quant {

/// Quantizes an FP32 image with the input node's per-tensor quantizer (round half to even, saturate).
QTensor quantize_input(const QGraph& qgraph, const Tensor& image);

/// Real values of integer codes: scale[g] * (q - zero_point[g]) per element (bits 32: scale[g] * q).
Tensor dequantize(const QTensor& codes, const ActQuant& quant);

/// Computes node `index` from its inputs' codes (one per graph input, in order). Throws
/// std::invalid_argument naming the node for an op without integer semantics or inconsistent data.
QTensor eval_node_int(const QGraph& qgraph, int index, const std::vector<const QTensor*>& inputs);

/// Runs the whole graph; every node's output codes, indexed like the graph (entry 0 = quantized input).
std::vector<QTensor> run_int_all(const QGraph& qgraph, const QTensor& input);

/// Runs the whole graph and returns the last node's codes, freeing intermediates after their last use.
QTensor run_int(const QGraph& qgraph, const QTensor& input);

}  // namespace vitsim::quant

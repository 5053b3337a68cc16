// A deliberately naive second implementation of every graph op, for testing the FP32 executor.
//
// Written straight from the op semantics documented in quant/graph.hpp (on OpKind) and
// quant/fp32_executor.hpp, independently of quant/fp32_executor.cpp: plain nested loops over explicit
// indices, accumulating in double. Slow on purpose; use it on small shapes only.
#pragma once

#include <vector>

#include "quant/graph.hpp"

namespace vitsim::test {

/// Computes `node` from its input tensors (one per entry of node.inputs, in order), in double precision,
/// and rounds the result to FP32. The node's params must be materialized.
///
/// OpKind::Input has no graph inputs; here it takes the image as its single tensor and returns a copy
/// (so a whole graph can be replayed node by node).
///
/// Throws std::invalid_argument if an input's shape, a parameter or the node's own out_shape does not fit
/// the op (so a test never reads out of bounds).
quant::Tensor naive_eval(const quant::Node& node, const std::vector<const quant::Tensor*>& inputs);

}  // namespace vitsim::test

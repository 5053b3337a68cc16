// Small QGraphs written by hand for the integer-executor tests: quantizers, tensors of codes, a QGraph with
// one default QNode per node.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "quant/graph.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::test {

inline quant::ActQuant pt(float scale, int32_t zp, int bits = 8) {
  return quant::ActQuant::per_tensor_quant(scale, zp, bits);
}

// A grid over axes 0 and 1 (g0 x g1 groups, row-major).
inline quant::ActQuant grid(int64_t g0, int64_t g1, std::vector<float> scale, std::vector<int32_t> zp,
                            int bits = 8) {
  quant::ActQuant q;
  q.bits = bits;
  q.groups0 = g0;
  q.groups1 = g1;
  q.scale = std::move(scale);
  q.zero_point = std::move(zp);
  return q;
}

inline quant::QGraph make_qgraph(quant::Graph g) {
  quant::QGraph q;
  q.nodes.resize(g.nodes.size());
  q.graph = std::move(g);
  return q;
}

inline quant::QTensor qt(quant::Shape shape, std::vector<int32_t> data) {
  return quant::QTensor{std::move(shape), std::move(data)};
}

}  // namespace vitsim::test

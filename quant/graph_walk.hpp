// The one implementation of running a graph node by node, shared by the FP32 and the integer executor:
// evaluation order, input gathering, and freeing each value after its last reader.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "quant/graph.hpp"

namespace vitsim::quant::detail {

/// Evaluates every node in order with eval(index, inputs) -> T, node 0 on {&input}. keep_all: returns
/// every node's value; otherwise each value is dropped after its last reader and only the last node's
/// value is kept (at the back of the returned vector).
template <class T, class Eval>
std::vector<T> walk_graph(const Graph& graph, const T& input, bool keep_all, Eval&& eval) {
  const size_t count = graph.nodes.size();
  // last_use[j]: the last node that reads node j (j itself if nobody does).
  std::vector<size_t> last_use(count);
  for (size_t j = 0; j < count; ++j) last_use[j] = j;
  for (size_t i = 0; i < count; ++i)
    for (int in : graph.nodes[i].inputs) {
      if (in < 0 || static_cast<size_t>(in) >= i)
        throw std::invalid_argument("node '" + graph.nodes[i].name + "' reads node " + std::to_string(in) +
                                    ", which is not an earlier node");
      last_use[static_cast<size_t>(in)] = i;
    }

  std::vector<T> values(count);
  std::vector<const T*> ins;
  for (size_t i = 0; i < count; ++i) {
    ins.clear();
    if (i == 0) ins.push_back(&input);
    for (int in : graph.nodes[i].inputs) ins.push_back(&values[static_cast<size_t>(in)]);
    values[i] = eval(i, ins);
    if (keep_all || i + 1 == count) continue;
    for (int in : graph.nodes[i].inputs)
      if (last_use[static_cast<size_t>(in)] == i) values[static_cast<size_t>(in)] = T();
    if (last_use[i] == i) values[i] = T();
  }
  return values;
}

}  // namespace vitsim::quant::detail

// Human- and machine-readable views of a model graph: the per-layer table of `vitsim graph` and the zoo
// listing of `vitsim models`.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>

#include "quant/graph.hpp"

namespace vitsim::sim {

/// 1234567 -> "1,234,567"
std::string with_commas(int64_t value);

/// Per-layer table: #, name, op, input and output shapes, k/s/groups, bias, norm, act, params, MACs; then
/// totals. Node 0 (the input) is not a layer and is not listed.
void print_graph_table(const quant::Graph& graph, std::ostream& out);

/// The same content as JSON: {model, resolution, params, macs, layers: [...]}.
nlohmann::json graph_json(const quant::Graph& graph);

/// The zoo: name, resolutions, params and MACs at the default resolution.
void print_model_list(std::ostream& out);
nlohmann::json model_list_json();

}  // namespace vitsim::sim

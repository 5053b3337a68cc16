// A graph's convolutions and GEMMs as a SCALE-Sim v2 conv topology (docs/scalesim.md, "Exporting a vitsim
// model to SCALE-Sim"), so the same network runs in SCALE-Sim and in `vitsim scalesim`.
//
// Each row is a conv in SCALE-Sim's no-padding form whose ofmap (its rule, scalesim_ofmap_size) is the
// layer's: the IFMAP given is the extent of the padded input the windows cover, (ofmap - 1) x stride +
// filter, per axis. Per layer:
//   Conv2d, groups 1                 -> one row: k x k filter, Cin channels, Cout filters, the stride
//   Conv2d, one input channel a group (depthwise, Cout = m x Cin) -> one row named "<name>.DP": Cin channels,
//     m filters; SCALE-Sim splits a "DP" row into Cin single-channel convs of m filters each
//   Conv2d, other groups (G > 1)     -> G rows "<name>.g<i>": Cin/G channels, Cout/G filters (SCALE-Sim has
//     no groups; each group is its own GEMM, as on vitsim's engines)
//   Linear on T rows (tokens, or T = 1 for a vector) -> one row: a 1x1 conv over a T x 1 ifmap, in_features
//     channels, out_features filters (the GEMM T x in x out)
//   MatMul [B, M, N], contraction K -> B rows "<name>.b<i>" (one per batch: heads) of 1x1 convs over an
//     M x 1 ifmap, K channels, N filters (B = 1: one row "<name>")
// Every other op (pooling, element-wise, normalization, token and attention data movement) has no MACs and
// no SCALE-Sim form: it is left out. Names are SCALE-Sim-safe and unique: commas, whitespace and control
// characters become '_', "DP" in a graph name becomes "Dp" (only the depthwise rows may hold "DP"), and a
// name already used gets "_2", "_3", ...
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant/graph.hpp"
#include "sim/validate/scalesim_import.hpp"

namespace vitsim::sim {

struct ScaleSimTopologyRow {
  std::string name;
  ScaleSimConv conv;       // stride_w == stride_h (8-column rows); ofmap by SCALE-Sim's rule
  bool depthwise = false;  // a "DP" row: SCALE-Sim runs conv.channels single-channel convs
  /// SCALE-Sim's count: ofmap_h x ofmap_w x filter_h x filter_w x channels x filters.
  int64_t macs() const;
  /// Layers SCALE-Sim makes of the row: conv.channels for a depthwise row, else 1.
  int64_t scalesim_layers() const { return depthwise ? conv.channels : 1; }
};

struct ScaleSimTopology {
  std::vector<ScaleSimTopologyRow> rows;  // in graph order
  int layers_written = 0;                 // graph layers with at least one row
  std::map<std::string, int> left_out;    // op name -> graph layers of that op without a SCALE-Sim form

  int64_t macs() const;
  int64_t scalesim_layers() const;
  /// The file: SCALE-Sim's 8-column conv header, then one "name,ifmap_h,...,stride," row per row.
  std::string csv() const;
};

/// The topology of `graph` (see the file comment).
ScaleSimTopology scalesim_topology(const quant::Graph& graph);

/// What `vitsim graph --scalesim-topology PATH` reports: rows and graph layers written, the SCALE-Sim layers
/// they become, their MACs against the graph's, and the layers left out by op.
void print_scalesim_topology_summary(const ScaleSimTopology& topology, const quant::Graph& graph,
                                     const std::string& path, std::ostream& out);
/// The same as JSON: {file, rows, layers_written, scalesim_layers, macs, model_macs, left_out: {op: count}}.
nlohmann::json scalesim_topology_json(const ScaleSimTopology& topology, const quant::Graph& graph,
                                      const std::string& path);

}  // namespace vitsim::sim

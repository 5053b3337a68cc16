#include "sim/validate/scalesim_export.hpp"

#include <iomanip>
#include <ostream>
#include <set>
#include <sstream>
#include <utility>

#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

using quant::Graph;
using quant::Node;
using quant::OpKind;

namespace {

// A graph name SCALE-Sim reads back as written (see the header comment); "DP" is left for depthwise rows.
std::string safe_name(const std::string& name) {
  std::string s;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    s += (c == ',' || u <= ' ' || u == 0x7f) ? '_' : c;
  }
  for (size_t at = s.find("DP"); at != std::string::npos; at = s.find("DP", at + 2)) s[at + 1] = 'p';
  return s.empty() ? "layer" : s;
}

// Collects the rows, each with a name no earlier row has.
class RowWriter {
 public:
  explicit RowWriter(std::vector<ScaleSimTopologyRow>& rows) : rows_(rows) {}

  // A k x k conv of `channels` x `filters` whose SCALE-Sim ofmap is ofmap_h x ofmap_w: the ifmap is the
  // padded extent its windows cover.
  void conv(const std::string& name, int64_t ofmap_h, int64_t ofmap_w, int64_t kernel, int64_t stride,
            int64_t channels, int64_t filters, bool depthwise = false) {
    ScaleSimTopologyRow r;
    r.depthwise = depthwise;
    ScaleSimConv& c = r.conv;
    c.ifmap_h = (ofmap_h - 1) * stride + kernel;
    c.ifmap_w = (ofmap_w - 1) * stride + kernel;
    c.filter_h = c.filter_w = kernel;
    c.channels = channels;
    c.filters = filters;
    c.stride_h = c.stride_w = stride;
    c.ofmap_h = scalesim_ofmap_size(c.ifmap_h, c.filter_h, c.stride_h);
    c.ofmap_w = scalesim_ofmap_size(c.ifmap_w, c.filter_w, c.stride_w);
    r.name = name;
    for (int n = 2; !used_.insert(r.name).second; ++n) r.name = name + "_" + std::to_string(n);
    rows_.push_back(std::move(r));
  }

  // The GEMM rows x k times k x n: a 1x1 conv over a rows x 1 ifmap.
  void gemm(const std::string& name, int64_t rows, int64_t k, int64_t n) { conv(name, rows, 1, 1, 1, k, n); }

 private:
  std::vector<ScaleSimTopologyRow>& rows_;
  std::set<std::string> used_;
};

}  // namespace

int64_t ScaleSimTopologyRow::macs() const {
  int64_t macs = 1;
  for (const int64_t f :
       {conv.ofmap_h, conv.ofmap_w, conv.filter_h, conv.filter_w, conv.channels, conv.filters})
    macs = quant::checked_mul(macs, f);
  return macs;
}

int64_t ScaleSimTopology::macs() const {
  int64_t macs = 0;
  for (const ScaleSimTopologyRow& r : rows) macs = quant::checked_add(macs, r.macs());
  return macs;
}

int64_t ScaleSimTopology::scalesim_layers() const {
  int64_t layers = 0;
  for (const ScaleSimTopologyRow& r : rows) layers += r.scalesim_layers();
  return layers;
}

std::string ScaleSimTopology::csv() const {
  std::ostringstream s;
  for (size_t i = 0; i < kScaleSimConvFields; ++i) s << (i ? ", " : "") << kScaleSimConvColumns[i];
  s << ",\n";
  for (const ScaleSimTopologyRow& r : rows) {
    const ScaleSimConv& c = r.conv;
    s << r.name << ',' << c.ifmap_h << ',' << c.ifmap_w << ',' << c.filter_h << ',' << c.filter_w << ','
      << c.channels << ',' << c.filters << ',' << c.stride_h << ",\n";
  }
  return s.str();
}

ScaleSimTopology scalesim_topology(const Graph& graph) {
  ScaleSimTopology t;
  RowWriter writer(t.rows);
  for (size_t i = 1; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    const std::string name = safe_name(n.name);
    const quant::Shape& out = n.out_shape;
    switch (n.op) {
      case OpKind::Conv2d: {
        const int64_t in_per_group = n.in_features / n.groups, out_per_group = n.out_features / n.groups;
        if (n.groups == 1)
          writer.conv(name, out[1], out[2], n.kernel, n.stride, n.in_features, n.out_features);
        else if (in_per_group == 1)
          writer.conv(name + ".DP", out[1], out[2], n.kernel, n.stride, n.groups, out_per_group, true);
        else
          for (int g = 0; g < n.groups; ++g)
            writer.conv(name + ".g" + std::to_string(g), out[1], out[2], n.kernel, n.stride, in_per_group,
                        out_per_group);
        break;
      }
      case OpKind::Linear:
        writer.gemm(name, quant::numel(out) / n.out_features, n.in_features, n.out_features);
        break;
      case OpKind::MatMul:
        if (out[0] == 1)
          writer.gemm(name, out[1], n.in_features, out[2]);
        else
          for (int64_t b = 0; b < out[0]; ++b)
            writer.gemm(name + ".b" + std::to_string(b), out[1], n.in_features, out[2]);
        break;
      default:
        ++t.left_out[quant::op_name(n.op)];
        continue;
    }
    ++t.layers_written;
  }
  return t;
}

void print_scalesim_topology_summary(const ScaleSimTopology& topology, const Graph& graph,
                                     const std::string& path, std::ostream& out) {
  int64_t depthwise = 0;
  for (const ScaleSimTopologyRow& r : topology.rows) depthwise += r.depthwise;
  const int64_t macs = topology.macs(), model_macs = graph.macs();
  out << "SCALE-Sim topology " << path << " (conv format): " << topology.rows.size() << " rows for "
      << topology.layers_written << " of the " << graph.nodes.size() - 1 << " layers";
  if (depthwise > 0)
    out << "; SCALE-Sim splits its " << depthwise
        << " depthwise (\"DP\") rows per channel: " << with_commas(topology.scalesim_layers())
        << " layers in all";
  if (topology.scalesim_layers() > static_cast<int64_t>(kScaleSimMaxLayers))
    out << "\n  note: more layers than `vitsim scalesim` reads (" << with_commas(kScaleSimMaxLayers)
        << "); SCALE-Sim itself takes the file";
  out << "\n  MACs: " << with_commas(macs) << " of the model's " << with_commas(model_macs) << " ("
      << std::fixed << std::setprecision(2)
      << (model_macs > 0 ? 100.0 * static_cast<double>(macs) / static_cast<double>(model_macs) : 100.0)
      << " %)\n";
  if (topology.left_out.empty()) return;
  out << "  left out, no SCALE-Sim form:";
  const char* separator = " ";
  for (const auto& [op, count] : topology.left_out)
    out << std::exchange(separator, ", ") << count << ' ' << op;
  out << '\n';
}

nlohmann::json scalesim_topology_json(const ScaleSimTopology& topology, const Graph& graph,
                                      const std::string& path) {
  return {{"file", path},
          {"rows", topology.rows.size()},
          {"layers_written", topology.layers_written},
          {"scalesim_layers", topology.scalesim_layers()},
          {"macs", topology.macs()},
          {"model_macs", graph.macs()},
          {"left_out", topology.left_out}};
}

}  // namespace vitsim::sim

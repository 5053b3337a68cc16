#include "sim/run/graph_report.hpp"

#include <iomanip>
#include <ostream>

#include "quant/zoo.hpp"

namespace vitsim::sim {

using quant::Graph;
using quant::Node;
using quant::OpKind;

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return (value < 0 ? "-" : "") + digits;
}

namespace {

std::string input_shape(const Graph& g, const Node& n) {
  return n.inputs.empty() ? "" : quant::shape_str(g.nodes[static_cast<size_t>(n.inputs[0])].out_shape);
}

std::string kernel_spec(const Node& n) {
  if (n.op != OpKind::Conv2d) return "";
  return std::to_string(n.kernel) + "/" + std::to_string(n.stride) + "/" + std::to_string(n.groups);
}

struct Column {
  const char* title;
  int width;
  bool right;
};

}  // namespace

void print_graph_table(const Graph& g, std::ostream& out) {
  const Column cols[] = {{"#", 4, true},     {"layer", 30, false}, {"op", 14, false},  {"in", 13, false},
                         {"out", 13, false}, {"k/s/g", 9, false},  {"bias", 4, false}, {"norm", 4, false},
                         {"act", 9, false},  {"params", 11, true}, {"MACs", 15, true}};
  auto cell = [&](const Column& c, const std::string& text) {
    out << (c.right ? std::right : std::left) << std::setw(c.width) << text << ' ';
  };
  out << g.model << " @" << g.resolution << "x" << g.resolution << ": " << g.nodes.size() - 1 << " layers\n";
  for (const Column& c : cols) cell(c, c.title);
  out << '\n';
  for (size_t i = 1; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::string row[] = {std::to_string(i),
                               n.name,
                               n.label(),
                               input_shape(g, n),
                               quant::shape_str(n.out_shape),
                               kernel_spec(n),
                               n.has_bias ? "Y" : "",
                               quant::norm_name(n.norm),
                               quant::act_name(n.act),
                               with_commas(n.param_count()),
                               with_commas(n.macs())};
    for (size_t c = 0; c < std::size(cols); ++c) cell(cols[c], row[c]);
    out << '\n';
  }
  out << "total: params " << with_commas(g.param_count()) << ", MACs " << with_commas(g.macs()) << '\n';
}

nlohmann::json graph_json(const Graph& g) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 1; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    nlohmann::json inputs = nlohmann::json::array();
    for (int in : n.inputs) inputs.push_back(g.nodes[static_cast<size_t>(in)].name);
    nlohmann::json layer = {{"index", i},
                            {"name", n.name},
                            {"op", quant::op_name(n.op)},
                            {"label", n.label()},
                            {"inputs", inputs},
                            {"out_shape", n.out_shape},
                            {"bias", n.has_bias},
                            {"norm", quant::norm_name(n.norm)},
                            {"act", quant::act_name(n.act)},
                            {"params", n.param_count()},
                            {"macs", n.macs()}};
    if (n.op == OpKind::Conv2d)
      layer["conv"] = {{"kernel", n.kernel}, {"stride", n.stride}, {"pad", n.pad}, {"groups", n.groups}};
    layers.push_back(std::move(layer));
  }
  return {{"model", g.model},          {"resolution", g.resolution}, {"input_shape", g.nodes[0].out_shape},
          {"params", g.param_count()}, {"macs", g.macs()},           {"layers", std::move(layers)}};
}

void print_model_list(std::ostream& out) {
  out << std::left << std::setw(17) << "model" << std::setw(20) << "resolutions" << std::right
      << std::setw(13) << "params" << std::setw(18) << "MACs @224"
      << "  description\n";
  for (const quant::ZooEntry& e : quant::zoo_models()) {
    const Graph g = quant::build_model(e.name, e.default_resolution);
    out << std::left << std::setw(17) << e.name << std::setw(20)
        << "any multiple of " + std::to_string(e.resolution_step) << std::right << std::setw(13)
        << with_commas(g.param_count()) << std::setw(18) << with_commas(g.macs()) << "  " << e.description
        << '\n';
  }
}

nlohmann::json model_list_json() {
  nlohmann::json models = nlohmann::json::array();
  for (const quant::ZooEntry& e : quant::zoo_models()) {
    const Graph g = quant::build_model(e.name, e.default_resolution);
    models.push_back({{"name", e.name},
                      {"family", e.family},
                      {"description", e.description},
                      {"default_resolution", e.default_resolution},
                      {"resolution_multiple_of", e.resolution_step},
                      {"params", g.param_count()},
                      {"macs_at_default_resolution", g.macs()}});
  }
  return models;
}

}  // namespace vitsim::sim

#include "sim/cli/cmd_quantize.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "quant/atomic_file.hpp"
#include "quant/dataset.hpp"
#include "quant/onnx_import.hpp"
#include "quant/ptq.hpp"
#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

using namespace vitsim::quant;

ProgressFn progress_line(std::ostream& err) {
  if (!::isatty(STDERR_FILENO)) return {};
  return [&err](const std::string& stage, int done, int total) {
    err << "\r  " << stage << ": " << done << "/" << total << (done == total ? "\n" : "") << std::flush;
  };
}

namespace {

nlohmann::json quality_json(const QualityReport& q) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerQuality& l : q.layers)
    layers.push_back(
        {{"name", l.name},
         {"sqnr_db", std::isfinite(l.sqnr_db) ? nlohmann::json(l.sqnr_db) : nlohmann::json("inf")},
         {"cosine", l.cosine}});
  nlohmann::json j = {{"images", q.images},
                      {"output_sqnr_db", q.output_sqnr_db},
                      {"output_cosine", q.output_cosine},
                      {"top1_agreement", q.top1_agreement},
                      {"layers", layers}};
  if (q.labelled)
    j["accuracy"] = {{"labelled", q.labelled}, {"fp32", q.fp32_accuracy}, {"int", q.int_accuracy}};
  return j;
}

nlohmann::json mixed_json(const MixedPrecisionReport& m) {
  nlohmann::json layers = nlohmann::json::array();
  for (const MixedPrecisionLayer& l : m.layers)
    layers.push_back(
        {{"name", l.name}, {"macs", l.macs}, {"sensitivity", l.sensitivity}, {"weight_bits", l.weight_bits}});
  return {{"bops", m.bops},
          {"bops_all_low", m.bops_low},
          {"bops_ratio", static_cast<double>(m.bops) / static_cast<double>(m.bops_low)},
          {"budget", m.budget},
          {"calibration_images", m.calibration_images},
          {"holdout_images", m.holdout_images},
          {"greedy_high_layers", m.greedy_high},
          {"greedy_score", m.greedy_score},
          {"best_score", m.best_score},
          {"scored", m.scored},
          {"layers", layers}};
}

}  // namespace

void print_mixed_precision(const MixedPrecisionReport& m, std::ostream& out) {
  if (m.layers.empty()) return;
  int low_bits = m.layers[0].weight_bits, high = 0;
  for (const MixedPrecisionLayer& l : m.layers) low_bits = std::min(low_bits, l.weight_bits);
  for (const MixedPrecisionLayer& l : m.layers) high += l.weight_bits != low_bits;
  const auto flags = out.flags();
  out << "mixed precision: " << high << " of " << m.layers.size() << " layers at higher-width weights, BOPs "
      << std::fixed << std::setprecision(3) << static_cast<double>(m.bops) / static_cast<double>(m.bops_low)
      << "x the all-" << low_bits << "-bit model (budget " << m.budget << "x); held-out logit error "
      << std::scientific << std::setprecision(3) << m.best_score << " (greedy start, " << m.greedy_high
      << " layers: " << m.greedy_score << "; " << m.scored << " choices scored on " << m.holdout_images
      << " held-out images, " << m.calibration_images << " calibrated on)\n";
  out.flags(flags);
}

bool is_standard_vit(const Graph& graph) {
  return std::any_of(graph.nodes.begin(), graph.nodes.end(), [](const Node& n) {
    return n.op == OpKind::Softmax || n.op == OpKind::PatchTokens || n.op == OpKind::ClassToken;
  });
}

std::string default_recipe(const Graph& graph) {
  return is_standard_vit(graph) ? "vit-w8a8" : "trio-w8a8";
}

Graph model_graph(const QuantizeArgs& args) {
  if (!args.onnx.empty()) return import_onnx(args.onnx);
  Graph graph = build_model(args.model, args.resolution);
  materialize_synthetic_weights(graph, args.seed);
  return graph;
}

int run_quantize(const QuantizeArgs& args, std::ostream& out, std::ostream& err) {
  using clock = std::chrono::steady_clock;
  if (args.out.empty()) throw std::invalid_argument("--out is required (the quantized graph file to write)");
  const std::string recipe_dir = config_dir() + "/quant";
  // A named recipe is checked before the (possibly slow) import; the default depends on the graph.
  std::optional<Recipe> named;
  if (!args.recipe.empty()) named = find_recipe(args.recipe, recipe_dir);
  const Graph graph = model_graph(args);
  const Recipe recipe = named ? *named : find_recipe(default_recipe(graph), recipe_dir);
  const Shape& input = graph.nodes.at(0).out_shape;
  const ImageSet calib = load_images(args.calib, "train", args.calib_count, input, args.seed + 1);
  const auto t0 = clock::now();
  MixedPrecisionReport mixed;
  QGraph qg = quantize_graph(graph, recipe, calib.images, progress_line(err), &mixed);
  const double quantize_s = std::chrono::duration<double>(clock::now() - t0).count();
  save_qgraph(qg, args.out);

  out << graph.model << " quantized with " << recipe.name << " on " << calib.images.size() << " "
      << args.calib << " calibration images in " << std::fixed << std::setprecision(2) << quantize_s
      << " s -> " << args.out << '\n';
  print_mixed_precision(mixed, out);
  if (args.eval == "none") return 0;
  const ImageSet eval = load_images(args.eval, "test", args.eval_count, input, args.seed + 2);
  const QualityReport q = evaluate_quality(qg, eval.images, eval.labels, progress_line(err));
  const std::string report_path = args.report.empty() ? args.out + ".quality.json" : args.report;
  nlohmann::json report = quality_json(q);
  report["model"] = graph.model;
  report["recipe"] = recipe.name;
  report["calibration"] = {{"source", args.calib}, {"images", calib.images.size()}};
  report["evaluation_source"] = args.eval;
  if (!mixed.layers.empty()) report["mixed_precision"] = mixed_json(mixed);
  write_file_atomic(report_path, report.dump(2) + "\n");

  out << std::setprecision(2) << "quality on " << q.images << " " << args.eval << " images: output SQNR "
      << q.output_sqnr_db << " dB, cosine " << std::setprecision(4) << q.output_cosine << ", top-1 agreement "
      << std::setprecision(1) << 100 * q.top1_agreement << "%";
  if (q.labelled)
    out << ", accuracy FP32 " << 100 * q.fp32_accuracy << "% / int " << 100 * q.int_accuracy << "%";
  out << "\nlowest per-layer SQNR (vs FP32, errors accumulated from the input):\n";
  std::vector<LayerQuality> worst = q.layers;
  std::stable_sort(worst.begin(), worst.end(),
                   [](const auto& a, const auto& b) { return a.sqnr_db < b.sqnr_db; });
  worst.resize(std::min<size_t>(worst.size(), 8));
  for (const LayerQuality& l : worst)
    out << "  " << std::left << std::setw(34) << l.name << std::right << std::setw(8) << std::setprecision(2)
        << l.sqnr_db << " dB  cos " << std::setprecision(4) << l.cosine << '\n';
  out << "report: " << report_path << '\n';
  return 0;
}

}  // namespace vitsim::sim

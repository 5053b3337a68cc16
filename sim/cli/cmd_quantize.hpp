// `vitsim quantize`: model (zoo or ONNX) + recipe + calibration data -> quantized graph file and a
// quality report (per-layer SQNR and cosine vs FP32, end-to-end SQNR, top-1 agreement and accuracy).
#pragma once

#include <iosfwd>
#include <string>

#include "quant/ptq.hpp"

namespace vitsim::sim {

struct QuantizeArgs {
  std::string model = "efficientvit-b1";  // zoo model (synthetic weights), unless onnx is set
  int resolution = 224;
  uint64_t seed = 0;                // synthetic weights and images
  std::string onnx;                 // ONNX file to import instead of a zoo model
  std::string recipe;               // empty: default_recipe(graph)
  std::string calib = "synthetic";  // "synthetic" | "fashion-mnist" (train split)
  int calib_count = 32;
  std::string eval = "synthetic";  // "none" | "synthetic" | "fashion-mnist" (test split)
  int eval_count = 8;
  std::string out;     // .vqg file (required)
  std::string report;  // quality JSON; default <out>.quality.json
};

/// Whether a graph is a standard ViT: it has Softmax attention or the ViT token ops (every zoo DeiT and ViT,
/// and an ONNX import of one; no EfficientViT).
bool is_standard_vit(const quant::Graph& graph);
/// The recipe a graph is quantized with when none is named: vit-w8a8 for a standard ViT, trio-w8a8 for
/// everything else (EfficientViT).
std::string default_recipe(const quant::Graph& graph);

/// The graph `args` name, parameters materialized: the imported ONNX file (`onnx`), else the zoo model with
/// synthetic weights (`model`, `resolution`, `seed`).
quant::Graph model_graph(const QuantizeArgs& args);

/// Runs the command; returns the exit code (std::invalid_argument from any stage propagates).
int run_quantize(const QuantizeArgs& args, std::ostream& out, std::ostream& err);

/// One line on what mixed precision chose ("weights: 7 of 50 layers at 8 bits ..., BOPs 1.098x ...");
/// nothing for a recipe without mixed precision (an empty report).
void print_mixed_precision(const quant::MixedPrecisionReport& mixed, std::ostream& out);

/// Progress on a terminal: one line rewritten in place; nothing when stderr is not a terminal.
quant::ProgressFn progress_line(std::ostream& err);

}  // namespace vitsim::sim

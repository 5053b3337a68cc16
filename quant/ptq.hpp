// Post-training quantization: FP32 graph + recipe + calibration images -> QGraph (integer program).
//
// Steps (docs/quantization.md): fold BatchNorm; run the FP32 graph over the calibration images twice
// (first the per-channel statistics that channel-wise migration and filter-wise shifting need, then every
// quantizer's observer on the transformed tensors); pick each quantizer's range with the recipe's
// calibrator; quantize weights per output channel; derive int32 biases, requantizers, activation stages
// and the attention's numerator / divisor programs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "quant/qgraph.hpp"
#include "quant/recipe.hpp"

namespace vitsim::quant {

/// Folds every Conv2d's BatchNorm into its weights and bias; the result computes the same function
/// (up to FP32 rounding) with no BatchNorm left. Linear LayerNorms are kept.
Graph fold_batchnorm(const Graph& graph);

/// Called as calibration proceeds: stage name, images done, images in the stage.
using ProgressFn = std::function<void(const std::string& stage, int done, int total)>;

/// What the mixed-precision search (recipe "mixed_precision") found, for the reports.
struct MixedPrecisionLayer {
  std::string name;
  int64_t macs = 0;
  double sensitivity = 0;  // the coarse step's proxy (docs/quantization.md)
  int weight_bits = 0;     // chosen
};
struct MixedPrecisionReport {
  std::vector<MixedPrecisionLayer> layers;  // the weighted layers, graph order
  int64_t bops = 0, bops_low = 0;           // chosen; every layer at weight_bits
  double budget = 0;                        // the recipe's limit, a factor of bops_low
  int calibration_images = 0, holdout_images = 0;
  double greedy_score = 0, best_score = 0;  // relative logit MSE vs FP32 on the held-out images
  int scored = 0;                           // distinct choices scored
  int greedy_high = 0;                      // layers at the high width in the greedy start
};

/// Quantizes `graph` (params materialized) by `recipe`, calibrated on `calibration` (non-empty, each
/// shaped like the graph input). Throws std::invalid_argument for empty or mis-shaped calibration data
/// and for graphs the recipe cannot quantize (naming the node). With mixed precision the last
/// holdout_count() images score the search and are not calibration data; `mixed`, when given, receives
/// what the search found.
QGraph quantize_graph(const Graph& graph, const Recipe& recipe, const std::vector<Tensor>& calibration,
                      const ProgressFn& progress = {}, MixedPrecisionReport* mixed = nullptr);

/// Per-layer and end-to-end quality of a QGraph against the FP32 graph it came from.
struct LayerQuality {
  std::string name;
  double sqnr_db = 0;  // 10 log10(sum x^2 / sum (x - x_hat)^2) over all evaluation images
  double cosine = 0;   // cosine similarity of the concatenated outputs
};

struct QualityReport {
  int images = 0;
  std::vector<LayerQuality> layers;  // graph order, every node but the input
  double output_sqnr_db = 0;         // the logits
  double output_cosine = 0;
  double top1_agreement = 0;  // fraction of images whose integer argmax equals the FP32 argmax
  int labelled = 0;           // images with a label >= 0
  double fp32_accuracy = 0, int_accuracy = 0;  // top-1 on the labelled images
};

/// Runs FP32 and integer inference on every image; labels may be empty or hold -1 for unlabelled.
QualityReport evaluate_quality(const QGraph& qgraph, const std::vector<Tensor>& images,
                               const std::vector<int>& labels, const ProgressFn& progress = {});

}  // namespace vitsim::quant

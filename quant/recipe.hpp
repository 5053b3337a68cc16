// PTQ recipes (configs/quant/*.json): typed, validated once, documented field by field here.
// docs/quantization.md explains what each technique does and why.
#pragma once

#include <string>

#include "quant/calibration.hpp"
#include "quant/qgraph.hpp"

namespace vitsim::quant {

struct AttentionRecipe {
  int bits = 8;               // width of every attention tensor: qkv / aggregation outputs, K^T V, sum K,
                              // numerator, attention output (2..8)
  bool per_branch = true;     // separate quantizers for the original-scale (qkv) and aggregated branches
  bool separate_ksum = true;  // sum K (the ones-row product) gets its own quantizer apart from K^T V
  DivisorMode divisor = DivisorMode::Log2;              // "log2" (shift division) or "uniform"
  Log2Rounding log2_rounding = Log2Rounding::Hardware;  // "hardware" (1.5 * 2^i) or "sqrt2"
  int divisor_bits = 8;                                 // uniform divisors: unsigned width (2..16)
};

struct MigrationRecipe {
  bool enabled = false;       // channel-wise migration on the inputs of MBConv depthwise convs
  bool power_of_two = false;  // round log2(s_c) so the factors are shifts
  double quantile = 0.99;     // q in s_c = clip(max_c|X| / max(q(|X|), mean_c max_c|X|), lo, hi)
  double min_factor = 0.1, max_factor = 64.0;
};

/// Standard ViTs (docs/quantization.md): Softmax, LayerNorm and GELU on integers.
struct VitRecipe {
  bool softmax_log2 = false;  // "softmax.output": "log2" (FQ-ViT's log-int-softmax) or "uniform" (default)
  int softmax_bits = 8;       // "softmax.bits": log2 2..5 (4 in vit-w8a8), uniform 2..16 (default 8)
  bool ptf = false;           // "layernorm.ptf": power-of-two factors on LayerNorm inputs (default off)
  bool gelu_poly = false;     // "gelu": "poly" (I-BERT's i-GELU) or "table" (default: a 2^bits-entry table)
};

/// P²-ViT's power-of-two SmoothQuant (docs/quantization.md): the output channel j of a LayerNorm whose
/// every consumer is a Linear (a ViT's norm1 -> qkv, norm2 -> fc1) is divided by s_j (folded into the
/// LayerNorm's gamma_j and beta_j) and the consumers' input column j multiplied by it.
struct SmoothingRecipe {
  bool enabled = false;  // "smoothing.enabled" (default false)
  double alpha =
      0.5;  // "smoothing.alpha" in [0, 1]: s_j = 2^round(log2(max|X_j|^alpha / max|W_j|^(1-alpha)))
};

/// P²-ViT's power-of-two scales (docs/quantization.md).
enum class ScaleKind {
  Float,       // "scales": "float" (default): each scale is what the calibrator gives
  PowerOfTwo,  // "power-of-two": every activation and weight scale is 2^e, so every requantization of a
               // linear layer, matmul, residual add and token op is a shift by e_x + e_w - e_y
};
enum class PotRounding {
  Nearest,   // "pot_rounding": "nearest" (default): e = round(log2 s), s the calibrator's scale
  Adaptive,  // "adaptive": e in floor(log2 s) - 1 .. + 2 with the least layer-output error on the
             // calibration data (activations per tensor; weights per output channel at <= 4 bits, one
             // offset per layer above)
};

/// Auto-ViT-Acc's mixed-scheme weights (docs/quantization.md, quant/mixed_scheme.hpp): in every Linear and
/// one-group Conv2d, the share `pot_ratio` of each row group's output channels (a qkv layer's groups are
/// its heads' row blocks, every other layer is one group) gets power-of-two codes of `pot_bits`, the rows of
/// least extra weight error; the rest keep weight_bits fixed point.
struct MixedSchemeRecipe {
  bool enabled = false;    // "mixed_scheme.enabled" (default false)
  double pot_ratio = 0.5;  // "mixed_scheme.pot_ratio" in [0, 1]: power-of-two rows / rows, per group
  int pot_bits = 4;  // "mixed_scheme.pot_bits" 2..5: sign + exponent; 2^(pot_bits-1) - 2 <= weight_bits - 2
};

/// P²-ViT's coarse-to-fine mixed precision (docs/quantization.md, quant/mixed_precision.hpp): each Conv2d /
/// Linear keeps its weights at the recipe's weight_bits or is promoted to high_bits, under a budget of bit
/// operations (BOPs = MACs x weight bits x input activation bits, summed over those layers). Coarse: layers
/// ranked by a sensitivity proxy, the most sensitive promoted greedily; fine: an evolutionary search scored
/// on a held-out split of the calibration images.
struct MixedPrecisionRecipe {
  bool enabled = false;   // "mixed_precision.enabled" (default false)
  int high_bits = 8;      // "high_bits": the promoted width, weight_bits + 1 .. 8 (default 8)
  double budget = 1.1;    // "budget": BOPs at most this times the all-weight_bits model's (1 .. 16; 1.1)
  double holdout = 0.25;  // "holdout": fraction of the calibration images held out to score the search, the
                          // last round(holdout * n) of them (at least 1, at most n - 1); 0.05 .. 0.95
  int population = 8;     // "population": candidates per generation (2 .. 256; default 8)
  int generations = 6;    // "generations": evolution steps after the greedy start (0 .. 1000; default 6)
  int seed = 0;           // "seed": the search's random generator (0 .. 2^31 - 1; default 0)
};

struct Recipe {
  std::string name;  // e.g. "trio-w8a8"
  std::string description;
  int weight_bits = 8;        // weights: symmetric per output channel (2..8)
  int activation_bits = 8;    // activations outside the attention: per tensor, with zero point (2..8)
  CalibratorSpec calibrator;  // "minmax" | "percentile[:p]" | "mse[:p]" | "kl"
  AttentionRecipe attention;
  MigrationRecipe migration;
  bool filter_shift = false;    // filter-wise shifting of the inputs of MBConv's projection convs
  bool float_layernorm = true;  // a Linear's fused LayerNorm (EfficientViT's head) stays FP32; standalone
                                // LayerNorms (ViTs) are integer
  VitRecipe vit;
  ScaleKind scales = ScaleKind::Float;
  PotRounding pot_rounding = PotRounding::Nearest;  // only with power-of-two scales
  SmoothingRecipe smoothing;
  MixedSchemeRecipe mixed_scheme;  // "mixed_scheme"
  MixedPrecisionRecipe mixed;      // "mixed_precision"
  std::string source_json;         // the recipe as read
};

/// Reads and validates a recipe file. Throws ConfigError naming the file, the JSON path, what was
/// expected and what was found (unknown keys included).
Recipe load_recipe(const std::string& path);

/// Parses a recipe from JSON text; `origin` names it in errors.
Recipe parse_recipe(const std::string& json_text, const std::string& origin);

/// A recipe by name from configs/quant/ (name.json), or a path to a file.
Recipe find_recipe(const std::string& name_or_path, const std::string& config_dir);

}  // namespace vitsim::quant

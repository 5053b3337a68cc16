// P²-ViT's coarse-to-fine mixed precision (recipe "mixed_precision", docs/quantization.md): the choice of a
// weight width per Conv2d / Linear layer under a budget of bit operations. This file holds the parts that
// need no model: the BOPs arithmetic, the greedy (coarse) start, the budget repair and the evolutionary
// (fine) search over an arbitrary score. quant/ptq.cpp supplies the sensitivities and the score.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quant/qgraph.hpp"
#include "quant/recipe.hpp"

namespace vitsim::quant {

/// The layers whose weight width mixed precision chooses: every Conv2d and Linear, in graph order.
std::vector<int> weighted_layers(const Graph& graph);

/// Bit operations of one layer: MACs x weight bits x activation bits (the layer's input codes).
int64_t layer_bops(int64_t macs, int weight_bits, int activation_bits);

/// BOPs of a quantized graph: layer_bops summed over weighted_layers, each layer at its QNode's weight_bits
/// (or at `weight_bits` when > 0, e.g. the all-4-bit reference) and its input's activation bits.
int64_t weight_bops(const QGraph& qgraph, int weight_bits = 0);

/// A width per weighted layer: true = the high width (promoted), false = the recipe's weight_bits.
using BitChoice = std::vector<bool>;

/// Per layer the BOPs at the low and at the high width, and the largest total allowed.
struct BopsBudget {
  std::vector<int64_t> low, high;
  int64_t limit = 0;
  int64_t bops(const BitChoice& choice) const;
  bool fits(const BitChoice& choice) const { return bops(choice) <= limit; }
};

/// The coarse step: layers by decreasing sensitivity (ties: graph order), each promoted if the choice then
/// still fits the budget.
BitChoice greedy_choice(const std::vector<double>& sensitivity, const BopsBudget& budget);

/// Demotes promoted layers until the choice fits: the least sensitivity per extra BOP first (ties: the
/// later layer). The all-low choice must fit (budget factor >= 1).
void repair(BitChoice& choice, const std::vector<double>& sensitivity, const BopsBudget& budget);

struct SearchResult {
  BitChoice best;
  double start_score = 0;  // the score of `start`
  double best_score = 0;
  int scored = 0;  // distinct choices scored
};

/// The fine step, a seeded genetic algorithm (params: population, generations, seed): generation 0 is
/// `start` and population - 1 mutants of it; each next generation keeps the best quarter (at least one)
/// and fills up with children of two binary-tournament parents: uniform crossover, then a mutation that
/// flips one random layer (and a second with probability 1/2), then repair. `score` (lower is better) is
/// called once per distinct choice. The best choice seen wins; ties keep the first scored. `progress`
/// gets ("mixed-precision search", generation, generations).
SearchResult evolve(const BitChoice& start, const std::vector<double>& sensitivity, const BopsBudget& budget,
                    const MixedPrecisionRecipe& params, const std::function<double(const BitChoice&)>& score,
                    const std::function<void(const std::string&, int, int)>& progress = {});

/// Images held out of `images` calibration images to score the search: round(fraction * images), at least
/// 1 and at most images - 1 (the last ones). Throws std::invalid_argument for fewer than 2 images.
size_t holdout_count(size_t images, double fraction);

}  // namespace vitsim::quant

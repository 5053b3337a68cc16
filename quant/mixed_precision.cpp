#include "quant/mixed_precision.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

namespace vitsim::quant {

std::vector<int> weighted_layers(const Graph& graph) {
  std::vector<int> layers;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].op == OpKind::Conv2d || graph.nodes[i].op == OpKind::Linear)
      layers.push_back(static_cast<int>(i));
  return layers;
}

int64_t layer_bops(int64_t macs, int weight_bits, int activation_bits) {
  return macs * weight_bits * activation_bits;
}

int64_t weight_bops(const QGraph& qgraph, int weight_bits) {
  int64_t total = 0;
  for (int i : weighted_layers(qgraph.graph)) {
    const Node& node = qgraph.graph.nodes[static_cast<size_t>(i)];
    const QNode& q = qgraph.nodes[static_cast<size_t>(i)];
    const int activation_bits = qgraph.nodes[static_cast<size_t>(node.inputs[0])].out.bits;
    total += layer_bops(node.macs(), weight_bits > 0 ? weight_bits : q.weight_bits, activation_bits);
  }
  return total;
}

int64_t BopsBudget::bops(const BitChoice& choice) const {
  int64_t total = 0;
  for (size_t l = 0; l < choice.size(); ++l) total += choice[l] ? high[l] : low[l];
  return total;
}

namespace {

// Layer indices by decreasing key (ties: ascending index when `later_first` is false).
std::vector<size_t> order_by(const std::vector<double>& key, bool later_first) {
  std::vector<size_t> order(key.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (key[a] != key[b]) return key[a] > key[b];
    return later_first ? a > b : a < b;
  });
  return order;
}

}  // namespace

BitChoice greedy_choice(const std::vector<double>& sensitivity, const BopsBudget& budget) {
  BitChoice choice(sensitivity.size(), false);
  int64_t total = budget.bops(choice);
  for (size_t l : order_by(sensitivity, false)) {
    const int64_t extra = budget.high[l] - budget.low[l];
    if (total + extra > budget.limit) continue;
    choice[l] = true;
    total += extra;
  }
  return choice;
}

void repair(BitChoice& choice, const std::vector<double>& sensitivity, const BopsBudget& budget) {
  std::vector<double> value(sensitivity.size());  // sensitivity per extra BOP; demote the lowest first
  for (size_t l = 0; l < value.size(); ++l) {
    const int64_t extra = std::max<int64_t>(1, budget.high[l] - budget.low[l]);
    value[l] = -sensitivity[l] / static_cast<double>(extra);
  }
  int64_t total = budget.bops(choice);
  for (size_t l : order_by(value, true)) {
    if (total <= budget.limit) return;
    if (!choice[l]) continue;
    choice[l] = false;
    total -= budget.high[l] - budget.low[l];
  }
  if (total > budget.limit)
    throw std::invalid_argument("the BOPs budget is below the all-low-width model's BOPs");
}

SearchResult evolve(const BitChoice& start, const std::vector<double>& sensitivity, const BopsBudget& budget,
                    const MixedPrecisionRecipe& params, const std::function<double(const BitChoice&)>& score,
                    const std::function<void(const std::string&, int, int)>& progress) {
  std::mt19937_64 rng(static_cast<uint64_t>(params.seed));
  // Integers below n and doubles in [0, 1) from the generator's raw output: the same on every library
  // (std::uniform_*_distribution are implementation-defined).
  const auto below = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const auto unit = [&rng]() { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  const size_t layers = start.size();
  const auto mutate = [&](BitChoice c) {
    if (layers == 0) return c;
    c[below(layers)].flip();
    if (unit() < 0.5) c[below(layers)].flip();
    repair(c, sensitivity, budget);
    return c;
  };

  std::map<BitChoice, double> scored;
  SearchResult r;
  const auto evaluate = [&](const BitChoice& c) {
    const auto it = scored.find(c);
    if (it != scored.end()) return it->second;
    const double s = score(c);
    scored.emplace(c, s);
    if (r.best.empty() || s < r.best_score) {
      r.best = c;
      r.best_score = s;
    }
    return s;
  };

  const size_t size = static_cast<size_t>(params.population);
  std::vector<BitChoice> population{start};
  while (population.size() < size) population.push_back(mutate(start));
  r.start_score = evaluate(start);
  for (int gen = 1; gen <= params.generations; ++gen) {
    std::vector<double> fitness;
    for (const BitChoice& c : population) fitness.push_back(evaluate(c));
    std::vector<size_t> rank(population.size());
    std::iota(rank.begin(), rank.end(), size_t{0});
    std::stable_sort(rank.begin(), rank.end(), [&](size_t a, size_t b) { return fitness[a] < fitness[b]; });
    const auto tournament = [&]() {
      const size_t a = below(population.size()), b = below(population.size());
      return fitness[b] < fitness[a] ? b : a;
    };
    std::vector<BitChoice> next;
    for (size_t k = 0; k < std::max<size_t>(1, size / 4); ++k) next.push_back(population[rank[k]]);
    while (next.size() < size) {
      const BitChoice &pa = population[tournament()], &pb = population[tournament()];
      BitChoice child(layers);
      for (size_t l = 0; l < layers; ++l) child[l] = unit() < 0.5 ? pa[l] : pb[l];
      next.push_back(mutate(child));
    }
    population = std::move(next);
    if (progress) progress("mixed-precision search", gen, params.generations);
  }
  for (const BitChoice& c : population) evaluate(c);
  r.scored = static_cast<int>(scored.size());
  return r;
}

size_t holdout_count(size_t images, double fraction) {
  if (images < 2)
    throw std::invalid_argument(
        "mixed precision needs at least 2 calibration images (calibration statistics and a held-out split "
        "that scores the search); got " +
        std::to_string(images));
  const auto held = static_cast<size_t>(std::llround(fraction * static_cast<double>(images)));
  return std::clamp<size_t>(held, 1, images - 1);
}

}  // namespace vitsim::quant

// Search strategies of `vitsim sweep` (docs/sweeps.md, "Searches"): which of a spec's grid points are
// evaluated. The grid evaluates them all; `random` and `latin-hypercube` draw a seeded sample of designs;
// `nsga2` evolves a population of designs over generations (non-dominated sorting, crowding distance,
// binary tournaments, crossover and mutation on the axes' value indices) towards the Pareto front of the
// spec's objectives. A design is one combination of axis values (a "design number" d in [0, designs): the
// axes as digits, the last one varying fastest, as in expand_sweep); every chosen design is evaluated for
// every model and recipe of the spec. Everything is seeded and depends only on the spec and the points'
// results, so a rerun re-derives the same choices (resume) and any -j gives the same results.csv.
//
// The algorithms below are plain functions, testable without a sweep folder; run_search ties them to a
// spec's points and a backend.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vitsim::quant {
class JsonReader;
}

namespace vitsim::sim {

struct SweepSpec;
struct SweepPoint;
struct SweepDir;

enum class SearchStrategy { grid, random, latin_hypercube, nsga2 };

/// Its name in specs and results.csv: grid, random, latin-hypercube, nsga2.
std::string strategy_name(SearchStrategy strategy);

/// One objective: a results.csv metric, maximized or minimized.
struct SearchObjective {
  std::string metric;  // fps, dsps, latency_ms, ... (a numeric metric column)
  bool maximize = true;
};

/// A spec's "search" object.
struct SweepSearch {
  SearchStrategy strategy = SearchStrategy::grid;
  uint64_t seed = 1;       // random, latin-hypercube, nsga2
  int64_t samples = 0;     // random, latin-hypercube: designs drawn ("points")
  int population = 0;      // nsga2: designs per generation (also the number of offspring)
  int generations = 0;     // nsga2: generation 0 is a random population, each later one its offspring
  double crossover = 0.9;  // nsga2: probability that two parents exchange axis values (uniform crossover)
  double mutation = -1;    // nsga2: per-axis probability of a new value; < 0: 1 / number of axes
  std::vector<SearchObjective> objectives = {{"fps", true}, {"dsps", false}};
};

/// Reads a spec's "search" object (absent: the grid); `metrics` are the metric names an objective may
/// name. Errors name the file and JSON path (quant::ConfigError).
SweepSearch read_sweep_search(quant::JsonReader& search, const std::vector<std::string>& metrics);

/// SplitMix64: a tiny generator whose output is fixed by its seed on every platform (the standard
/// distributions are not), so that a seed gives the same designs everywhere.
class SearchRng {
 public:
  explicit SearchRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  /// Uniform in [0, n), n > 0 (rejection sampling: no modulo bias).
  uint64_t below(uint64_t n);
  /// Uniform in [0, 1).
  double unit();

 private:
  uint64_t state_;
};

/// `count` distinct design numbers of [0, designs) drawn uniformly without replacement (all of them if
/// count >= designs), in draw order.
std::vector<uint64_t> random_designs(uint64_t designs, uint64_t count, SearchRng& rng);

/// A Latin hypercube of `count` samples over axes of `sizes` values: for each axis the samples fall in
/// `count` equal strata of [0, 1) in a random order, one sample per stratum, and stratum s of offset u
/// (one random u per axis) takes value index floor((s + u) * size / count). So each value of an axis is
/// taken floor(count / size) or ceil(count / size) times (at most once when count < size). Returns one
/// value index per axis for each sample.
std::vector<std::vector<size_t>> latin_hypercube(const std::vector<size_t>& sizes, size_t count,
                                                 SearchRng& rng);

/// A design's evaluation as the search sees it: objectives all minimized (maximized ones negated), or
/// infeasible with the amount of its constraint violation (+infinity for an invalid config or a failed
/// simulation: worse than any design that merely exceeds a budget).
struct Evaluation {
  bool feasible = false;
  double violation = 0;
  std::vector<double> objectives;
};

/// Deb's constrained domination: a feasible design beats an infeasible one; of two infeasible designs the
/// one with the smaller violation wins; of two feasible ones, Pareto domination (no objective worse, one
/// better).
bool constrained_dominates(const Evaluation& a, const Evaluation& b);

/// Fast non-dominated sorting under constrained_dominates: front 0 holds the designs nothing dominates,
/// front k those dominated only by designs of fronts < k. Indices into `designs`, ascending in each front.
std::vector<std::vector<size_t>> nondominated_fronts(const std::vector<Evaluation>& designs);

/// NSGA-II's crowding distance of each member of one front (indices into `designs`), in the front's order:
/// per objective, the boundary designs get +infinity and the others the gap between their neighbours
/// divided by the objective's range, summed over the objectives. Infeasible designs get 0.
std::vector<double> crowding_distances(const std::vector<Evaluation>& designs,
                                       const std::vector<size_t>& front);

/// One design kept by nsga2_survivors: its index, front rank and crowding distance (for the tournaments).
struct Survivor {
  size_t index = 0;
  size_t rank = 0;
  double crowding = 0;
};

/// NSGA-II's environmental selection of `size` designs: whole fronts while they fit, then the most isolated
/// designs of the front that does not (largest crowding distance; ties: the earlier design).
std::vector<Survivor> nsga2_survivors(const std::vector<Evaluation>& designs, size_t size);

/// How a search sees a point and its result.json (null if none): a filtered point is infeasible with its
/// violation (the sum of its relative excesses over the bounds of constraints.max and the device), an
/// invalid config or a point that is not ok infeasible with an infinite violation; an ok point is feasible
/// with the spec's objectives, minimized (maximized ones negated).
Evaluation evaluate_point(const SweepSpec& spec, const SweepPoint& point, const nlohmann::json& result);

/// The area that a set of 2-D points dominates up to `reference`, both coordinates minimized: the union of
/// the rectangles [x, ref_x] x [y, ref_y]. Points not strictly better than the reference in both
/// coordinates add nothing.
double hypervolume_2d(std::vector<std::array<double, 2>> points, const std::array<double, 2>& reference);

/// Called by run_search with the points each step of the search chose (indices, ascending; done and
/// filtered ones included) and its generation (-1 outside nsga2). It runs those that have no result.json
/// (maybe none) and returns true once each has one, false to stop the search (a deadline).
using EvaluateStep = std::function<bool(const std::vector<int>& chosen, int generation)>;

/// Marks the points the spec's search chooses (SweepPoint::chosen, ::generation) and has them evaluated,
/// step by step: the grid, a random or Latin-hypercube sample are one step, nsga2 one step per generation,
/// each derived from the seed and the results of the earlier ones (read from DIR's result.json files).
/// Without `evaluate` (or `dir`) it stops at the first step with a point left to run: that step's points
/// are then the pending ones (--prepare, --collect, --dry-run). Returns true when the search is complete.
bool run_search(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir* dir,
                const EvaluateStep& evaluate);

}  // namespace vitsim::sim

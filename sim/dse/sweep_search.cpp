#include "sim/dse/sweep_search.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>
#include <unordered_map>

#include "quant/csv.hpp"
#include "quant/json_reader.hpp"
#include "sim/dse/sweep.hpp"

namespace vitsim::sim {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr int kMaxSamples = 1000000;  // a spec's points are bounded by the same number (docs/sweeps.md)
constexpr int kMaxPopulation = 100000;
}  // namespace

std::string strategy_name(SearchStrategy strategy) {
  switch (strategy) {
    case SearchStrategy::grid:
      return "grid";
    case SearchStrategy::random:
      return "random";
    case SearchStrategy::latin_hypercube:
      return "latin-hypercube";
    case SearchStrategy::nsga2:
      return "nsga2";
  }
  return "?";
}

SweepSearch read_sweep_search(quant::JsonReader& r, const std::vector<std::string>& metrics) {
  SweepSearch s;
  const std::string name = r.choice("strategy", "grid", {"grid", "random", "latin-hypercube", "nsga2"});
  for (const SearchStrategy k :
       {SearchStrategy::grid, SearchStrategy::random, SearchStrategy::latin_hypercube, SearchStrategy::nsga2})
    if (strategy_name(k) == name) s.strategy = k;
  if (s.strategy != SearchStrategy::grid) s.seed = static_cast<uint64_t>(r.integer("seed", 1, 0, kMaxSeed));
  if (s.strategy == SearchStrategy::random || s.strategy == SearchStrategy::latin_hypercube) {
    r.require("points");
    s.samples = r.integer("points", 0, 1, kMaxSamples);
  }
  if (s.strategy == SearchStrategy::nsga2) {
    r.require("population");
    r.require("generations");
    s.population = r.integer("population", 0, 2, kMaxPopulation);
    s.generations = r.integer("generations", 0, 1, kMaxPopulation);
    s.crossover = r.number("crossover", s.crossover, 0, 1);
    s.mutation = r.number("mutation", s.mutation, 0, 1);
  }
  std::vector<quant::JsonReader> objectives = r.objects("objectives");
  if (r.has("objectives")) {
    if (objectives.empty()) r.fail("objectives", "expected at least one objective");
    s.objectives.clear();
  }
  const std::set<std::string> known(metrics.begin(), metrics.end());
  for (quant::JsonReader& o : objectives) {
    o.require("metric");
    o.require("goal");
    SearchObjective objective;
    objective.metric = o.choice("metric", "", known);
    objective.maximize = o.choice("goal", "", {"max", "min"}) == "max";
    o.reject_unknown_keys();
    for (const SearchObjective& seen : s.objectives)
      if (seen.metric == objective.metric)
        o.fail("metric", "\"" + objective.metric + "\" is already an objective");
    s.objectives.push_back(objective);
  }
  r.reject_unknown_keys();
  return s;
}

uint64_t SearchRng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t SearchRng::below(uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

double SearchRng::unit() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::vector<uint64_t> random_designs(uint64_t designs, uint64_t count, SearchRng& rng) {
  // A partial Fisher-Yates shuffle of [0, designs) whose moved entries live in a map: O(count) memory.
  count = std::min(count, designs);
  std::unordered_map<uint64_t, uint64_t> moved;
  const auto at = [&moved](uint64_t i) {
    const auto it = moved.find(i);
    return it == moved.end() ? i : it->second;
  };
  std::vector<uint64_t> drawn;
  drawn.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t j = i + rng.below(designs - i);
    const uint64_t picked = at(j);
    moved[j] = at(i);
    drawn.push_back(picked);
  }
  return drawn;
}

std::vector<std::vector<size_t>> latin_hypercube(const std::vector<size_t>& sizes, size_t count,
                                                 SearchRng& rng) {
  std::vector<std::vector<size_t>> samples(count, std::vector<size_t>(sizes.size()));
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<size_t> strata(count);
    std::iota(strata.begin(), strata.end(), size_t{0});
    for (size_t i = count; i > 1; --i) std::swap(strata[i - 1], strata[rng.below(i)]);
    const double offset = rng.unit();
    for (size_t i = 0; i < count; ++i) {
      const double position = (static_cast<double>(strata[i]) + offset) / static_cast<double>(count);
      samples[i][k] = std::min(sizes[k] - 1, static_cast<size_t>(position * static_cast<double>(sizes[k])));
    }
  }
  return samples;
}

bool constrained_dominates(const Evaluation& a, const Evaluation& b) {
  if (a.feasible != b.feasible) return a.feasible;
  if (!a.feasible) return a.violation < b.violation;
  bool better = false;
  for (size_t m = 0; m < a.objectives.size(); ++m) {
    if (a.objectives[m] > b.objectives[m]) return false;
    better = better || a.objectives[m] < b.objectives[m];
  }
  return better;
}

std::vector<std::vector<size_t>> nondominated_fronts(const std::vector<Evaluation>& designs) {
  const size_t n = designs.size();
  std::vector<std::vector<size_t>> dominated(n);  // by design i
  std::vector<size_t> dominators(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j && constrained_dominates(designs[i], designs[j])) {
        dominated[i].push_back(j);
        ++dominators[j];
      }
  std::vector<std::vector<size_t>> fronts;
  std::vector<size_t> current;
  for (size_t i = 0; i < n; ++i)
    if (dominators[i] == 0) current.push_back(i);
  while (!current.empty()) {
    std::vector<size_t> next;
    for (const size_t i : current)
      for (const size_t j : dominated[i])
        if (--dominators[j] == 0) next.push_back(j);
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

std::vector<double> crowding_distances(const std::vector<Evaluation>& designs,
                                       const std::vector<size_t>& front) {
  std::vector<double> distance(front.size(), 0.0);
  if (front.empty() || !designs[front[0]].feasible) return distance;
  std::vector<size_t> order(front.size());  // positions in `front`
  for (size_t m = 0; m < designs[front[0]].objectives.size(); ++m) {
    const auto value = [&](size_t position) { return designs[front[position]].objectives[m]; };
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return value(a) < value(b); });
    distance[order.front()] = distance[order.back()] = kInfinity;
    const double range = value(order.back()) - value(order.front());
    if (range <= 0) continue;
    for (size_t i = 1; i + 1 < order.size(); ++i)
      distance[order[i]] += (value(order[i + 1]) - value(order[i - 1])) / range;
  }
  return distance;
}

double hypervolume_2d(std::vector<std::array<double, 2>> points, const std::array<double, 2>& reference) {
  points.erase(std::remove_if(points.begin(), points.end(),
                              [&](const std::array<double, 2>& p) {
                                return !(p[0] < reference[0] && p[1] < reference[1]);
                              }),
               points.end());
  std::sort(points.begin(), points.end());
  // Left to right, each point that is lower than all before it adds the slab between its y and theirs.
  double area = 0, lowest = reference[1];
  for (const std::array<double, 2>& p : points)
    if (p[1] < lowest) {
      area += (reference[0] - p[0]) * (lowest - p[1]);
      lowest = p[1];
    }
  return area;
}

std::vector<Survivor> nsga2_survivors(const std::vector<Evaluation>& designs, size_t size) {
  std::vector<Survivor> survivors;
  const std::vector<std::vector<size_t>> fronts = nondominated_fronts(designs);
  for (size_t rank = 0; rank < fronts.size() && survivors.size() < size; ++rank) {
    const std::vector<size_t>& front = fronts[rank];
    const std::vector<double> crowding = crowding_distances(designs, front);
    std::vector<size_t> order(front.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return crowding[a] > crowding[b]; });
    for (size_t i = 0; i < order.size() && survivors.size() < size; ++i)
      survivors.push_back(Survivor{front[order[i]], rank, crowding[order[i]]});
  }
  return survivors;
}

// --- the search over a spec's points -------------------------------------------------------------------

namespace {

// How far a filtered design exceeds its budgets: the sum of the relative excesses over each bound.
double budget_violation(const SweepSpec& spec, const SweepPoint& p) {
  double violation = 0;
  const auto over = [&violation](int64_t have, std::optional<int64_t> limit) {
    if (limit && have > *limit)
      violation += static_cast<double>(have - *limit) / static_cast<double>(std::max<int64_t>(*limit, 1));
  };
  over(p.dsps, spec.limits.dsps);
  over(p.luts, spec.limits.luts);
  over(p.bram36, spec.limits.bram36);
  over(p.onchip_bytes, spec.limits.onchip_bytes);
  if (spec.fpga) {
    over(p.dsps, spec.fpga->dsps);
    over(p.luts, spec.fpga->luts);
    over(p.bram36, spec.fpga->bram36);
  }
  return violation;
}

}  // namespace

Evaluation evaluate_point(const SweepSpec& spec, const SweepPoint& p, const json& result) {
  Evaluation e;
  if (!p.filtered.empty()) {
    e.violation = budget_violation(spec, p);
    return e;
  }
  e.violation = kInfinity;  // until the result says otherwise
  if (!p.config_error.empty() || !result.is_object() || result.value("status", "") != "ok") return e;
  const json metrics = result.value("metrics", json::object());
  for (const SearchObjective& o : spec.search.objectives) {
    const json v = metrics.value(o.metric, json());
    if (!v.is_number()) return e;
    e.objectives.push_back(o.maximize ? -v.get<double>() : v.get<double>());
  }
  e.feasible = true;
  e.violation = 0;
  return e;
}

namespace {

/// The spec's points as the search sees them: design numbers, axis digits, results.
class SearchSpace {
 public:
  SearchSpace(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir* dir)
      : spec_(spec), points_(points), dir_(dir) {
    for (const SweepAxis& a : spec.axes) sizes_.push_back(a.values.size());
    designs_ = 1;
    for (const size_t n : sizes_) designs_ *= n;
    pairs_ = spec.models.size() * spec.recipes.size();
  }
  uint64_t designs() const { return designs_; }
  size_t pairs() const { return pairs_; }
  const std::vector<size_t>& sizes() const { return sizes_; }

  std::vector<size_t> digits(uint64_t design) const {
    std::vector<size_t> d(sizes_.size());
    for (size_t k = sizes_.size(); k-- > 0;) {
      d[k] = design % sizes_[k];
      design /= sizes_[k];
    }
    return d;
  }
  uint64_t design(const std::vector<size_t>& digits) const {
    uint64_t d = 0;
    for (size_t k = 0; k < sizes_.size(); ++k) d = d * sizes_[k] + digits[k];
    return d;
  }
  SweepPoint& point(size_t pair, uint64_t design) { return points_[pair * designs_ + design]; }

  /// Marks the designs of one step (per pair) chosen; evaluates those without results. False: stopped.
  bool step(const std::vector<std::vector<uint64_t>>& designs, int generation, const EvaluateStep& evaluate) {
    std::vector<int> chosen;
    for (size_t pair = 0; pair < pairs_; ++pair)
      for (const uint64_t d : designs[pair]) {
        SweepPoint& p = point(pair, d);
        if (p.chosen) continue;  // an earlier step's (a Latin hypercube can draw a design twice)
        p.chosen = true;
        p.generation = generation;
        chosen.push_back(p.index);
      }
    std::sort(chosen.begin(), chosen.end());
    if (dir_ && evaluate) return evaluate(chosen, generation);
    return std::none_of(chosen.begin(), chosen.end(), [&](int i) {
      const SweepPoint& p = points_[static_cast<size_t>(i)];
      return p.filtered.empty() && (!dir_ || !fs::is_regular_file(dir_->result(i)));
    });
  }

  Evaluation evaluation(size_t pair, uint64_t design) const {
    const SweepPoint& p = points_[pair * designs_ + design];
    const bool has_result = dir_ && p.filtered.empty() && p.config_error.empty();
    return evaluate_point(spec_, p, has_result ? read_sweep_result(p, *dir_) : json());
  }

 private:
  const SweepSpec& spec_;
  std::vector<SweepPoint>& points_;
  const SweepDir* dir_;
  std::vector<size_t> sizes_;
  uint64_t designs_ = 1;
  size_t pairs_ = 1;
};

struct Member {
  uint64_t design = 0;
  Evaluation evaluation;
  size_t rank = 0;
  double crowding = 0;
};

std::vector<Member> select_survivors(const std::vector<Member>& candidates, size_t size) {
  std::vector<Evaluation> evaluations;
  for (const Member& m : candidates) evaluations.push_back(m.evaluation);
  std::vector<Member> survivors;
  for (const Survivor& s : nsga2_survivors(evaluations, size)) {
    survivors.push_back(candidates[s.index]);
    survivors.back().rank = s.rank;
    survivors.back().crowding = s.crowding;
  }
  return survivors;
}

// Binary tournament: the lower rank, then the larger crowding distance; a tie keeps the first drawn.
const Member& tournament(const std::vector<Member>& population, SearchRng& rng) {
  const Member& a = population[rng.below(population.size())];
  const Member& b = population[rng.below(population.size())];
  if (b.rank < a.rank || (b.rank == a.rank && b.crowding > a.crowding)) return b;
  return a;
}

// `population.size()` children not seen before (fewer when the space runs out of new designs): uniform
// crossover of two tournament winners, then each axis mutated to another of its values.
std::vector<uint64_t> offspring(const SearchSpace& space, const SweepSearch& search,
                                const std::vector<Member>& population, std::set<uint64_t>& seen,
                                SearchRng& rng) {
  const std::vector<size_t>& sizes = space.sizes();
  const double mutation = search.mutation >= 0 ? search.mutation : 1.0 / static_cast<double>(sizes.size());
  std::vector<uint64_t> children;
  const size_t wanted = static_cast<size_t>(search.population);
  for (size_t attempt = 0; children.size() < wanted && attempt < 100 * wanted; ++attempt) {
    std::vector<size_t> a = space.digits(tournament(population, rng).design);
    std::vector<size_t> b = space.digits(tournament(population, rng).design);
    if (rng.unit() < search.crossover)
      for (size_t k = 0; k < sizes.size(); ++k)
        if (rng.unit() < 0.5) std::swap(a[k], b[k]);
    for (std::vector<size_t>* child : {&a, &b}) {
      for (size_t k = 0; k < sizes.size(); ++k)
        if (sizes[k] > 1 && rng.unit() < mutation)
          (*child)[k] = ((*child)[k] + 1 + rng.below(sizes[k] - 1)) % sizes[k];
      const uint64_t d = space.design(*child);
      if (children.size() < wanted && seen.insert(d).second) children.push_back(d);
    }
  }
  return children;
}

bool run_nsga2(SearchSpace& space, const SweepSearch& search, const EvaluateStep& evaluate) {
  const size_t pairs = space.pairs();
  std::vector<SearchRng> rngs;
  for (size_t pair = 0; pair < pairs; ++pair) rngs.emplace_back(search.seed * 0x100000001b3ull + pair);
  std::vector<std::set<uint64_t>> seen(pairs);
  std::vector<std::vector<Member>> population(pairs);
  std::vector<std::vector<uint64_t>> step(pairs);
  for (size_t pair = 0; pair < pairs; ++pair) {
    step[pair] = random_designs(space.designs(), static_cast<uint64_t>(search.population), rngs[pair]);
    seen[pair].insert(step[pair].begin(), step[pair].end());
  }
  for (int generation = 0; generation < search.generations; ++generation) {
    if (generation > 0)
      for (size_t pair = 0; pair < pairs; ++pair)
        step[pair] = offspring(space, search, population[pair], seen[pair], rngs[pair]);
    if (std::all_of(step.begin(), step.end(), [](const auto& s) { return s.empty(); })) break;  // exhausted
    if (!space.step(step, generation, evaluate)) return false;
    for (size_t pair = 0; pair < pairs; ++pair) {
      std::vector<Member> candidates = population[pair];
      for (const uint64_t d : step[pair]) candidates.push_back(Member{d, space.evaluation(pair, d), 0, 0});
      population[pair] = select_survivors(std::move(candidates), static_cast<size_t>(search.population));
    }
  }
  return true;
}

}  // namespace

bool run_search(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir* dir,
                const EvaluateStep& evaluate) {
  for (SweepPoint& p : points) {
    p.chosen = false;
    p.generation = -1;
  }
  SearchSpace space(spec, points, dir);
  const SweepSearch& search = spec.search;
  std::vector<std::vector<uint64_t>> step(space.pairs());
  switch (search.strategy) {
    case SearchStrategy::grid:
      for (auto& designs : step) {
        designs.resize(space.designs());
        std::iota(designs.begin(), designs.end(), uint64_t{0});
      }
      break;
    case SearchStrategy::random: {
      SearchRng rng(search.seed);  // the same designs for every model and recipe
      const std::vector<uint64_t> drawn =
          random_designs(space.designs(), static_cast<uint64_t>(search.samples), rng);
      std::fill(step.begin(), step.end(), drawn);
      break;
    }
    case SearchStrategy::latin_hypercube: {
      SearchRng rng(search.seed);
      std::vector<uint64_t> drawn;
      for (const std::vector<size_t>& digits :
           latin_hypercube(space.sizes(), static_cast<size_t>(search.samples), rng))
        drawn.push_back(space.design(digits));
      std::fill(step.begin(), step.end(), drawn);
      break;
    }
    case SearchStrategy::nsga2:
      return run_nsga2(space, search, evaluate);
  }
  return space.step(step, -1, evaluate);
}

}  // namespace vitsim::sim

// --- --hypervolume ---------------------------------------------------------------------------------------

namespace vitsim::sim {

namespace {

double parse_number(const std::string& text, const std::string& what) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value))
    throw std::invalid_argument(what + ": expected a number, found \"" + quant::excerpt(text) + "\"");
  return value;
}

// A minimized objective's worst acceptable value: the spec's bound on it, else the device's capacity.
std::optional<double> spec_budget(const SweepSpec& spec, const std::string& metric) {
  const std::map<std::string, std::optional<int64_t>> limits = {{"dsps", spec.limits.dsps},
                                                                {"luts", spec.limits.luts},
                                                                {"bram36", spec.limits.bram36},
                                                                {"onchip_bytes", spec.limits.onchip_bytes}};
  const auto limit = limits.find(metric);
  if (limit != limits.end() && limit->second) return static_cast<double>(*limit->second);
  if (spec.fpga) {
    if (metric == "dsps") return static_cast<double>(spec.fpga->dsps);
    if (metric == "luts") return static_cast<double>(spec.fpga->luts);
    if (metric == "bram36") return static_cast<double>(spec.fpga->bram36);
  }
  return std::nullopt;
}

}  // namespace

double print_hypervolume(const SweepSpec& spec, const SweepDir& dir, const std::string& reference,
                         std::ostream& out) {
  const std::vector<SearchObjective>& objectives = spec.search.objectives;
  if (objectives.size() != 2)
    throw std::invalid_argument(spec.file +
                                ": /search/objectives: --hypervolume needs two objectives, the spec has " +
                                std::to_string(objectives.size()));
  std::array<double, 2> ref{};
  if (!reference.empty()) {
    const std::vector<std::string> parts = quant::csv_fields(reference);
    if (parts.size() != 2)
      throw std::invalid_argument("--reference \"" + quant::excerpt(reference) +
                                  "\": expected two numbers, X,Y");
    for (size_t k = 0; k < 2; ++k) ref[k] = parse_number(parts[k], "--reference");
  } else {
    for (size_t k = 0; k < 2; ++k) {
      const std::optional<double> budget = spec_budget(spec, objectives[k].metric);
      if (!objectives[k].maximize && !budget)
        throw std::invalid_argument("--hypervolume: " + spec.file + " sets no budget for \"" +
                                    objectives[k].metric +
                                    "\" (constraints.max or a device): give --reference X,Y");
      ref[k] = objectives[k].maximize ? 0.0 : *budget;
    }
  }
  const std::string path = dir.results_csv();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--hypervolume: cannot read " + path + " (run the sweep first)");
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = quant::csv_fields(line);
  const auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw std::invalid_argument(path + ": no column \"" + name + "\" (not a results.csv?)");
    return static_cast<size_t>(it - header.begin());
  };
  const size_t status = column("status");
  const std::array<size_t, 2> metric = {column(objectives[0].metric), column(objectives[1].metric)};
  // Both coordinates minimized: a maximized objective is negated.
  const auto minimized = [&](size_t k, double v) { return objectives[k].maximize ? -v : v; };
  std::vector<std::array<double, 2>> points;
  std::map<std::string, int> by_status;
  int rows = 0;
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    const std::vector<std::string> row = quant::csv_fields(line);
    if (row.size() != header.size())
      throw std::invalid_argument(path + ": line " + std::to_string(line_number) + " has " +
                                  std::to_string(row.size()) + " fields, the header " +
                                  std::to_string(header.size()));
    ++rows;
    ++by_status[row[status]];
    if (row[status] != "ok") continue;
    std::array<double, 2> p{};
    for (size_t k = 0; k < 2; ++k)
      p[k] = minimized(k, parse_number(row[metric[k]], path + ": line " + std::to_string(line_number) + ": " +
                                                           objectives[k].metric));
    points.push_back(p);
  }
  const std::array<double, 2> ref_min = {minimized(0, ref[0]), minimized(1, ref[1])};
  const double volume = hypervolume_2d(points, ref_min);
  size_t front = 0;
  for (const auto& p : points)
    front += std::none_of(points.begin(), points.end(), [&p](const std::array<double, 2>& q) {
      return q[0] <= p[0] && q[1] <= p[1] && (q[0] < p[0] || q[1] < p[1]);
    });
  const auto name = [&](size_t k) {
    return objectives[k].metric + (objectives[k].maximize ? " max" : " min");
  };
  out << std::setprecision(12) << "hypervolume " << volume << " (" << name(0) << ", " << name(1)
      << "; reference point " << objectives[0].metric << " " << ref[0] << ", " << objectives[1].metric << " "
      << ref[1] << ") of " << path << "\n  " << rows << " row(s):";
  for (const auto& [s, n] : by_status) out << " " << n << " " << s;
  out << "; " << by_status["ok"] + by_status["failed"] << " simulated; " << front
      << " ok point(s) on the Pareto front\n";
  return volume;
}

}  // namespace vitsim::sim

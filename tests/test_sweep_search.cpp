// Search strategies of sweeps (sim/dse/sweep_search.hpp, docs/sweeps.md "Searches"): NSGA-II's sorting and
// crowding on hand-made fronts, constrained domination, the Latin hypercube's strata, the 2-D hypervolume on
// hand-computed cases, and the search driver's determinism on synthetic results (no simulation).
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "quant/atomic_file.hpp"
#include "quant/json_reader.hpp"
#include "sim/dse/sweep.hpp"
#include "sim/dse/sweep_search.hpp"
#include "test_support.hpp"

using nlohmann::json;
using vitsim::test::TempDir;
namespace fs = std::filesystem;
namespace sim = vitsim::sim;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

sim::Evaluation feasible(double a, double b) {
  return sim::Evaluation{true, 0, {a, b}};
}
sim::Evaluation infeasible(double violation) {
  return sim::Evaluation{false, violation, {}};
}

// A spec on small-test (resources only matter here) with a DSP budget that filters part of the space.
std::string write_small_spec(const TempDir& dir, const json& search, const std::string& name = "spec.json") {
  const json spec = {
      {"name", "search"},
      {"base_accel", "small-test"},
      {"axes",
       {{{"name", "lanes"}, {"pointer", "/engines/0/lanes"}, {"values", {1, 2, 4, 8}}},
        {{"name", "replicas"}, {"pointer", "/engines/0/replicas"}, {"values", {1, 2, 3, 4, 5}}},
        {{"name", "rmac_lanes"}, {"pointer", "/engines/1/lanes"}, {"values", {1, 2, 4}}}}},
      {"models", {{{"model", "efficientvit-b0"}, {"res", 64}}}},
      {"recipes", {"trio-w8a8"}},
      {"search", search}};
  const std::string path = dir.file(name);
  vitsim::quant::write_file_atomic(path, spec.dump(2));
  return path;
}

// Stands in for a backend: writes an ok result.json whose "fps" is a made-up function of the design (more
// lanes and replicas: faster), so that the search runs without simulating.
bool fake_evaluate(const sim::SweepSpec& spec, const std::vector<sim::SweepPoint>& points,
                   const sim::SweepDir& dir, const std::vector<int>& chosen, std::vector<int>* evaluated) {
  for (const int i : chosen) {
    const sim::SweepPoint& p = points[static_cast<size_t>(i)];
    if (!p.filtered.empty() || fs::exists(dir.result(i))) continue;
    json values = json::object();
    for (size_t k = 0; k < spec.axes.size(); ++k) values[spec.axes[k].label] = p.values[k];
    const double fps =
        std::sqrt(p.values[0].get<double>()) * p.values[1].get<double>() + 0.3 * p.values[2].get<double>();
    const json result = {{"schema", "vitsim-sweep-result"},
                         {"schema_version", 1},
                         {"index", i},
                         {"id", p.id},
                         {"status", "ok"},
                         {"error", ""},
                         {"metrics", {{"cycles", 1000}, {"fps", fps}, {"dsps", p.dsps}}}};
    fs::create_directories(dir.point_dir(i));
    vitsim::quant::write_file_atomic(dir.result(i), result.dump());
    if (evaluated) evaluated->push_back(i);
  }
  return true;
}

// Runs the spec's search in `out` with fake_evaluate; returns the chosen points as "index@generation".
std::vector<std::string> fake_search(const std::string& spec_path, const std::string& out,
                                     std::vector<int>* evaluated = nullptr) {
  const sim::SweepSpec spec = sim::load_sweep_spec(spec_path);
  std::vector<sim::SweepPoint> points = sim::expand_sweep(spec);
  const sim::SweepDir dir{out};
  sim::init_sweep_dir(spec, points, dir);
  REQUIRE(sim::run_search(spec, points, &dir, [&](const std::vector<int>& chosen, int) {
    return fake_evaluate(spec, points, dir, chosen, evaluated);
  }));
  std::vector<std::string> chosen;
  for (const sim::SweepPoint& p : points)
    if (p.chosen) chosen.push_back(std::to_string(p.index) + "@" + std::to_string(p.generation));
  return chosen;
}

}  // namespace

TEST_CASE("sweep search: non-dominated sorting of a hand-made set", "[sweep][search]") {
  // Both objectives minimized. A, B, C trade off; D is dominated by B only; E by A, B, C and D; then the
  // infeasible ones by their violation, whatever their (absent) objectives.
  const std::vector<sim::Evaluation> designs = {
      feasible(3, 4),    // 0: D
      feasible(1, 5),    // 1: A
      infeasible(kInf),  // 2: G (invalid config)
      feasible(4, 1),    // 3: C
      infeasible(0.5),   // 4: F (over budget by 50%)
      feasible(5, 5),    // 5: E
      feasible(2, 3),    // 6: B
      infeasible(0.1),   // 7: over budget by 10%
  };
  const std::vector<std::vector<size_t>> fronts = sim::nondominated_fronts(designs);
  const std::vector<std::vector<size_t>> expected = {{1, 3, 6}, {0}, {5}, {7}, {4}, {2}};
  CHECK(fronts == expected);
}

TEST_CASE("sweep search: an infeasible design never dominates a feasible one", "[sweep][search]") {
  // Constrained domination (Deb): feasibility first, whatever the objectives.
  const sim::Evaluation great_but_over = sim::Evaluation{false, 1e-9, {-1e9, 0}};
  const sim::Evaluation poor_but_within = feasible(1e9, 1e9);
  CHECK(sim::constrained_dominates(poor_but_within, great_but_over));
  CHECK_FALSE(sim::constrained_dominates(great_but_over, poor_but_within));
  CHECK(sim::constrained_dominates(infeasible(0.1), infeasible(0.2)));
  CHECK(sim::constrained_dominates(infeasible(3), infeasible(kInf)));
  CHECK_FALSE(sim::constrained_dominates(infeasible(kInf), infeasible(kInf)));
  CHECK_FALSE(sim::constrained_dominates(feasible(1, 2), feasible(1, 2)));  // equal: neither
  CHECK(sim::constrained_dominates(feasible(1, 2), feasible(1, 3)));
  CHECK_FALSE(sim::constrained_dominates(feasible(1, 3), feasible(2, 2)));  // a trade-off
  // Sorted: every feasible design ranks before every infeasible one, even a dominated feasible one.
  const std::vector<std::vector<size_t>> fronts =
      sim::nondominated_fronts({great_but_over, feasible(5, 5), feasible(1, 1), infeasible(kInf)});
  CHECK(fronts == std::vector<std::vector<size_t>>{{2}, {1}, {0}, {3}});
}

TEST_CASE("sweep search: selection keeps feasible designs before any infeasible one", "[sweep][search]") {
  // The infeasible designs have the best objectives; with 3 feasible designs and room for 3, none survives.
  const std::vector<sim::Evaluation> designs = {sim::Evaluation{false, 0.01, {-100, -100}},
                                                feasible(5, 5),
                                                infeasible(kInf),
                                                feasible(1, 6),
                                                sim::Evaluation{false, 0.2, {}},
                                                feasible(6, 1)};
  std::vector<size_t> kept;
  for (const sim::Survivor& s : sim::nsga2_survivors(designs, 3)) kept.push_back(s.index);
  CHECK(kept == std::vector<size_t>{3, 5, 1});  // one front: its ends (1,6) and (6,1), then (5,5)
  // With room for 5: the smaller violations come next.
  kept.clear();
  for (const sim::Survivor& s : sim::nsga2_survivors(designs, 5)) kept.push_back(s.index);
  CHECK(kept == std::vector<size_t>{3, 5, 1, 0, 4});
  // A front cut by crowding distance: the ends (infinite) first, then the most isolated.
  const std::vector<sim::Evaluation> front = {feasible(1, 6), feasible(2, 4), feasible(3, 3), feasible(6, 1)};
  kept.clear();
  for (const sim::Survivor& s : sim::nsga2_survivors(front, 3)) kept.push_back(s.index);
  CHECK(kept == std::vector<size_t>{0, 3, 2});  // C (1.4) before B (1.0)
}

TEST_CASE("sweep search: a filtered, invalid or failed point is infeasible to the search",
          "[sweep][search]") {
  TempDir dir("search", "evaluate");
  const std::string path = write_small_spec(dir, json::object());
  json spec_json = vitsim::quant::read_json_file(path);
  spec_json["constraints"] = {{"max", {{"dsps", 100}, {"luts", 1000}}}};
  vitsim::quant::write_file_atomic(path, spec_json.dump());
  const sim::SweepSpec spec = sim::load_sweep_spec(path);
  sim::SweepPoint p;
  p.dsps = 150;   // 50% over
  p.luts = 1100;  // 10% over
  p.filtered = "dsps 150 > 100, luts 1100 > 1000";
  const json ok = {{"status", "ok"}, {"metrics", {{"fps", 30.0}, {"dsps", 80}}}};
  sim::Evaluation e = sim::evaluate_point(spec, p, ok);
  CHECK_FALSE(e.feasible);
  CHECK(e.violation == Approx(0.5 + 0.1));
  p.filtered.clear();
  e = sim::evaluate_point(spec, p, ok);
  CHECK(e.feasible);
  CHECK(e.objectives == std::vector<double>{-30.0, 80});  // fps maximized: negated
  CHECK_FALSE(sim::evaluate_point(spec, p, {{"status", "failed"}, {"metrics", {{"dsps", 80}}}}).feasible);
  CHECK(sim::evaluate_point(spec, p, {{"status", "failed"}}).violation == kInf);
  CHECK(sim::evaluate_point(spec, p, json()).violation == kInf);
  p.config_error = "points/0/accel.json: /engines/0/lanes: ...";
  CHECK(sim::evaluate_point(spec, p, ok).violation == kInf);
}

TEST_CASE("sweep search: crowding distances of a hand-made front", "[sweep][search]") {
  // A(1,6) B(2,4) C(3,3) D(6,1): ranges 5 and 5. Objective 1 sorted A B C D: B gets (3-1)/5, C (6-2)/5;
  // objective 2 sorted D C B A: C gets (4-1)/5, B (6-3)/5. The ends get infinity.
  const std::vector<sim::Evaluation> designs = {feasible(3, 3), feasible(1, 6), feasible(6, 1),
                                                feasible(2, 4), feasible(9, 9)};
  const std::vector<double> d = sim::crowding_distances(designs, {1, 3, 0, 2});
  REQUIRE(d.size() == 4);
  CHECK(d[0] == kInf);               // A
  CHECK(d[1] == Approx(0.4 + 0.6));  // B
  CHECK(d[2] == Approx(0.8 + 0.6));  // C
  CHECK(d[3] == kInf);               // D
  CHECK(sim::crowding_distances(designs, {4}) == std::vector<double>{kInf});
  CHECK(sim::crowding_distances({infeasible(1), infeasible(1)}, {0, 1}) == std::vector<double>{0, 0});
}

TEST_CASE("sweep search: 2-D hypervolume of hand-computed cases", "[sweep][search]") {
  const std::array<double, 2> ref = {10, 10};
  CHECK(sim::hypervolume_2d({}, ref) == 0);
  CHECK(sim::hypervolume_2d({{2, 3}}, ref) == 8 * 7);
  // Two trade-offs: [2,10]x[6,10] and [5,10]x[3,10] overlap in [5,10]x[6,10]: 32 + 35 - 20 = 47.
  CHECK(sim::hypervolume_2d({{5, 3}, {2, 6}}, ref) == 47);
  // A dominated point, a duplicate, a point beyond the reference and one on its edge add nothing.
  CHECK(sim::hypervolume_2d({{5, 3}, {2, 6}, {6, 7}, {2, 6}, {11, 1}, {3, 10}}, ref) == 47);
  // Three steps: [1,10]x[8,10] + [4,10]x[5,8] + [7,10]x[1,5] = 18 + 18 + 12.
  CHECK(sim::hypervolume_2d({{7, 1}, {1, 8}, {4, 5}}, ref) == 48);
}

TEST_CASE("sweep search: --hypervolume reads results.csv, maximizing fps and minimizing DSPs",
          "[sweep][search]") {
  TempDir dir("search", "hv");
  const std::string path = write_small_spec(dir, json::object());
  json spec_json = vitsim::quant::read_json_file(path);
  spec_json["constraints"] = {{"max", {{"dsps", 2520}}}};
  vitsim::quant::write_file_atomic(path, spec_json.dump());
  const sim::SweepSpec spec = sim::load_sweep_spec(path);
  const sim::SweepDir out{dir.file("out")};
  fs::create_directories(out.root);
  const std::string header = sim::results_csv_header(spec);
  const size_t columns = static_cast<size_t>(std::count(header.begin(), header.end(), ',')) + 1;
  // index,id,model,res,recipe,lanes,replicas,rmac_lanes,status,error,cycles,latency_ms,fps,... (fps: column
  // 12, dsps: column 15).
  const auto row = [&](const std::string& status, const std::string& error, const std::string& fps,
                       const std::string& dsps) {
    std::vector<std::string> cells(columns);
    cells[8] = status;
    cells[9] = error;
    cells[12] = fps;
    cells[15] = dsps;
    std::string line;
    for (size_t c = 0; c < columns; ++c) line += (c ? "," : "") + cells[c];
    return line + "\n";
  };
  vitsim::quant::write_file_atomic(out.results_csv(),
                                   header + row("ok", "", "100", "1000") + row("ok", "", "200", "2000") +
                                       row("filtered", "\"dsps 3000 > 2520, luts\"", "", "3000") +
                                       row("failed", "no", "", "10") + row("ok", "", "50", "2500"));
  // Minimized: (-100, 1000), (-200, 2000), (-50, 2500), reference (0, 2520): fps <= 200 over DSPs 2000..2520
  // (200 x 520) plus fps <= 100 over 1000..2000 (100 x 1000); (50, 2500) is dominated.
  std::ostringstream text;
  CHECK(sim::print_hypervolume(spec, out, "", text) == 200 * 520 + 100 * 1000);
  CHECK_THAT(text.str(), Catch::Contains("reference point fps 0, dsps 2520"));
  CHECK_THAT(text.str(), Catch::Contains("5 row(s): 1 failed 1 filtered 3 ok; 4 simulated; 2 ok point(s)"));
  CHECK(sim::print_hypervolume(spec, out, "0,3000", text) ==
        200 * 1000 + 100 * 1000);  // (50, 2500): dominated
  CHECK_THROWS_WITH(sim::print_hypervolume(spec, out, "0", text), Catch::Contains("expected two numbers"));
}

TEST_CASE("sweep search: a Latin hypercube takes each axis value equally often", "[sweep][search]") {
  const std::vector<size_t> sizes = {3, 4, 7, 10, 13, 1};
  for (const size_t count : {1u, 5u, 10u, 12u, 29u}) {
    for (const uint64_t seed : {1u, 2u, 99u}) {
      sim::SearchRng rng(seed);
      const std::vector<std::vector<size_t>> samples = sim::latin_hypercube(sizes, count, rng);
      REQUIRE(samples.size() == count);
      for (size_t k = 0; k < sizes.size(); ++k) {
        std::vector<size_t> taken(sizes[k], 0);
        for (const std::vector<size_t>& s : samples) ++taken.at(s[k]);
        INFO("count " << count << ", seed " << seed << ", axis of " << sizes[k] << " values");
        for (const size_t t : taken) {
          CHECK(t >= count / sizes[k]);
          CHECK(t <= (count + sizes[k] - 1) / sizes[k]);
        }
      }
    }
  }
}

TEST_CASE("sweep search: random designs are distinct, in range, and fixed by the seed", "[sweep][search]") {
  sim::SearchRng a(7), b(7), c(8);
  const std::vector<uint64_t> drawn = sim::random_designs(1000, 50, a);
  CHECK(drawn == sim::random_designs(1000, 50, b));
  CHECK(drawn != sim::random_designs(1000, 50, c));
  CHECK(std::set<uint64_t>(drawn.begin(), drawn.end()).size() == 50);
  CHECK(*std::max_element(drawn.begin(), drawn.end()) < 1000);
  sim::SearchRng d(3);
  std::vector<uint64_t> all = sim::random_designs(6, 10, d);  // more than there are: each once
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<uint64_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("sweep search: nsga2 is deterministic and evaluates each design once", "[sweep][search]") {
  TempDir dir("search", "nsga2");
  const json search = {{"strategy", "nsga2"}, {"population", 6}, {"generations", 5}, {"seed", 3}};
  const std::string path = write_small_spec(dir, search);
  // Over a DSP budget half of the designs exceed, so that filtered designs compete.
  json spec_json = vitsim::quant::read_json_file(path);
  const sim::SweepSpec unconstrained = sim::load_sweep_spec(path);
  std::vector<int64_t> dsps;
  for (const sim::SweepPoint& p : sim::expand_sweep(unconstrained)) dsps.push_back(p.dsps);
  std::sort(dsps.begin(), dsps.end());
  const int64_t budget = dsps[dsps.size() / 2];
  spec_json["constraints"] = {{"max", {{"dsps", budget}}}};
  vitsim::quant::write_file_atomic(path, spec_json.dump());

  std::vector<int> evaluated;
  const std::vector<std::string> first = fake_search(path, dir.file("a"), &evaluated);
  CHECK(first == fake_search(path, dir.file("b")));
  // Every design at most once, 6 per generation (5 generations; 60 designs, so never exhausted).
  CHECK(std::set<int>(evaluated.begin(), evaluated.end()).size() == evaluated.size());
  CHECK(first.size() == 30);
  std::map<std::string, int> per_generation;
  for (const std::string& c : first) ++per_generation[c.substr(c.find('@') + 1)];
  CHECK(per_generation == std::map<std::string, int>{{"0", 6}, {"1", 6}, {"2", 6}, {"3", 6}, {"4", 6}});
  // Another seed, other choices.
  spec_json["search"]["seed"] = 4;
  vitsim::quant::write_file_atomic(dir.file("seed4.json"), spec_json.dump());
  CHECK(first != fake_search(dir.file("seed4.json"), dir.file("c")));

  // Replayed without an evaluator from the results alone (resume, --collect): the same choices.
  const sim::SweepSpec spec = sim::load_sweep_spec(path);
  std::vector<sim::SweepPoint> points = sim::expand_sweep(spec);
  const sim::SweepDir a{dir.file("a")};
  CHECK(sim::run_search(spec, points, &a, nullptr));
  std::vector<std::string> replayed;
  for (const sim::SweepPoint& p : points)
    if (p.chosen) replayed.push_back(std::to_string(p.index) + "@" + std::to_string(p.generation));
  CHECK(replayed == first);
  // Without results, only generation 0 is known (dry-run).
  std::vector<sim::SweepPoint> fresh = sim::expand_sweep(spec);
  CHECK_FALSE(sim::run_search(spec, fresh, nullptr, nullptr));
  CHECK(std::count_if(fresh.begin(), fresh.end(), [](const sim::SweepPoint& p) { return p.chosen; }) == 6);
}

TEST_CASE("sweep search: random and Latin-hypercube specs choose their designs once, all in one step",
          "[sweep][search]") {
  TempDir dir("search", "sample");
  for (const std::string strategy : {"random", "latin-hypercube"}) {
    INFO(strategy);
    const std::string path =
        write_small_spec(dir, {{"strategy", strategy}, {"points", 9}, {"seed", 5}}, strategy + ".json");
    int steps = 0;
    const sim::SweepSpec spec = sim::load_sweep_spec(path);
    std::vector<sim::SweepPoint> points = sim::expand_sweep(spec);
    const sim::SweepDir out{dir.file(strategy)};
    sim::init_sweep_dir(spec, points, out);
    REQUIRE(sim::run_search(spec, points, &out, [&](const std::vector<int>& chosen, int generation) {
      ++steps;
      CHECK(generation == -1);
      return fake_evaluate(spec, points, out, chosen, nullptr);
    }));
    CHECK(steps == 1);
    const auto chosen =
        std::count_if(points.begin(), points.end(), [](const sim::SweepPoint& p) { return p.chosen; });
    if (strategy == "random")
      CHECK(chosen == 9);
    else
      CHECK(chosen <= 9);  // two samples of a hypercube may be the same design: it is evaluated once
    const std::string csv = sim::sweep_results_csv(spec, points, sim::read_sweep_results(points, out));
    CHECK(std::count(csv.begin(), csv.end(), '\n') == chosen + 1);
    CHECK_THAT(csv, Catch::Contains("," + strategy + ",\n"));
  }
}

TEST_CASE("sweep search: spec errors in the search object name the JSON path", "[sweep][search]") {
  TempDir dir("search", "errors");
  const auto error_of = [&](const json& search) {
    try {
      sim::load_sweep_spec(write_small_spec(dir, search));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of({{"strategy", "annealing"}}), Catch::Contains("/search/strategy"));
  CHECK_THAT(error_of({{"strategy", "random"}}), Catch::Contains("/search/points"));
  CHECK_THAT(error_of({{"strategy", "nsga2"}, {"population", 1}, {"generations", 2}}),
             Catch::Contains("/search/population"));
  CHECK_THAT(error_of({{"strategy", "nsga2"}, {"population", 4}, {"generations", 2}, {"points", 3}}),
             Catch::Contains("/search/points: unknown key"));
  CHECK_THAT(error_of({{"seed", 3}}), Catch::Contains("/search/seed: unknown key"));
  CHECK_THAT(error_of({{"objectives", {{{"metric", "speed"}, {"goal", "max"}}}}}),
             Catch::Contains("/search/objectives/0/metric"));
  CHECK_THAT(error_of({{"objectives",
                        {{{"metric", "fps"}, {"goal", "max"}}, {{"metric", "fps"}, {"goal", "min"}}}}}),
             Catch::Contains("/search/objectives/1/metric: \"fps\" is already an objective"));
}

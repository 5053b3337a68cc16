// Design-space sweeps (docs/sweeps.md). A spec (configs/sweeps/*.json) names a base accelerator config, axes
// that set config parameters by JSON pointer, models and resolutions, PTQ recipes and resource constraints.
// expand_sweep turns it into numbered points in a fixed order; the steps below (prepare, run one point,
// collect) work on an output folder that any backend fills:
//
//   DIR/spec.json                                  copy of the spec (a rerun checks it is unchanged)
//   DIR/qgraphs/<model>@<res>_<recipe>.vqg         quantized graphs, computed once per (model, recipe)
//   DIR/points/<index>/accel.json, report.json     the point's config and simulation report
//   DIR/points/<index>/result.json                 written last, atomically: the point is done
//   DIR/points/<index>/log.txt                     the child's output (local backend)
//   DIR/results.csv                                one row per done or filtered point, in index order
//
// A point is done when its result.json exists, whatever its status (ok or failed); anything else in its
// folder is from an interrupted run and is discarded when the point runs again.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/resource_model.hpp"
#include "quant/qgraph.hpp"
#include "sim/dse/model_quantization.hpp"
#include "sim/dse/sweep_search.hpp"
#include "sim/dse/sweep_slurm.hpp"

namespace vitsim::sim {

/// One axis: every value is set into each of `pointers` (one pointer, or several tied together).
struct SweepAxis {
  std::string label;                  // "name", else the pointers joined by '+': the results.csv column
  std::vector<std::string> pointers;  // JSON pointers into the accelerator config
  std::vector<nlohmann::json> values;
};

/// Upper bounds on a design's resources (absent: no bound).
struct SweepLimits {
  std::optional<int64_t> dsps, luts, bram36, onchip_bytes;
};

struct SweepSpec {
  std::string file;       // where it was read from (for messages)
  nlohmann::json source;  // the spec as read (copied to DIR/spec.json)
  std::string name, description;
  std::string base_accel;      // as written in the spec
  std::string base_file;       // the base config file it resolved to
  nlohmann::json base_config;  // the base config file's JSON
  std::vector<SweepAxis> axes;
  std::vector<ModelEntry> models;
  std::vector<quant::Recipe> recipes;
  CalibrationSpec calibration;  // default {synthetic, seed 1, count 1}
  uint64_t weights_seed = 0;    // synthetic weights (not a spec field: fixed, like `vitsim run`'s default)
  std::string timing = "fast";  // fast | cycle
  int64_t max_cycles = 0;       // a point needing more cycles fails with the limit's message (0: no limit)
  std::string device;           // constraints.device as written ("" : none)
  std::optional<arch::Device> fpga;  // the device it names
  SweepLimits limits;                // constraints.max
  SweepSearch search;                // "search": which points are evaluated (default: the grid)
};

/// Reads and validates a spec; throws quant::ConfigError "<spec file>: <json path>: <problem>" (every axis
/// pointer must exist in the base config).
SweepSpec load_sweep_spec(const std::string& path);

/// A design point: one model, one recipe, one value per axis.
struct SweepPoint {
  int index = 0;
  std::string id;                      // 12 hex digits of a hash of the point's canonical JSON
  size_t model = 0, recipe = 0;        // into SweepSpec::models, ::recipes
  std::vector<nlohmann::json> values;  // one per axis (point_config: the config they make)
  std::string config_error;            // parse_accel_config's message when the combination is invalid
  // Resources of a valid config (-1: unknown).
  int64_t dsps = -1, luts = -1, bram36 = -1, onchip_bytes = -1;
  std::optional<bool> fits_device;  // with a device constraint
  std::string filtered;             // why the constraints reject it ("" : it runs)
  // Whether the spec's search chose it (run_search; expand_sweep: every point of a grid), and in which
  // nsga2 generation (-1: none). Points not chosen are neither run nor listed.
  bool chosen = false;
  int generation = -1;
};

/// Every point, in index order: models outermost, then recipes, then the axes in spec order, the last axis
/// varying fastest. Deterministic: the same spec (and base config) gives the same points and ids.
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec);

/// The point's accelerator config: the base config with its axis values set (built on demand, not stored
/// in the point, so that a 10^6-point sweep expands in little memory).
nlohmann::json point_config(const SweepSpec& spec, const SweepPoint& point);

/// `vitsim sweep --dry-run`: one line per point (index, id, model, recipe, values, runs or filtered).
void print_sweep_points(const SweepSpec& spec, const std::vector<SweepPoint>& points, std::ostream& out);

/// The files of one output folder.
struct SweepDir {
  std::string root;
  std::string spec_copy() const;
  std::string qgraph(const SweepSpec& spec, const SweepPoint& point) const;
  std::string point_dir(int index) const;
  std::string result(int index) const;  // points/<index>/result.json
  std::string log(int index) const;     // points/<index>/log.txt
  std::string results_csv() const;
};

/// Creates DIR and writes DIR/spec.json, or checks that an existing DIR/spec.json holds the same spec (a
/// std::invalid_argument otherwise), and that each existing result.json belongs to the point of its index.
/// Returns the result.json files it read (read_sweep_results).
std::vector<nlohmann::json> init_sweep_dir(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                           const SweepDir& dir);

/// Indices of the chosen points that run (not filtered) and have no result.json yet.
std::vector<int> pending_points(const std::vector<SweepPoint>& points, const SweepDir& dir);

/// Computes the quantized graphs that the points `pending` need (those not in DIR/qgraphs yet); a PTQ that
/// fails fails its points. Returns the points still to run. Progress lines go to `err`.
std::vector<int> prepare_points(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                                const SweepDir& dir, const std::vector<int>& pending, std::ostream& err);

/// init_sweep_dir, then the search up to its first step with points left to run (run_search without an
/// evaluator: for nsga2 the generation the results reach), then prepare_points for that step's pending
/// points; returns them.
std::vector<int> prepare_sweep(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir& dir,
                               std::ostream& err);

/// Runs one point from scratch (its folder emptied first): validates its config, loads (or computes) the
/// quantized graph, simulates, writes accel.json, report.json and then result.json. A failure of the point
/// itself (invalid config, impossible mapping, stalled simulation) is recorded in result.json with status
/// "failed", and the call returns normally; a filtered point or an index out of range is a
/// std::invalid_argument. `loaded`: the point's quantized graph when the caller has it in memory (a fork
/// server), else it is read from DIR/qgraphs (structure only: sweeps are timing-only). Returns the
/// result.json content.
nlohmann::json run_sweep_point(const SweepSpec& spec, const std::vector<SweepPoint>& points, int index,
                               const SweepDir& dir, std::ostream& log, const quant::QGraph* loaded = nullptr);

/// Writes a failed result.json for `index` (a crashed child, as seen by a backend).
void record_failed_point(const SweepSpec& spec, const SweepPoint& point, const SweepDir& dir,
                         const std::string& error);

/// One point's result.json, checked to be what run_sweep_point writes (schema, index, types, metrics null
/// or non-negative numbers): a tampered or foreign file is a std::invalid_argument naming it, before it
/// reaches results.csv.
nlohmann::json read_sweep_result(const SweepPoint& point, const SweepDir& dir);

/// The result.json files present, by index (null where a point has none), each read_sweep_result.
std::vector<nlohmann::json> read_sweep_results(const std::vector<SweepPoint>& points, const SweepDir& dir);

/// results.csv from the points and their results: rows for the chosen points that are done or filtered,
/// by generation (nsga2), then by index.
std::string sweep_results_csv(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                              const std::vector<nlohmann::json>& results);
/// Its first line, and the row of one point ("" for a pending point or one the search did not choose).
std::string results_csv_header(const SweepSpec& spec);
std::string results_csv_row(const SweepSpec& spec, const SweepPoint& point, const nlohmann::json& result);

/// Rebuilds DIR/results.csv (atomically) from the result.json files (re-deriving the search's choices from
/// them: run_search without an evaluator) and prints a summary: counts by status, and the fastest design
/// per model and recipe.
void collect_sweep(const SweepSpec& spec, std::vector<SweepPoint>& points, const SweepDir& dir,
                   std::ostream& out);

/// Runs the points `indices` that have no result.json yet, one after the other in this process, each
/// quantized graph loaded once (a Slurm array task's batch: `vitsim sweep SPEC --out DIR --points LIST`).
void run_sweep_batch(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                     const std::vector<int>& indices, const SweepDir& dir, std::ostream& log);

/// The points of a list such as "0-3,7" (slurm_array_list's form); std::invalid_argument when malformed.
std::vector<int> parse_point_list(const std::string& list);

struct LocalBackendOptions {
  int jobs = 1;            // child processes at once
  std::string executable;  // "": fork server (below); else each point runs `EXECUTABLE sweep SPEC --out DIR
                           // --point I` (a stand-in runner in tests)
  bool progress_bar = false;  // a bar rewritten in place (a terminal), else one line per finished point
};

/// The local backend: runs the spec's search (run_search), each step's pending points in their own child
/// processes, up to `jobs` at once (output to the point's log.txt); a step starts when the previous one is
/// done. By default the backend is a fork server: it loads each quantized
/// graph once (structure only) and forks a child per point that runs run_sweep_point on the graph in
/// memory, with no exec, spec expansion or file load. A child that crashes or exits without writing
/// result.json becomes a failed point with the tail of its log. results.csv grows as points finish (rows
/// appended in index order, as far as every earlier point is done) and is rewritten whole at the end, the
/// same bytes as collect_sweep's. Prints the summary at the end. Returns 0.
int run_local_sweep(const SweepSpec& spec, const std::string& spec_path, std::vector<SweepPoint>& points,
                    const SweepDir& dir, const LocalBackendOptions& options, std::ostream& out,
                    std::ostream& err);

/// `vitsim sweep SPEC --out DIR --hypervolume`: the hypervolume of the ok rows of DIR/results.csv for the
/// spec's two objectives, from `reference` ("X,Y", one value per objective) or, when it is "", from the
/// spec: 0 for a maximized objective, the spec's budget (constraints.max, else the device's capacity) for
/// a minimized one. Prints it with the counts of rows, ok points and the Pareto front; returns it.
double print_hypervolume(const SweepSpec& spec, const SweepDir& dir, const std::string& reference,
                         std::ostream& out);

/// `vitsim sweep` as parsed by the CLI.
struct SweepArgs {
  std::string spec;
  std::string out;
  int jobs = 0;  // 0: one per hardware thread
  bool dry_run = false, prepare = false, collect = false;
  int point = -1;     // --point INDEX (-1: none)
  std::string batch;  // --points LIST: a batch of points run in this process ("": none)
  bool hypervolume = false;
  std::string reference;  // --reference X,Y: the hypervolume's reference point ("": from the spec)
  std::string backend = "local";
  SlurmOptions slurm;  // --backend slurm: its --slurm-* options (sim/dse/sweep_slurm.hpp)
};

/// Runs the command; std::invalid_argument (exit 2) for a bad spec, flag or output folder.
int run_sweep_command(const SweepArgs& args, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

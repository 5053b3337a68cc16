// The pieces shared by the commands that quantize zoo models from a JSON file (`vitsim regress`'s
// traces/matrix.json, `vitsim sweep`'s spec): reading and validating the {"model", "res"} entries and the
// calibration settings with errors that name the file and JSON path, and the PTQ of one zoo model with
// synthetic weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/json_reader.hpp"
#include "quant/ptq.hpp"
#include "quant/recipe.hpp"

namespace vitsim::sim {

struct ModelEntry {
  std::string model;
  int resolution = 0;
  /// "<model>@<res>", as in file names and messages.
  std::string label() const { return model + "@" + std::to_string(resolution); }
};

/// Calibration images of the PTQ.
struct CalibrationSpec {
  std::string source = "synthetic";  // "synthetic" | "fashion-mnist" (train split)
  int seed = 0;
  int count = 1;
};

constexpr int kMaxSeed = 2147483647;

/// A name that can be a file or folder name: letters, digits, '-', '_', '.', no leading dot.
bool plain_name(const std::string& s);

/// The array of {"model", "res"} objects at `key` (required, at least one entry, no duplicates); each entry
/// is checked against the zoo now, so a bad one fails before minutes of work.
std::vector<ModelEntry> read_model_entries(quant::JsonReader& r, const std::string& key);

/// Reads {"source", "seed", "count"} (each optional, defaults from `fallback`; unknown keys rejected).
CalibrationSpec read_calibration(quant::JsonReader& calib, const CalibrationSpec& fallback);

/// `recipe` as a name of configs/quant/ or a file; a ConfigError at `r`'s `key` otherwise.
quant::Recipe read_recipe(quant::JsonReader& r, const std::string& key, const std::string& name_or_path);

/// Builds the zoo model, fills it with synthetic weights (`weights_seed`) and quantizes it with `recipe` on
/// the calibration images.
quant::QGraph quantize_zoo_model(const ModelEntry& entry, uint64_t weights_seed, const CalibrationSpec& calib,
                                 const quant::Recipe& recipe, const quant::ProgressFn& progress = {});

}  // namespace vitsim::sim

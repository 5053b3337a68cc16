// `vitsim autotune` (docs/autotune.md): Auto-ViT-Acc's automatic framework. Given a zoo model, a device and
// a target frame rate, it chooses the parallelism of a mixed-scheme engine (dsp_lanes, lut_lanes, replicas)
// and the power-of-two share of every layer's weight rows under the device's DSP and LUT budgets, so that
// the two lane kinds finish together: each candidate's ratio is lut_lanes / (dsp_lanes + lut_lanes), the
// share of a tile's rows each kind takes in one pass. Candidates are simulated in fast mode, smallest peak
// throughput first, and the first that reaches the target is chosen.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/accel_config.hpp"
#include "arch/resource_model.hpp"
#include "quant/graph.hpp"
#include "quant/recipe.hpp"

namespace vitsim::sim {

struct AutotuneSpec {
  quant::Graph graph;                      // the model, its weights materialized
  std::vector<quant::Tensor> calibration;  // PTQ calibration images (at least one)
  arch::Device device;
  double fps = 0;         // target frames per second, > 0
  quant::Recipe recipe;   // mixed_scheme enabled; its pot_ratio is replaced by each candidate's
  nlohmann::json base;    // the accelerator config the candidates derive from: one engine, type "mixed"
  std::string base_name;  // for messages and the written config's notes
  std::vector<int> replicas = {4, 8, 16, 32};                    // candidate replicas
  std::vector<int> dsp_lanes = {1, 2, 4, 6, 8, 12, 16, 24, 32};  // candidate DSP lanes
  int max_lut_lanes = 64;  // the LUT lanes of a candidate: the most that fit, at most this
  uint64_t seed = 0;       // synthetic weights and calibration image
};

/// One design the search looked at.
struct AutotuneCandidate {
  int replicas = 0, dsp_lanes = 0, lut_lanes = 0;
  double ratio = 0;         // lut_lanes / (dsp_lanes + lut_lanes): the recipe's pot_ratio
  int64_t multipliers = 0;  // DSP-lane multipliers + shifters: peak products per cycle
  arch::ResourceEstimate resources;
  bool simulated = false;
  double fps = 0;           // fast mode, when simulated
  nlohmann::json config;    // the accelerator config
  arch::AccelConfig accel;  // `config`, parsed and validated once
};

struct AutotuneResult {
  std::vector<AutotuneCandidate> candidates;  // every fitting candidate, in the order they would be tried
  int chosen = -1;                            // index of the first to reach the target, -1: none did
};

/// Called after each simulated candidate: its index, the number of candidates, the candidate.
using AutotuneProgress = std::function<void(size_t, size_t, const AutotuneCandidate&)>;

/// Checks the spec (std::invalid_argument naming the problem: no mixed engine in the base, a recipe without
/// mixed_scheme, a non-positive target) and runs the search.
AutotuneResult autotune(const AutotuneSpec& spec, const AutotuneProgress& progress = {});

/// The LUT lanes of a candidate: the most (<= max_lut_lanes, >= 1) whose config fits the device, or 0 when
/// not even one does (or the DSPs do not fit).
int most_lut_lanes(const nlohmann::json& base, int replicas, int dsp_lanes, int max_lut_lanes,
                   const arch::Device& device);

/// `base` with its mixed engine set to these lanes and replicas.
nlohmann::json candidate_config(const nlohmann::json& base, int replicas, int dsp_lanes, int lut_lanes);

}  // namespace vitsim::sim

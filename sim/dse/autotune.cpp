#include "sim/dse/autotune.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "arch/accel_config.hpp"
#include "quant/ptq.hpp"
#include "sim/run/simulator.hpp"

namespace vitsim::sim {

namespace {

// The candidates vary the base's one engine, which must be of type "mixed".
void require_one_mixed_engine(const nlohmann::json& base, const std::string& name) {
  const nlohmann::json& engines = base.at("engines");
  if (engines.size() != 1 || engines[0].value("type", "") != "mixed")
    throw std::invalid_argument("autotune: the base config '" + name +
                                "' must have exactly one engine, of type \"mixed\" (e.g. auto-vit-acc)");
}

bool fits_device(const nlohmann::json& config, const arch::Device& device) {
  return arch::fits(arch::estimate_resources(arch::parse_accel_config(config, "autotune candidate")), device);
}

}  // namespace

nlohmann::json candidate_config(const nlohmann::json& base, int replicas, int dsp_lanes, int lut_lanes) {
  nlohmann::json c = base;
  require_one_mixed_engine(base, "base");
  nlohmann::json& e = c["engines"][0];
  e["replicas"] = replicas;
  e["dsp_lanes"] = dsp_lanes;
  e["lut_lanes"] = lut_lanes;
  return c;
}

int most_lut_lanes(const nlohmann::json& base, int replicas, int dsp_lanes, int max_lut_lanes,
                   const arch::Device& device) {
  // Resources grow with the lanes, so the lanes that fit are 1..L: binary search for L.
  int lo = 0, hi = max_lut_lanes;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (fits_device(candidate_config(base, replicas, dsp_lanes, mid), device))
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

AutotuneResult autotune(const AutotuneSpec& spec, const AutotuneProgress& progress) {
  if (!(spec.fps > 0)) throw std::invalid_argument("autotune: the target --fps must be positive");
  if (!spec.recipe.mixed_scheme.enabled)
    throw std::invalid_argument(
        "autotune: recipe '" + spec.recipe.name +
        "' has no mixed_scheme: nothing to deal to the LUT lanes (e.g. autovitacc-mixed)");
  require_one_mixed_engine(spec.base, spec.base_name);
  AutotuneResult result;
  for (int r : spec.replicas)
    for (int d : spec.dsp_lanes) {
      const int l = most_lut_lanes(spec.base, r, d, spec.max_lut_lanes, spec.device);
      if (l == 0) continue;
      AutotuneCandidate c;
      c.replicas = r, c.dsp_lanes = d, c.lut_lanes = l;
      c.ratio = static_cast<double>(l) / (d + l);
      c.config = candidate_config(spec.base, r, d, l);
      c.accel = arch::parse_accel_config(c.config, "autotune candidate");
      c.resources = arch::estimate_resources(c.accel);
      c.multipliers = c.accel.multipliers();
      result.candidates.push_back(std::move(c));
    }
  std::stable_sort(result.candidates.begin(), result.candidates.end(),
                   [](const AutotuneCandidate& a, const AutotuneCandidate& b) {
                     return a.multipliers != b.multipliers ? a.multipliers < b.multipliers
                                                           : a.resources.dsps < b.resources.dsps;
                   });
  std::map<double, quant::QGraph> by_ratio;  // one PTQ per ratio
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    AutotuneCandidate& c = result.candidates[i];
    auto it = by_ratio.find(c.ratio);
    if (it == by_ratio.end()) {
      quant::Recipe recipe = spec.recipe;
      recipe.mixed_scheme.pot_ratio = c.ratio;
      it = by_ratio.emplace(c.ratio, quant::quantize_graph(spec.graph, recipe, spec.calibration)).first;
    }
    c.fps = simulate(it->second, c.accel, SimOptions{}).fps();
    c.simulated = true;
    if (progress) progress(i, result.candidates.size(), c);
    if (c.fps >= spec.fps) {
      result.chosen = static_cast<int>(i);
      break;
    }
  }
  return result;
}

}  // namespace vitsim::sim

// libFuzzer target: sweep specs (sim::load_sweep_spec), and their expansion into points when there are few
// (expansion validates every point's config; a million-point spec is legal but not a fuzzing input).
#include "fuzz_support.hpp"
#include "sim/dse/sweep.hpp"

namespace {
constexpr size_t kMaxExpandedPoints = 64;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vitsim::fuzz::as_file(data, size, "spec.json");
  return vitsim::fuzz::read_or_refuse([&] {
    const vitsim::sim::SweepSpec spec = vitsim::sim::load_sweep_spec(path);
    size_t points = spec.models.size() * spec.recipes.size();
    for (const vitsim::sim::SweepAxis& axis : spec.axes) points *= axis.values.size();
    if (points <= kMaxExpandedPoints) vitsim::sim::expand_sweep(spec);
  });
}

// Engine type "systolic": parameters, parser and registration.
#include "arch/engine_types.hpp"
#include "arch/fabric_cost.hpp"

namespace vitsim::arch {

namespace {
std::unique_ptr<EngineParams> parse_systolic(quant::JsonReader& r) {
  auto p = std::make_unique<SystolicParams>();
  r.require("rows");
  p->rows = r.integer("rows", 0, 1, 4096);
  r.require("cols");
  p->cols = r.integer("cols", 0, 1, 4096);
  p->dataflow = parse_dataflow(r.choice("dataflow", "os", {"os", "ws", "is"}));
  return p;
}
}  // namespace

std::string SystolicParams::summary() const {
  return std::to_string(rows) + " x " + std::to_string(cols) + " systolic array, " + dataflow_name(dataflow) +
         " dataflow";
}

nlohmann::json SystolicParams::to_json() const {
  return {{"rows", rows}, {"cols", cols}, {"dataflow", dataflow_name(dataflow)}};
}

bool SystolicParams::supports(TileWork work, int, int) const {
  return work == TileWork::Gemm;
}

// Each GEMM of the tile (m x k times k x n) runs as SCALE-Sim's folds; a fold is one output group whose
// R + C + T - 2 (+ R preload) cycles are its waves. Operands enter at the array edges (port limits are not
// modelled for this baseline engine), and the fold's cycles already include the wavefront fill and drain, so
// the pipeline depth is 1.
GroupPipeline SystolicParams::group_pipeline(const ComputeTile& t) const {
  const SystolicFoldTiming f = systolic_fold_timing({t.m, t.k, t.n}, array());
  GroupPipeline g;
  g.groups = t.groups * f.folds;
  g.waves = f.cycles_per_fold;
  g.depth = 1;
  g.group_outputs = int64_t{rows} * cols;
  return g;
}

// Output channels along the columns, output rows (pixels, tokens) along the rows.
TileGranule SystolicParams::granule(TileWork) const {
  return {cols, rows};
}

// Every PE adds its product to a partial sum (its own in os, the one from above in ws/is); an
// output-stationary PE also selects between accumulating and shifting its neighbour's result out.
std::vector<FabricPart> SystolicParams::fabric() const {
  std::vector<FabricPart> parts{{"PE adders", multipliers() * fabric::add_luts(fabric::kAccumulatorBits)}};
  if (dataflow == Dataflow::OutputStationary)
    parts.push_back({"PE drain muxes", multipliers() * fabric::mux_luts(fabric::kAccumulatorBits)});
  return parts;
}

VITSIM_REGISTER_ENGINE(systolic, "systolic",
                       "systolic GEMM array (rows x cols PEs; dataflow os | ws | is), SCALE-Sim timing",
                       parse_systolic)

}  // namespace vitsim::arch

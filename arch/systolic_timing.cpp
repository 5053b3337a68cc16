#include "arch/systolic_timing.hpp"

#include "arch/tile_timing.hpp"

#include <stdexcept>

namespace vitsim::arch {

Dataflow parse_dataflow(const std::string& name) {
  if (name == "os") return Dataflow::OutputStationary;
  if (name == "ws") return Dataflow::WeightStationary;
  if (name == "is") return Dataflow::InputStationary;
  throw std::invalid_argument("unknown dataflow '" + name + "' (expected os, ws or is)");
}

const char* dataflow_name(Dataflow df) {
  switch (df) {
    case Dataflow::OutputStationary:
      return "os";
    case Dataflow::WeightStationary:
      return "ws";
    case Dataflow::InputStationary:
      return "is";
  }
  return "?";
}

SystolicFoldTiming systolic_fold_timing(const SystolicGemm& g, const SystolicArray& a) {
  if (g.m <= 0 || g.k <= 0 || g.n <= 0 || a.rows <= 0 || a.cols <= 0)
    throw std::invalid_argument("systolic GEMM and array dimensions must be positive");
  SystolicFoldTiming t{};
  // Stationary operands must be loaded through the R rows first (WS, IS): an extra R cycles per fold.
  int64_t preload = a.rows;
  switch (a.dataflow) {
    case Dataflow::OutputStationary:
      t.mapped_rows = g.m, t.mapped_cols = g.n, t.streamed = g.k;
      preload = 0;
      break;
    case Dataflow::WeightStationary:
      t.mapped_rows = g.k, t.mapped_cols = g.n, t.streamed = g.m;
      break;
    case Dataflow::InputStationary:
      t.mapped_rows = g.k, t.mapped_cols = g.m, t.streamed = g.n;
      break;
  }
  t.folds = ceil_div(t.mapped_rows, a.rows) * ceil_div(t.mapped_cols, a.cols);
  // Fill the R x C wavefront (R + C - 2) while streaming T operands, plus the preload.
  t.cycles_per_fold = preload + a.rows + a.cols + t.streamed - 2;
  return t;
}

}  // namespace vitsim::arch

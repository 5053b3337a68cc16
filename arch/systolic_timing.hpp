// Timing rules of a systolic-array GEMM engine, in plain C++ (no SystemC kernel), so tests and the fast
// timing mode can call them directly.
//
// A GEMM is M x K times K x N. An R x C array maps two of the three dimensions onto its rows and columns
// and streams the third (T) through them, fold after fold, as SCALE-Sim v2 does (stall-free, ideal memory):
//   output stationary (OS): rows M, cols N, T = K; a fold takes R + C + T - 2 cycles
//   weight stationary (WS): rows K, cols N, T = M; a fold takes 2R + C + T - 2 cycles (R to preload)
//   input stationary  (IS): rows K, cols M, T = N; a fold takes 2R + C + T - 2 cycles
//   folds = ceil(rows / R) * ceil(cols / C)
// SCALE-Sim reports folds * per_fold - 1 (its own off-by-one: it counts from cycle 0 to the last cycle).
#pragma once

#include <cstdint>
#include <string>

namespace vitsim::arch {

enum class Dataflow { OutputStationary, WeightStationary, InputStationary };

/// "os", "ws", "is"; throws std::invalid_argument naming the allowed values otherwise.
Dataflow parse_dataflow(const std::string& name);
const char* dataflow_name(Dataflow df);

struct SystolicGemm {
  int64_t m, k, n;
};

struct SystolicArray {
  int64_t rows, cols;
  Dataflow dataflow;
};

struct SystolicFoldTiming {
  int64_t mapped_rows, mapped_cols, streamed;  // GEMM dimensions on the array rows, columns, and in time
  int64_t folds;
  int64_t cycles_per_fold;
  /// folds * cycles_per_fold: the fold sequence of the array, back to back.
  int64_t cycles() const { return folds * cycles_per_fold; }
  /// What SCALE-Sim prints as total cycles (one less than cycles()).
  int64_t scalesim_total_cycles() const { return cycles() - 1; }
};

/// Stall-free fold timing of one GEMM; throws std::invalid_argument on a non-positive dimension.
SystolicFoldTiming systolic_fold_timing(const SystolicGemm& gemm, const SystolicArray& array);

}  // namespace vitsim::arch

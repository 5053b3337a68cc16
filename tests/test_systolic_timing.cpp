// Systolic GEMM fold timing: hand-derived cases of the SCALE-Sim rules (arch/systolic_timing.hpp).
#include <catch2/catch.hpp>

#include "arch/systolic_timing.hpp"

using namespace vitsim::arch;

TEST_CASE("Output stationary: rows M, cols N, stream K, R + C + T - 2 per fold", "[systolic]") {
  // M=5, K=3, N=4 on 2x2: folds ceil(5/2)*ceil(4/2) = 6, per fold 2+2+3-2 = 5.
  const auto t = systolic_fold_timing({5, 3, 4}, {2, 2, Dataflow::OutputStationary});
  CHECK(t.folds == 6);
  CHECK(t.cycles_per_fold == 5);
  CHECK(t.cycles() == 30);
  CHECK(t.scalesim_total_cycles() == 29);
}

TEST_CASE("Weight stationary: rows K, cols N, stream M, 2R + C + T - 2 per fold", "[systolic]") {
  // M=7, K=9, N=3 on 4x2: folds ceil(9/4)*ceil(3/2) = 6, per fold 8+2+7-2 = 15.
  const auto t = systolic_fold_timing({7, 9, 3}, {4, 2, Dataflow::WeightStationary});
  CHECK(t.folds == 6);
  CHECK(t.cycles_per_fold == 15);
  CHECK(t.scalesim_total_cycles() == 89);
}

TEST_CASE("Input stationary: rows K, cols M, stream N, 2R + C + T - 2 per fold", "[systolic]") {
  // M=7, K=9, N=3 on 4x2: folds ceil(9/4)*ceil(7/2) = 12, per fold 8+2+3-2 = 11.
  const auto t = systolic_fold_timing({7, 9, 3}, {4, 2, Dataflow::InputStationary});
  CHECK(t.folds == 12);
  CHECK(t.cycles_per_fold == 11);
  CHECK(t.scalesim_total_cycles() == 131);
}

TEST_CASE("Dataflow names parse, and bad input is rejected", "[systolic]") {
  CHECK(parse_dataflow("ws") == Dataflow::WeightStationary);
  CHECK(std::string(dataflow_name(Dataflow::InputStationary)) == "is");
  CHECK_THROWS_WITH(parse_dataflow("rs"), Catch::Contains("expected os, ws or is"));
  CHECK_THROWS(systolic_fold_timing({0, 1, 1}, {2, 2, Dataflow::OutputStationary}));
}

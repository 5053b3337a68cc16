// Co-simulation of the systolic array (docs/rtl.md): random GEMMs with random int8 data on the six arrays
// of the SCALE-Sim reference runs, in all three dataflows, into arch/rtl/systolic_array.sv and into
// vitsim's systolic engine (SystolicParams::group_pipeline stepped by group_pipeline_stepper, a fold per
// output group): every cycle, the RTL's fold end against the stepper's output beat, and every result
// against the GEMM. Then every layer of the real SCALE-Sim v2 runs (tests/data/scalesim/runs.csv) through
// the RTL: its cycles must be SCALE-Sim's Total Cycles.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include "Vsys_10x6.h"
#include "Vsys_16x16.h"
#include "Vsys_32x8.h"
#include "Vsys_4x4.h"
#include "Vsys_8x32.h"
#include "Vsys_8x8.h"
#include "arch/engine_types.hpp"
#include "arch/tile_timing.hpp"
#include "cosim.hpp"
#include "quant/csv.hpp"

using namespace vitsim;
using arch::Dataflow;
using rtl::Divergence;

namespace {

// A GEMM: a (m x k) times b (k x n), signed 8-bit codes, row-major.
struct Gemm {
  int64_t m = 0, k = 0, n = 0;
  std::vector<int8_t> a, b;
  int8_t at_a(int64_t i, int64_t j) const { return a[static_cast<size_t>(i * k + j)]; }
  int8_t at_b(int64_t i, int64_t j) const { return b[static_cast<size_t>(i * n + j)]; }
  // The exact product, c (m x n) (|sums| < 2^31 for k < 2^17).
  std::vector<int64_t> product() const {
    std::vector<int64_t> c(static_cast<size_t>(m * n), 0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j) c[static_cast<size_t>(i * n + j)] += int64_t{at_a(i, p)} * at_b(p, j);
    return c;
  }
};

Gemm random_gemm(int64_t m, int64_t k, int64_t n, std::mt19937_64& rng) {
  Gemm g{m, k, n, {}, {}};
  std::uniform_int_distribution<int> code(-128, 127);
  g.a.resize(static_cast<size_t>(m * k));
  g.b.resize(static_cast<size_t>(k * n));
  for (auto& v : g.a) v = static_cast<int8_t>(code(rng));
  for (auto& v : g.b) v = static_cast<int8_t>(code(rng));
  return g;
}

// How a dataflow places the GEMM (SCALE-Sim's mapping, tests/data/scalesim/README.md): the dimensions on
// the array's rows and columns and the streamed one, and which operand code goes where. Fold (fr, fc)
// covers mapped rows fr R .. and mapped columns fc C ..; codes outside the GEMM are zero.
struct Mapping {
  const Gemm& g;
  Dataflow df;
  int64_t rows() const { return df == Dataflow::OutputStationary ? g.m : g.k; }
  int64_t cols() const { return df == Dataflow::InputStationary ? g.m : g.n; }
  int64_t streamed() const {
    return df == Dataflow::OutputStationary ? g.k : df == Dataflow::WeightStationary ? g.m : g.n;
  }
  // West code of mapped row `row` at stream index t.
  int8_t west(int64_t row, int64_t t) const {
    if (row >= rows()) return 0;
    if (df == Dataflow::OutputStationary) return g.at_a(row, t);
    if (df == Dataflow::WeightStationary) return g.at_a(t, row);
    return g.at_b(row, t);
  }
  // North code of mapped column `col`: output stationary at stream index t; otherwise the stationary
  // code of mapped row `row`.
  int8_t north(int64_t row_or_t, int64_t col) const {
    if (col >= cols()) return 0;
    if (df == Dataflow::OutputStationary) return g.at_b(row_or_t, col);
    if (row_or_t >= rows()) return 0;
    if (df == Dataflow::WeightStationary) return g.at_b(row_or_t, col);
    return g.at_a(col, row_or_t);
  }
  // Index into the product of the output at mapped (row, col) (output stationary) or of the partial sum
  // leaving mapped column `col` at stream index t (ws, is); -1 outside the GEMM.
  int64_t output_index(int64_t row_or_t, int64_t col) const {
    if (col >= cols()) return -1;
    if (df == Dataflow::OutputStationary) return row_or_t < rows() ? row_or_t * g.n + col : -1;
    if (df == Dataflow::WeightStationary) return row_or_t * g.n + col;
    return col * g.n + row_or_t;
  }
};

// What the RTL did with one GEMM: its cycles, and the sums it produced (ws / is: partial sums of the row
// folds added up, as the output buffer behind such an array does).
struct RtlRun {
  int64_t cycles = 0;
  std::vector<int64_t> sums;
};

// Runs the GEMM fold by fold, back to back (row folds outer), on the RTL. `each_cycle(cycle, fold_end)`
// is called every cycle with the RTL's fold-end signal and returns false to stop; the run ends in the
// cycle of the last fold's end. Results are read from the registered outputs.
template <class Model, class EachCycle>
RtlRun run_rtl(Model& rtl, int R, int C, const Mapping& map, Divergence& div, int64_t tile, int64_t limit,
               EachCycle each_cycle) {
  const int64_t row_folds = (map.rows() + R - 1) / R, col_folds = (map.cols() + C - 1) / C;
  const int64_t folds = row_folds * col_folds, T = map.streamed();
  const bool stationary = map.df != Dataflow::OutputStationary;
  RtlRun run;
  run.sums.assign(static_cast<size_t>(map.g.m * map.g.n), 0);
  std::vector<int64_t> south_count(static_cast<size_t>(C), 0);  // partial sums taken per column
  int64_t started = 0, ended = 0, out_folds = 0;
  const auto fold_origin = [&](int64_t fold) {
    return std::pair{(fold / col_folds) * R, (fold % col_folds) * C};
  };
  const auto collect = [&] {
    if (rtl.out_valid) {
      const auto [r0, c0] = fold_origin(out_folds++);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) {
          const int64_t at = map.output_index(r0 + r, c0 + c);
          if (at >= 0)
            run.sums[static_cast<size_t>(at)] = rtl::signed_bits(rtl.out_acc, 32 * (r * C + c), 32);
        }
    }
    for (int c = 0; c < C; ++c) {
      if (!((rtl.south_valid >> c) & 1)) continue;
      const int64_t j = south_count[static_cast<size_t>(c)]++;
      const auto [r0, c0] = fold_origin(j / T);
      (void)r0;
      const int64_t at = map.output_index(j % T, c0 + c);
      if (at >= 0) run.sums[static_cast<size_t>(at)] += rtl::signed_bits(rtl.south, 32 * c, 32);
    }
  };
  rtl::reset(rtl);
  int64_t feeding = -1;  // the fold whose operands the edges carry
  for (int64_t cycle = 0;; ++cycle) {
    if (!div.at(tile, cycle, limit)) break;
    rtl.start = started < folds;
    rtl.stationary = stationary;
    rtl.stream = static_cast<uint32_t>(T);
    rtl.eval();
    if (rtl.ready && rtl.start) feeding = started++;
    const auto [r0, c0] = fold_origin(feeding);
    const int64_t index = rtl.feed_index;
    for (int r = 0; r < R; ++r)
      rtl::put_byte(rtl.west, static_cast<size_t>(r),
                    static_cast<uint8_t>(rtl.feed_stream ? map.west(r0 + r, index) : 0));
    for (int c = 0; c < C; ++c) {
      int8_t code = 0;
      if (rtl.feed_stream && !stationary) code = map.north(index, c0 + c);
      if (rtl.feed_preload) code = map.north(r0 + (R - 1 - index), c0 + c);
      rtl::put_byte(rtl.north, static_cast<size_t>(c), static_cast<uint8_t>(code));
    }
    rtl.eval();
    const bool fold_end = rtl.fold_end;
    ended += fold_end;
    const bool go_on = each_cycle(cycle, fold_end);
    rtl::clock(rtl);
    collect();
    if (!go_on || ended == folds) {
      run.cycles = cycle + 1;
      break;
    }
  }
  return run;
}

// A model of the RTL with its array shape (the ROWS / COLS definitions of tests/rtl/CMakeLists.txt).
template <class Model>
struct Array {
  int rows, cols;
  std::unique_ptr<Model> model = std::make_unique<Model>();
};

// Random GEMMs in every dataflow, co-simulated against vitsim's stepper; returns the first divergence.
// `change` alters vitsim's pipeline first (the mutation test: a model one cycle off must be caught).
template <class Model>
rtl::CosimResult cosim_random(Array<Model>& array, int tiles, uint64_t seed,
                              void (*change)(arch::GroupPipeline&) = nullptr) {
  std::mt19937_64 rng(seed);
  Divergence div;
  const int R = array.rows, C = array.cols;
  for (int tile = 0; tile < tiles && !div.found(); ++tile) {
    const Dataflow df = std::array{Dataflow::OutputStationary, Dataflow::WeightStationary,
                                   Dataflow::InputStationary}[static_cast<size_t>(tile % 3)];
    std::uniform_int_distribution<int64_t> dim(1, 3 * std::max(R, C));
    const Gemm g = random_gemm(dim(rng), dim(rng), dim(rng), rng);
    const Mapping map{g, df};
    arch::SystolicParams params;
    params.rows = R, params.cols = C, params.dataflow = df;
    arch::ComputeTile work;
    work.m = g.m, work.k = g.k, work.n = g.n;
    arch::GroupPipeline pipeline = params.group_pipeline(work);
    if (change) change(pipeline);
    const auto stepper = arch::group_pipeline_stepper(pipeline, arch::PortShare{1, 1}, arch::AuxPath{});
    bool stepper_done = false;
    const int64_t limit = pipeline.groups * pipeline.waves + 1;
    const RtlRun run = run_rtl(*array.model, R, C, map, div, tile, limit, [&](int64_t, bool fold_end) {
      if (stepper_done) return div.check("vitsim's tile ended before the RTL's", 1, 0);
      stepper_done = stepper->step();
      div.check("fold end (RTL) / group output beat (vitsim)", fold_end, stepper->beat_results() > 0);
      if (stepper->beat_results() > 0)
        div.check("results in the beat", int64_t{R} * C, stepper->beat_results());
      return !div.found();
    });
    if (div.found()) break;
    div.check("tile ended (vitsim's stepper done in the RTL's last cycle)", 1, stepper_done);
    const std::vector<int64_t> expected = g.product();
    for (size_t i = 0; i < expected.size() && !div.found(); ++i)
      div.value("C[" + std::to_string(i / static_cast<size_t>(g.n)) + "][" +
                    std::to_string(i % static_cast<size_t>(g.n)) + "] (" + arch::dataflow_name(df) + ")",
                run.sums[i], expected[i]);
  }
  return rtl::recorded(div.result());
}

// One row of the SCALE-Sim reference runs.
struct ReferenceLayer {
  std::string name, dataflow;
  int rows = 0, cols = 0;
  int64_t m = 0, k = 0, n = 0, total_cycles = 0;
};

// The GEMM of each row: gemm rows as written; conv rows by SCALE-Sim's rule (no padding, output
// ceil((ifmap - filter) / stride) + 1 per axis; M = output pixels, K = filter x channels, N = filters).
std::vector<ReferenceLayer> reference_layers() {
  std::ifstream in(std::string(VITSIM_TEST_DATA_DIR) + "/scalesim/runs.csv");
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::map<std::string, size_t> col;
  const auto header = quant::csv_fields(line);
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  std::vector<ReferenceLayer> layers;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto f = quant::csv_fields(line);
    const auto num = [&](const char* name) { return std::stoll(f[col.at(name)]); };
    ReferenceLayer l;
    l.name = f[col.at("case")] + "/" + f[col.at("layer")];
    l.dataflow = f[col.at("dataflow")];
    l.rows = static_cast<int>(num("rows")), l.cols = static_cast<int>(num("cols"));
    l.total_cycles = num("total_cycles");
    if (f[col.at("format")] == "gemm") {
      l.m = num("M_or_ifmap_h"), l.n = num("N_or_ifmap_w"), l.k = num("K_or_filter_h");
    } else {
      const int64_t h = num("M_or_ifmap_h"), w = num("N_or_ifmap_w"), fh = num("K_or_filter_h"),
                    fw = num("filter_w"), s = num("stride");
      const auto out = [&](int64_t in_size, int64_t filter) { return (in_size - filter + s - 1) / s + 1; };
      l.m = out(h, fh) * out(w, fw), l.k = fh * fw * num("channels"), l.n = num("num_filter");
    }
    layers.push_back(l);
  }
  return layers;
}

// Every reference layer on this array: the RTL's cycles, in SCALE-Sim's convention (the index of the
// last cycle, one less than the count), must equal the run's Total Cycles; the sums must be the GEMM's.
template <class Model>
int check_reference(Array<Model>& array) {
  std::mt19937_64 rng(7);
  int checked = 0;
  for (const ReferenceLayer& l : reference_layers()) {
    if (l.rows != array.rows || l.cols != array.cols) continue;
    const Gemm g = random_gemm(l.m, l.k, l.n, rng);
    const Mapping map{g, arch::parse_dataflow(l.dataflow)};
    Divergence div;
    const RtlRun run = run_rtl(*array.model, array.rows, array.cols, map, div, 0, l.total_cycles + 2,
                               [](int64_t, bool) { return true; });
    INFO(l.name << " (" << l.rows << "x" << l.cols << " " << l.dataflow << ", M " << l.m << " K " << l.k
                << " N " << l.n << "): " << div.result().summary());
    CHECK_FALSE(div.found());
    CHECK(run.cycles - 1 == l.total_cycles);
    const std::vector<int64_t> expected = g.product();
    const auto wrong = std::mismatch(run.sums.begin(), run.sums.end(), expected.begin());
    INFO("first wrong sum: element " << (wrong.first - run.sums.begin()));
    CHECK(wrong.first == run.sums.end());
    ++checked;
  }
  rtl::record({{"scalesim_layers", checked}});
  return checked;
}

template <class Model>
void cosim_and_reference(int rows, int cols) {
  Array<Model> array{rows, cols};
  const rtl::CosimResult result = cosim_random(array, 200, 0x5157 + rows * 64 + cols);
  INFO(rows << "x" << cols << ": " << result.summary());
  CHECK(result.divergence.empty());
  CHECK(result.tiles == 200);
  const int layers = check_reference(array);
  WARN(rows << "x" << cols << " systolic: " << result.summary() << "; " << layers
            << " SCALE-Sim reference layers matched");
  CHECK(layers > 0);
}

}  // namespace

TEST_CASE("RTL systolic array 4x4 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs", "[rtl][systolic]") {
  cosim_and_reference<Vsys_4x4>(VSYS_4X4_ROWS, VSYS_4X4_COLS);
}
TEST_CASE("RTL systolic array 8x8 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs", "[rtl][systolic]") {
  cosim_and_reference<Vsys_8x8>(VSYS_8X8_ROWS, VSYS_8X8_COLS);
}
TEST_CASE("RTL systolic array 16x16 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs",
          "[rtl][systolic]") {
  cosim_and_reference<Vsys_16x16>(VSYS_16X16_ROWS, VSYS_16X16_COLS);
}
TEST_CASE("RTL systolic array 8x32 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs",
          "[rtl][systolic]") {
  cosim_and_reference<Vsys_8x32>(VSYS_8X32_ROWS, VSYS_8X32_COLS);
}
TEST_CASE("RTL systolic array 32x8 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs",
          "[rtl][systolic]") {
  cosim_and_reference<Vsys_32x8>(VSYS_32X8_ROWS, VSYS_32X8_COLS);
}
TEST_CASE("RTL systolic array 10x6 == vitsim (random GEMMs, os/ws/is) and SCALE-Sim runs",
          "[rtl][systolic]") {
  cosim_and_reference<Vsys_10x6>(VSYS_10X6_ROWS, VSYS_10X6_COLS);
}

TEST_CASE("A one-cycle change to vitsim's systolic model makes the co-simulation fail", "[rtl][systolic]") {
  Array<Vsys_4x4> array{VSYS_4X4_ROWS, VSYS_4X4_COLS};
  // One more wave per fold (a fold one cycle longer than the wavefront's): the RTL's fold ends first.
  const rtl::CosimResult longer = cosim_random(array, 3, 1, [](arch::GroupPipeline& g) { ++g.waves; });
  INFO(longer.summary());
  CHECK_THAT(longer.divergence,
             Catch::Contains("tile 0, cycle ") &&
                 Catch::Contains("fold end (RTL) / group output beat (vitsim): RTL 1, vitsim 0"));
  // One more pipeline stage: vitsim's beat comes a cycle after the RTL's fold end.
  const rtl::CosimResult deeper = cosim_random(array, 3, 1, [](arch::GroupPipeline& g) { ++g.depth; });
  INFO(deeper.summary());
  CHECK_THAT(deeper.divergence,
             Catch::Contains("fold end (RTL) / group output beat (vitsim): RTL 1, vitsim 0"));
}

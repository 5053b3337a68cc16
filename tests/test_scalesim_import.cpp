// SCALE-Sim workloads (sim/validate/scalesim_import.hpp): the topology CSV rules and their errors, the conv
// -> GEMM conversion, and the systolic engine's compat cycles against SCALE-Sim's formula, written out here
// from its compute modules (not by calling arch::systolic_fold_timing).
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>

#include "sim/compile/inputs.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/validate/scalesim_import.hpp"
#include "test_support.hpp"

using namespace vitsim::sim;
using vitsim::arch::Dataflow;
using vitsim::arch::SystolicArray;
using vitsim::arch::TimingMode;

namespace {

ScaleSimWorkload parse(const std::string& text, ScaleSimFormat format, const std::string& origin = "t.csv") {
  std::istringstream in(text);
  return parse_scalesim_topology(in, origin, format);
}

// The message of the std::invalid_argument parsing `text` throws ("" if it does not).
std::string parse_error(const std::string& text, ScaleSimFormat format) {
  try {
    parse(text, format, "bad.csv");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

const std::string kConvHeader =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";

// SCALE-Sim v2's stall-free Total Cycles of one layer: its compute modules lay each fold out as operand
// demand rows (os: T streamed + C - 1 drain, skewed over R rows; ws/is: R preload + T + R + C - 2), folds
// back to back, and report the index of the last row.
int64_t scalesim_layer_cycles(int64_t m, int64_t k, int64_t n, const SystolicArray& a) {
  int64_t sr = m, sc = n, t = k, preload = 0;
  if (a.dataflow == Dataflow::WeightStationary) sr = k, sc = n, t = m, preload = a.rows;
  if (a.dataflow == Dataflow::InputStationary) sr = k, sc = m, t = n, preload = a.rows;
  const int64_t row_folds = (sr + a.rows - 1) / a.rows, col_folds = (sc + a.cols - 1) / a.cols;
  return row_folds * col_folds * (preload + a.rows + a.cols + t - 2) - 1;
}

ScaleSimWorkload random_gemms(std::mt19937_64& rng, int count, int64_t max_dim) {
  std::uniform_int_distribution<int64_t> dim(1, max_dim);
  ScaleSimWorkload w;
  w.origin = "random";
  w.format = ScaleSimFormat::Gemm;
  for (int i = 0; i < count; ++i) {
    ScaleSimLayer l;
    l.name = "g" + std::to_string(i);
    l.m = dim(rng), l.k = dim(rng), l.n = dim(rng);
    w.layers.push_back(l);
  }
  return w;
}

std::string describe(const SystolicArray& a) {
  return std::to_string(a.rows) + "x" + std::to_string(a.cols) + " " +
         vitsim::arch::dataflow_name(a.dataflow);
}

// Compat cycles per layer and in total equal the formula; vitsim's convention is one more per layer.
void check_against_formula(const ScaleSimWorkload& w, const SystolicArray& a) {
  const auto compat = run_scalesim(w, a, TimingMode::Fast, true);
  const auto native = run_scalesim(w, a, TimingMode::Fast, false);
  REQUIRE(compat.size() == w.layers.size());
  int64_t formula_total = 0;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const ScaleSimLayer& l = w.layers[i];
    const int64_t expected = scalesim_layer_cycles(l.m, l.k, l.n, a);
    formula_total += expected;
    INFO(describe(a) << " layer " << l.name << " M " << l.m << " K " << l.k << " N " << l.n);
    CHECK(compat[i].cycles == expected);
    CHECK(native[i].cycles == expected + 1);
  }
  CHECK(total_cycles(compat) == formula_total);
  CHECK(total_cycles(native) == formula_total + static_cast<int64_t>(w.layers.size()));
}

void check_fast_equals_cycle(const ScaleSimWorkload& w, const SystolicArray& a) {
  const auto fast = run_scalesim(w, a, TimingMode::Fast, false);
  const auto cycle = run_scalesim(w, a, TimingMode::Cycle, false);
  REQUIRE(cycle.size() == fast.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    INFO(describe(a) << " layer " << fast[i].name);
    CHECK(cycle[i].cycles == fast[i].cycles);
  }
}

std::string resnet50_csv() {
  return config_dir() + "/workloads/resnet50_conv.csv";
}

}  // namespace

TEST_CASE("SCALE-Sim conv topology: header, whitespace, blank lines, trailing comma, comments",
          "[scalesim]") {
  const ScaleSimWorkload w =
      parse(kConvHeader +
                "\r\n"
                "Conv1     ,224         ,224        ,11           ,11          ,3   ,96  ,4 ,\r\n"
                "\tConv2_dw, 112, 112, 3, 3, 1, 1, 2,#dw\n"
                "   \n"
                "Rect,10,20,3,5,4,8,1,2,",
            ScaleSimFormat::Conv);
  REQUIRE(w.layers.size() == 3);
  const ScaleSimLayer& alex = w.layers[0];
  CHECK(alex.name == "Conv1");
  CHECK(alex.line == 3);
  // AlexNet conv1: ceil((224 - 11) / 4) + 1 = 55 (SCALE-Sim's rounding up happens to give the real size).
  REQUIRE(alex.conv);
  CHECK(alex.conv->ofmap_h == 55);
  CHECK(alex.m == 55 * 55);
  CHECK(alex.k == 11 * 11 * 3);
  CHECK(alex.n == 96);
  // Text after the last comma is dropped; ceil((112 - 3) / 2) + 1 = 56, where floor would give 55.
  CHECK(w.layers[1].name == "Conv2_dw");
  CHECK(w.layers[1].line == 4);
  CHECK(w.layers[1].conv->ofmap_w == 56);
  CHECK(w.layers[1].m == 56 * 56);
  CHECK(w.layers[1].k == 9);
  // A 9th field is the stride width: 8 x ceil(15 / 2) + 1 = 8 x 9 output pixels.
  const ScaleSimLayer& rect = w.layers[2];
  CHECK(rect.conv->stride_h == 1);
  CHECK(rect.conv->stride_w == 2);
  CHECK(rect.m == 8 * 9);
  CHECK(rect.k == 3 * 5 * 4);
  CHECK(rect.n == 8);
  CHECK(rect.macs() == 72 * 60 * 8);
}

TEST_CASE("SCALE-Sim GEMM topology: rows are name, M, N, K", "[scalesim]") {
  const ScaleSimWorkload w =
      parse("Layer Name, M, N, K,\n\nTest 1, 256, 128, 512,\nfc,1,1000,2048,", ScaleSimFormat::Gemm);
  REQUIRE(w.layers.size() == 2);
  CHECK(w.layers[0].name == "Test 1");
  CHECK(w.layers[0].m == 256);
  CHECK(w.layers[0].n == 128);
  CHECK(w.layers[0].k == 512);
  CHECK_FALSE(w.layers[0].conv);
  CHECK(w.layers[1].line == 4);
  CHECK(w.layers[1].k == 2048);
}

// Found by fuzz_scalesim_csv: an empty line 1 made the row splitter read the last field of no fields
// (undefined behaviour). SCALE-Sim skips line 1 whatever it holds, an empty one too.
TEST_CASE("SCALE-Sim topology: an empty first line is the header", "[scalesim]") {
  for (const ScaleSimFormat format : {ScaleSimFormat::Conv, ScaleSimFormat::Gemm}) {
    const std::string row =
        format == ScaleSimFormat::Gemm ? "fc, 1, 1000, 2048," : "c1, 8, 8, 3, 3, 4, 16, 1,";
    const ScaleSimWorkload w = parse("\n" + row, format);
    REQUIRE(w.layers.size() == 1);
    CHECK(w.layers[0].name == (format == ScaleSimFormat::Gemm ? "fc" : "c1"));
    CHECK(w.layers[0].line == 2);
  }
  CHECK_THAT(parse_error("\n", ScaleSimFormat::Conv), Catch::Contains("at least one layer"));
}

TEST_CASE("SCALE-Sim ofmap rule: ceil((ifmap - filter) / stride) + 1, no padding", "[scalesim]") {
  CHECK(scalesim_ofmap_size(224, 7, 2) == 110);  // ResNet-50 conv1 unpadded (SCALE-Sim's own Eh = 110)
  CHECK(scalesim_ofmap_size(229, 7, 2) == 112);  // pre-padded to the extent the windows cover
  CHECK(scalesim_ofmap_size(230, 7, 2) == 113);  // the full padded input rounds up past the real 112
  CHECK(scalesim_ofmap_size(56, 1, 2) == 29);
  CHECK(scalesim_ofmap_size(58, 3, 1) == 56);
  CHECK(scalesim_ofmap_size(5, 5, 3) == 1);
  CHECK(scalesim_ofmap_size(7, 3, 2) == 3);
}

TEST_CASE("SCALE-Sim depthwise convention: a 'DP' layer runs as one single-channel conv per channel",
          "[scalesim]") {
  const ScaleSimWorkload w =
      parse(kConvHeader + "Conv_DP1, 8, 8, 3, 3, 4, 2, 1,\nConv2,8,8,1,1,4,4,1,", ScaleSimFormat::Conv);
  REQUIRE(w.layers.size() == 5);
  for (int c = 0; c < 4; ++c) {
    const ScaleSimLayer& l = w.layers[static_cast<size_t>(c)];
    CHECK(l.name == "Conv_DP1Channel_" + std::to_string(c));
    CHECK(l.conv->channels == 1);
    CHECK(l.m == 36);
    CHECK(l.k == 9);
    CHECK(l.n == 2);
  }
  CHECK(w.layers[4].name == "Conv2");
}

TEST_CASE("SCALE-Sim workloads are bounded at 100,000 layers, depthwise expansion included", "[scalesim]") {
  const std::string full = kConvHeader + "Conv_DP1, 8, 8, 3, 3, 100000, 2, 1,\n";
  CHECK(parse(full, ScaleSimFormat::Conv).layers.size() == 100000);
  CHECK_THAT(parse_error(kConvHeader + "Conv_DP1, 8, 8, 3, 3, 100001, 2, 1,\n", ScaleSimFormat::Conv),
             Catch::Contains(":2: expected at most 100000 layers in all, found the depthwise (\"DP\") layer "
                             "'Conv_DP1' expanding to 100001 single-channel layers"));
  CHECK_THAT(parse_error(full + "Conv2,8,8,1,1,4,4,1,\n", ScaleSimFormat::Conv),
             Catch::Contains(":3: expected at most 100000 layers in all, found more"));
}

TEST_CASE("SCALE-Sim topology errors name the file, the line, what was expected and what was found",
          "[scalesim]") {
  struct Case {
    std::string text;
    ScaleSimFormat format;
    std::string message;
  };
  const ScaleSimFormat conv = ScaleSimFormat::Conv, gemm = ScaleSimFormat::Gemm;
  const std::string fields8 =
      "expected 8 fields (Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num "
      "Filter, Strides) or 9 (then Stride width), each followed by a comma, found ";
  const std::vector<Case> cases = {
      {kConvHeader + "c,5,5,3,3,1,1,1\n", conv,
       "bad.csv:2: " + fields8 +
           "7; SCALE-Sim ignores what follows a row's last comma ('1'): is the trailing comma missing?"},
      {kConvHeader + "\nc,5,5,3,3,1,1,1,1,1,\n", conv, "bad.csv:3: " + fields8 + "10"},
      {kConvHeader + "g,4,5,6,\n", conv,
       "bad.csv:2: " + fields8 + "4 (a GEMM topology has 4: use --format gemm)"},
      {"L,M,N,K,\nc,5,5,3,3,1,1,1,\n", gemm,
       "bad.csv:2: expected 4 fields (Layer name, M, N, K), each followed by a comma, found 8 (a conv "
       "topology "
       "has 8: use --format conv)"},
      {"L,M,N,K,\ng,4,5,6\n", gemm,
       "bad.csv:2: expected 4 fields (Layer name, M, N, K), each followed by a comma, found 3; SCALE-Sim "
       "ignores what follows a row's last comma ('6'): is the trailing comma missing?"},
      {"L,M,N,K,\ng,4,5,6,2:4,\n", gemm,
       "bad.csv:2: field 5: expected no sparsity ratio (SCALE-Sim's sparse mode is not modeled), found "
       "'2:4'"},
      {kConvHeader + "c,5,5,3,3,1,1,1, 1:1,\n", conv,
       "bad.csv:2: field 9: expected no sparsity ratio (SCALE-Sim's sparse mode is not modeled), found "
       "'1:1'"},
      {kConvHeader + "c,5,x,3,3,1,1,1,\n", conv,
       "bad.csv:2: field 3 (IFMAP Width): expected a positive integer, found 'x'"},
      {kConvHeader + "c,5,5,3,3,,1,1,\n", conv,
       "bad.csv:2: field 6 (Channels): expected a positive integer, found ''"},
      {kConvHeader + "c,5,5,3,3,1,1,0,\n", conv,
       "bad.csv:2: field 8 (Strides): expected a positive integer, found 0"},
      {kConvHeader + "c,5,5,3,3,1,-2,1,\n", conv,
       "bad.csv:2: field 7 (Num Filter): expected a positive integer, found '-2'"},
      {kConvHeader + "c,5,5,3.5,3,1,1,1,\n", conv,
       "bad.csv:2: field 4 (Filter Height): expected a positive integer, found '3.5'"},
      {kConvHeader + "c,5,5,3,3,1,1,1,0,\n", conv,
       "bad.csv:2: field 9 (Stride width): expected a positive integer, found 0"},
      {"L,M,N,K,\ng,4,99999999999,6,\n", gemm,
       "bad.csv:2: field 3 (N): expected a positive integer up to 1000000000, found 99999999999"},
      {kConvHeader + "c,5,5,7,3,1,1,1,\n", conv,
       "bad.csv:2: expected Filter Height <= IFMAP Height, found 7 > 5"},
      {kConvHeader + "c,5,5,3,6,1,1,1,\n", conv,
       "bad.csv:2: expected Filter Width <= IFMAP Width, found 6 > 5"},
      {kConvHeader + "c,1000000000,1000000000,1,1,1000000000,1000000000,1,\n", conv,
       "bad.csv:2: expected the MACs (M x K x N) to fit in 64 bits, found 1000000000000000000 x 1000000000, "
       "which overflows"},
      {"c,5,5,3,3,1,1,1,\nd,5,5,3,3,1,1,1,\n", conv,
       "bad.csv:1: expected a header row (SCALE-Sim skips line 1, whatever it holds), found the layer 'c'"},
      {"g,4,5,6,\n", gemm, "bad.csv:1: expected a header row"},
      {kConvHeader + "\n  \n", conv,
       "bad.csv: expected at least one layer row after the header line, found none"},
      {"", gemm, "bad.csv: expected at least one layer row after the header line, found none"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK_THAT(parse_error(c.text, c.format), Catch::Contains(c.message));
  }
  CHECK_THROWS_WITH(load_scalesim_topology("/nonexistent/topology.csv", conv),
                    "/nonexistent/topology.csv: cannot open the file: No such file or directory");
  CHECK_THROWS_WITH(parse_scalesim_format("csv"), Catch::Contains("expected conv or gemm"));
}

TEST_CASE("SCALE-Sim runs need exactly one systolic engine and a valid array", "[scalesim]") {
  const auto trio = find_accel("trio-vit");
  CHECK_THROWS_WITH(systolic_array_of(trio),
                    Catch::Contains("expected a systolic engine") && Catch::Contains("found none"));
  const auto base = find_accel("systolic-32x32-os");
  CHECK_THROWS_WITH(with_systolic_array(base, {0, 8, Dataflow::OutputStationary}),
                    "systolic array rows: expected 1..4096, found 0");
  CHECK_THROWS_WITH(with_systolic_array(base, {8, 5000, Dataflow::OutputStationary}),
                    "systolic array cols: expected 1..4096, found 5000");
  const auto resized = with_systolic_array(base, {16, 8, Dataflow::InputStationary});
  CHECK(systolic_array_of(resized).rows == 16);
  CHECK(systolic_array_of(resized).dataflow == Dataflow::InputStationary);
  CHECK(resized.multipliers() == 128);
}

TEST_CASE("SCALE-Sim hand case: per layer cycles, folds and utilizations in both conventions", "[scalesim]") {
  // M=5, K=3, N=4 on 2x2 os: folds 3 x 2 = 6, each 2 + 2 + 3 - 2 = 5 cycles: 30, SCALE-Sim prints 29.
  ScaleSimWorkload w = parse("L,M,N,K,\ng,5,4,3,", ScaleSimFormat::Gemm);
  const auto native =
      run_scalesim(w, SystolicArray{2, 2, Dataflow::OutputStationary}, TimingMode::Fast, false);
  const auto compat =
      run_scalesim(w, SystolicArray{2, 2, Dataflow::OutputStationary}, TimingMode::Fast, true);
  REQUIRE(native.size() == 1);
  CHECK(native[0].folds == 6);
  CHECK(native[0].cycles_per_fold == 5);
  CHECK(native[0].cycles == 30);
  CHECK(compat[0].cycles == 29);
  // 20 of the 24 PE slots of the 6 folds hold an output; 60 MACs over 4 PEs x 30 cycles; compat over 29.
  CHECK(native[0].mapping_efficiency == Approx(20.0 / 24.0));
  CHECK(native[0].compute_utilization == Approx(60.0 / 120.0));
  CHECK(compat[0].compute_utilization == Approx(60.0 / 120.0));
  CHECK(compat[0].overall_utilization == Approx(60.0 / 116.0));
  // ws on 2x2: rows K=3, cols N=4, T=M=5: folds 2 x 2, each 4 + 2 + 5 - 2 = 9. SCALE-Sim's Compute Util
  // divides each fold by 9 + cols - 1 = 10 cycles.
  const auto ws = run_scalesim(w, SystolicArray{2, 2, Dataflow::WeightStationary}, TimingMode::Fast, true);
  CHECK(ws[0].cycles == 4 * 9 - 1);
  CHECK(ws[0].compute_utilization == Approx(60.0 / (4 * 4 * 10.0)));
  const std::string csv = scalesim_compute_report_csv(compat);
  CHECK(csv ==
        "LayerID, Layer name, M, K, N, Folds, Total Cycles, Overall Util %, Mapping Efficiency %, Compute "
        "Util %,\n"
        "0, g, 5, 3, 4, 6, 29, 51.7241, 83.3333, 50.0000,\n");
}

TEST_CASE("SCALE-Sim compat cycles equal SCALE-Sim's formula on random GEMMs (os, ws, is)",
          "[scalesim][random]") {
  std::mt19937_64 rng(2024);
  const ScaleSimWorkload w = random_gemms(rng, 200, 300);
  std::uniform_int_distribution<int64_t> side(1, 64);
  for (Dataflow df : {Dataflow::OutputStationary, Dataflow::WeightStationary, Dataflow::InputStationary}) {
    check_against_formula(w, {32, 32, df});
    check_against_formula(w, {side(rng), side(rng), df});
  }
}

TEST_CASE("SCALE-Sim workloads: fast and cycle timing give the same cycles per layer", "[scalesim][random]") {
  std::mt19937_64 rng(77);
  const ScaleSimWorkload w = random_gemms(rng, 40, 200);
  for (Dataflow df : {Dataflow::OutputStationary, Dataflow::WeightStationary, Dataflow::InputStationary})
    check_fast_equals_cycle(w, {32, 32, df});
}

TEST_CASE("ResNet-50 topology: 53 convs, real output sizes, SCALE-Sim's formula on 32x32", "[scalesim]") {
  const ScaleSimWorkload w = load_scalesim_topology(resnet50_csv(), ScaleSimFormat::Conv);
  REQUIRE(w.layers.size() == 53);
  int64_t macs = 0;
  for (const auto& l : w.layers) macs += l.macs();
  // torchvision's ResNet-50: 4,089,184,256 MACs, of which the classifier has 2048 x 1000.
  CHECK(macs == 4089184256 - 2048 * 1000);
  CHECK(w.layers[0].conv->ofmap_h == 112);
  CHECK(w.layers.back().name == "layer4.2.conv3");
  CHECK(w.layers.back().conv->ofmap_w == 7);
  for (Dataflow df : {Dataflow::OutputStationary, Dataflow::WeightStationary, Dataflow::InputStationary})
    check_against_formula(w, {32, 32, df});
}

TEST_CASE("ResNet-50 topology: fast and cycle timing agree on every layer", "[scalesim]") {
  const ScaleSimWorkload w = load_scalesim_topology(resnet50_csv(), ScaleSimFormat::Conv);
  check_fast_equals_cycle(w, {32, 32, Dataflow::OutputStationary});
}

TEST_CASE("vitsim scalesim prints the per-layer table and total, and writes the CSV", "[scalesim][cli]") {
  vitsim::test::TempDir dir("scalesim", "cli");
  const std::string csv = dir.file("compute.csv");
  const vitsim::test::Run r = vitsim::test::run_vitsim(
      {"scalesim", "--topology", "gemm_example", "--format", "gemm", "--compat", "--csv", csv});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const ScaleSimWorkload w =
      load_scalesim_topology(config_dir() + "/workloads/gemm_example.csv", ScaleSimFormat::Gemm);
  int64_t formula = 0;
  for (const auto& l : w.layers)
    formula += scalesim_layer_cycles(l.m, l.k, l.n, {32, 32, Dataflow::OutputStationary});
  CHECK_THAT(r.out, Catch::Contains("32 x 32 os systolic array") && Catch::Contains("fc1") &&
                        Catch::Contains("total cycles: " + with_commas(formula)));
  CHECK(dir.entries() == std::vector<std::string>{"compute.csv"});
  std::ifstream in(csv);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  CHECK(header.rfind("LayerID, Layer name, M, K, N, Folds, Total Cycles,", 0) == 0);
  CHECK(first.rfind("0, qkv, 197, 384, 1152, ", 0) == 0);

  const vitsim::test::Run ws = vitsim::test::run_vitsim(
      {"scalesim", "-t", "resnet50_conv", "--rows", "16", "--cols", "8", "--dataflow", "ws"});
  CHECK(ws.code == 0);
  CHECK_THAT(ws.out, Catch::Contains("16 x 8 ws systolic array") && Catch::Contains("layer4.2.conv3"));
  const vitsim::test::Run cycle =
      vitsim::test::run_vitsim({"scalesim", "-t", "gemm_example", "--format", "gemm", "--timing", "cycle"});
  CHECK(cycle.code == 0);
  CHECK_THAT(cycle.out,
             Catch::Contains("cycle timing") && Catch::Contains("total cycles: " + with_commas(formula + 6)));
}

TEST_CASE("vitsim scalesim: bad input exits 2 with one clear message", "[scalesim][cli]") {
  vitsim::test::TempDir dir("scalesim", "bad");
  const std::string bad = dir.file("bad.csv");
  std::ofstream(bad) << kConvHeader << "c,5,5,3,3,1,1,1,\nd,5,5,3,x,1,1,1,\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"scalesim", "-t", bad}, bad + ":3: field 5 (Filter Width): expected a positive integer, found 'x'"},
      {{"scalesim", "-t", "no-such-topology"}, "topology 'no-such-topology': expected a file or a name in"},
      {{"scalesim", "-t", bad, "--format", "csv"}, "unknown topology format 'csv' (expected conv or gemm)"},
      {{"scalesim", "-t", "gemm_example", "--format", "gemm", "--dataflow", "rs"}, "unknown dataflow 'rs'"},
      {{"scalesim", "-t", "gemm_example", "--format", "gemm", "--rows", "0"}, "--rows"},
      {{"scalesim", "-t", "gemm_example", "--format", "gemm", "--timing", "slow"}, "slow"},
      {{"scalesim", "-t", "gemm_example", "--format", "gemm", "--accel", "trio-vit"},
       "expected a systolic engine"},
      {{"scalesim", "-t", "gemm_example"}, "found 4 (a GEMM topology has 4: use --format gemm)"},
      {{"scalesim", "-t", "gemm_example", "--format", "gemm", "--csv", dir.file("missing/out.csv")},
       "out.csv"},
  };
  for (const auto& [args, message] : cases) {
    const vitsim::test::Run r = vitsim::test::run_vitsim(args);
    INFO(args.back());
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains(message));
    CHECK(r.out.empty());
  }
}

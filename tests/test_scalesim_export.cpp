// A graph written as a SCALE-Sim topology (sim/validate/scalesim_export.hpp, `vitsim graph
// --scalesim-topology`): read back by `vitsim scalesim`, every conv and GEMM layer must come back as the
// GEMMs the graph's own shapes give (output pixels, window, filters; one per group, head or depthwise
// channel), so the MACs are the graph's exactly; names must stay SCALE-Sim-safe.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "quant/graph.hpp"
#include "quant/onnx_import.hpp"
#include "quant/zoo.hpp"
#include "sim/run/graph_report.hpp"
#include "sim/validate/scalesim_export.hpp"
#include "sim/validate/scalesim_import.hpp"
#include "test_support.hpp"

using namespace vitsim::sim;
using vitsim::quant::Graph;
using vitsim::quant::GraphBuilder;
using vitsim::quant::Node;
using vitsim::quant::OpKind;
using vitsim::quant::Shape;
using vitsim::test::Run;
using vitsim::test::run_vitsim;
using vitsim::test::TempDir;

namespace {

struct Gemm {
  std::string layer;  // the graph node
  int64_t m, k, n;
};

// The GEMMs SCALE-Sim must run for `g`, from the graph's shapes alone: a conv is one GEMM per group (output
// pixels x window of its input channels x its filters; a depthwise group is one channel), a Linear the rows
// of its input by in x out, a MatMul one GEMM per batch with K read off operand A's slice.
std::vector<Gemm> expected_gemms(const Graph& g) {
  std::vector<Gemm> gemms;
  for (const Node& n : g.nodes) {
    const Shape& out = n.out_shape;
    const auto input = [&](size_t i) -> const Shape& {
      return g.nodes[static_cast<size_t>(n.inputs[i])].out_shape;
    };
    if (n.op == OpKind::Conv2d)
      for (int group = 0; group < n.groups; ++group)
        gemms.push_back({n.name, out[1] * out[2], int64_t{n.kernel} * n.kernel * input(0)[0] / n.groups,
                         out[0] / n.groups});
    if (n.op == OpKind::Linear) {
      const int64_t in = input(0).back();
      gemms.push_back({n.name, vitsim::quant::numel(input(0)) / in, in, out.back()});
    }
    if (n.op == OpKind::MatMul)
      for (int64_t b = 0; b < out[0]; ++b)
        gemms.push_back({n.name, out[1], n.a.transpose ? n.a.rows : input(0)[2], out[2]});
  }
  return gemms;
}

// The rows of a COMPUTE_REPORT.csv-style file (`vitsim scalesim --csv`): layer name, M, K, N.
struct ReportRow {
  std::string name;
  int64_t m, k, n;
};
std::vector<ReportRow> read_compute_report(const std::string& path) {
  std::ifstream in(path);
  std::string line, field;
  std::getline(in, line);  // header
  std::vector<ReportRow> rows;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::vector<std::string> f;
    while (std::getline(s, field, ',')) f.push_back(field);
    REQUIRE(f.size() >= 5);
    rows.push_back({f[1].substr(1), std::stoll(f[2]), std::stoll(f[3]), std::stoll(f[4])});
  }
  return rows;
}

// `vitsim graph ARGS --scalesim-topology`, then `vitsim scalesim --compat` on the file: the GEMMs it ran must
// be expected_gemms(g) one for one, in order.
void check_round_trip(const std::vector<std::string>& graph_args, const Graph& g) {
  TempDir dir("scalesim_export", "round_trip");
  const std::string topology = dir.file("topology.csv"), report = dir.file("report.csv");
  std::vector<std::string> args = {"graph"};
  args.insert(args.end(), graph_args.begin(), graph_args.end());
  args.insert(args.end(), {"--scalesim-topology", topology});
  const Run written = run_vitsim(args);
  INFO(written.err);
  REQUIRE(written.code == 0);
  const Run ran = run_vitsim({"scalesim", "--topology", topology, "--compat", "--csv", report});
  INFO(ran.err);
  REQUIRE(ran.code == 0);

  const std::vector<Gemm> expected = expected_gemms(g);
  const std::vector<ReportRow> got = read_compute_report(report);
  REQUIRE(got.size() == expected.size());
  int64_t expected_macs = 0, got_macs = 0;
  std::set<std::string> names;
  for (size_t i = 0; i < got.size(); ++i) {
    const Gemm& e = expected[i];
    INFO("SCALE-Sim layer " << i << " '" << got[i].name << "', graph layer " << e.layer);
    CHECK(got[i].m == e.m);  // SCALE-Sim's ofmap is the graph's
    CHECK(got[i].k == e.k);
    CHECK(got[i].n == e.n);
    CHECK(names.insert(got[i].name).second);
    expected_macs += e.m * e.k * e.n;
    got_macs += got[i].m * got[i].k * got[i].n;
  }
  CHECK(got_macs == expected_macs);
  CHECK(expected_macs == g.macs());
  CHECK_THAT(ran.out, Catch::Contains("MACs: " + with_commas(g.macs()) + ","));
  CHECK_THAT(written.out, Catch::Contains("MACs: " + with_commas(g.macs()) + " of the model's " +
                                          with_commas(g.macs()) + " (100.00 %)"));
}

}  // namespace

TEST_CASE("SCALE-Sim export: zoo models round-trip through vitsim scalesim with the graph's GEMMs and MACs",
          "[scalesim][cli]") {
  // EfficientViT: strided and depthwise convs, grouped 1x1 convs, LiteMLA's batched MatMuls, the classifier;
  // DeiT: patch conv, Linears on 197 tokens, attention MatMuls per head.
  for (const auto& [model, res] : std::vector<std::pair<std::string, int>>{
           {"efficientvit-b1", 64}, {"efficientvit-l1", 96}, {"deit-tiny", 224}}) {
    SECTION(model) {
      const Graph g = vitsim::quant::build_model(model, res);
      check_round_trip({"--model", model, "--res", std::to_string(res)}, g);
    }
  }
}

TEST_CASE("SCALE-Sim export: ONNX imports (vitsim graph --onnx) round-trip too", "[scalesim][cli][onnx]") {
  for (const std::string fixture : {"fashion_evit", "fashion_vit"}) {
    SECTION(fixture) {
      const std::string onnx = std::string(VITSIM_TEST_DATA_DIR) + "/" + fixture + "/model.onnx";
      check_round_trip({"--onnx", onnx}, vitsim::quant::import_onnx(onnx));
    }
  }
}

TEST_CASE("SCALE-Sim export: rows by hand, padded extents, DP rows, groups, heads, safe unique names",
          "[scalesim]") {
  GraphBuilder b("hand", 8, {3, 8, 8});
  using vitsim::quant::Act;
  using vitsim::quant::Norm;
  // 3x3 stride 2 pad 1 on 8x8: 4x4 out; its windows cover 9 of the 10 padded rows, and SCALE-Sim's rule
  // on 10 would give 5.
  const int c1 = b.conv("stem,DP 1", 0, 8, 3, 2, 1, false, Norm::None, Act::None, 1);
  const int dw = b.conv("dw", c1, 16, 3, 1, 8, false, Norm::None, Act::None, 1);    // 2 filters a channel
  const int gc = b.conv("dw.DP", dw, 8, 1, 1, 4, false, Norm::None, Act::None, 0);  // 4 groups of 4 -> 2
  const int ds = b.conv("ds", gc, 8, 1, 2, 1, false, Norm::None, Act::None, 0);     // 1x1 stride 2: 2x2
  const int pool = b.global_avg_pool("pool", ds);
  b.linear("stem_DP_1", pool, 10, true, Norm::None, Act::None);
  const Graph g = b.finish();
  const ScaleSimTopology t = scalesim_topology(g);
  CHECK(t.csv() ==
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "stem_Dp_1,9,9,3,3,3,8,2,\n"
        "dw.DP,6,6,3,3,8,2,1,\n"
        "dw.Dp.g0,4,4,1,1,4,2,1,\n"
        "dw.Dp.g1,4,4,1,1,4,2,1,\n"
        "dw.Dp.g2,4,4,1,1,4,2,1,\n"
        "dw.Dp.g3,4,4,1,1,4,2,1,\n"
        "ds,3,3,1,1,8,8,2,\n"
        "stem_Dp_1_2,1,1,1,1,8,10,1,\n");
  CHECK(t.layers_written == 5);
  CHECK(t.left_out == std::map<std::string, int>{{"avgpool", 1}});
  CHECK(t.scalesim_layers() == 8 + 7);
  CHECK(t.macs() == g.macs());

  // Read back: only the depthwise row splits, per channel; every output size is the graph's.
  std::istringstream in(t.csv());
  const ScaleSimWorkload w = parse_scalesim_topology(in, "hand.csv", ScaleSimFormat::Conv);
  REQUIRE(w.layers.size() == 15);
  CHECK(w.layers[0].conv->ofmap_h == 4);
  CHECK(w.layers[1].name == "dw.DPChannel_0");
  CHECK(w.layers[8].name == "dw.DPChannel_7");
  CHECK((w.layers[8].m == 16 && w.layers[8].k == 9 && w.layers[8].n == 2));
  CHECK((w.layers[13].name == "ds" && w.layers[13].m == 4));
  CHECK((w.layers[14].m == 1 && w.layers[14].k == 8 && w.layers[14].n == 10));
}

TEST_CASE("vitsim graph --scalesim-topology: bad input exits 2 with one message and writes nothing",
          "[scalesim][cli]") {
  TempDir dir("scalesim_export", "bad");
  const std::string onnx = std::string(VITSIM_TEST_DATA_DIR) + "/fashion_evit/model.onnx";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"graph", "--model", "resnet50", "--scalesim-topology", dir.file("t.csv")},
       "unknown model 'resnet50'"},
      {{"graph", "--scalesim-topology", dir.file("missing/t.csv")}, dir.file("missing/t.csv")},
      {{"graph", "--onnx", dir.file("none.onnx"), "--scalesim-topology", dir.file("t.csv")}, "none.onnx"},
      {{"graph", "--onnx", onnx, "--scalesim-topology", onnx}, onnx},  // would replace its own input
  };
  for (const auto& [args, message] : cases) {
    const Run r = run_vitsim(args);
    INFO(args[2]);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains(message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.out.empty());
    CHECK(dir.entries().empty());
  }

  const Run json = run_vitsim(
      {"graph", "-m", "efficientvit-b0", "-r", "64", "--json", "--scalesim-topology", dir.file("b0.csv")});
  REQUIRE(json.code == 0);
  const auto j = nlohmann::json::parse(json.out).at("scalesim_topology");
  CHECK(j.at("macs") == j.at("model_macs"));
  CHECK(j.at("file") == dir.file("b0.csv"));
  CHECK(dir.entries() == std::vector<std::string>{"b0.csv"});

  // EfficientViT-L3's depthwise rows split into more layers than `vitsim scalesim` reads: said, still
  // written.
  const Run l3 = run_vitsim({"graph", "-m", "efficientvit-l3", "--scalesim-topology", dir.file("l3.csv")});
  REQUIRE(l3.code == 0);
  CHECK_THAT(l3.out,
             Catch::Contains("108,358 layers in all\n  note: more layers than `vitsim scalesim` reads "
                             "(100,000); SCALE-Sim itself takes the file"));
  const Run b3 = run_vitsim({"graph", "-m", "efficientvit-b3", "--scalesim-topology", dir.file("b3.csv")});
  CHECK_THAT(b3.out, Catch::Contains("49,721 layers in all\n  MACs: "));
}

// The model zoo against published figures: exact MACs and params of EfficientViT B0-B3 and the B1
// per-layer reference listing row by row; DeiT/ViT against timm's parameter counts and a closed-form
// MAC count; the L-series against the official (rounded) figures.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "quant/zoo.hpp"

using namespace vitsim::quant;

TEST_CASE("EfficientViT B0-B3 at 224 have the official MACs and params", "[zoo]") {
  struct Expect {
    const char* model;
    int64_t macs, params;
  };
  const Expect expected[] = {{"efficientvit-b0", 100'233'216, 3'410'008},
                             {"efficientvit-b1", 519'214'592, 9'102'024},
                             {"efficientvit-b2", 1'584'937'984, 24'330'712},
                             {"efficientvit-b3", 3'953'822'208, 48'646'056}};
  for (const Expect& e : expected) {
    const Graph g = build_model(e.model, 224);
    INFO(e.model);
    CHECK(g.macs() == e.macs);
    CHECK(g.param_count() == e.params);
  }
}

namespace {

std::vector<std::string> split_row(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  std::getline(ss, cell, '|');  // text before the first bar
  while (std::getline(ss, cell, '|')) {
    const size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
    cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
  }
  return cells;
}

int64_t parse_count(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return std::stoll(s);
}

// "16×112×112" -> "16x112x112"
std::string ascii_shape(std::string s) {
  const std::string times = "\xC3\x97";
  for (size_t p; (p = s.find(times)) != std::string::npos;) s.replace(p, times.size(), "x");
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The listing's op column is prose ("pw1x1(qkv)", "matmul v'·kᵀ ..."); map it to our layer labels.
std::string expected_label(const std::string& op) {
  const std::pair<const char*, const char*> prefixes[] = {{"conv3x3", "conv3x3"},
                                                          {"dw3x3", "dw3x3"},
                                                          {"dw5x5", "dw5x5"},
                                                          {"pw1x1", "pw1x1"},
                                                          {"gconv1x1", "gconv1x1"},
                                                          {"add", "add"},
                                                          {"concat", "concat"},
                                                          {"q=ReLU", "attn_kernel"},
                                                          {"matmul", "matmul"},
                                                          {"out[:", "attn_normalize"},
                                                          {"global avgpool", "avgpool"},
                                                          {"linear", "linear"}};
  for (const auto& [prefix, label] : prefixes)
    if (op.rfind(prefix, 0) == 0) return label;
  return "unknown op '" + op + "'";
}

}  // namespace

TEST_CASE("EfficientViT-B1 at 224 matches the reference listing row by row", "[zoo]") {
  const std::string path = std::string(VITSIM_TEST_DATA_DIR) + "/efficientvit-b1-224-layers.md";
  std::ifstream file(path);
  REQUIRE(file.good());
  const Graph g = build_model("efficientvit-b1", 224);
  int rows = 0;
  for (std::string line; std::getline(file, line);) {
    const auto cells = split_row(line);
    if (cells.size() != 11 || cells[0].empty() || !std::isdigit(static_cast<unsigned char>(cells[0][0])))
      continue;
    ++rows;
    const size_t index = std::stoul(cells[0]);
    INFO("reference row " << index << ": " << line);
    REQUIRE(index < g.nodes.size());
    const Node& n = g.nodes[index];
    CHECK(n.name == cells[1]);
    CHECK(n.label() == expected_label(cells[2]));
    // Shapes: the listing writes vectors as Cx1x1; our vectors are rank 1.
    auto ours = [](const Shape& s) { return shape_str(s) + (s.size() == 1 ? "x1x1" : ""); };
    if (!cells[3].empty())
      CHECK(ours(g.nodes[static_cast<size_t>(n.inputs.at(0))].out_shape) == ascii_shape(cells[3]));
    if (!cells[4].empty()) CHECK(ours(n.out_shape) == ascii_shape(cells[4]));
    if (!cells[5].empty())
      CHECK(std::to_string(n.kernel) + " / " + std::to_string(n.stride) + " / " + std::to_string(n.groups) ==
            cells[5]);
    CHECK(n.has_bias == (cells[6] == "Y"));
    CHECK(std::string(norm_name(n.norm)) == cells[7]);
    CHECK(lower(act_name(n.act)) == lower(cells[8]));
    CHECK(n.param_count() == parse_count(cells[9]));
    CHECK(n.macs() == parse_count(cells[10]));
  }
  CHECK(rows == 130);
  CHECK(g.nodes.size() == 131);  // the input node plus the 130 listed layers
}

TEST_CASE("DeiT and ViT params equal timm's counts: MACs follow the documented closed form", "[zoo]") {
  struct Expect {
    const char* model;
    int64_t dim, heads, params;
  };
  const Expect expected[] = {{"deit-tiny", 192, 3, 5'717'416},
                             {"deit-small", 384, 6, 22'050'664},
                             {"deit-base", 768, 12, 86'567'656},
                             {"vit-base-16", 768, 12, 86'567'656}};
  for (const Expect& e : expected) {
    INFO(e.model);
    const Graph g = build_model(e.model, 224);
    CHECK(g.param_count() == e.params);
    // docs/models.md: patch conv + 12 x (qkv + QK^T + AV + proj + fc1 + fc2) + head, T = 197 tokens
    const int64_t t = 197, d = e.dim;
    const int64_t patch = 196 * d * 3 * 16 * 16;
    const int64_t block = t * d * 3 * d + 2 * t * t * d + t * d * d + 2 * t * d * 4 * d;
    CHECK(g.macs() == patch + 12 * block + d * 1000);
  }
  CHECK(build_model("deit-small", 224).macs() == 4'598'882'304);
}

TEST_CASE("EfficientViT L1-L3 agree with the official rounded params and MACs", "[zoo]") {
  // The official README gives L1 53M / 5.3G, L2 64M / 6.9G, L3 246M / 27.6G at 224.
  struct Expect {
    const char* model;
    double params_m, gmacs;
  };
  const Expect expected[] = {
      {"efficientvit-l1", 53, 5.3}, {"efficientvit-l2", 64, 6.9}, {"efficientvit-l3", 246, 27.6}};
  for (const Expect& e : expected) {
    INFO(e.model);
    const Graph g = build_model(e.model, 224);
    CHECK(std::round(static_cast<double>(g.param_count()) / 1e6) == e.params_m);
    CHECK(std::round(static_cast<double>(g.macs()) / 1e8) / 10 == Approx(e.gmacs));
  }
}

TEST_CASE("EfficientViT builds at every multiple of 32 and scales MACs with the pixel count", "[zoo]") {
  const Graph g224 = build_model("efficientvit-b1", 224);
  const Graph g288 = build_model("efficientvit-b1", 288);
  CHECK(g288.param_count() == g224.param_count());
  CHECK(g288.nodes[g288.find("head.op_list.0")].out_shape == Shape{1536, 9, 9});
  CHECK(build_model("efficientvit-b0", 32).nodes[1].out_shape == Shape{8, 16, 16});
  // The attention matmuls grow with H*W, so MACs grow a little more than the image area minus the head.
  CHECK(g288.macs() > g224.macs());
}

TEST_CASE("Unknown models and unsupported resolutions are rejected with a useful message", "[zoo]") {
  CHECK_THROWS_WITH(build_model("efficientvit-b9", 224), Catch::Contains("known: efficientvit-b0"));
  CHECK_THROWS_WITH(build_model("efficientvit-b1", 200), Catch::Contains("multiple of 32"));
  CHECK_THROWS_WITH(build_model("efficientvit-b1", 0), Catch::Contains("multiple of 32"));
  CHECK_THROWS_WITH(build_model("deit-small", 200), Catch::Contains("positive multiple of 16, got 200"));
  CHECK_THROWS_WITH(build_model("deit-tiny", 0), Catch::Contains("positive multiple of 16"));
}

TEST_CASE("DeiT builds at every multiple of 16: tokens follow the patch grid, weights do not change",
          "[zoo]") {
  const Graph g224 = build_model("deit-base", 224);
  const Graph g384 = build_model("deit-base", 384);
  // 384 / 16 = 24: 576 patches + the class token; only the position embedding grows with the grid.
  CHECK(g384.nodes[g384.find("pos_embed")].out_shape == Shape{577, 768});
  CHECK(g384.param_count() - g224.param_count() == (577 - 197) * 768);
  // timm's deit_base_patch16_384 card: 55.5 GMACs (224: 17.6); ours counts the same GEMMs.
  CHECK(std::round(static_cast<double>(g384.macs()) / 1e8) / 10 == Approx(55.5));
  CHECK(build_model("deit-tiny", 16).nodes[g224.find("pos_embed")].out_shape == Shape{2, 192});
}

TEST_CASE("Synthetic weights are deterministic, per-tensor and shaped like the params", "[zoo]") {
  Graph a = build_model("efficientvit-b0", 64);
  Graph b = build_model("efficientvit-b0", 64);
  materialize_synthetic_weights(a, 7);
  materialize_synthetic_weights(b, 7);
  REQUIRE_NOTHROW(a.validate());
  const Node& na = a.nodes[a.find("S3/b1.mla.qkv")];
  const Node& nb = b.nodes[b.find("S3/b1.mla.qkv")];
  CHECK(na.params.at("weight").data == nb.params.at("weight").data);
  // A tensor's values depend only on (seed, node name, param name): a different resolution gives the same.
  Graph c = build_model("efficientvit-b0", 224);
  materialize_synthetic_weights(c, 7);
  CHECK(c.nodes[c.find("S3/b1.mla.qkv")].params.at("weight").data == na.params.at("weight").data);
  materialize_synthetic_weights(b, 8);
  CHECK(nb.params.at("weight").data != na.params.at("weight").data);
  // Weight scale: N(0, 1/fan_in) -> sample variance close to 1/fan_in.
  const auto& w = na.params.at("weight").data;
  double sum2 = 0;
  for (float v : w) sum2 += static_cast<double>(v) * v;
  CHECK(sum2 / static_cast<double>(w.size()) ==
        Approx(1.0 / static_cast<double>(na.in_features)).epsilon(0.1));
  CHECK(synthetic_input(a, 1).data == synthetic_input(b, 1).data);
}

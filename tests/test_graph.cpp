// GraphBuilder shape inference, MAC/param formulas on small hand-checked layers, and validation errors.
#include <catch2/catch.hpp>

#include "quant/graph.hpp"

using namespace vitsim::quant;

TEST_CASE("Conv shapes, MACs and params follow the closed forms", "[graph]") {
  GraphBuilder b("t", 0, {6, 9, 7});
  const int full = b.conv("full", 0, 4, 3, 2, 1, true, Norm::BatchNorm, Act::HSwish);
  const int dw = b.conv("dw", 0, 6, 5, 1, 6, false, Norm::None, Act::None);
  const int grouped = b.conv("grouped", 0, 4, 1, 1, 2, false, Norm::None, Act::None);
  const int nopad = b.conv("nopad", 0, 2, 3, 3, 1, false, Norm::None, Act::None, 0);
  Graph g = b.finish();
  const Node& f = g.nodes[full];
  CHECK(f.out_shape == Shape{4, 5, 4});             // (9+2-3)/2+1, (7+2-3)/2+1
  CHECK(f.macs() == 4 * 5 * 4 * 6 * 9);             // out elems * Cin * k^2
  CHECK(f.param_count() == 4 * 6 * 9 + 4 + 2 * 4);  // weights + bias + BN gamma/beta
  CHECK(f.label() == "conv3x3");
  CHECK(g.nodes[dw].out_shape == Shape{6, 9, 7});
  CHECK(g.nodes[dw].macs() == 6 * 9 * 7 * 25);
  CHECK(g.nodes[dw].label() == "dw5x5");
  CHECK(g.nodes[grouped].macs() == 4 * 9 * 7 * 3);  // Cin/groups = 3
  CHECK(g.nodes[grouped].label() == "gconv1x1");
  CHECK(g.nodes[nopad].out_shape == Shape{2, 3, 2});
}

TEST_CASE("MatMul slices, transposes and counts B*M*K*N", "[graph]") {
  GraphBuilder b("t", 0, {4 * 3 * 2, 2, 5});  // 4 heads, d = 2, N = 10
  const int kernel = b.attn_kernel("kernel", 0, 2);
  const int vk = b.matmul("vk", kernel, {4, 3, false}, kernel, {2, 2, true}, 1.0f);
  const int out = b.matmul("out", vk, {}, kernel, {0, 2, false}, 1.0f);
  const int y = b.attn_normalize("norm", out, 2, 2, 5);
  Graph g = b.finish();
  CHECK(g.nodes[kernel].out_shape == Shape{4, 7, 10});
  CHECK(g.nodes[vk].out_shape == Shape{4, 3, 2});
  CHECK(g.nodes[vk].macs() == 4 * 3 * 10 * 2);
  CHECK(g.nodes[out].out_shape == Shape{4, 3, 10});
  CHECK(g.nodes[out].macs() == 4 * 3 * 2 * 10);
  CHECK(g.nodes[y].out_shape == Shape{8, 2, 5});
}

TEST_CASE("Shape errors name the node and what is wrong", "[graph]") {
  GraphBuilder b("t", 0, {6, 8, 8});
  CHECK_THROWS_WITH(b.conv("bad_groups", 0, 4, 3, 1, 4, false, Norm::None, Act::None),
                    Catch::Contains("bad_groups") && Catch::Contains("groups 4"));
  const int small = b.conv("small", 0, 2, 1, 1, 1, false, Norm::None, Act::None);
  CHECK_THROWS_WITH(b.add("mismatch", 0, small), Catch::Contains("mismatch") && Catch::Contains("6x8x8"));
  CHECK_THROWS_WITH(b.matmul("mm", 0, {0, 9, false}, 0, {}, 1.0f), Catch::Contains("outside operand"));
  CHECK_THROWS_WITH(b.attn_kernel("k", 0, 4), Catch::Contains("d=4"));
}

TEST_CASE("Graph::validate rejects forward references and mis-shaped params", "[graph]") {
  GraphBuilder b("t", 0, {3, 4, 4});
  b.conv("c", 0, 2, 1, 1, 1, false, Norm::None, Act::None);
  Graph g = b.finish();
  g.nodes[1].params["weight"] = Tensor({2, 3, 1, 1});
  CHECK_NOTHROW(g.validate());
  g.nodes[1].params["weight"] = Tensor({3, 2, 1, 1});
  CHECK_THROWS_WITH(g.validate(), Catch::Contains("'weight' should have shape 2x3x1x1"));
  g.nodes[1].params["weight"] = Tensor({2, 3, 1, 1});
  g.nodes[1].inputs = {1};
  CHECK_THROWS_WITH(g.validate(), Catch::Contains("not an earlier node"));
}

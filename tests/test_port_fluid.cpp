// Fast mode's port fluid (arch/port_fluid.hpp): tiles re-priced when a tile starts or ends on a shared
// port, and the DMA's buffer writes charged where they land; end cycles derived by hand.
#include <catch2/catch.hpp>

#include "arch/port_fluid.hpp"

using namespace vitsim;
using arch::PortFluid;

namespace {

// A tile of `groups` groups of one wave fetching `act` activation bytes, no weights, no auxiliary chain.
arch::GroupPipeline tile(int64_t groups, int64_t act, int64_t depth = 1) {
  arch::GroupPipeline g;
  g.groups = groups, g.waves = 1, g.act_bytes = act, g.weight_bytes = 0, g.depth = depth, g.group_outputs = 1;
  return g;
}

// handle -> last cycle of the finished tiles.
std::map<int, int64_t> ends(const std::vector<PortFluid::Finished>& finished) {
  std::map<int, int64_t> m;
  for (const PortFluid::Finished& f : finished) m[f.tile] = f.done;
  return m;
}

}  // namespace

TEST_CASE("Port fluid: a tile alone ends on its closed form's cycle", "[fluid]") {
  // 4 groups of 2 waves, 48 activation and 16 weight bytes a wave, depth 3, on 32 + 16 B/cycle ports:
  // p = max(ceil(48/32), ceil(16/16)) = 2, T = 4, cycles = 3 x 4 + 4 + (3 - 1) = 18, cycles 7..24.
  PortFluid fluid(32, 8, 16, 8, 96.0);
  arch::GroupPipeline g = tile(4, 48, 3);
  g.waves = 2, g.weight_bytes = 16;
  const int h = fluid.start(7, g, {});
  CHECK(fluid.next_finish() == 22);  // its issue phase ends with cycle 22: advance(23) reports it
  CHECK(fluid.advance(22).empty());
  const std::vector<PortFluid::Finished> f = fluid.advance(23);
  REQUIRE(f.size() == 1);
  CHECK(f[0].tile == h);
  CHECK(f[0].done == 24);
  CHECK(f[0].cost == arch::group_pipeline_cost(g, {32, 16}, {}));
  CHECK(f[0].cost.cycles == 18);
  CHECK(f[0].cost.stall_port == 8);  // 4 groups x 2 waves x (p - 1)
}

TEST_CASE("Port fluid: two tiles sharing one port are re-priced at each start and end", "[fluid]") {
  // A port of 64 B/cycle; A: 10 groups of one 64-byte wave from cycle 0 (alone: p = 1, cycles 0..9); B: 3
  // such groups from cycle 4. At 4, A has 6 groups left; each gets 32 B/cycle (p = 2): B's 3 groups take 6
  // cycles (4..9), A's 6 groups would take 12. B's issue ends at 10 (last cycle 9, depth 1); A then has 3
  // groups left, alone at p = 1: cycles 10..12. The port moved 640 + 192 bytes in 13 cycles = 64 x 13.
  auto run = [](bool every_cycle) {
    PortFluid fluid(64, 8, 64, 8, 96.0);
    const int a = fluid.start(0, tile(10, 64), {});
    std::vector<PortFluid::Finished> finished;
    for (int64_t t = 1; t <= 4 && every_cycle; ++t)
      for (const PortFluid::Finished& f : fluid.advance(t)) finished.push_back(f);
    const int b = fluid.start(4, tile(3, 64), {});
    CHECK(fluid.next_finish() == 9);  // B's issue phase ends with cycle 9
    for (int64_t t = 5; t <= 20; ++t)
      if (every_cycle || t == 20)
        for (const PortFluid::Finished& f : fluid.advance(t)) finished.push_back(f);
    const std::map<int, int64_t> end = ends(finished);
    CHECK(end.at(a) == 12);
    CHECK(end.at(b) == 9);
    return finished;
  };
  // Committing whole pieces only: advancing every cycle gives the same as advancing once.
  const std::vector<PortFluid::Finished> once = run(false), stepped = run(true);
  REQUIRE(once.size() == stepped.size());
  for (size_t i = 0; i < once.size(); ++i) {
    CHECK(once[i].tile == stepped[i].tile);
    CHECK(once[i].done == stepped[i].done);
    CHECK(once[i].cost == stepped[i].cost);
  }
}

TEST_CASE("Port fluid: a DMA burst's writes take the port where they land", "[fluid]") {
  // Port 64 B/cycle of 8-byte words, DRAM 32 B/cycle (the DMA writes 4 words a cycle). A 64-byte burst issued
  // at 0 arriving at 10 is written from the first of its last ceil(64/32) = 2 cycles: 8 accesses at 4 a
  // cycle in cycles 9 and 10, 32 B/cycle. A tile of 8
  // one-wave groups of 64 bytes from cycle 5: p = 1 until cycle 8 (4 groups), p = ceil(64/32) = 2 in cycles
  // 9 and 10 (one group), p = 1 again for the 3 left: cycles 11..13. Without the burst: cycles 5..12.
  PortFluid fluid(64, 8, 64, 8, 32.0);
  fluid.burst(arch::BufferKind::Activation, 0, 10, 64);
  fluid.burst(arch::BufferKind::Output, 0, 10, 64);  // not a port the engines read
  const int h = fluid.start(5, tile(8, 64), {});
  const std::map<int, int64_t> end = ends(fluid.advance(30));
  CHECK(end.at(h) == 13);

  PortFluid without(64, 8, 64, 8, 32.0);
  const int w = without.start(5, tile(8, 64), {});
  CHECK(ends(without.advance(30)).at(w) == 12);
}

TEST_CASE("Port fluid: bursts landing together queue at the DMA's write width", "[fluid]") {
  // As above, plus a second 64-byte burst landing in cycle 10 too: its 8 accesses wait for the first's, so
  // the port loses 32 B/cycle (4 accesses) over [9, 13), never 64. The tile: 4 groups in 5..8, 2 groups at
  // p = 2 in 9..12, its last 2 at p = 1 in 13 and 14.
  PortFluid fluid(64, 8, 64, 8, 32.0);
  CHECK(fluid.burst(arch::BufferKind::Activation, 0, 10, 64) == 9);
  CHECK(fluid.burst(arch::BufferKind::Activation, 1, 10, 64) == 11);  // queued behind the first
  const int h = fluid.start(5, tile(8, 64), {});
  CHECK(fluid.next_finish() == 14);
  const std::vector<PortFluid::Finished> f = fluid.advance(30);
  REQUIRE(f.size() == 1);
  CHECK(f[0].tile == h);
  CHECK(f[0].done == 14);
  CHECK(f[0].cost.cycles == 10);
  CHECK(f[0].cost.stall_port == 2);  // 2 groups x 1 wave x (p - 1)
}

TEST_CASE("Port fluid: a prediction kept across bursts equals one made afresh", "[fluid]") {
  // Two tiles share both ports while 40 bursts land in either buffer. One fluid is asked for its next
  // issue end after every burst (it keeps its pieces and redoes only those after the burst's first write);
  // a fresh fluid told the same starts and bursts is asked once; both must agree at every burst, and
  // their runs must end the same.
  struct Burst {
    arch::BufferKind buffer;
    int64_t issued, arrival, bytes;
  };
  std::vector<Burst> bursts;
  for (int64_t i = 0; i < 40; ++i)
    bursts.push_back({i % 2 ? arch::BufferKind::Weight : arch::BufferKind::Activation, 4 + 5 * i,
                      24 + 5 * i + i % 3, i % 3 ? 64 : 96});
  arch::GroupPipeline a = tile(40, 48, 2), b = tile(30, 32);
  a.waves = 2, a.weight_bytes = 16, b.weight_bytes = 32;
  auto fresh = [&](size_t known) {
    PortFluid f(64, 8, 32, 8, 32.0);
    f.start(0, a, {});
    f.start(3, b, {});
    for (size_t i = 0; i < known; ++i)
      f.burst(bursts[i].buffer, bursts[i].issued, bursts[i].arrival, bursts[i].bytes);
    return f;
  };
  PortFluid kept = fresh(0);
  const int64_t alone = kept.next_finish();
  bool moved = false;
  for (size_t i = 0; i < bursts.size(); ++i) {
    kept.burst(bursts[i].buffer, bursts[i].issued, bursts[i].arrival, bursts[i].bytes);
    PortFluid afresh = fresh(i + 1);
    const int64_t expected = afresh.next_finish();
    CHECK(kept.next_finish() == expected);
    moved = moved || expected != alone;
  }
  CHECK(moved);  // the bursts land before the first issue end and move it
  PortFluid afresh = fresh(bursts.size());
  const std::vector<PortFluid::Finished> x = kept.advance(100000), y = afresh.advance(100000);
  REQUIRE(x.size() == 2);
  REQUIRE(y.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(x[i].tile == y[i].tile);
    CHECK(x[i].done == y[i].done);
    CHECK(x[i].cost == y[i].cost);
  }
}

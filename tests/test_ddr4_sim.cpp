// The DDR4 model as the accelerator's DRAM: the clock conversion and a burst's timing by hand, the config's
// dram section, and whole simulations (both timing modes agree; the DRAM report adds up).
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "arch/ddr4/ddr4_dram.hpp"
#include "quant/json_reader.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/compiler.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;

namespace {

nlohmann::json trio_vit_json() {
  return quant::read_json_file(test::config_dir() + "/accel/trio-vit.json");
}

arch::AccelConfig with_dram(const nlohmann::json& dram) {
  nlohmann::json j = trio_vit_json();
  j["dram"] = dram;
  return arch::parse_accel_config(j, "trio-vit (test)");
}

const nlohmann::json kDdr4 = {{"model", "ddr4"}, {"preset", "ddr4-2400-x64"}, {"burst_bytes", 256}};

}  // namespace

TEST_CASE("ddr4 target: clocks convert exactly in integers", "[ddr4]") {
  const arch::ddr4::Config c = arch::ddr4::find_preset("ddr4-2400-x64", test::config_dir());
  // 250 MHz against 1200 MHz: 5 accelerator cycles per 24 DRAM cycles.
  const arch::ddr4::Ddr4Dram d(c, 250000);
  CHECK(d.to_dram(0) == 0);
  CHECK(d.to_dram(1) == 5);        // 4 ns: the DRAM edge at 4.17 ns (ceil(24 / 5))
  CHECK(d.to_dram(5) == 24);       // 20 ns falls on both clocks' edges
  CHECK(d.to_accel_end(24) == 4);  // data ending at 20 ns arrived within cycle 4 (16-20 ns)
  CHECK(d.to_accel_end(25) == 5);
  CHECK(d.to_dram(5000000) == 24000000);  // no drift over a long run
}

TEST_CASE("ddr4 target: a 256-byte burst by hand", "[ddr4]") {
  const arch::ddr4::Config c = arch::ddr4::find_preset("ddr4-2400-x64", test::config_dir());
  arch::ddr4::Ddr4Dram d(c, 200000);  // 6 DRAM cycles per accelerator cycle
  // Four 64-byte accesses alternate bank groups 0, 1, 0, 1 in bank 0, row 0, columns 0, 0, 1, 1. FCFS
  // issues only the oldest access's commands: ACT bg0 at 0, RD at tRCD = 16; ACT bg1 on the next command
  // cycle 17 (tRRD_S = 7 long past), RD at 17 + 16 = 33; RD bg0 at max(34, 16 + tCCD_L, 33 + tCCD_S) = 37;
  // RD bg1 at max(38, 33 + 6, 37 + 4) = 41; data end 41 + CL + BL/2 = 61.
  const arch::BurstTiming t = d.serve(0, 0, 256, false, -1);
  CHECK(t.first_byte == (16 + 16) / 6);        // first data at DRAM cycle 32: accelerator cycle 5
  CHECK(t.last_byte == (61 + 6 - 1) / 6 - 1);  // DRAM edge 61 lies in accelerator cycle 10
  const arch::ddr4::Stats s = d.stats();
  CHECK(s.reads == 4);
  CHECK(s.misses == 2);
  CHECK(s.hits == 2);
}

TEST_CASE("ddr4 target: the accelerator config's dram section", "[ddr4]") {
  const arch::AccelConfig c = with_dram(kDdr4);
  CHECK(c.dram.model == arch::DramModelKind::Ddr4);
  REQUIRE(c.dram.ddr4);
  CHECK(c.dram.bandwidth_gbps == Approx(19.2));
  CHECK(c.dram.ddr4->policy.scheduler == arch::ddr4::Scheduler::Fcfs);
  CHECK(with_dram({{"model", "ddr4"}, {"preset", "ddr4-3200-x64"}, {"page_policy", "closed"}})
            .dram.ddr4->policy.page_policy == arch::ddr4::PagePolicy::Closed);
  // The shipped trio-vit uses DDR4; without "model" a dram section is the ideal bus.
  CHECK(arch::parse_accel_config(trio_vit_json(), "trio-vit").dram.model == arch::DramModelKind::Ddr4);
  CHECK(with_dram({{"bandwidth_gbps", 19.2}, {"latency_ns", 100}}).dram.model ==
        arch::DramModelKind::IdealBus);

  const auto error = [](nlohmann::json dram) {
    try {
      with_dram(dram);
    } catch (const quant::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error({{"model", "ddr4"}}), Catch::Contains("trio-vit (test): /dram/preset: required key"));
  CHECK_THAT(error({{"model", "ddr4"}, {"preset", "ddr5"}}),
             Catch::Contains("/dram/preset: ddr5: cannot open the file, and no DRAM preset"));
  CHECK_THAT(error({{"model", "ddr4"}, {"preset", "ddr4-2400-x64"}, {"bandwidth_gbps", 19.2}}),
             Catch::Contains("/dram/bandwidth_gbps: belongs to the ideal-bus model"));
  CHECK_THAT(error({{"model", "ddr4"}, {"preset", "ddr4-2400-x64"}, {"scheduler", "fr-fcfs"}}),
             Catch::Contains("/dram/scheduler: expected fcfs"));
  CHECK_THAT(error({{"model", "ddr4"}, {"preset", "ddr4-2400-x64"}, {"queue_depth", 8}}),
             Catch::Contains("/dram/queue_depth"));
  CHECK_THAT(error({{"model", "hbm"}, {"preset", "ddr4-2400-x64"}}), Catch::Contains("/dram/model"));
  CHECK_THAT(error({{"model", "ddr4"}, {"preset", "ddr4-2400-x64"}, {"mapping", "row"}}),
             Catch::Contains("/dram/mapping"));

  const test::Run bad =
      test::run_vitsim({"accel", "--config", test::config_dir() + "/dram/ddr4-2400-x64.json"});
  CHECK(bad.code == 2);
}

TEST_CASE("ddr4 target: every transfer's DRAM bytes lie in its tensor's range of the memory plan", "[ddr4]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 224));
  const arch::Program p = sim::compile(q, with_dram(kDdr4));
  REQUIRE(!p.transfers.empty());
  int64_t checked = 0;
  for (const arch::Transfer& t : p.transfers)
    for (const arch::RunSet& r : t.runs) {
      const int64_t first = r.dram_address, end = r.dram_address + (r.count - 1) * r.stride + r.run_bytes;
      INFO("transfer of layer " << q.graph.nodes[static_cast<size_t>(t.layer)].name << ": runs at " << first
                                << " to " << end);
      bool inside = false;
      for (const arch::Allocation& a : p.memory_plan)
        inside = inside ||
                 (a.space == arch::Allocation::Space::Dram && a.offset <= first && end <= a.offset + a.bytes);
      CHECK(inside);
      ++checked;
    }
  // No two DRAM tensors share a byte.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const arch::Allocation& a : p.memory_plan)
    if (a.space == arch::Allocation::Space::Dram) ranges.emplace_back(a.offset, a.offset + a.bytes);
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i - 1].second <= ranges[i].first);
  CHECK(checked >= static_cast<int64_t>(p.transfers.size()));
}

TEST_CASE("ddr4 target: both timing modes move the same bytes on EfficientViT-B0 and the DRAM report adds up",
          "[ddr4][simulate]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 224));
  const arch::AccelConfig config = with_dram(kDdr4);
  sim::SimOptions o;
  const sim::SimOutcome fast = sim::simulate_detailed(q, config, o);
  o.timing = arch::TimingMode::Cycle;
  const sim::SimReport cycle = sim::simulate(q, config, o);
  // The same program: the same bursts and DRAM commands, at times that differ where the units contend.
  REQUIRE(cycle.dram);
  CHECK(cycle.dram_bytes_read == fast.report.dram_bytes_read);
  CHECK(cycle.dram_bytes_written == fast.report.dram_bytes_written);
  CHECK(cycle.dram->reads == fast.report.dram->reads);
  CHECK(cycle.dram->writes == fast.report.dram->writes);

  REQUIRE(fast.report.dram);
  const sim::DramReport& d = *fast.report.dram;
  // Every burst becomes ceil(bytes / 64) column accesses: counted from the program, independently.
  int64_t reads = 0, writes = 0;
  for (const arch::Transfer& t : fast.program.transfers)
    for (int64_t done = 0; done < t.bytes; done += 256)
      (t.dir == arch::TransferDir::Load ? reads : writes) +=
          (std::min<int64_t>(256, t.bytes - done) + 63) / 64;
  CHECK(d.reads == reads);
  CHECK(d.writes == writes);
  CHECK(d.row_hits + d.row_misses + d.row_conflicts == d.accesses);
  CHECK(d.refreshes == static_cast<int64_t>(static_cast<double>(fast.report.cycles) * 5.0 / 7800.0));
  CHECK(d.bus_utilization ==
        Approx(static_cast<double>(d.accesses) * 4 / (static_cast<double>(fast.report.cycles) * 6)));

  // Per layer (the DMA tags each burst with its transfer's layer): the accesses of the layer's own bursts,
  // counted from its transfers' runs (a burst never crosses a run), and the layers add up to the image.
  std::vector<int64_t> expected(fast.report.layers.size(), 0);
  for (const arch::Transfer& t : fast.program.transfers)
    for (const arch::RunSet& r : t.runs)
      for (int64_t done = 0; done < r.run_bytes; done += 256)
        expected[static_cast<size_t>(t.layer)] +=
            r.count * ((std::min<int64_t>(256, r.run_bytes - done) + 63) / 64);
  int64_t accesses = 0, hits = 0;
  double stall = 0;
  for (size_t i = 0; i < fast.report.layers.size(); ++i) {
    const sim::LayerStats& l = fast.report.layers[i];
    INFO("layer " << l.name);
    REQUIRE(l.dram);
    CHECK(l.dram->accesses == expected[i]);
    CHECK(l.dram->row_hits + l.dram->row_misses + l.dram->row_conflicts == l.dram->accesses);
    accesses += l.dram->accesses, hits += l.dram->row_hits;
    for (const double ns : l.dram->stall_ns) stall += ns;
  }
  CHECK(accesses == d.accesses);
  CHECK(hits == d.row_hits);
  double image_stall = 0;
  for (const double ns : d.stall_ns) image_stall += ns;
  CHECK(stall == Approx(image_stall));

  // Same program and traffic as the ideal bus; only the time differs.
  const sim::SimReport ideal =
      sim::simulate(q, with_dram({{"bandwidth_gbps", 19.2}, {"latency_ns", 100}, {"burst_bytes", 256}}), {});
  CHECK(ideal.dram_bytes_read == fast.report.dram_bytes_read);
  CHECK(ideal.transfers == fast.report.transfers);
  CHECK(ideal.cycles != fast.report.cycles);
}

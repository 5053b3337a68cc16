// The DDR4 model against JEDEC arithmetic done by hand here, on a test device with round numbers (and on
// the shipped presets for the stream figures). Addresses are composed by hand from the mapping
// row-rank-bank-column-bankgroup-channel (one channel, one rank: rank and channel have no bits).
#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <numeric>

#include "arch/ddr4/ddr4_controller.hpp"
#include "arch/ddr4/ddr4_stream.hpp"
#include "quant/json_reader.hpp"
#include "sim/compile/inputs.hpp"

using namespace vitsim::arch::ddr4;

namespace {

// A device with distinct round timings, refresh off unless a test turns it on.
nlohmann::json test_device_json() {
  return nlohmann::json::parse(R"({
    "name": "test-device", "data_rate_mts": 2000,
    "organization": {"bank_groups": 4, "banks_per_group": 4, "rows": 1024, "columns": 1024},
    "timing": {"cl": 10, "cwl": 8, "rcd": 12, "rp": 14, "ras": 30, "rc": 44, "rrd_s": 4, "rrd_l": 6,
               "faw": 30, "ccd_s": 4, "ccd_l": 6, "wr": 15, "wtr_s": 3, "wtr_l": 7, "rtp": 8,
               "rfc": 200, "refi": 0},
    "controller": {"mapping": "row-rank-bank-column-bankgroup-channel", "scheduler": "fcfs"}})");
}

Config test_device(const std::function<void(nlohmann::json&)>& edit = {}) {
  nlohmann::json j = test_device_json();
  if (edit) edit(j);
  return parse_preset(j, "test-device");
}

// 4 bank groups, 4 banks, 128 column accesses per row, 64-byte accesses.
uint64_t address(int64_t row, int bank, int64_t column, int bank_group) {
  return static_cast<uint64_t>((((row * 4 + bank) * 128 + column) * 4 + bank_group) * 64);
}

int64_t stall_sum(const Completion& c) {
  return std::accumulate(c.stall.begin(), c.stall.end(), int64_t{0});
}

Config preset(const std::string& name) {
  return find_preset(name, vitsim::sim::config_dir());
}

}  // namespace

TEST_CASE("ddr4: row hit, row miss and row conflict read latencies", "[ddr4]") {
  const Config c = test_device();
  Memory m(c);
  // Closed bank: ACT at 0, RD at tRCD = 12, data end at 12 + CL + BL/2 = 26.
  const Completion miss = m.access(address(5, 0, 0, 0), false, 0);
  CHECK(miss.outcome == RowOutcome::Miss);
  CHECK(miss.data_end - miss.arrival == 12 + 10 + 4);
  // Same row later: RD at arrival, CL + BL/2.
  const Completion hit = m.access(address(5, 0, 1, 0), false, 100);
  CHECK(hit.outcome == RowOutcome::Hit);
  CHECK(hit.data_end - hit.arrival == 10 + 4);
  // Another row of the bank, tRAS and tRTP long satisfied: PRE, tRP, ACT, tRCD, RD.
  const Completion conflict = m.access(address(6, 0, 0, 0), false, 200);
  CHECK(conflict.outcome == RowOutcome::Conflict);
  CHECK(conflict.data_end - conflict.arrival == 14 + 12 + 10 + 4);
  // A conflict 5 cycles after an ACT (at 288, bank 1) must wait for tRAS: PRE at 288 + 30.
  m.access(address(7, 1, 0, 0), false, 288);
  const Completion early = m.access(address(8, 1, 0, 0), false, 293);
  CHECK(early.data_end - early.arrival == (288 + 30 - 293) + 14 + 12 + 10 + 4);
  for (const Completion& x : {miss, hit, conflict, early}) CHECK(stall_sum(x) == x.data_end - x.arrival - 14);
  CHECK(early.stall[static_cast<size_t>(Cause::Bank)] == stall_sum(early));
}

TEST_CASE("ddr4: a burst of activates obeys tRRD_S, tRRD_L and tFAW", "[ddr4]") {
  // tRCD longer than the ACT burst, so no RD interleaves with the ACTs.
  const Config c = test_device([](nlohmann::json& j) {
    j["timing"]["rcd"] = 60;
    j["timing"]["ras"] = 60;
    j["timing"]["rc"] = 74;
    j["controller"]["scheduler"] = "fr-fcfs";
  });
  std::vector<CommandRecord> log;
  std::vector<Completion> done;
  SECTION("round-robin over the bank groups: tRRD_S, then tFAW") {
    Channel ch(c);
    ch.record_commands(&log);
    for (int i = 0; i < 8; ++i) ch.enqueue({address(i + 1, i / 4, 0, i % 4), false, 0, i});
    ch.drain(done);
    std::vector<int64_t> acts;
    for (const CommandRecord& r : log)
      if (r.command == Command::Act) acts.push_back(r.cycle);
    // 0, 4, 8, 12 (tRRD_S = 4); the fifth waits for the first + tFAW = 30, then tRRD_S and tFAW again.
    CHECK(acts == std::vector<int64_t>{0, 4, 8, 12, 30, 34, 38, 42});
  }
  SECTION("one bank group: tRRD_L") {
    Channel ch(c);
    ch.record_commands(&log);
    for (int i = 0; i < 3; ++i) ch.enqueue({address(i + 1, i, 0, 0), false, 0, i});
    ch.drain(done);
    std::vector<int64_t> acts;
    for (const CommandRecord& r : log)
      if (r.command == Command::Act) acts.push_back(r.cycle);
    CHECK(acts == std::vector<int64_t>{0, 6, 12});
  }
}

TEST_CASE("ddr4: tCCD_S and tCCD_L between reads and between writes", "[ddr4]") {
  const Config c = test_device();
  for (const bool write : {false, true}) {
    Memory m(c);
    for (int bg = 0; bg < 2; ++bg) m.access(address(3, 0, 0, bg), write, 0);  // open the rows
    const int64_t t = 1000;
    const Completion first = m.access(address(3, 0, 1, 0), write, t);
    const Completion same_group = m.access(address(3, 0, 2, 0), write, t);
    const Completion other_group = m.access(address(3, 0, 3, 1), write, t);
    CHECK(first.column == t);
    CHECK(same_group.column == t + 6);       // tCCD_L
    CHECK(other_group.column == t + 6 + 4);  // tCCD_S
  }
}

TEST_CASE("ddr4: write-to-read (tWTR_S/L) and read-to-write turnaround", "[ddr4]") {
  const Config c = test_device();
  Memory m(c);
  for (int bg = 0; bg < 2; ++bg) m.access(address(3, 0, 0, bg), false, 0);
  int64_t t = 1000;
  // WR at t: its data end at t + CWL + BL/2 = t + 12; a read of the same bank group waits tWTR_L after it.
  m.access(address(3, 0, 1, 0), true, t);
  const Completion same_group = m.access(address(3, 0, 2, 0), false, t);
  CHECK(same_group.column == t + 8 + 4 + 7);
  CHECK(same_group.stall[static_cast<size_t>(Cause::Turnaround)] == 8 + 4 + 7);
  t = 2000;
  m.access(address(3, 0, 3, 0), true, t);
  const Completion other_group = m.access(address(3, 0, 4, 1), false, t);
  CHECK(other_group.column == t + 8 + 4 + 3);  // tWTR_S
  t = 3000;
  // RD at t; a WR may follow at RL + BL/2 + 2 - WL = 10 + 4 + 2 - 8 = 8.
  m.access(address(3, 0, 5, 0), false, t);
  const Completion write = m.access(address(3, 0, 6, 1), true, t);
  CHECK(write.column == t + 8);
}

TEST_CASE("ddr4: closed page precharges after every access", "[ddr4]") {
  const Config c = test_device([](nlohmann::json& j) { j["controller"]["page_policy"] = "closed"; });
  Memory m(c);
  m.access(address(5, 0, 0, 0), false, 0);  // ACT 0, RD 12 (auto-precharge at max(12 + 8, 0 + 30) = 30)
  const Completion again = m.access(address(5, 0, 1, 0), false, 20);
  CHECK(again.outcome == RowOutcome::Miss);
  CHECK(again.column == 30 + 14 + 12);  // ACT after tRP, RD after tRCD
}

TEST_CASE("ddr4: FR-FCFS serves row hits first, up to the starvation cap, and FCFS in order", "[ddr4]") {
  const auto order = [](const std::string& scheduler, int cap) {
    const Config c = test_device([&](nlohmann::json& j) {
      j["controller"]["scheduler"] = scheduler;
      j["controller"]["starvation_cap"] = cap;
    });
    Channel ch(c);
    std::vector<Completion> done;
    ch.enqueue({address(1, 0, 0, 0), false, 0, 100});  // opens row 1
    ch.drain(done);
    done.clear();
    ch.enqueue({address(2, 0, 0, 0), false, 1000, 0});                               // conflict, oldest
    for (int i = 1; i <= 3; ++i) ch.enqueue({address(1, 0, i, 0), false, 1000, i});  // hits
    ch.drain(done);
    std::vector<int64_t> ids;
    for (const Completion& x : done) ids.push_back(x.id);
    return ids;
  };
  CHECK(order("fr-fcfs", 16) == std::vector<int64_t>{1, 2, 3, 0});
  CHECK(order("fr-fcfs", 2) == std::vector<int64_t>{1, 2, 0, 3});
  CHECK(order("fcfs", 16) == std::vector<int64_t>{0, 1, 2, 3});
}

TEST_CASE("ddr4: refresh takes tRFC out of every tREFI", "[ddr4]") {
  StreamSpec seq;
  seq.bytes = 8 << 20;
  const Config off = test_device([](nlohmann::json& j) { j["controller"]["scheduler"] = "fr-fcfs"; });
  const Config on = test_device([](nlohmann::json& j) {
    j["controller"]["scheduler"] = "fr-fcfs";
    j["timing"]["refi"] = 2000;
  });
  const StreamResult without = run_stream(off, seq);
  const StreamResult with = run_stream(on, seq);
  CHECK(without.stats.refreshes == 0);
  // One REF per elapsed tREFI.
  CHECK(with.stats.refreshes == with.stats.last_data_end / 2000);
  // Per refresh the data bus pauses from the last read's data to the next one's: the precharge-all waits
  // tRTP after the last RD, then tRP, REF, tRFC, ACT, tRCD, RD: tRTP + tRP + tRFC + tRCD - BL/2 = 230
  // cycles (and up to 2 command-bus cycles), so bandwidth falls by 230/2000, a bit more than tRFC/tREFI.
  const double ratio = with.bandwidth_gbps / without.bandwidth_gbps;
  CHECK(ratio <= 1.0 - 230.0 / 2000 + 0.001);
  CHECK(ratio >= 1.0 - 232.0 / 2000 - 0.001);
  CHECK(with.stats.stall[static_cast<size_t>(Cause::Refresh)] > 0);
}

TEST_CASE("ddr4: sustained sequential reads approach the peak bandwidth", "[ddr4]") {
  for (const char* name : {"ddr4-2400-x64", "ddr4-3200-x64"}) {
    const Config c = preset(name);
    StreamSpec seq;
    seq.bytes = 8 << 20;
    const StreamResult r = run_stream(c, seq);
    const double refresh_share = static_cast<double>(c.timing.rfc) / c.timing.refi;
    INFO(name << ": " << r.bandwidth_gbps << " of " << r.peak_gbps << " GB/s");
    CHECK(r.peak_gbps == Approx(c.data_rate_mts * 8 / 1e3));
    // Everything but refresh is hidden: the data bus is busy back to back between refreshes.
    CHECK(r.bandwidth_gbps / r.peak_gbps <= 1.0 - refresh_share + 1e-9);
    CHECK(r.bandwidth_gbps / r.peak_gbps >= 1.0 - refresh_share - 0.01);
    CHECK(r.row_hit_rate > 0.99);
  }
}

TEST_CASE("ddr4: the stall causes add up to every request's latency beyond a row hit", "[ddr4]") {
  const Config c = preset("ddr4-2400-x64");
  for (const char* pattern : {"seq", "random", "stride:8192"}) {
    StreamSpec spec = parse_pattern(pattern);
    spec.bytes = 1 << 20;
    spec.read_fraction = 0.7;
    const StreamResult r = run_stream(c, spec);
    const Stats& s = r.stats;
    const int64_t ideal = s.reads * (c.timing.cl + 4) + s.writes * (c.timing.cwl + 4);
    CHECK(std::accumulate(s.stall.begin(), s.stall.end(), int64_t{0}) == s.latency_cycles - ideal);
    CHECK(s.hits + s.misses + s.conflicts == s.requests());
  }
}

TEST_CASE("ddr4: presets are validated with the JSON path of the problem", "[ddr4]") {
  using vitsim::quant::ConfigError;
  CHECK_THROWS_WITH(test_device([](nlohmann::json& j) { j["timing"]["rc"] = 40; }),
                    Catch::Contains("test-device: /timing/rc: expected at least ras + rp = 44"));
  CHECK_THROWS_WITH(
      test_device([](nlohmann::json& j) { j["controller"]["mapping"] = "row-bank-bank-column-bankgroup"; }),
      Catch::Contains("/controller/mapping"));
  CHECK_THROWS_WITH(test_device([](nlohmann::json& j) { j["organization"]["rows"] = 1000; }),
                    Catch::Contains("/organization/rows: expected a power of two"));
  CHECK_THROWS_WITH(test_device([](nlohmann::json& j) { j["timing"]["tras"] = 1; }),
                    Catch::Contains("/timing/tras"));
  CHECK_THROWS_AS(preset("no-such-preset"), ConfigError);
  CHECK(preset("ddr4-2400-x64").peak_gbps() == Approx(19.2));
}

// `vitsim dram`: the synthetic-stream bench of the DDR4 model.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

using vitsim::test::Run;
using vitsim::test::run_vitsim;

namespace {
nlohmann::json bench(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"dram", "--preset", "ddr4-2400-x64", "--bytes", "262144", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const Run r = run_vitsim(args);
  REQUIRE(r.code == 0);
  return nlohmann::json::parse(r.out);
}
}  // namespace

TEST_CASE("vitsim dram: bandwidth, latency and hit rate of synthetic streams", "[cli][ddr4]") {
  const nlohmann::json seq = bench({"--pattern", "seq"});
  for (const char* key : {"bandwidth_gbps", "peak_gbps", "avg_latency_ns", "p99_latency_ns", "row_hit_rate"})
    CHECK(seq.contains(key));
  CHECK(seq.at("peak_gbps").get<double>() == Approx(2400e6 * 8 / 1e9));
  CHECK(seq.at("requests") == 262144 / 64);
  CHECK(seq.at("bandwidth_gbps").get<double>() < seq.at("peak_gbps").get<double>());
  CHECK(seq.at("row_hit_rate").get<double>() > 0.95);
  // A read's latency is at least a row hit's: CL + BL/2 = 20 cycles of 0.833 ns.
  CHECK(seq.at("avg_latency_ns").get<double>() >= 20 / 1.2);
  CHECK(seq.at("p99_latency_ns").get<double>() >= seq.at("avg_latency_ns").get<double>() * 0.5);

  // An 8 KB stride visits each row of a bank twice in a row with this mapping (column bit 6 is address bit
  // 13, the bank bits 14-15, the row above): one miss or conflict, then one hit.
  const nlohmann::json stride = bench({"--pattern", "stride:8192"});
  CHECK(stride.at("row_hit_rate").get<double>() <= 0.5);
  CHECK(stride.at("row_hit_rate").get<double>() >= 0.49);

  // Random addresses almost never hit, and the mix follows --reads.
  const nlohmann::json random = bench({"--pattern", "random", "--reads", "0.25"});
  CHECK(random.at("row_hit_rate").get<double>() < 0.05);
  CHECK(random.at("writes").get<double>() / random.at("requests").get<double>() == Approx(0.75).margin(0.03));
  CHECK(random.at("bandwidth_gbps").get<double>() < seq.at("bandwidth_gbps").get<double>());

  // Deterministic: the same seed gives the same bytes; another seed another stream.
  CHECK(bench({"--pattern", "random"}) == bench({"--pattern", "random"}));
  CHECK(bench({"--pattern", "random", "--seed", "2"}) != bench({"--pattern", "random"}));

  const Run text = run_vitsim({"dram", "--preset", "ddr4-3200-x64", "--bytes", "65536"});
  CHECK(text.code == 0);
  CHECK_THAT(text.out, Catch::Contains("% of peak") && Catch::Contains("row buffer"));
}

TEST_CASE("vitsim dram: bad input exits 2 with one message", "[cli][ddr4]") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"dram", "--preset", "no-such-preset"},
        {"dram", "--preset", "ddr4-2400-x64", "--pattern", "zigzag"},
        {"dram", "--preset", "ddr4-2400-x64", "--pattern", "stride:0"},
        {"dram", "--preset", "ddr4-2400-x64", "--pattern", "stride:12ab"},
        {"dram", "--preset", "ddr4-2400-x64", "--reads", "1.5"},
        {"dram", "--preset", "ddr4-2400-x64", "--bytes", "0"},
        {"dram", "--preset", "ddr4-2400-x64", "--scheduler", "lifo"},
        {"dram"}}) {
    const Run r = run_vitsim(args);
    INFO(args[args.size() - 1]);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("vitsim: error: "));
  }
}

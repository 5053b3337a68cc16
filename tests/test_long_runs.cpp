// Long runs (docs/simulation.md, "Long runs"): the estimate of a program's cycles against cycle mode, the
// cycle limit (--max-cycles: stops exactly there, names the running layers, writes nothing), and the
// progress lines on stderr, which never change a run's outputs.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "arch/run_estimate.hpp"
#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/run_progress.hpp"
#include "sim/run/simulator.hpp"
#include "test_support.hpp"

using namespace vitsim;
using arch::TimingMode;

namespace {

arch::AccelConfig preset(const std::string& name) {
  return sim::find_accel(test::config_dir() + "/accel/" + name + ".json");
}

sim::SimOutcome simulate(const quant::QGraph& q, const arch::AccelConfig& c, TimingMode mode,
                         int64_t max_cycles = 0, bool ideal = false) {
  sim::SimOptions o;
  o.timing = mode;
  o.compile.ideal_memory = ideal;
  o.max_cycles = max_cycles;
  return sim::simulate_detailed(q, c, o);
}

// The names of the layers with a tile under way at cycle `limit` in a run's records (started before it,
// finishing at or after it): what a run stopped there must name.
std::set<std::string> layers_under_way(const sim::SimOutcome& run, int64_t limit) {
  std::set<std::string> names;
  for (size_t i = 0; i < run.program.tiles.size(); ++i) {
    const arch::TileRecord& r = run.records.tiles[i];
    if (r.start < limit && r.done >= limit)
      names.insert(run.program.layer_names[static_cast<size_t>(run.program.tiles[i].layer)]);
  }
  return names;
}

int64_t newlines(const std::string& text) {
  return std::count(text.begin(), text.end(), '\n');
}

// A clock the test advances by hand.
struct FakeClock {
  double now = 100;
  sim::RunProgress::Clock clock() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("The estimate equals cycle mode where nothing is shared: one engine, ideal memory", "[estimate]") {
  // With one engine and no DMA, cycle mode runs each tile for its closed form as soon as its waits allow
  // (fast == cycle, [modes]), which is what the estimate's schedule assumes: they must agree exactly.
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  const arch::AccelConfig systolic = preset("systolic-32x32-os");
  const sim::SimOutcome cycle = simulate(q, systolic, TimingMode::Cycle, 0, true);
  CHECK(arch::estimate_cycles(cycle.program, systolic) == cycle.report.cycles);
}

TEST_CASE("The estimate is within 5% of cycle mode on EfficientViT-B0 and B1 @224 on the shipped presets",
          "[estimate]") {
  // The estimate ignores what units share (ports, auxiliary units, the DRAM bus between transfers): close
  // where little contends, low where much does (small-memory: slow DRAM, narrow ports, two engines).
  // docs/simulation.md lists the measured ratios.
  for (const char* model : {"efficientvit-b0", "efficientvit-b1"}) {
    const quant::QGraph q = test::quantize(quant::build_model(model, 224));
    for (const char* accel : {"trio-vit", "systolic-32x32-os", "small-memory"}) {
      const arch::AccelConfig config = preset(accel);
      const sim::SimOutcome cycle = simulate(q, config, TimingMode::Cycle);
      const int64_t estimate = arch::estimate_cycles(cycle.program, config);
      INFO(model << " on " << accel << ": estimate " << estimate << ", cycle mode " << cycle.report.cycles);
      CHECK(estimate * 100 <= cycle.report.cycles * 105);
      if (std::string(accel) == "small-memory")
        CHECK(estimate * 100 >= cycle.report.cycles * 60);
      else
        CHECK(estimate * 100 >= cycle.report.cycles * 95);
    }
  }
}

TEST_CASE("A cycle limit lets a run that fits finish unchanged and stops one a cycle short exactly there",
          "[limits]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 64));
  const arch::AccelConfig config = preset("trio-vit");
  for (TimingMode mode : {TimingMode::Cycle, TimingMode::Fast}) {
    const sim::SimOutcome free = simulate(q, config, mode);
    const int64_t cycles = free.report.cycles;
    INFO(arch::timing_mode_name(mode) << ": " << cycles << " cycles");
    CHECK(simulate(q, config, mode, cycles).report.to_json() == free.report.to_json());
    // One cycle short: the run stops at its last cycle, where only the last layer still has work.
    const std::string last = free.program.layer_names.back();
    REQUIRE_THROWS_AS(simulate(q, config, mode, cycles - 1), arch::CycleLimitReached);
    REQUIRE_THROWS_WITH(
        simulate(q, config, mode, cycles - 1),
        Catch::Contains("the run reached its limit of " + std::to_string(cycles - 1) + " cycles at cycle " +
                        std::to_string(cycles - 1) + ", running layer '" + last + "' (") &&
            Catch::Contains("cycles expected in all"));
    // Half way: the layers whose tiles the unlimited run had under way then.
    const int64_t half = cycles / 2;
    const std::set<std::string> running = layers_under_way(free, half);
    REQUIRE(!running.empty());
    std::string message;
    try {
      simulate(q, config, mode, half);
    } catch (const arch::CycleLimitReached& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains("at cycle " + std::to_string(half) + ", running layer"));
    for (const std::string& layer : running) CHECK_THAT(message, Catch::Contains("'" + layer + "'"));
    std::string again;
    try {
      simulate(q, config, mode, half);
    } catch (const arch::CycleLimitReached& e) {
      again = e.what();
    }
    CHECK(again == message);  // deterministic
  }
}

TEST_CASE("vitsim simulate --max-cycles: exit 2, one line naming the limit, nothing written",
          "[limits][cli]") {
  test::TempDir dir("limits", "cli");
  quant::save_qgraph(test::quantize(quant::build_model("efficientvit-b0", 64)), dir.file("b0.vqg"));
  const std::vector<std::string> run = {"simulate", "--qgraph", dir.file("b0.vqg"), "--timing", "cycle"};
  auto with = [&run](std::vector<std::string> extra) {
    extra.insert(extra.begin(), run.begin(), run.end());
    return test::run_vitsim(extra);
  };
  const test::Run free = with({"--report", dir.file("free.json")});
  REQUIRE(free.code == 0);
  const nlohmann::json report = quant::read_json_file(dir.file("free.json"));
  const int64_t cycles = report.at("cycles").get<int64_t>();

  const test::Run stopped = with({"--max-cycles", std::to_string(cycles - 1), "--report", dir.file("r.json"),
                                  "--layers-csv", dir.file("l.csv"), "--trace", dir.file("t.json")});
  CHECK(stopped.code == 2);
  CHECK(stopped.out.empty());
  CHECK(newlines(stopped.err) == 1);
  CHECK_THAT(stopped.err,
             Catch::StartsWith("vitsim: error: the run reached its limit of " + std::to_string(cycles - 1) +
                               " cycles at cycle " + std::to_string(cycles - 1) + ", running layer '"));
  CHECK(dir.entries() == std::vector<std::string>{"b0.vqg", "free.json"});

  const test::Run fits = with({"--max-cycles", std::to_string(cycles), "--report", dir.file("fits.json")});
  CHECK(fits.code == 0);
  CHECK(quant::read_json_file(dir.file("fits.json")) == report);
  CHECK(with({"--max-cycles", "-1"}).code == 2);
  CHECK(with({"--max-cycles", "1e6"}).code == 2);
}

TEST_CASE("Progress on stderr: quiet for short runs off a terminal, then a line every 10 s", "[progress]") {
  FakeClock t;
  std::ostringstream err;
  sim::RunProgress progress(err, false, t.clock());
  progress.start(1000000);  // 0.4 s at the nominal rate: no estimate line
  t.now += 9.9;
  progress.at_cycle(400000);
  CHECK(err.str().empty());
  t.now += 0.2;  // 10.1 s in
  progress.at_cycle(500000);
  CHECK(err.str() ==
        "cycle mode: cycle 500,000 of about 1,000,000 expected (50%), 0.05 M cycles/s, about 10s left\n");
  t.now += 5;
  progress.at_cycle(700000);
  CHECK(newlines(err.str()) == 1);
  t.now += 5.5;  // 20.6 s in
  progress.at_cycle(1200000);
  CHECK_THAT(err.str(), Catch::EndsWith("cycle mode: cycle 1,200,000, past the about 1,000,000 expected, "
                                        "0.06 M cycles/s\n"));
  progress.finish();
  CHECK(newlines(err.str()) == 2);

  // A run expected to be long announces itself with the wall time the estimate implies.
  std::ostringstream long_err;
  sim::RunProgress long_run(long_err, false, t.clock());
  long_run.start(400000000);
  CHECK(long_err.str() ==
        "cycle mode: about 400,000,000 cycles expected (the compiled program's schedule), about 2m40s at "
        "2.5 M cycles/s\n");
}

TEST_CASE("Progress on a terminal: the estimate at once, one line rewritten in place, erased at the end",
          "[progress]") {
  FakeClock t;
  std::ostringstream err;
  sim::RunProgress progress(err, true, t.clock());
  progress.start(2000000);
  const std::string estimate =
      "cycle mode: about 2,000,000 cycles expected (the compiled program's schedule), about 1s at 2.5 M "
      "cycles/s\n";
  CHECK(err.str() == estimate);
  t.now += 0.6;
  progress.at_cycle(300000);
  const std::string first =
      "cycle mode: cycle 300,000 of about 2,000,000 expected (15%), 0.50 M cycles/s, about 3s left";
  CHECK(err.str() == estimate + "\r" + first);
  t.now += 0.6;
  progress.at_cycle(2500000);
  const std::string second =
      "cycle mode: cycle 2,500,000, past the about 2,000,000 expected, 2.08 M cycles/s";
  CHECK(err.str() ==
        estimate + "\r" + first + "\r" + second + std::string(first.size() - second.size(), ' '));
  progress.finish();
  CHECK_THAT(err.str(), Catch::EndsWith("\r" + std::string(second.size(), ' ') + "\r"));
}

TEST_CASE("Progress lines during a simulation leave its report and summary unchanged", "[progress]") {
  const quant::QGraph q = test::quantize(quant::build_model("efficientvit-b0", 224));
  const arch::AccelConfig config = preset("trio-vit");
  sim::SimOptions o;
  o.timing = TimingMode::Cycle;
  const sim::SimReport quiet = sim::simulate(q, config, o);
  double now = 0;
  std::ostringstream err;
  sim::RunProgress progress(err, false, [&now] { return now += 10; });  // 10 s per look at the clock
  o.progress = &progress;
  const sim::SimReport shown = sim::simulate(q, config, o);
  INFO(err.str());
  CHECK(newlines(err.str()) >= 1);
  CHECK_THAT(err.str(), Catch::StartsWith("cycle mode: cycle "));
  CHECK(shown.to_json() == quiet.to_json());
  std::ostringstream a, b;
  sim::print_summary(shown, a);
  sim::print_summary(quiet, b);
  const auto without_wall = [](std::string s) { return s.substr(0, s.find("  simulated in")); };
  CHECK(without_wall(a.str()) == without_wall(b.str()));
}

// Design-space sweeps (sim/dse/sweep.hpp, docs/sweeps.md): spec validation, deterministic expansion,
// constraints, and the local backend run through the real vitsim binary, including a resume after kill -9.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "quant/atomic_file.hpp"
#include "quant/json_reader.hpp"
#include "sim/dse/sweep.hpp"
#include "test_support.hpp"

using nlohmann::json;
using vitsim::test::TempDir;
namespace fs = std::filesystem;
namespace sim = vitsim::sim;

namespace {

// A spec on small-test (cheap to validate) with `axes`; other fields overridable through `extra`.
json small_spec(const json& axes, const json& extra = json::object()) {
  json spec = {{"name", "test"},
               {"base_accel", "small-test"},
               {"axes", axes},
               {"models", {{{"model", "efficientvit-b0"}, {"res", 64}}}},
               {"recipes", {"trio-w8a8"}}};
  spec.update(extra);
  return spec;
}

std::string write_spec(const TempDir& dir, const json& spec, const std::string& name = "spec.json") {
  const std::string path = dir.file(name);
  vitsim::quant::write_file_atomic(path, spec.dump(2));
  return path;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Starts the vitsim binary in a process group of its own (so the whole sweep, children included, can be
// killed at once), output to `log`.
pid_t start_vitsim(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {VITSIM_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists before the parent signals it
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_binary(const std::vector<std::string>& args, const std::string& log) {
  return wait_exit_code(start_vitsim(args, log));
}

// The tiny real sweep: EfficientViT-B0 @64 on trio-vit, MAT lanes x R-MAC lanes (4 points), plus one invalid
// MAT lanes value (0) whose 2 points must fail without stopping the others.
json real_spec() {
  return {{"name", "tiny"},
          {"base_accel", "trio-vit"},
          {"axes",
           {{{"name", "mat_lanes"}, {"pointer", "/engines/0/lanes"}, {"values", {4, 8, 0}}},
            {{"name", "rmac_lanes"}, {"pointer", "/engines/1/lanes"}, {"values", {4, 8}}}}},
          {"models", {{{"model", "efficientvit-b0"}, {"res", 64}}}},
          {"recipes", {"trio-w8a8"}}};
}

}  // namespace

TEST_CASE("sweep: points expand in a fixed order with stable ids", "[sweep]") {
  TempDir dir("sweep", "order");
  const json spec = small_spec(
      {{{"pointer", "/engines/0/lanes"}, {"values", {2, 4}}},
       {{"name", "rmac_pe"}, {"pointer", "/engines/1/pe"}, {"values", {2, 4, 8}}}},
      {{"models", {{{"model", "efficientvit-b0"}, {"res", 64}}, {{"model", "efficientvit-b0"}, {"res", 96}}}},
       {"recipes", {"trio-w8a8", "naive-w8a8"}}});
  const sim::SweepSpec s = sim::load_sweep_spec(write_spec(dir, spec));
  const std::vector<sim::SweepPoint> points = sim::expand_sweep(s);
  REQUIRE(points.size() == 2 * 2 * 2 * 3);
  REQUIRE(s.axes[0].label == "/engines/0/lanes");  // the pointer when the axis has no name
  std::set<std::string> ids;
  for (size_t i = 0; i < points.size(); ++i) {
    const sim::SweepPoint& p = points[i];
    CHECK(p.index == static_cast<int>(i));
    // models outermost, then recipes, then the axes, the last fastest
    CHECK(p.model == i / 12);
    CHECK(p.recipe == i / 6 % 2);
    CHECK(p.values[0] == json(i / 3 % 2 ? 4 : 2));
    CHECK(p.values[1] == json(std::vector<int>{2, 4, 8}[i % 3]));
    CHECK(sim::point_config(s, p)["engines"][0]["lanes"] == p.values[0]);
    CHECK(sim::point_config(s, p)["engines"][1]["pe"] == p.values[1]);
    CHECK(p.id.size() == 12);
    CHECK(p.id.find_first_not_of("0123456789abcdef") == std::string::npos);
    ids.insert(p.id);
    CHECK(p.config_error.empty());
    CHECK(p.filtered.empty());
    CHECK(p.dsps > 0);
  }
  CHECK(ids.size() == points.size());
  // Deterministic: the same spec read again gives the same ids; the id depends on the point, not its index.
  const std::vector<sim::SweepPoint> again =
      sim::expand_sweep(sim::load_sweep_spec(write_spec(dir, spec, "b.json")));
  for (size_t i = 0; i < points.size(); ++i) CHECK(again[i].id == points[i].id);
  json fewer = spec;
  fewer["axes"][0]["values"] = {4};
  const std::vector<sim::SweepPoint> sub =
      sim::expand_sweep(sim::load_sweep_spec(write_spec(dir, fewer, "c.json")));
  REQUIRE(sub.size() == 12);
  CHECK(sub[0].id == points[3].id);  // lanes 4, rmac_pe 2, first model and recipe

  const vitsim::test::Run dry = vitsim::test::run_vitsim({"sweep", dir.file("spec.json"), "--dry-run"});
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("24 point(s)") != std::string::npos);
  CHECK(dry.out.find(points[23].id) != std::string::npos);
  CHECK(dir.entries() ==
        std::vector<std::string>{"b.json", "c.json", "spec.json"});  // a dry run writes nothing
}

TEST_CASE("sweep: ranges are inclusive, integer or real, up or down", "[sweep]") {
  TempDir dir("sweep", "range");
  const auto values_of = [&dir](const json& range) {
    const json spec = small_spec({{{"pointer", "/dram/bandwidth_gbps"}, {"range", range}}});
    return sim::load_sweep_spec(write_spec(dir, spec)).axes.at(0).values;
  };
  CHECK(values_of({{"from", 1}, {"to", 7}, {"step", 3}}) == std::vector<json>{1, 4, 7});
  CHECK(values_of({{"from", 1}, {"to", 8}, {"step", 3}}) == std::vector<json>{1, 4, 7});
  CHECK(values_of({{"from", 8}, {"to", 2}, {"step", -3}}) == std::vector<json>{8, 5, 2});
  CHECK(values_of({{"from", 5}, {"to", 5}, {"step", 1}}) == std::vector<json>{5});
  const std::vector<json> real = values_of({{"from", 0.2}, {"to", 0.5}, {"step", 0.1}});
  REQUIRE(real.size() == 4);  // 0.5 is reached despite binary rounding
  CHECK(real[3].get<double>() == Approx(0.5));
  CHECK(real[0].is_number_float());

  const auto error_of = [&dir](const json& range) {
    const json spec = small_spec({{{"pointer", "/dram/bandwidth_gbps"}, {"range", range}}});
    try {
      sim::load_sweep_spec(write_spec(dir, spec));
    } catch (const vitsim::quant::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of({{"from", 1}, {"to", 7}, {"step", 0}}),
             Catch::Contains("/axes/0/range/step: expected a nonzero step"));
  CHECK_THAT(error_of({{"from", 1}, {"to", 7}, {"step", -1}}), Catch::Contains("/axes/0/range/step"));
  CHECK_THAT(error_of({{"from", 1}, {"to", 7}}),
             Catch::Contains("/axes/0/range/step: required key is missing"));
  CHECK_THAT(error_of({{"from", "1"}, {"to", 7}, {"step", 1}}),
             Catch::Contains("/axes/0/range/from: expected a number"));
  CHECK_THAT(error_of({{"from", 1}, {"to", 1000000}, {"step", 1}}), Catch::Contains("at most"));
}

TEST_CASE("sweep: a tied axis sets one value into several pointers", "[sweep]") {
  TempDir dir("sweep", "tied");
  const json spec = small_spec({{{"name", "replicas"},
                                 {"pointers", {"/engines/0/replicas", "/engines/1/replicas"}},
                                 {"values", {1, 3}}}});
  const sim::SweepSpec s = sim::load_sweep_spec(write_spec(dir, spec));
  const std::vector<sim::SweepPoint> points = sim::expand_sweep(s);
  REQUIRE(points.size() == 2);
  CHECK(s.axes[0].label == "replicas");
  for (const sim::SweepPoint& p : points) {
    CHECK(sim::point_config(s, p)["engines"][0]["replicas"] == p.values[0]);
    CHECK(sim::point_config(s, p)["engines"][1]["replicas"] == p.values[0]);
  }
  CHECK(points[1].dsps > points[0].dsps);  // three times the multipliers
}

TEST_CASE("sweep: constraints filter points and never run them", "[sweep]") {
  TempDir dir("sweep", "constraints");
  // trio-vit with 16 or 64 replicas of each engine: 1024 + 100 or 4096 + 100 DSPs.
  const json axes = {{{"name", "replicas"},
                      {"pointers", {"/engines/0/replicas", "/engines/1/replicas"}},
                      {"values", {16, 64}}}};
  json spec = small_spec(axes, {{"base_accel", "trio-vit"}, {"constraints", {{"max", {{"dsps", 2000}}}}}});
  std::vector<sim::SweepPoint> points = sim::expand_sweep(sim::load_sweep_spec(write_spec(dir, spec)));
  REQUIRE(points.size() == 2);
  CHECK(points[0].filtered.empty());
  CHECK(points[0].dsps <= 2000);
  CHECK(points[1].filtered == "dsps " + std::to_string(points[1].dsps) + " > 2000");

  spec["constraints"] = {{"device", "zcu102"}};  // 2520 DSPs
  points = sim::expand_sweep(sim::load_sweep_spec(write_spec(dir, spec)));
  CHECK(points[0].fits_device == std::optional<bool>(true));
  CHECK(points[0].luts > 0);
  CHECK(points[0].bram36 > 0);
  CHECK(points[1].fits_device == std::optional<bool>(false));
  CHECK_THAT(points[1].filtered, Catch::Contains("does not fit zcu102: dsps"));

  const std::string path = write_spec(dir, spec);
  const vitsim::test::Run dry = vitsim::test::run_vitsim({"sweep", path, "--dry-run"});
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("1 run, 1 filtered") != std::string::npos);
  // Running it: the filtered point is listed in results.csv, never run, and cannot be run by index.
  const std::string out = dir.file("out");
  const vitsim::test::Run prep = vitsim::test::run_vitsim({"sweep", path, "--out", out, "--prepare"});
  REQUIRE(prep.code == 0);
  CHECK(prep.out == "0\n");
  const vitsim::test::Run point = vitsim::test::run_vitsim({"sweep", path, "--out", out, "--point", "1"});
  CHECK(point.code == 2);
  CHECK_THAT(point.err, Catch::Contains("filtered"));
  const vitsim::test::Run collect = vitsim::test::run_vitsim({"sweep", path, "--out", out, "--collect"});
  REQUIRE(collect.code == 0);
  CHECK_THAT(collect.out, Catch::Contains("0 ok, 0 failed, 1 filtered, 1 pending"));
  const std::vector<std::string> csv = lines_of(read_text(out + "/results.csv"));
  REQUIRE(csv.size() == 2);
  CHECK_THAT(csv[1], Catch::StartsWith("1," + points[1].id + ",efficientvit-b0,64,trio-w8a8,64,filtered,"));
  CHECK(!fs::exists(out + "/points/1"));
}

TEST_CASE("sweep: spec errors name the spec file and the JSON path", "[sweep]") {
  TempDir dir("sweep", "errors");
  const json lanes = {{"pointer", "/engines/0/lanes"}, {"values", {2, 4}}};
  const std::vector<std::pair<json, std::string>> cases = {
      {small_spec({{{"pointer", "/engines/0/width"}, {"values", {1}}}}),
       "/axes/0/pointer: \"/engines/0/width\" does not exist in the base config"},
      {small_spec({{{"pointer", "engines"}, {"values", {1}}}}), "/axes/0/pointer: expected a JSON pointer"},
      {small_spec({{{"pointer", "/engines/0/lanes"}, {"values", json::array()}}}),
       "/axes/0/values: expected a non-empty array"},
      {small_spec({{{"pointer", "/engines/0/lanes"}, {"values", {2, 2}}}}),
       "/axes/0/values/1: duplicate value 2"},
      {small_spec({{{"pointer", "/engines/0/lanes"}}}), "/axes/0/values: expected exactly one of"},
      {small_spec({{{"pointer", "/engines/0/lanes"}, {"pointers", {"/engines/1/lanes"}}, {"values", {1}}}}),
       "/axes/0/pointer: expected exactly one of"},
      {small_spec({{{"pointer", "/engines/0/lanes"}, {"values", {1}}, {"step", 1}}}),
       "/axes/0/step: unknown key"},
      {small_spec({lanes, lanes}), "/axes/1: pointer \"/engines/0/lanes\" is already set"},
      {small_spec({{{"name", "fps"}, {"pointer", "/engines/0/lanes"}, {"values", {1}}}}),
       "/axes/0/name: the column name \"fps\" is taken"},
      {small_spec(json::array({lanes}), {{"models", {{{"model", "efficientvit-b9"}, {"res", 64}}}}}),
       "/models/0: "},
      {small_spec(json::array({lanes}), {{"recipes", {"trio-w8a8", "no-such-recipe"}}}), "/recipes/1: "},
      {small_spec(json::array({lanes}), {{"base_accel", "no-such-accel"}}), "/base_accel: "},
      {small_spec(json::array({lanes}), {{"timing", "slow"}}), "/timing: expected one of cycle, fast"},
      {small_spec(json::array({lanes}), {{"constraints", {{"max", {{"dsps", -1}}}}}}),
       "/constraints/max/dsps: expected a non-negative integer"},
      {small_spec(json::array({lanes}), {{"constraints", {{"max", {{"multipliers", 1}}}}}}),
       "/constraints/max/multipliers: unknown key"},
      {small_spec(json::array({lanes}), {{"constraints", {{"device", "no-such-fpga"}}}}),
       "/constraints/device: "},
      {small_spec(json::array({lanes}), {{"calibration", {{"count", 0}}}}),
       "/calibration/count: expected an integer in"},
      {small_spec(json::array({lanes}), {{"extra", 1}}), "/extra: unknown key"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << ": " << cases[i].first.dump());
    const std::string path = write_spec(dir, cases[i].first, "bad" + std::to_string(i) + ".json");
    const vitsim::test::Run r = vitsim::test::run_vitsim({"sweep", path, "--dry-run"});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::Contains(path + ": " + cases[i].second));
  }
  // Flags: a sweep needs --out; the modes exclude each other; an index out of range.
  const std::string ok = write_spec(dir, small_spec(json::array({lanes})));
  CHECK(vitsim::test::run_vitsim({"sweep", ok}).code == 2);
  CHECK(vitsim::test::run_vitsim({"sweep", ok, "--out", dir.file("o"), "--prepare", "--collect"}).code == 2);
  const vitsim::test::Run far =
      vitsim::test::run_vitsim({"sweep", ok, "--out", dir.file("o"), "--point", "2"});
  CHECK(far.code == 2);
  CHECK_THAT(far.err, Catch::Contains("the sweep has points 0..1"));
  CHECK(!fs::exists(dir.file("o")));
}

TEST_CASE("sweep: an invalid combination is a failed point and a different spec is refused", "[sweep]") {
  TempDir dir("sweep", "invalid");
  const json spec = small_spec({{{"name", "lanes"}, {"pointer", "/engines/0/lanes"}, {"values", {0}}}});
  const std::string path = write_spec(dir, spec);
  const sim::SweepSpec s = sim::load_sweep_spec(path);
  const std::vector<sim::SweepPoint> points = sim::expand_sweep(s);
  CHECK_THAT(points[0].config_error, Catch::Contains("/engines/0/lanes"));
  const std::string out = dir.file("out");
  const vitsim::test::Run r = vitsim::test::run_vitsim({"sweep", path, "--out", out, "--point", "0"});
  REQUIRE(r.code == 0);  // the failure is the point's, recorded in result.json
  const json result = vitsim::quant::read_json_file(out + "/points/0/result.json");
  CHECK(result["status"] == "failed");
  CHECK_THAT(result["error"].get<std::string>(), Catch::Contains("/engines/0/lanes"));
  CHECK(result["id"] == points[0].id);
  CHECK(result["values"]["lanes"] == 0);
  CHECK(fs::exists(out + "/points/0/accel.json"));
  CHECK(!fs::exists(out + "/points/0/report.json"));
  CHECK(read_text(out + "/spec.json") == spec.dump(2) + "\n");

  // The same folder with another spec: refused, nothing touched.
  json other = spec;
  other["axes"][0]["values"] = {1};
  const vitsim::test::Run refused =
      vitsim::test::run_vitsim({"sweep", write_spec(dir, other, "other.json"), "--out", out, "--collect"});
  CHECK(refused.code == 2);
  CHECK_THAT(refused.err, Catch::Contains("holds the results of a different spec"));
  // A folder that is not a sweep's.
  fs::create_directories(dir.file("junk"));
  vitsim::quant::write_file_atomic(dir.file("junk/x.txt"), "x");
  CHECK(vitsim::test::run_vitsim({"sweep", path, "--out", dir.file("junk"), "--prepare"}).code == 2);
}

TEST_CASE("sweep: the local backend runs points in parallel, records failures, resumes after kill -9",
          "[sweep][slow]") {
  TempDir dir("sweep", "local");
  const std::string path = write_spec(dir, real_spec());
  const std::string full = dir.file("full"), resumed = dir.file("resumed");

  // Uninterrupted.
  REQUIRE(run_binary({"sweep", path, "--out", full, "-j", "2"}, dir.file("full.log")) == 0);
  const std::string csv = read_text(full + "/results.csv");
  const std::vector<std::string> rows = lines_of(csv);
  INFO(read_text(dir.file("full.log")));
  REQUIRE(rows.size() == 7);
  CHECK(
      rows[0] ==
      "index,id,model,res,recipe,mat_lanes,rmac_lanes,status,error,cycles,latency_ms,fps,gops,"
      "mac_utilization,dsps,luts,bram36,fits_device,dsp_efficiency,fps_per_dsp,onchip_bytes,dram_bytes_read,"
      "dram_bytes_written,energy_mj,average_power_w,gops_per_w,strategy,generation");
  std::vector<json> results;
  for (int i = 0; i < 6; ++i) {
    results.push_back(vitsim::quant::read_json_file(full + "/points/" + std::to_string(i) + "/result.json"));
    CHECK_THAT(rows[static_cast<size_t>(i) + 1], Catch::StartsWith(std::to_string(i) + ","));
  }
  for (int i = 0; i < 4; ++i) {
    const json& m = results[static_cast<size_t>(i)]["metrics"];
    INFO("point " << i);
    REQUIRE(results[static_cast<size_t>(i)]["status"] == "ok");
    const json report = vitsim::quant::read_json_file(full + "/points/" + std::to_string(i) + "/report.json");
    CHECK(m["cycles"] == report["cycles"]);
    CHECK(m["fps"] == report["fps"]);
    CHECK(m["mac_utilization"].get<double>() > 0);
    CHECK(m["mac_utilization"].get<double>() <= 1);
    CHECK(vitsim::quant::read_json_file(full + "/points/" + std::to_string(i) +
                                        "/accel.json")["engines"][0]["lanes"] ==
          results[static_cast<size_t>(i)]["values"]["mat_lanes"]);
  }
  // Twice the MAT lanes, fewer cycles (the R-MAC lanes fixed at 4).
  CHECK(results[2]["metrics"]["cycles"].get<int64_t>() < results[0]["metrics"]["cycles"].get<int64_t>());
  for (int i = 4; i < 6; ++i) {  // MAT lanes 0: failed, the sweep went on
    CHECK(results[static_cast<size_t>(i)]["status"] == "failed");
    CHECK_THAT(results[static_cast<size_t>(i)]["error"].get<std::string>(),
               Catch::Contains("/engines/0/lanes"));
    CHECK_THAT(rows[static_cast<size_t>(i) + 1], Catch::Contains(",failed,"));
  }
  CHECK(fs::directory_iterator(full + "/qgraphs") != fs::directory_iterator());
  CHECK(std::distance(fs::directory_iterator(full + "/qgraphs"), fs::directory_iterator()) == 1);
  CHECK(fs::exists(full + "/qgraphs/efficientvit-b0@64_trio-w8a8.vqg"));

  // Killed (the sweep and its children, as one process group) as soon as the first point is done.
  const pid_t sweep = start_vitsim({"sweep", path, "--out", resumed, "-j", "2"}, dir.file("killed.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool some_done = false;
  while (!some_done && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 6 && !some_done; ++i)
      some_done = fs::exists(resumed + "/points/" + std::to_string(i) + "/result.json");
    if (!some_done) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(some_done);
  REQUIRE(::kill(-sweep, SIGKILL) == 0);
  CHECK(wait_exit_code(sweep) == -1);
  int done_at_kill = 0;
  for (int i = 0; i < 6; ++i)
    done_at_kill += fs::exists(resumed + "/points/" + std::to_string(i) + "/result.json");
  REQUIRE(done_at_kill < 6);  // the rerun has points to finish
  // results.csv grows by appended rows in index order: what the kill left is a prefix of the final file.
  const std::string partial = read_text(resumed + "/results.csv");
  CHECK(lines_of(partial).size() >= 1);
  CHECK(csv.compare(0, partial.size(), partial) == 0);
  const auto qgraph_time = fs::last_write_time(resumed + "/qgraphs/efficientvit-b0@64_trio-w8a8.vqg");

  // Rerun: the same results.csv as the uninterrupted run, byte for byte (each point exactly once).
  REQUIRE(run_binary({"sweep", path, "--out", resumed, "-j", "2"}, dir.file("resumed.log")) == 0);
  CHECK(read_text(resumed + "/results.csv") == csv);
  CHECK(fs::last_write_time(resumed + "/qgraphs/efficientvit-b0@64_trio-w8a8.vqg") == qgraph_time);
  const std::string log = read_text(dir.file("resumed.log"));
  CHECK_THAT(log, Catch::Contains("already done"));
  CHECK_THAT(log, !Catch::Contains("quantizing"));
  // A third run has nothing left to do and changes nothing.
  REQUIRE(run_binary({"sweep", path, "--out", resumed}, dir.file("third.log")) == 0);
  CHECK_THAT(read_text(dir.file("third.log")), Catch::Contains("0 to run"));
  CHECK(read_text(resumed + "/results.csv") == csv);
}

TEST_CASE("sweep: an nsga2 sweep gives the same results.csv at -j 1 and -j 2 and resumes after kill -9",
          "[sweep][search][slow]") {
  TempDir dir("sweep", "nsga2");
  // 18 designs (3 x 3 x 2), 3 per generation for 3 generations; the DSP budget filters some of them.
  json spec = real_spec();
  spec["axes"] = {{{"name", "mat_lanes"}, {"pointer", "/engines/0/lanes"}, {"values", {4, 8, 16}}},
                  {{"name", "rmac_lanes"}, {"pointer", "/engines/1/lanes"}, {"values", {4, 8, 16}}},
                  {{"name", "weight_buffer"},
                   {"pointer", "/buffers/weight/capacity_bytes"},
                   {"values", {262144, 524288}}}};
  spec["constraints"] = {{"max", {{"dsps", 1500}}}};
  spec["search"] = {{"strategy", "nsga2"}, {"population", 3}, {"generations", 3}, {"seed", 2}};
  const std::string path = write_spec(dir, spec);
  const std::string two = dir.file("j2"), one = dir.file("j1"), resumed = dir.file("resumed");

  REQUIRE(run_binary({"sweep", path, "--out", two, "-j", "2"}, dir.file("j2.log")) == 0);
  const std::string csv = read_text(two + "/results.csv");
  const std::vector<std::string> rows = lines_of(csv);
  INFO(read_text(dir.file("j2.log")));
  REQUIRE(rows.size() == 10);  // 9 designs, each evaluated once
  CHECK_THAT(rows[0], Catch::EndsWith(",strategy,generation"));
  for (size_t r = 1; r < rows.size(); ++r)  // by generation, 3 each
    CHECK_THAT(rows[r], Catch::EndsWith(",nsga2," + std::to_string((r - 1) / 3)));
  std::set<std::string> ids;
  for (size_t r = 1; r < rows.size(); ++r)
    ids.insert(rows[r].substr(0, rows[r].find(',', rows[r].find(',') + 1)));
  CHECK(ids.size() == 9);
  REQUIRE(run_binary({"sweep", path, "--out", one, "-j", "1"}, dir.file("j1.log")) == 0);
  CHECK(read_text(one + "/results.csv") == csv);

  // Killed once a generation-1 row is in results.csv (generation 0 done, generation 1 under way).
  const pid_t sweep = start_vitsim({"sweep", path, "--out", resumed, "-j", "1"}, dir.file("killed.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_text(resumed + "/results.csv").find(",nsga2,1\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(::kill(-sweep, SIGKILL) == 0);
  CHECK(wait_exit_code(sweep) == -1);
  const std::string partial = read_text(resumed + "/results.csv");
  INFO(partial);
  REQUIRE(partial.find(",nsga2,1\n") != std::string::npos);
  REQUIRE(lines_of(partial).size() < rows.size());  // the rerun has points to finish
  CHECK(csv.compare(0, partial.size(), partial) == 0);
  std::map<std::string, fs::file_time_type> done_at_kill;
  for (const auto& p : fs::directory_iterator(resumed + "/points"))
    if (fs::exists(p.path() / "result.json"))
      done_at_kill[p.path().string()] = fs::last_write_time(p.path() / "result.json");
  // The rerun re-derives generations 0 and 1 from the results and runs only what is missing.
  REQUIRE(run_binary({"sweep", path, "--out", resumed, "-j", "2"}, dir.file("resumed.log")) == 0);
  CHECK(read_text(resumed + "/results.csv") == csv);
  for (const auto& [folder, time] : done_at_kill) CHECK(fs::last_write_time(folder + "/result.json") == time);
  CHECK_THAT(read_text(dir.file("resumed.log")), Catch::Contains("(nsga2, generation 0): 3 point(s)"));
}

TEST_CASE("sweep: a crashed point process becomes a failed point with its log tail", "[sweep]") {
  TempDir dir("sweep", "crash");
  // Invalid configs need no quantized graph: the stand-in runner below is all that runs.
  const json spec =
      small_spec({{{"name", "lanes"}, {"pointer", "/engines/0/lanes"}, {"values", {0, -1, -2}}}});
  const std::string path = write_spec(dir, spec);
  const std::string runner = dir.file("crash.sh");
  vitsim::quant::write_file_atomic(runner, "#!/bin/sh\necho \"runner for $*\"\nkill -SEGV $$\n");
  fs::permissions(runner, fs::perms::owner_all);
  const sim::SweepSpec s = sim::load_sweep_spec(path);
  std::vector<sim::SweepPoint> points = sim::expand_sweep(s);
  sim::LocalBackendOptions options;
  options.jobs = 2;
  options.executable = runner;
  options.progress_bar = true;
  std::ostringstream out, err;
  const sim::SweepDir out_dir{dir.file("out")};
  REQUIRE(sim::run_local_sweep(s, path, points, out_dir, options, out, err) == 0);
  for (int i = 0; i < 3; ++i) {
    const json r = vitsim::quant::read_json_file(out_dir.result(i));
    CHECK(r["status"] == "failed");
    const std::string error = r["error"];
    CHECK_THAT(error, Catch::Contains("killed by signal " + std::to_string(SIGSEGV)));
    CHECK_THAT(error, Catch::Contains("runner for sweep " + fs::absolute(path).string() + " --out"));
    CHECK_THAT(error, Catch::Contains("--point " + std::to_string(i)));
  }
  CHECK_THAT(out.str(), Catch::Contains("0 ok, 3 failed, 0 filtered, 0 pending"));
  CHECK_THAT(err.str(), Catch::Contains("] 3/3, 3 failed, elapsed"));  // the progress bar's last state
  CHECK(lines_of(read_text(out_dir.results_csv())).size() == 4);
}

TEST_CASE("sweep: the shipped specs are valid", "[sweep]") {
  int specs = 0;
  for (const auto& f : fs::directory_iterator(vitsim::test::config_dir() + "/sweeps")) {
    if (f.path().extension() != ".json") continue;
    INFO(f.path().string());
    ++specs;
    const sim::SweepSpec s = sim::load_sweep_spec(f.path().string());
    const std::vector<sim::SweepPoint> points = sim::expand_sweep(s);
    CHECK(!points.empty());
    const auto runs = std::count_if(points.begin(), points.end(), [](const sim::SweepPoint& p) {
      return p.filtered.empty() && p.config_error.empty();
    });
    CHECK(runs > 0);
  }
  CHECK(specs >= 2);
}

TEST_CASE("sweep: a point beyond the spec's max_cycles fails with the limit's message", "[sweep][limits]") {
  TempDir dir("sweep", "max_cycles");
  const json axes = {{{"name", "mhz"}, {"pointer", "/clock_mhz"}, {"values", {150}}}};
  const json trio = {{"base_accel", "trio-vit"}, {"timing", "cycle"}};
  json capped_spec = small_spec(axes, trio);
  capped_spec["max_cycles"] = 100;
  const std::string capped = write_spec(dir, capped_spec);
  const vitsim::test::Run r =
      vitsim::test::run_vitsim({"sweep", capped, "--out", dir.file("capped"), "--point", "0"});
  REQUIRE(r.code == 0);  // the failure is the point's, recorded in result.json
  const json failed = vitsim::quant::read_json_file(dir.file("capped/points/0/result.json"));
  CHECK(failed["status"] == "failed");
  CHECK_THAT(failed["error"].get<std::string>(),
             Catch::Contains("the run reached its limit of 100 cycles at cycle 100, running layer"));
  CHECK(!fs::exists(dir.file("capped/points/0/report.json")));

  // Without the cap the same point (same id: the cap is not part of it) runs to its end.
  const std::string free = write_spec(dir, small_spec(axes, trio), "free.json");
  REQUIRE(vitsim::test::run_vitsim({"sweep", free, "--out", dir.file("free"), "--point", "0"}).code == 0);
  const json ok = vitsim::quant::read_json_file(dir.file("free/points/0/result.json"));
  CHECK(ok["status"] == "ok");
  CHECK(ok["metrics"]["cycles"].get<int64_t>() > 100);
  CHECK(ok["id"] == failed["id"]);
  CHECK(vitsim::test::run_vitsim(
            {"sweep", write_spec(dir, small_spec(axes, {{"max_cycles", -1}}), "bad.json"), "--dry-run"})
            .code == 2);
}

TEST_CASE("sweep: a second sweep on the same --out exits 2 while another holds DIR/.lock", "[sweep]") {
  TempDir dir("sweep", "lock");
  const std::string spec = write_spec(dir, small_spec({{{"pointer", "/engines/0/lanes"}, {"values", {4}}}}));
  const std::string out = dir.file("out");
  fs::create_directories(out);
  const int held = ::open((out + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(::flock(held, LOCK_EX | LOCK_NB) == 0);  // as a running sweep holds it
  const vitsim::test::Run second = vitsim::test::run_vitsim({"sweep", spec, "--out", out, "--prepare"});
  CHECK(second.code == 2);
  CHECK_THAT(second.err, Catch::Contains("another vitsim sweep is using"));
  CHECK(!fs::exists(out + "/spec.json"));
  ::close(held);  // the first sweep ends: the lock is free
  CHECK(vitsim::test::run_vitsim({"sweep", spec, "--out", out, "--prepare"}).code == 0);
}

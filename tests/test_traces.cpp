// The traces of a simulation (sim/trace_perfetto, sim/trace_vcd), parsed back and held against the records
// and the report: every tile and transfer exactly once where and when it ran, tracks that never overlap,
// per-unit sums equal to the report's cycle breakdown, the same bytes from repeated runs, and the CLI
// flags that write them.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "quant/qgraph_io.hpp"
#include "quant/zoo.hpp"
#include "sim/compile/inputs.hpp"
#include "sim/run/simulator.hpp"
#include "sim/run/trace_perfetto.hpp"
#include "sim/run/trace_vcd.hpp"
#include "test_support.hpp"

using namespace vitsim;
using nlohmann::json;

namespace {

arch::AccelConfig trio_vit() {
  return sim::find_accel(test::config_dir() + "/accel/trio-vit.json");
}

quant::QGraph small_model() {
  return test::quantize(quant::build_model("efficientvit-b0", 64));
}

sim::SimOutcome simulate_with_bursts(const quant::QGraph& q, arch::TimingMode mode) {
  sim::SimOptions o;
  o.timing = mode;
  o.record_bursts = true;
  return sim::simulate_detailed(q, trio_vit(), o);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A complete event's cycles, [ts, ts + dur - 1].
struct Slice {
  int64_t first, last;
  const json* event;
};

// The X events per tid, sorted by start.
std::map<int, std::vector<Slice>> slices_by_track(const json& events) {
  std::map<int, std::vector<Slice>> tracks;
  for (const json& e : events)
    if (e.at("ph") == "X") {
      const int64_t ts = e.at("ts").get<int64_t>();
      tracks[e.at("tid").get<int>()].push_back({ts, ts + e.at("dur").get<int64_t>() - 1, &e});
    }
  for (auto& [tid, slices] : tracks)
    std::stable_sort(slices.begin(), slices.end(),
                     [](const Slice& a, const Slice& b) { return a.first < b.first; });
  return tracks;
}

// ---- A small VCD reader: declarations, then the value of every variable over time. ----

struct VcdVar {
  std::string scope, type, name;
  int width = 0;
};
struct VcdChange {
  int64_t time;
  std::string value;  // "0", "1", "x", or the binary digits of a vector
};
struct Vcd {
  std::string timescale;
  std::map<std::string, VcdVar> vars;                     // by identifier code
  std::map<std::string, std::string> code_of;             // "scope.name" -> code
  std::map<std::string, std::vector<VcdChange>> changes;  // by code, in file order
  std::vector<int64_t> times;                             // every #time, in file order
  const std::vector<VcdChange>& of(const std::string& scoped_name) const {
    return changes.at(code_of.at(scoped_name));
  }
};

Vcd parse_vcd(const std::string& text) {
  Vcd vcd;
  std::istringstream in(text);
  std::string tok;
  std::vector<std::string> scopes;
  const auto skip_to_end = [&] {
    while (in >> tok && tok != "$end") {
    }
  };
  while (in >> tok && tok != "$enddefinitions") {
    if (tok == "$scope") {
      std::string kind, name;
      in >> kind >> name;
      scopes.push_back(name);
      skip_to_end();
    } else if (tok == "$upscope") {
      REQUIRE(!scopes.empty());
      scopes.pop_back();
      skip_to_end();
    } else if (tok == "$var") {
      VcdVar v;
      std::string code;
      in >> v.type >> v.width >> code >> v.name;
      skip_to_end();
      REQUIRE(scopes.size() == 2);  // accelerator.<unit>
      v.scope = scopes[1];
      REQUIRE(vcd.vars.count(code) == 0);
      vcd.code_of[v.scope + "." + v.name] = code;
      vcd.vars[code] = v;
    } else if (tok == "$timescale") {
      in >> vcd.timescale;
      skip_to_end();
    } else {
      skip_to_end();  // $version, $comment, ...
    }
  }
  REQUIRE(tok == "$enddefinitions");
  REQUIRE(scopes.empty());
  skip_to_end();
  int64_t now = -1;
  while (in >> tok) {
    if (tok == "$dumpvars" || tok == "$end") continue;
    if (tok[0] == '#') {
      now = std::stoll(tok.substr(1));
      vcd.times.push_back(now);
      continue;
    }
    REQUIRE(now >= 0);
    std::string value, code;
    if (tok[0] == 'b') {
      value = tok.substr(1);
      in >> code;
    } else {
      value = tok.substr(0, 1);
      code = tok.substr(1);
    }
    INFO("value change '" << tok << "' at #" << now);
    REQUIRE(vcd.vars.count(code) == 1);
    vcd.changes[code].push_back({now, value});
  }
  return vcd;
}

int64_t vcd_int(const std::string& v) {
  return v == "x" ? -1 : std::stoll(v, nullptr, 2);
}

// Cycles in [0, end) during which a variable had `value`.
int64_t time_at(const std::vector<VcdChange>& changes, const std::string& value, int64_t end) {
  int64_t total = 0;
  for (size_t i = 0; i < changes.size(); ++i)
    if (changes[i].value == value)
      total += (i + 1 < changes.size() ? changes[i + 1].time : end) - changes[i].time;
  return total;
}

}  // namespace

TEST_CASE(
    "Perfetto trace of EfficientViT-B0 @64 on trio-vit: every tile and transfer and layer as the records say",
    "[traces]") {
  const quant::QGraph q = small_model();
  const sim::SimOutcome o = simulate_with_bursts(q, arch::TimingMode::Fast);
  const sim::SimReport& rep = o.report;
  const std::string text = sim::perfetto_trace(o);
  CHECK(text.rfind("{\"displayTimeUnit\":\"ns\"", 0) == 0);  // Perfetto reads the unit near the start only
  const json trace = json::parse(text);
  CHECK(trace.at("metadata").at("cycles") == rep.cycles);
  CHECK(trace.at("metadata").at("dram_bursts") == o.records.dram_bursts);
  const json& events = trace.at("traceEvents");

  // One named, ordered track per resource, then the DMA queues and the DRAM.
  std::vector<std::string> expected_tracks;
  for (const arch::Resource& r : o.program.resources) expected_tracks.push_back(r.name);
  for (const char* t : {"DMA load", "DMA store", "DRAM"}) expected_tracks.push_back(t);
  // trio-vit's DDR4: a track per rank and bank group that received commands, and per rank for refresh.
  REQUIRE(rep.dram);
  std::set<std::pair<int, int>> ddr4_tracks;
  std::map<std::string, int64_t> commands_recorded;
  for (const arch::ddr4::CommandRecord& c : o.records.ddr4_commands) {
    const bool rank_level = c.command == arch::ddr4::Command::PreAll || c.command == arch::ddr4::Command::Ref;
    ddr4_tracks.insert({c.rank, rank_level ? -1 : c.bank_group});
    ++commands_recorded[arch::ddr4::command_name(c.command)];
  }
  CHECK(ddr4_tracks.size() >= 2);
  for (const auto& [rank, group] : ddr4_tracks)
    expected_tracks.push_back("DDR4 rank " + std::to_string(rank) +
                              (group < 0 ? " refresh" : " bank group " + std::to_string(group)));
  std::map<int, std::string> track_name;
  std::map<int, int> sort_index;
  for (const json& e : events)
    if (e.at("ph") == "M" && e.at("name") == "thread_name")
      track_name[e.at("tid").get<int>()] = e.at("args").at("name").get<std::string>();
    else if (e.at("ph") == "M" && e.at("name") == "thread_sort_index")
      sort_index[e.at("tid").get<int>()] = e.at("args").at("sort_index").get<int>();
  REQUIRE(track_name.size() == expected_tracks.size());
  std::map<std::string, int> tid_of;
  for (const auto& [tid, name] : track_name) {
    REQUIRE(sort_index.count(tid) == 1);
    REQUIRE(sort_index[tid] < static_cast<int>(expected_tracks.size()));
    CHECK(expected_tracks[static_cast<size_t>(sort_index[tid])] == name);
    tid_of[name] = tid;
  }
  REQUIRE(tid_of.size() == expected_tracks.size());

  // What a viewer needs: integer ts, dur, pid, tid on every complete event, each on a named track.
  for (const json& e : events) {
    if (e.at("ph") != "X") continue;
    INFO(e.dump());
    REQUIRE(e.at("ts").is_number_integer());
    REQUIRE(e.at("dur").is_number_integer());
    REQUIRE(e.at("pid").is_number_integer());
    REQUIRE(e.at("tid").is_number_integer());
    REQUIRE(e.at("dur").get<int64_t>() >= 1);
    REQUIRE(track_name.count(e.at("tid").get<int>()) == 1);
  }

  // Every tile exactly once, on its resource's track, when and as it ran; the stalls between tiles.
  std::vector<int> seen_tiles(o.program.tiles.size(), 0), seen_transfers(o.program.transfers.size(), 0);
  const auto tracks = slices_by_track(events);
  for (size_t r = 0; r < o.program.resources.size(); ++r) {
    const sim::ResourceStats& stats = rep.resources[r];
    INFO("resource " << stats.name);
    int64_t tile_cycles = 0, stall_dram = 0, stall_dependency = 0;
    const auto it = tracks.find(tid_of.at(stats.name));
    for (const Slice& s : it == tracks.end() ? std::vector<Slice>{} : it->second) {
      const json& e = *s.event;
      if (e.at("cat") == "stall") {
        (e.at("name") == "stall: dram" ? stall_dram : stall_dependency) += s.last - s.first + 1;
        continue;
      }
      REQUIRE(e.at("cat") == "tile");
      const json& a = e.at("args");
      const int t = a.at("tile").get<int>();
      const arch::ComputeTile& tile = o.program.tiles.at(static_cast<size_t>(t));
      const arch::TileRecord& rec = o.records.tiles[static_cast<size_t>(t)];
      ++seen_tiles[static_cast<size_t>(t)];
      CHECK(tile.resource == static_cast<int>(r));
      CHECK(e.at("name") == o.program.layer_names[static_cast<size_t>(tile.layer)]);
      CHECK(s.first == rec.start);
      CHECK(s.last == rec.done);
      CHECK(a.at("layer_index") == tile.layer);
      CHECK(a.at("work") == arch::tile_work_name(tile.work));
      CHECK(a.at("groups") == tile.groups);
      CHECK(a.at("m") == tile.m);
      CHECK(a.at("n") == tile.n);
      CHECK(a.at("k") == tile.k);
      CHECK(a.at("kernel") == tile.kernel);
      CHECK(a.at("stride") == tile.stride);
      CHECK(a.at("macs") == tile.macs);
      CHECK(a.at("busy") == rec.cost.busy());
      CHECK(a.at("stall_port") == rec.cost.stall_port);
      CHECK(a.at("stall_aux") == rec.cost.stall_aux);
      CHECK(a.at("wait") == rec.wait);
      CHECK(a.at("wait_cause") == (rec.wait_cause == arch::StallCause::Dram         ? "dram"
                                   : rec.wait_cause == arch::StallCause::Dependency ? "dependency"
                                                                                    : "none"));
      tile_cycles += s.last - s.first + 1;
    }
    CHECK(tile_cycles == stats.cycles.busy + stats.cycles.stall_port + stats.cycles.stall_aux);
    CHECK(stall_dram == stats.cycles.stall_dram);
    CHECK(stall_dependency == stats.cycles.stall_dependency);
  }
  CHECK(std::count(seen_tiles.begin(), seen_tiles.end(), 1) == static_cast<long>(seen_tiles.size()));
  // Not vacuous: this model waits for DRAM and for other units.
  CHECK(rep.resources[0].cycles.stall_dram > 0);
  CHECK(rep.resources[0].cycles.stall_dependency > 0);

  // Every transfer exactly once, on its queue's track, over its queue occupancy.
  for (const auto& [queue, dir] :
       {std::pair{"DMA load", arch::TransferDir::Load}, std::pair{"DMA store", arch::TransferDir::Store}}) {
    for (const Slice& s : tracks.at(tid_of.at(queue))) {
      const json& a = s.event->at("args");
      const int t = a.at("transfer").get<int>();
      const arch::Transfer& tr = o.program.transfers.at(static_cast<size_t>(t));
      ++seen_transfers[static_cast<size_t>(t)];
      CHECK(tr.dir == dir);
      CHECK(a.at("bytes") == tr.bytes);
      CHECK(a.at("buffer") == arch::buffer_key(tr.buffer));
      CHECK(s.first == o.records.transfers[static_cast<size_t>(t)].start);
      CHECK(s.last == o.records.transfers[static_cast<size_t>(t)].issued);
      CHECK(a.at("last_byte") == o.records.transfers[static_cast<size_t>(t)].done);
    }
  }
  CHECK(std::count(seen_transfers.begin(), seen_transfers.end(), 1) ==
        static_cast<long>(seen_transfers.size()));

  // The DRAM track moves exactly the report's bytes; the counter integrates to them (up to its rounding).
  int64_t read = 0, written = 0, bursts = 0;
  for (const Slice& s : tracks.at(tid_of.at("DRAM"))) {
    read += s.event->at("args").at("bytes_read").get<int64_t>();
    written += s.event->at("args").at("bytes_written").get<int64_t>();
    bursts += s.event->at("args").at("bursts").get<int64_t>();
  }
  CHECK(read == rep.dram_bytes_read);
  CHECK(written == rep.dram_bytes_written);
  CHECK(bursts == o.records.dram_bursts);
  double counted_read = 0;
  int64_t last_ts = 0;
  double last_gbps = 0;
  for (const json& e : events)
    if (e.at("ph") == "C") {
      const int64_t ts = e.at("ts").get<int64_t>();
      REQUIRE(ts >= last_ts);
      counted_read += last_gbps * static_cast<double>(ts - last_ts);
      last_ts = ts, last_gbps = e.at("args").at("read").get<double>();
    }
  CHECK(last_ts == rep.cycles);
  CHECK(last_gbps == 0);
  CHECK(counted_read * 1e3 / rep.clock_mhz == Approx(static_cast<double>(rep.dram_bytes_read)).epsilon(0.01));

  // The DDR4 tracks hold every recorded command once; their column commands are the report's accesses and
  // their refreshes its refreshes (the DDR4 model's counters, not the command log).
  std::map<std::string, int64_t> commands_traced;
  for (const auto& [tid, slices] : tracks)
    if (track_name[tid].rfind("DDR4 ", 0) == 0)
      for (const Slice& s : slices) {
        REQUIRE(s.event->at("cat") == "ddr4");
        for (const auto& [command, count] : s.event->at("args").items())
          commands_traced[command] += count.get<int64_t>();
      }
  CHECK(commands_traced == commands_recorded);
  CHECK(commands_traced["RD"] + commands_traced["WR"] == rep.dram->accesses);
  CHECK(commands_traced["REF"] == rep.dram->refreshes);

  // No track has overlapping slices.
  for (const auto& [tid, slices] : tracks)
    for (size_t i = 1; i < slices.size(); ++i) {
      INFO(track_name[tid] << ": " << slices[i - 1].event->dump() << " then " << slices[i].event->dump());
      REQUIRE(slices[i - 1].last < slices[i].first);
    }

  // Layers: one begin/end pair per layer that ran, at its report start and end, never overlapping on a lane.
  std::map<int64_t, std::pair<int64_t, std::string>> open;  // lane -> (begin ts, layer)
  std::set<std::string> layers_seen;
  int64_t previous_ts = 0;
  for (const json& e : events) {
    if (e.at("ph") != "b" && e.at("ph") != "e") continue;
    CHECK(e.at("cat") == "layer");
    const int64_t lane = e.at("id").get<int64_t>(), ts = e.at("ts").get<int64_t>();
    const std::string name = e.at("name").get<std::string>();
    REQUIRE(ts >= previous_ts);  // in time order
    previous_ts = ts;
    if (e.at("ph") == "b") {
      REQUIRE(open.count(lane) == 0);
      open[lane] = {ts, name};
      continue;
    }
    REQUIRE(open.count(lane) == 1);
    REQUIRE(open[lane].second == name);
    const size_t index =
        static_cast<size_t>(std::find(o.program.layer_names.begin(), o.program.layer_names.end(), name) -
                            o.program.layer_names.begin());
    REQUIRE(index < rep.layers.size());
    CHECK(open[lane].first == rep.layers[index].start);
    CHECK(ts == rep.layers[index].end + 1);
    CHECK(layers_seen.insert(name).second);
    open.erase(lane);
  }
  CHECK(open.empty());
  size_t layers_run = 0;
  for (const sim::LayerStats& l : rep.layers) layers_run += l.span() > 0;
  CHECK(layers_seen.size() == layers_run);
  CHECK(layers_run > 0);
}

TEST_CASE(
    "VCD of EfficientViT-B0 @64 on trio-vit: declared signals and ascending changes and busy time as "
    "reported",
    "[traces]") {
  const quant::QGraph q = small_model();
  const sim::SimOutcome o = simulate_with_bursts(q, arch::TimingMode::Fast);
  const sim::SimReport& rep = o.report;
  const Vcd vcd = parse_vcd(sim::vcd_trace(o));
  CHECK(vcd.timescale == "1ns");

  // The header declares every signal of every unit, both DMA queues and the DRAM, and nothing else.
  std::set<std::string> expected;
  for (const arch::Resource& r : o.program.resources)
    for (const char* s : {"busy", "state", "layer", "tile"}) expected.insert(r.name + "." + s);
  for (const char* queue : {"dma_load", "dma_store"})
    for (const char* s : {"active", "transfer", "layer"}) expected.insert(std::string(queue) + "." + s);
  for (const char* s : {"busy", "reads_in_flight", "writes_in_flight"})
    expected.insert(std::string("dram.") + s);
  std::set<std::string> declared;
  for (const auto& [name, code] : vcd.code_of) declared.insert(name);
  CHECK(declared == expected);

  // Times strictly ascending, from 0 to the last cycle + 1; every variable has a value from time 0; only
  // changes are written.
  REQUIRE(!vcd.times.empty());
  CHECK(vcd.times.front() == 0);
  CHECK(vcd.times.back() == rep.cycles);
  for (size_t i = 1; i < vcd.times.size(); ++i) REQUIRE(vcd.times[i - 1] < vcd.times[i]);
  for (const auto& [code, var] : vcd.vars) {
    INFO(var.scope << "." << var.name);
    const std::vector<VcdChange>& c = vcd.changes.at(code);
    REQUIRE(c.front().time == 0);
    for (size_t i = 1; i < c.size(); ++i) REQUIRE(c[i].value != c[i - 1].value);
  }

  for (size_t r = 0; r < o.program.resources.size(); ++r) {
    const sim::ResourceStats& stats = rep.resources[r];
    INFO("resource " << stats.name);
    const std::vector<VcdChange>& busy = vcd.of(stats.name + ".busy");
    const std::vector<VcdChange>& state = vcd.of(stats.name + ".state");
    CHECK(time_at(busy, "1", rep.cycles) ==
          stats.cycles.busy + stats.cycles.stall_port + stats.cycles.stall_aux);
    CHECK(time_at(state, "1", rep.cycles) ==
          stats.cycles.busy + stats.cycles.stall_port + stats.cycles.stall_aux);
    CHECK(time_at(state, "10", rep.cycles) == stats.cycles.stall_dram);
    CHECK(time_at(state, "11", rep.cycles) == stats.cycles.stall_dependency);
    // The state changes only at tile boundaries (a tile's start, the cycle after its end, the start of the
    // wait before it), and the tile and layer signals name the tile running.
    std::set<int64_t> boundaries = {0};
    std::map<int64_t, int> tile_starting;
    for (const int t : o.program.queues[r]) {
      const arch::TileRecord& rec = o.records.tiles[static_cast<size_t>(t)];
      boundaries.insert({rec.start, rec.done + 1, rec.start - rec.wait});
      tile_starting[rec.start] = t;
    }
    for (const VcdChange& c : state) CHECK(boundaries.count(c.time) == 1);
    const std::vector<VcdChange>& tile = vcd.of(stats.name + ".tile");
    const std::vector<VcdChange>& layer = vcd.of(stats.name + ".layer");
    for (const VcdChange& c : tile)
      if (c.value != "x" && tile_starting.count(c.time)) CHECK(vcd_int(c.value) == tile_starting[c.time]);
    size_t starts_seen = 0;
    for (const VcdChange& c : busy)
      if (c.value == "1") {
        REQUIRE(tile_starting.count(c.time) == 1);
        ++starts_seen;
      }
    CHECK(starts_seen <= tile_starting.size());
    for (const VcdChange& c : layer)
      if (tile_starting.count(c.time))
        CHECK(vcd_int(c.value) == o.program.tiles[static_cast<size_t>(tile_starting[c.time])].layer);
  }

  // The DMA queues are active exactly while a transfer occupies them; DRAM bursts all complete.
  for (const auto& [scope, order] :
       {std::pair{"dma_load", &o.program.load_queue}, std::pair{"dma_store", &o.program.store_queue}}) {
    int64_t occupied = 0;
    for (const int t : *order)
      occupied += o.records.transfers[static_cast<size_t>(t)].issued -
                  o.records.transfers[static_cast<size_t>(t)].start + 1;
    CHECK(time_at(vcd.of(std::string(scope) + ".active"), "1", rep.cycles) == occupied);
  }
  for (const char* s : {"dram.reads_in_flight", "dram.writes_in_flight"}) {
    const std::vector<VcdChange>& c = vcd.of(s);
    CHECK(vcd_int(c.back().value) == 0);
    int64_t most = 0;
    for (const VcdChange& v : c) most = std::max(most, vcd_int(v.value));
    CHECK(most > 0);
    CHECK(most <= trio_vit().dma.max_outstanding_bursts);
  }
}

TEST_CASE("Traces are the same bytes from repeated runs, in each timing mode", "[traces]") {
  const quant::QGraph q = small_model();
  for (const arch::TimingMode mode : {arch::TimingMode::Fast, arch::TimingMode::Cycle}) {
    const sim::SimOutcome first = simulate_with_bursts(q, mode);
    const sim::SimOutcome again = simulate_with_bursts(q, mode);
    CHECK(sim::perfetto_trace(first) == sim::perfetto_trace(again));
    CHECK(sim::vcd_trace(first) == sim::vcd_trace(again));
  }
}

TEST_CASE("vitsim simulate --trace --vcd writes both and an unwritable path exits 2 leaving no file",
          "[traces][cli]") {
  test::TempDir dir("traces", "cli");
  const quant::QGraph q = small_model();
  quant::save_qgraph(q, dir.file("b0.vqg"));
  const test::Run ok = test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), "--trace",
                                         dir.file("t.json"), "--vcd", dir.file("t.vcd")});
  INFO(ok.err);
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.out,
             Catch::Contains("trace: " + dir.file("t.json")) && Catch::Contains("vcd: " + dir.file("t.vcd")));
  const sim::SimOutcome o =
      simulate_with_bursts(quant::load_qgraph(dir.file("b0.vqg")), arch::TimingMode::Fast);
  CHECK(read_file(dir.file("t.json")) == sim::perfetto_trace(o));
  CHECK(read_file(dir.file("t.vcd")) == sim::vcd_trace(o));

  // A path under a regular file cannot be created, whoever runs the test.
  for (const char* flag : {"--trace", "--vcd"}) {
    const test::Run bad =
        test::run_vitsim({"simulate", "--qgraph", dir.file("b0.vqg"), flag, dir.file("b0.vqg") + "/t.out"});
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, Catch::Contains(dir.file("b0.vqg") + "/t.out"));
  }
  CHECK(dir.entries() == std::vector<std::string>{"b0.vqg", "t.json", "t.vcd"});
}

#include "sim/run/trace_perfetto.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "arch/tile_timing.hpp"
#include "sim/run/trace_timeline.hpp"

namespace vitsim::sim {

namespace {

using Json = nlohmann::ordered_json;  // keys in insertion order: ph, name, ts first, as people read them

constexpr int kPid = 1;
constexpr int kFirstTid = 10;  // away from the pid, which viewers take for a main thread
constexpr int64_t kMaxCounterBins = 2000;

const char* wait_cause_name(arch::StallCause c) {
  switch (c) {
    case arch::StallCause::None:
      return "none";
    case arch::StallCause::Dram:
      return "dram";
    case arch::StallCause::Dependency:
      return "dependency";
  }
  return "?";
}

// The auxiliary units' types, "requantizer>hswish".
std::string aux_chain_text(const arch::Program& program, const std::vector<int>& chain) {
  std::string s;
  for (int unit : chain)
    for (const arch::Resource& r : program.resources)
      if (!r.is_engine && r.aux == unit) s += (s.empty() ? "" : ">") + r.name;
  return s;
}

class EventWriter {
 public:
  void add(const Json& event) {
    out_ += first_ ? "\n" : ",\n";
    out_ += event.dump();
    first_ = false;
  }
  void track_names(int tid, const std::string& name, int sort_index) {
    add({{"ph", "M"}, {"name", "thread_name"}, {"pid", kPid}, {"tid", tid}, {"args", {{"name", name}}}});
    add({{"ph", "M"},
         {"name", "thread_sort_index"},
         {"pid", kPid},
         {"tid", tid},
         {"args", {{"sort_index", sort_index}}}});
  }
  void complete(const std::string& cat, const std::string& name, int tid, int64_t first, int64_t last,
                Json args) {
    add({{"ph", "X"},
         {"cat", cat},
         {"name", name},
         {"ts", first},
         {"dur", last - first + 1},
         {"pid", kPid},
         {"tid", tid},
         {"args", std::move(args)}});
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  bool first_ = true;
};

void tile_events(const SimOutcome& o, size_t resource, int tid, EventWriter& w) {
  for (const UnitSpan& span : unit_spans(o, resource)) {
    const arch::ComputeTile& tile = o.program.tiles[static_cast<size_t>(span.tile)];
    const std::string& layer = o.report.layers[static_cast<size_t>(tile.layer)].name;
    if (span.state != UnitState::Busy) {
      w.complete("stall", unit_state_name(span.state), tid, span.start, span.end,
                 {{"before_tile", span.tile}, {"layer", layer}});
      continue;
    }
    const arch::TileRecord& r = o.records.tiles[static_cast<size_t>(span.tile)];
    Json args = {{"layer", layer},
                 {"layer_index", tile.layer},
                 {"tile", span.tile},
                 {"work", arch::tile_work_name(tile.work)},
                 {"groups", tile.groups},
                 {"m", tile.m},
                 {"n", tile.n},
                 {"k", tile.k},
                 {"kernel", tile.kernel},
                 {"stride", tile.stride},
                 {"macs", tile.macs},
                 {"aux_chain", aux_chain_text(o.program, tile.aux_chain)},
                 {"busy", r.cost.busy()},
                 {"stall_port", r.cost.stall_port},
                 {"stall_aux", r.cost.stall_aux},
                 {"wait", r.wait},
                 {"wait_cause", wait_cause_name(r.wait_cause)}};
    w.complete("tile", layer, tid, r.start, r.done, std::move(args));
  }
}

void transfer_events(const SimOutcome& o, arch::TransferDir dir, int tid, EventWriter& w) {
  for (const QueueSpan& span : queue_spans(o, dir)) {
    const arch::Transfer& t = o.program.transfers[static_cast<size_t>(span.transfer)];
    const std::string& layer = o.report.layers[static_cast<size_t>(t.layer)].name;
    w.complete("dma", layer, tid, span.start, span.end,
               {{"layer", layer},
                {"layer_index", t.layer},
                {"transfer", span.transfer},
                {"buffer", arch::buffer_key(t.buffer)},
                {"bytes", t.bytes},
                {"last_byte", o.records.transfers[static_cast<size_t>(span.transfer)].done}});
  }
}

// The DRAM's bus stretches on its track, and the bytes arriving per bin as a "DRAM GB/s" counter (a value
// holds until the next event, so only changes are written, and the last bin is closed with zeros).
void dram_events(const SimOutcome& o, int tid, int64_t bin, EventWriter& w) {
  for (const BusStretch& s : dram_bus_stretches(o.records.bursts)) {
    const char* name = s.bytes_written == 0 ? "read" : s.bytes_read == 0 ? "write" : "read+write";
    w.complete("dram", name, tid, s.start, s.end,
               {{"bursts", s.bursts}, {"bytes_read", s.bytes_read}, {"bytes_written", s.bytes_written}});
  }
  const int64_t cycles = o.report.cycles;
  const size_t bins = static_cast<size_t>(arch::ceil_div(cycles, bin));
  std::vector<int64_t> read(bins, 0), written(bins, 0);
  for (const arch::DramBurst& b : o.records.bursts)
    (b.write ? written : read)[static_cast<size_t>(std::min(b.arrival, cycles - 1) / bin)] += b.bytes;
  const auto gbps = [&](int64_t bytes, size_t i) {
    const int64_t length = std::min(bin, cycles - static_cast<int64_t>(i) * bin);
    const double v = static_cast<double>(bytes) / static_cast<double>(length) * o.report.clock_mhz / 1e3;
    return std::round(v * 1e3) / 1e3;  // MB/s resolution keeps the file short
  };
  double last_read = -1, last_written = -1;
  for (size_t i = 0; i <= bins; ++i) {
    const double r = i < bins ? gbps(read[i], i) : 0, wr = i < bins ? gbps(written[i], i) : 0;
    if (r == last_read && wr == last_written) continue;
    w.add({{"ph", "C"},
           {"name", "DRAM GB/s"},
           {"ts", std::min(static_cast<int64_t>(i) * bin, cycles)},
           {"pid", kPid},
           {"tid", tid},
           {"args", {{"read", r}, {"write", wr}}}});
    last_read = r, last_written = wr;
  }
}

// Layers as async slices. A layer goes on the lowest lane whose last layer ended before it begins (with a
// cycle to spare, so an end and a begin never share a timestamp on one lane); the lane is the event id.
void layer_events(const SimOutcome& o, EventWriter& w) {
  std::vector<size_t> order;
  for (size_t i = 0; i < o.report.layers.size(); ++i)
    if (o.report.layers[i].span() > 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return o.report.layers[a].start < o.report.layers[b].start; });
  std::vector<int64_t> lane_end;  // per lane: the end timestamp of its last layer
  struct Placed {
    size_t layer;
    int lane;
  };
  std::vector<Placed> placed;
  for (const size_t i : order) {
    const LayerStats& l = o.report.layers[i];
    size_t lane = 0;
    while (lane < lane_end.size() && lane_end[lane] >= l.start) ++lane;
    if (lane == lane_end.size()) lane_end.push_back(0);
    lane_end[lane] = l.end + 1;
    placed.push_back({i, static_cast<int>(lane)});
  }
  // Begin and end events in time order (ends first at a tie: they are on other lanes, but viewers that
  // replay the file in order then never see more lanes open than there are).
  struct Edge {
    int64_t ts;
    bool begin;
    size_t index;  // into placed
  };
  std::vector<Edge> edges;
  for (size_t p = 0; p < placed.size(); ++p) {
    const LayerStats& l = o.report.layers[placed[p].layer];
    edges.push_back({l.start, true, p});
    edges.push_back({l.end + 1, false, p});
  }
  std::stable_sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.ts != b.ts ? a.ts < b.ts : (!a.begin && b.begin);
  });
  for (const Edge& e : edges) {
    const size_t i = placed[e.index].layer;
    const LayerStats& l = o.report.layers[i];
    Json event = {{"ph", e.begin ? "b" : "e"},  {"cat", "layer"}, {"name", l.name},
                  {"id", placed[e.index].lane}, {"ts", e.ts},     {"pid", kPid}};
    if (e.begin)
      event["args"] = {{"layer_index", i},
                       {"op", l.op},
                       {"label", l.label},
                       {"start", l.start},
                       {"end", l.end},
                       {"span", l.span()},
                       {"macs", l.macs},
                       {"tiles", l.tiles},
                       {"transfers", l.transfers},
                       {"dram_bytes_read", l.dram_read},
                       {"dram_bytes_written", l.dram_written},
                       {"resources", l.joined_resources()}};
    w.add(event);
  }
}

// The DDR4 model's commands (recorded with the bursts): one track per rank and bank group, and one per
// rank for its rank-level commands (PREA, REF); a slice is a stretch of commands without a cycle of rest,
// named by the kinds it holds, with their counts.
void ddr4_events(const SimOutcome& o, int first_tid, int first_sort, EventWriter& w) {
  std::map<std::pair<int, int>, int> tids;
  for (const CommandStretch& s : ddr4_command_stretches(o.records.ddr4_commands)) {
    const std::pair<int, int> key{s.rank, s.bank_group};
    auto it = tids.find(key);
    if (it == tids.end()) {
      const int index = static_cast<int>(tids.size());
      it = tids.emplace(key, first_tid + index).first;
      w.track_names(it->second,
                    "DDR4 rank " + std::to_string(s.rank) +
                        (s.bank_group < 0 ? " refresh" : " bank group " + std::to_string(s.bank_group)),
                    first_sort + index);
    }
    std::string name;
    Json counts = Json::object();
    for (size_t k = 0; k < s.commands.size(); ++k) {
      if (s.commands[k] == 0) continue;
      const char* command = arch::ddr4::command_name(static_cast<arch::ddr4::Command>(k));
      name += (name.empty() ? "" : "+") + std::string(command);
      counts[command] = s.commands[k];
    }
    w.complete("ddr4", name, it->second, s.start, s.end, counts);
  }
}

}  // namespace

int64_t dram_counter_bin_cycles(int64_t cycles) {
  const int64_t wanted = std::max<int64_t>(1, arch::ceil_div(cycles, kMaxCounterBins));
  for (int64_t decade = 1;; decade *= 10)
    for (const int64_t step : {1, 2, 5})
      if (step * decade >= wanted) return step * decade;
}

std::string perfetto_trace(const SimOutcome& o) {
  const SimReport& rep = o.report;
  const size_t resources = o.program.resources.size();
  const int dma_load_tid = kFirstTid + static_cast<int>(resources);
  const int dma_store_tid = dma_load_tid + 1, dram_tid = dma_load_tid + 2;
  const int64_t bin = dram_counter_bin_cycles(rep.cycles);
  const bool have_bursts = !o.records.bursts.empty();

  EventWriter w;
  w.add({{"ph", "M"}, {"name", "process_name"}, {"pid", kPid}, {"args", {{"name", "accelerator"}}}});
  for (size_t r = 0; r < resources; ++r)
    w.track_names(kFirstTid + static_cast<int>(r), o.program.resources[r].name, static_cast<int>(r));
  w.track_names(dma_load_tid, "DMA load", static_cast<int>(resources));
  w.track_names(dma_store_tid, "DMA store", static_cast<int>(resources) + 1);
  w.track_names(dram_tid, "DRAM", static_cast<int>(resources) + 2);
  for (size_t r = 0; r < resources; ++r) tile_events(o, r, kFirstTid + static_cast<int>(r), w);
  transfer_events(o, arch::TransferDir::Load, dma_load_tid, w);
  transfer_events(o, arch::TransferDir::Store, dma_store_tid, w);
  if (have_bursts) dram_events(o, dram_tid, bin, w);
  ddr4_events(o, dram_tid + 1, static_cast<int>(resources) + 3, w);
  layer_events(o, w);

  const Json metadata = {{"generator", "vitsim"},
                         {"time_unit", "1 trace time unit = 1 accelerator cycle (Perfetto shows it as 1 ns)"},
                         {"clock_mhz", rep.clock_mhz},
                         {"ns_per_cycle", 1e3 / rep.clock_mhz},
                         {"model", rep.model},
                         {"resolution", rep.resolution},
                         {"recipe", rep.recipe},
                         {"accel", rep.accel},
                         {"timing", rep.timing},
                         {"cycles", rep.cycles},
                         {"tiles", rep.tiles},
                         {"transfers", rep.transfers},
                         {"dram_bursts_recorded", have_bursts},
                         {"dram_bursts", static_cast<int64_t>(o.records.bursts.size())},
                         {"ddr4_commands", static_cast<int64_t>(o.records.ddr4_commands.size())},
                         {"dram_counter_bin_cycles", bin}};
  // displayTimeUnit first: Perfetto only honours it near the start of the file. traceEvents before metadata:
  // its importer reads the keys in order.
  return "{\"displayTimeUnit\":\"ns\",\n\"traceEvents\":[" + w.take() +
         "\n],\n\"metadata\":" + metadata.dump() + "}\n";
}

}  // namespace vitsim::sim

#include "sim/run/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <numeric>
#include <ostream>
#include <sstream>

#include "arch/accelerator.hpp"
#include "arch/functional.hpp"
#include "arch/run_estimate.hpp"
#include "quant/dataset.hpp"
#include "quant/int_executor.hpp"
#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

using arch::StallCause;

nlohmann::json CycleBreakdown::to_json() const {
  return {{"busy", busy},
          {"stall_port", stall_port},
          {"stall_aux", stall_aux},
          {"stall_dram", stall_dram},
          {"stall_dependency", stall_dependency},
          {"idle", idle}};
}

namespace {

void add_tile(CycleBreakdown& c, const arch::TileRecord& r, bool count_wait) {
  c.busy += r.cost.busy();
  c.stall_port += r.cost.stall_port;
  c.stall_aux += r.cost.stall_aux;
  if (!count_wait) return;
  (r.wait_cause == StallCause::Dram ? c.stall_dram : c.stall_dependency) += r.wait;
}

// Appends an item to a timeline, merging it into the last segment when it continues it back to back.
void append(std::vector<TimelineSegment>& timeline, int layer, int64_t start, int64_t end) {
  if (!timeline.empty() && timeline.back().layer == layer && timeline.back().end + 1 == start) {
    timeline.back().end = end;
    ++timeline.back().items;
    return;
  }
  timeline.push_back({layer, start, end, 1});
}

void extend(LayerStats& l, int64_t start, int64_t end) {
  l.start = l.start < 0 ? start : std::min(l.start, start);
  l.end = std::max(l.end, end);
}

}  // namespace

namespace {
// The statistics an image and each of its layers share: `bytes` moved over `seconds` of simulated time.
void fill_access_stats(LayerDram& d, const arch::ddr4::Stats& st, const arch::ddr4::Config& ddr4,
                       int64_t bytes, double seconds) {
  d.accesses = st.requests();
  d.row_hits = st.hits, d.row_misses = st.misses, d.row_conflicts = st.conflicts;
  d.row_hit_rate = ratio(as_double(st.hits), as_double(d.accesses));
  // ratio(): a span of no cycles (a graph of only its input) gives 0, not NaN (null in report.json).
  d.achieved_gbps = ratio(as_double(bytes), seconds * 1e9);
  d.avg_latency_ns = ratio(as_double(st.latency_cycles) * ddr4.tck_ns(), as_double(d.accesses));
  for (size_t k = 0; k < d.stall_ns.size(); ++k) d.stall_ns[k] = as_double(st.stall[k]) * ddr4.tck_ns();
}

DramReport dram_report(const arch::ddr4::Stats& st, const arch::ddr4::Config& ddr4, const SimReport& rep) {
  DramReport d;
  const double seconds = as_double(rep.cycles) / (rep.clock_mhz * 1e6);
  fill_access_stats(d, st, ddr4, rep.dram_bytes_read + rep.dram_bytes_written, seconds);
  d.preset = ddr4.name;
  d.reads = st.reads, d.writes = st.writes;
  d.activates = st.activates, d.precharges = st.precharges, d.refreshes = st.refreshes;
  d.peak_gbps = ddr4.peak_gbps();
  d.bus_utilization = ratio(as_double(st.data_cycles), seconds * as_double(ddr4.clock_khz()) * 1e3);
  d.active_standby_ns = as_double(st.active_cycles) * ddr4.tck_ns();
  const double rank_ns = seconds * 1e9 * ddr4.org.ranks * ddr4.org.channels;
  d.precharged_standby_ns = std::max(0.0, rank_ns - d.active_standby_ns);
  return d;
}

LayerDram layer_dram(const arch::ddr4::Stats& st, const arch::ddr4::Config& ddr4, const LayerStats& layer,
                     double clock_mhz) {
  LayerDram d;
  fill_access_stats(d, st, ddr4, layer.dram_read + layer.dram_written,
                    as_double(layer.span()) / (clock_mhz * 1e6));
  return d;
}
// What one tile did on its resource.
arch::Activity tile_activity(const arch::ComputeTile& tile, const arch::Resource& res,
                             const arch::TileRecord& r) {
  arch::Activity a;
  a.macs = tile.macs;
  a.lane_cycles = res.is_engine ? res.multipliers * r.cost.busy() : 0;
  const auto units = res.is_engine ? static_cast<int64_t>(tile.aux_chain.size()) : 1;
  a.aux_ops = r.traffic.aux_results * units;
  a.read_bytes[static_cast<size_t>(arch::BufferKind::Activation)] = r.traffic.act_bytes;
  a.read_bytes[static_cast<size_t>(arch::BufferKind::Weight)] = r.traffic.weight_bytes;
  a.result_bytes = r.traffic.results;
  return a;
}

// Prices every layer's and unit's activity, and the image's (report.energy).
void add_energy(SimReport& rep, const arch::RunRecords& rec, const arch::EnergyModel& model,
                const arch::AccelConfig& config) {
  for (ResourceStats& s : rep.resources) s.energy = arch::onchip_energy(model.fpga, config, s.activity);
  std::optional<arch::DramCommandEnergy> command;
  if (config.dram.ddr4) command = arch::dram_command_energy(model.dram, *config.dram.ddr4);
  for (size_t i = 0; i < rep.layers.size(); ++i) {
    arch::Energy e = arch::onchip_energy(model.fpga, config, rep.layers[i].activity);
    if (command && i < rec.ddr4_layers.size()) {
      e.dram_read = as_double(rec.ddr4_layers[i].reads) * command->read;
      e.dram_write = as_double(rec.ddr4_layers[i].writes) * command->write;
    }
    rep.layers[i].energy = e;
  }
  rep.energy = EnergyReport{model.name, report_energy(rep, model, config), rep.dram.has_value()};
}
}  // namespace

arch::Energy report_energy(const SimReport& rep, const arch::EnergyModel& model,
                           const arch::AccelConfig& config) {
  std::optional<arch::DramActivity> dram;
  if (rep.dram)
    dram = arch::DramActivity{rep.dram->activates,
                              rep.dram->reads,
                              rep.dram->writes,
                              rep.dram->refreshes,
                              rep.dram->active_standby_ns,
                              rep.dram->precharged_standby_ns};
  return arch::image_energy(model, config, rep.activity, rep.cycles, dram);
}

void check_functional(const arch::AccelConfig& config, bool functional) {
  if (functional && config.number_format == arch::NumberFormat::Fp32)
    throw std::invalid_argument("--functional: config '" + config.name +
                                "' has an FP32 datapath (number_format \"fp32\"), and functional "
                                "simulation checks integer datapaths against the integer reference executor; "
                                "run it for timing only");
}

SimOutcome simulate_detailed(const quant::QGraph& qgraph, const arch::AccelConfig& config,
                             const SimOptions& options) {
  check_functional(config, options.functional);
  const auto t0 = std::chrono::steady_clock::now();
  quant::validate(qgraph, options.functional ? quant::QGraphUse::Compute : quant::QGraphUse::Structure);
  if (options.functional) {  // the engines' outputs and the reference executor's, every layer kept
    const int64_t outputs = quant::all_outputs_bytes(qgraph.graph);
    quant::check_memory(outputs < 0 || outputs > INT64_MAX / 2 ? -1 : 2 * outputs,
                        "functional simulation of '" + qgraph.graph.model + "'");
  }
  SimOutcome outcome;
  outcome.program = compile(qgraph, config, options.compile);
  const arch::Program& program = outcome.program;

  // Functional: the DRAM starts with the image and the weights; the run moves and computes real bytes.
  std::unique_ptr<arch::MemoryImage> memory;
  std::unique_ptr<arch::FunctionalModel> functional;
  quant::QTensor input;
  if (options.functional) {
    const quant::ImageSet image =
        quant::synthetic_images(1, qgraph.graph.nodes.at(0).out_shape, options.seed);
    input = quant::quantize_input(qgraph, image.images.at(0));
    memory = std::make_unique<arch::MemoryImage>(config);
    arch::preload_dram(memory->dram, program, qgraph, input);
    functional = std::make_unique<arch::FunctionalModel>(qgraph, program, config, *memory);
  }
  arch::RunOptions run;
  run.mode = options.timing;
  run.watchdog_cycles = options.watchdog_cycles;
  run.functional = functional.get();
  run.memory = memory.get();
  run.record_bursts = options.record_bursts;
  run.max_cycles = options.max_cycles;
  const bool show_progress = options.progress && options.timing == arch::TimingMode::Cycle;
  const int64_t expected =
      show_progress || options.max_cycles > 0 ? arch::estimate_cycles(program, config) : 0;
  // Erases a terminal's progress line however the run ends, before any message about it.
  struct Finish {
    RunProgress* progress;
    ~Finish() {
      if (progress) progress->finish();
    }
  } finish{show_progress ? options.progress : nullptr};
  if (show_progress) {
    options.progress->start(expected);
    run.on_progress = [&options](int64_t cycle) { options.progress->at_cycle(cycle); };
  }
  try {
    outcome.records = arch::run_program(program, config, run);
  } catch (const arch::CycleLimitReached& e) {
    throw arch::CycleLimitReached(std::string(e.what()) + "; about " + with_commas(expected) +
                                  " cycles expected in all");
  }
  const arch::RunRecords& rec = outcome.records;

  SimReport& rep = outcome.report;
  rep.model = qgraph.graph.model;
  rep.resolution = qgraph.graph.resolution;
  rep.recipe = qgraph.recipe_name;
  rep.accel = config.name;
  rep.timing = arch::timing_mode_name(options.timing);
  rep.functional = options.functional;
  rep.ideal_memory = options.compile.ideal_memory;
  rep.clock_mhz = config.clock_mhz;
  rep.dram_bandwidth_gbps = config.dram.bandwidth_gbps;
  rep.cycles = rec.cycles;
  rep.multipliers = config.multipliers();
  rep.dsps = config.dsps();
  rep.dram_bytes_read = rec.dram_bytes_read;
  rep.dram_bytes_written = rec.dram_bytes_written;
  rep.tiles = static_cast<int64_t>(program.tiles.size());
  rep.transfers = static_cast<int64_t>(program.transfers.size());

  rep.layers.resize(qgraph.graph.nodes.size());
  for (size_t i = 0; i < rep.layers.size(); ++i) {
    const quant::Node& node = qgraph.graph.nodes[i];
    rep.layers[i].name = node.name;
    rep.layers[i].label = node.label();
    rep.layers[i].op = quant::op_name(node.op);
  }
  for (const arch::AuxUnitConfig& unit : config.aux_units) rep.aux_ops_by_unit.emplace_back(unit.type, 0);
  for (size_t r = 0; r < program.resources.size(); ++r) {
    const arch::Resource& res = program.resources[r];
    ResourceStats s;
    s.name = res.name;
    s.is_engine = res.is_engine;
    s.multipliers = res.multipliers;
    const std::vector<int>& queue = program.queues[r];
    for (size_t q = 0; q < queue.size(); ++q) {
      const arch::ComputeTile& tile = program.tiles[static_cast<size_t>(queue[q])];
      const arch::TileRecord& tr = rec.tiles[static_cast<size_t>(queue[q])];
      ++s.tiles;
      s.macs += tile.macs;
      add_tile(s.cycles, tr, q > 0);  // the wait before a unit's first tile is idle time
      const arch::Activity a = tile_activity(tile, res, tr);
      s.activity.add(a);
      if (res.is_engine)
        for (const int aux : tile.aux_chain)
          rep.aux_ops_by_unit[static_cast<size_t>(aux)].second += tr.traffic.aux_results;
      else
        rep.aux_ops_by_unit[static_cast<size_t>(res.aux)].second += tr.traffic.aux_results;
      LayerStats& l = rep.layers[static_cast<size_t>(tile.layer)];
      l.activity.add(a);
      ++l.tiles;
      l.macs += tile.macs;
      add_tile(l.cycles, tr, q > 0);
      extend(l, tr.start, tr.done);
      append(s.timeline, tile.layer, tr.start, tr.done);
      if (std::find(l.resources.begin(), l.resources.end(), res.name) == l.resources.end())
        l.resources.push_back(res.name);
    }
    const CycleBreakdown& c = s.cycles;
    s.cycles.idle = rep.cycles - c.busy - c.stall_port - c.stall_aux - c.stall_dram - c.stall_dependency;
    s.mac_utilization = ratio(as_double(s.macs), as_double(rep.cycles) * as_double(s.multipliers));
    rep.macs += s.macs;
    rep.resources.push_back(s);
  }
  for (size_t t = 0; t < program.transfers.size(); ++t) {
    const arch::Transfer& tr = program.transfers[t];
    LayerStats& l = rep.layers[static_cast<size_t>(tr.layer)];
    ++l.transfers;
    (tr.dir == arch::TransferDir::Load ? l.dram_read : l.dram_written) += tr.bytes;
    // A load writes its bytes into its buffer, a store reads them out of it.
    auto& buffer_bytes = tr.dir == arch::TransferDir::Load ? l.activity.write_bytes : l.activity.read_bytes;
    buffer_bytes[static_cast<size_t>(tr.buffer)] += tr.bytes;
    extend(l, rec.transfers[t].start, rec.transfers[t].done);
  }
  for (const auto& [queue, timeline] :
       {std::pair{&program.load_queue, &rep.dma_load}, std::pair{&program.store_queue, &rep.dma_store}})
    for (const int t : *queue) {
      const arch::TransferRecord& r = rec.transfers[static_cast<size_t>(t)];
      append(*timeline, program.transfers[static_cast<size_t>(t)].layer, r.start, r.done);
    }
  if (functional) {
    const std::vector<int64_t> bad = functional->mismatches(quant::run_int_all(qgraph, input));
    rep.mismatches = 0;
    for (size_t i = 0; i < bad.size(); ++i) rep.layers[i].mismatches = bad[i], rep.mismatches += bad[i];
    rep.first_mismatch = functional->first_mismatch();
  }
  if (rec.ddr4) {
    rep.dram = dram_report(*rec.ddr4, *config.dram.ddr4, rep);
    for (size_t i = 0; i < rep.layers.size(); ++i)
      rep.layers[i].dram = layer_dram(i < rec.ddr4_layers.size() ? rec.ddr4_layers[i] : arch::ddr4::Stats{},
                                      *config.dram.ddr4, rep.layers[i], rep.clock_mhz);
  }
  for (const LayerStats& l : rep.layers) rep.activity.add(l.activity);
  if (options.energy) add_energy(rep, rec, *options.energy, config);
  rep.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return outcome;
}

namespace {
nlohmann::json timeline_json(const std::vector<TimelineSegment>& timeline) {
  nlohmann::json j = nlohmann::json::array();
  for (const TimelineSegment& s : timeline) j.push_back({s.layer, s.start, s.end, s.items});
  return j;
}
}  // namespace

nlohmann::json SimReport::to_json() const {
  nlohmann::json res = nlohmann::json::array();
  for (const ResourceStats& r : resources) {
    nlohmann::json j = {{"name", r.name},   {"engine", r.is_engine}, {"multipliers", r.multipliers},
                        {"tiles", r.tiles}, {"macs", r.macs},        {"cycles", r.cycles.to_json()}};
    if (r.is_engine) j["mac_utilization"] = r.mac_utilization;
    j["timeline"] = timeline_json(r.timeline);
    j["activity"] = r.activity.to_json();
    if (r.energy)
      j["energy_j"] = {{"compute", r.energy->compute()}, {"onchip_memory", r.energy->onchip_memory()}};
    res.push_back(j);
  }
  nlohmann::json lay = nlohmann::json::array();
  for (const LayerStats& l : layers) {
    nlohmann::json j = {{"name", l.name},
                        {"label", l.label},
                        {"op", l.op},
                        {"start", l.start},
                        {"end", l.end},
                        {"span_cycles", l.span()},
                        {"macs", l.macs},
                        {"tiles", l.tiles},
                        {"transfers", l.transfers},
                        {"dram_bytes_read", l.dram_read},
                        {"dram_bytes_written", l.dram_written},
                        {"resources", l.resources},
                        {"cycles", l.cycles.to_json()}};
    if (l.mismatches >= 0) j["mismatches"] = l.mismatches;
    if (l.dram) j["dram"] = l.dram->to_json();
    j["activity"] = l.activity.to_json();
    if (l.energy)
      j["energy_j"] = {{"compute", l.energy->compute()},
                       {"onchip_memory", l.energy->onchip_memory()},
                       {"dram", l.energy->dram()}};
    lay.push_back(j);
  }
  nlohmann::json j = {{"schema", "vitsim-report"},
                      {"schema_version", kSchemaVersion},
                      {"model", model},
                      {"resolution", resolution},
                      {"recipe", recipe},
                      {"accel", accel},
                      {"timing", timing},
                      {"ideal_memory", ideal_memory},
                      {"functional", functional},
                      {"clock_mhz", clock_mhz},
                      {"dram_bandwidth_gbps", dram_bandwidth_gbps},
                      {"cycles", cycles},
                      {"latency_ms", latency_ms()},
                      {"fps", fps()},
                      {"macs", macs},
                      {"multipliers", multipliers},
                      {"dsps", dsps},
                      {"mac_utilization", mac_utilization()},
                      {"gops", gops()},
                      {"peak_gops", peak_gops()},
                      {"dsp_efficiency", dsp_efficiency()},
                      {"fps_per_dsp", fps_per_dsp()},
                      {"dram_bytes_read", dram_bytes_read},
                      {"dram_bytes_written", dram_bytes_written},
                      {"tiles", tiles},
                      {"transfers", transfers},
                      {"resources", res},
                      {"dma", {{"load", timeline_json(dma_load)}, {"store", timeline_json(dma_store)}}},
                      {"layers", lay}};
  if (functional) j["mismatches"] = mismatches;
  if (dram) j["dram"] = dram->to_json();
  j["activity"] = activity.to_json();
  j["activity"]["macs"] = macs;
  j["activity"]["aux_ops_by_unit"] = nlohmann::json::array();
  for (const auto& unit : aux_ops_by_unit)
    j["activity"]["aux_ops_by_unit"].push_back({{"unit", unit.first}, {"ops", unit.second}});
  if (energy) {
    const arch::Energy& e = energy->energy;
    j["energy"] = {{"model", energy->model},
                   {"dram_modeled", energy->dram_modeled},
                   {"per_image_j", e.total()},
                   {"average_power_w", average_power_w()},
                   {"gops_per_w", gops_per_w()},
                   {"fps_per_w", fps_per_w()},
                   {"components_j", e.components_json()},
                   {"terms_j", e.terms_json()}};
  }
  return j;
}

namespace {
nlohmann::json stall_json(const std::array<double, arch::ddr4::kCauses>& stall_ns) {
  nlohmann::json stalls;
  for (int k = 0; k < arch::ddr4::kCauses; ++k)
    stalls[arch::ddr4::cause_name(static_cast<arch::ddr4::Cause>(k))] = stall_ns[static_cast<size_t>(k)];
  return stalls;
}
}  // namespace

nlohmann::json LayerDram::to_json() const {
  return {{"accesses", accesses},
          {"row_hits", row_hits},
          {"row_misses", row_misses},
          {"row_conflicts", row_conflicts},
          {"row_hit_rate", row_hit_rate},
          {"achieved_gbps", achieved_gbps},
          {"avg_latency_ns", avg_latency_ns},
          {"stall_ns", stall_json(stall_ns)}};
}

nlohmann::json DramReport::to_json() const {
  nlohmann::json j =
      LayerDram::to_json();  // keys are sorted: the merged object's bytes do not depend on order
  j["model"] = "ddr4";
  j["preset"] = preset;
  j["reads"] = reads, j["writes"] = writes;
  j["activates"] = activates, j["precharges"] = precharges, j["refreshes"] = refreshes;
  j["peak_gbps"] = peak_gbps;
  j["bus_utilization"] = bus_utilization;
  j["active_standby_ns"] = active_standby_ns;
  j["precharged_standby_ns"] = precharged_standby_ns;
  return j;
}

std::string LayerStats::joined_resources() const {
  std::string units;
  for (const std::string& u : resources) units += (units.empty() ? "" : "+") + u;
  return units;
}

namespace {
std::string percent(double x) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << 100 * x << "%";
  return o.str();
}
}  // namespace

void print_summary(const SimReport& r, std::ostream& out, int top_layers) {
  const auto fixed = [](double v, int digits) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(digits) << v;
    return o.str();
  };
  out << r.model << " @" << r.resolution << ", " << r.recipe << " on " << r.accel << " (" << r.timing
      << " timing" << (r.ideal_memory ? ", ideal memory" : "") << ")\n";
  out << "  cycles          " << with_commas(r.cycles) << "  (latency " << fixed(r.latency_ms(), 3)
      << " ms at " << fixed(r.clock_mhz, 0) << " MHz, " << fixed(r.fps(), 1) << " FPS)\n";
  out << "  MACs            " << with_commas(r.macs) << " on " << with_commas(r.multipliers)
      << " multipliers: MAC (DSP) utilization " << percent(r.mac_utilization()) << "\n";
  out << "  throughput      " << fixed(r.gops(), 1) << " GOPS (peak " << fixed(r.peak_gops(), 1) << "), "
      << with_commas(r.dsps) << " DSPs: DSP efficiency " << fixed(r.dsp_efficiency(), 4) << " GOPS/DSP, "
      << fixed(r.fps_per_dsp(), 4) << " FPS/DSP\n";
  out << "  DRAM            " << fixed(as_double(r.dram_bytes_read) / 1e6, 2) << " MB read, "
      << fixed(as_double(r.dram_bytes_written) / 1e6, 2) << " MB written ("
      << fixed(ratio(as_double(r.dram_bytes_read + r.dram_bytes_written), r.latency_ms() * 1e6), 2)
      << " GB/s average)\n";
  if (r.energy) {
    const arch::Energy& e = r.energy->energy;
    const auto mj = [&fixed](double joules) { return fixed(joules * 1e3, 3); };
    out << "  energy          " << mj(e.total()) << " mJ per image (" << r.energy->model << "): compute "
        << mj(e.compute()) << ", clock " << mj(e.clock) << ", on-chip memory " << mj(e.onchip_memory())
        << ", DRAM " << (r.energy->dram_modeled ? mj(e.dram()) : "not modeled (ideal bus)") << ", static "
        << mj(e.static_leakage) << " mJ\n";
    out << "  power           " << fixed(r.average_power_w(), 3) << " W average: " << fixed(r.gops_per_w(), 1)
        << " GOPS/W, " << fixed(r.fps_per_w(), 1) << " FPS/W\n";
  }
  if (r.dram) {
    const DramReport& d = *r.dram;
    const double stall = std::accumulate(d.stall_ns.begin(), d.stall_ns.end(), 0.0);
    out << "  DDR4            " << d.preset << ": row hits " << percent(d.row_hit_rate) << ", data bus busy "
        << percent(d.bus_utilization) << " of peak " << fixed(d.peak_gbps, 1) << " GB/s, access latency "
        << fixed(d.avg_latency_ns, 1) << " ns; beyond a row hit:";
    for (int k = 0; k < arch::ddr4::kCauses; ++k)
      out << (k ? ", " : " ") << arch::ddr4::cause_name(static_cast<arch::ddr4::Cause>(k)) << " "
          << percent(stall > 0 ? d.stall_ns[static_cast<size_t>(k)] / stall : 0);
    out << "\n";
  }
  out << "  engines (share of all cycles: busy / port / aux / DRAM / dependency stalls / idle):\n";
  for (const ResourceStats& s : r.resources) {
    if (!s.is_engine) continue;
    const double c = static_cast<double>(r.cycles);
    const CycleBreakdown& b = s.cycles;
    out << "    " << std::left << std::setw(10) << s.name << std::right << " MAC utilization " << std::setw(6)
        << percent(s.mac_utilization) << "  " << percent(ratio(as_double(b.busy), c)) << " / "
        << percent(ratio(as_double(b.stall_port), c)) << " / " << percent(ratio(as_double(b.stall_aux), c))
        << " / " << percent(ratio(as_double(b.stall_dram), c)) << " / "
        << percent(ratio(as_double(b.stall_dependency), c)) << " / " << percent(ratio(as_double(b.idle), c))
        << "\n";
  }
  std::vector<const LayerStats*> order;
  for (const LayerStats& l : r.layers)
    if (l.span() > 0) order.push_back(&l);
  std::stable_sort(order.begin(), order.end(),
                   [](const LayerStats* a, const LayerStats* b) { return a->span() > b->span(); });
  if (order.size() > static_cast<size_t>(top_layers)) order.resize(static_cast<size_t>(top_layers));
  out << "  layers taking the most cycles (span, first to last cycle; pipelined layers overlap):\n";
  size_t name_width = 35;  // widened so that a long (e.g. imported) layer name keeps the columns apart
  for (const LayerStats* l : order) name_width = std::max(name_width, l->name.size());
  for (const LayerStats* l : order) {
    out << "    " << std::left << std::setw(static_cast<int>(name_width) + 1) << l->name << std::setw(10)
        << l->label << std::right << std::setw(10) << with_commas(l->span()) << " cycles " << std::setw(6)
        << percent(ratio(as_double(l->span()), as_double(r.cycles))) << "  " << l->joined_resources() << "\n";
  }
  if (r.functional)
    out << "  functional: " << with_commas(r.mismatches)
        << " mismatching output elements vs the integer reference executor\n";
  if (!r.first_mismatch.empty()) out << "  first mismatch: " << r.first_mismatch << "\n";
  out << "  simulated in " << fixed(r.wall_seconds, 3) << " s (" << with_commas(r.tiles) << " tiles, "
      << with_commas(r.transfers) << " DMA transfers)\n";
}

}  // namespace vitsim::sim

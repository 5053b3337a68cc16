#include "sim/run/trace_vcd.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "sim/run/trace_timeline.hpp"

namespace vitsim::sim {

namespace {

constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();  // written as x

// Declared variables and their value assignments; writes the dump with only the changes.
class ValueDump {
 public:
  int declare(const std::string& scope, const char* type, int width, const char* name) {
    vars_.push_back({scope, type, width, name});
    return static_cast<int>(vars_.size()) - 1;
  }
  /// `var` takes `value` from cycle `time` on. Assignments to one variable must come in ascending time;
  /// at equal times the last one wins.
  void set(int var, int64_t time, int64_t value) { changes_.push_back({time, var, value}); }

  std::string write(const std::string& comment, int64_t end_time) {
    std::string out = "$version vitsim $end\n$comment " + comment + " $end\n$timescale 1ns $end\n";
    out += "$scope module accelerator $end\n";
    for (size_t v = 0; v < vars_.size(); ++v) {
      if (v == 0 || vars_[v].scope != vars_[v - 1].scope) {
        if (v > 0) out += "$upscope $end\n";
        out += "$scope module " + vars_[v].scope + " $end\n";
      }
      out += std::string("$var ") + vars_[v].type + " " + std::to_string(vars_[v].width) + " " +
             code(static_cast<int>(v)) + " " + vars_[v].name + " $end\n";
    }
    if (!vars_.empty()) out += "$upscope $end\n";
    out += "$upscope $end\n$enddefinitions $end\n";

    std::stable_sort(changes_.begin(), changes_.end(), [](const Change& a, const Change& b) {
      return a.time != b.time ? a.time < b.time : a.var < b.var;
    });
    std::vector<int64_t> current(vars_.size(), kUnknown);
    std::vector<bool> written(vars_.size(), false);
    int64_t last_time = -1;
    for (size_t i = 0; i < changes_.size();) {
      const int64_t time = changes_[i].time;
      std::string lines;
      for (; i < changes_.size() && changes_[i].time == time; ++i) {
        const Change& c = changes_[i];
        const bool final_for_var =
            i + 1 == changes_.size() || changes_[i + 1].time != time || changes_[i + 1].var != c.var;
        if (!final_for_var ||
            (written[static_cast<size_t>(c.var)] && current[static_cast<size_t>(c.var)] == c.value))
          continue;
        current[static_cast<size_t>(c.var)] = c.value;
        written[static_cast<size_t>(c.var)] = true;
        lines += value_line(c.var, c.value);
      }
      if (time == 0) {
        out += "#0\n$dumpvars\n" + lines;
        for (size_t v = 0; v < vars_.size(); ++v)  // variables first assigned later start unknown
          if (!written[v]) out += value_line(static_cast<int>(v), kUnknown), written[v] = true;
        out += "$end\n";
      } else if (!lines.empty()) {
        out += "#" + std::to_string(time) + "\n" + lines;
      } else {
        continue;
      }
      last_time = time;
    }
    if (end_time > last_time) out += "#" + std::to_string(end_time) + "\n";
    return out;
  }

 private:
  struct Var {
    std::string scope;
    const char* type;
    int width;
    const char* name;
  };
  struct Change {
    int64_t time;
    int var;
    int64_t value;
  };

  // Identifier codes: base 94 over the printable characters '!' to '~'.
  static std::string code(int var) {
    std::string s;
    do {
      s += static_cast<char>('!' + var % 94);
      var /= 94;
    } while (var > 0);
    return s;
  }
  std::string value_line(int var, int64_t value) const {
    if (vars_[static_cast<size_t>(var)].width == 1)
      return (value == kUnknown ? "x" : value ? "1" : "0") + code(var) + "\n";
    std::string bits;
    if (value == kUnknown) {
      bits = "x";
    } else {
      for (uint64_t u = static_cast<uint64_t>(value); u > 0; u >>= 1)
        bits += static_cast<char>('0' + (u & 1));
      if (bits.empty()) bits = "0";
      std::reverse(bits.begin(), bits.end());
    }
    return "b" + bits + " " + code(var) + "\n";
  }

  std::vector<Var> vars_;
  std::vector<Change> changes_;
};

// A scope name without the characters VCD separates tokens with.
std::string scope_name(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (std::isspace(static_cast<unsigned char>(c))) c = '_';
  return out;
}

void unit_signals(const SimOutcome& o, size_t resource, ValueDump& dump) {
  const std::string scope = scope_name(o.program.resources[resource].name);
  const int busy = dump.declare(scope, "wire", 1, "busy");
  const int state = dump.declare(scope, "reg", 2, "state");
  const int layer = dump.declare(scope, "integer", 32, "layer");
  const int tile = dump.declare(scope, "integer", 32, "tile");
  const auto idle_from = [&](int64_t t) {
    dump.set(busy, t, 0), dump.set(state, t, static_cast<int64_t>(UnitState::Idle));
    dump.set(layer, t, kUnknown), dump.set(tile, t, kUnknown);
  };
  idle_from(0);
  for (const UnitSpan& s : unit_spans(o, resource)) {
    dump.set(busy, s.start, s.state == UnitState::Busy ? 1 : 0);
    dump.set(state, s.start, static_cast<int64_t>(s.state));
    dump.set(layer, s.start, o.program.tiles[static_cast<size_t>(s.tile)].layer);
    dump.set(tile, s.start, s.tile);
    idle_from(s.end + 1);  // overridden when the next span starts right after
  }
}

void queue_signals(const SimOutcome& o, arch::TransferDir dir, ValueDump& dump) {
  const std::string scope = dir == arch::TransferDir::Load ? "dma_load" : "dma_store";
  const int active = dump.declare(scope, "wire", 1, "active");
  const int transfer = dump.declare(scope, "integer", 32, "transfer");
  const int layer = dump.declare(scope, "integer", 32, "layer");
  const auto none_from = [&](int64_t t) {
    dump.set(active, t, 0), dump.set(transfer, t, kUnknown), dump.set(layer, t, kUnknown);
  };
  none_from(0);
  for (const QueueSpan& s : queue_spans(o, dir)) {
    dump.set(active, s.start, 1);
    dump.set(transfer, s.start, s.transfer);
    dump.set(layer, s.start, o.program.transfers[static_cast<size_t>(s.transfer)].layer);
    none_from(s.end + 1);
  }
}

void dram_signals(const SimOutcome& o, ValueDump& dump) {
  const int busy = dump.declare("dram", "wire", 1, "busy");
  const int in_flight[2] = {dump.declare("dram", "integer", 32, "reads_in_flight"),
                            dump.declare("dram", "integer", 32, "writes_in_flight")};
  dump.set(busy, 0, 0);
  for (const BusStretch& s : dram_bus_stretches(o.records.bursts)) {
    dump.set(busy, s.start, 1);
    dump.set(busy, s.end + 1, 0);
  }
  for (const int dir : {0, 1}) {  // a burst is in flight from its request to its last byte's arrival
    std::vector<std::pair<int64_t, int>> steps;
    for (const arch::DramBurst& b : o.records.bursts)
      if (static_cast<int>(b.write) == dir)
        steps.push_back({b.request, +1}), steps.push_back({b.arrival + 1, -1});
    std::sort(steps.begin(), steps.end());
    int64_t count = 0;
    dump.set(in_flight[dir], 0, 0);
    for (const auto& [time, delta] : steps) dump.set(in_flight[dir], time, count += delta);
  }
}

}  // namespace

std::string vcd_trace(const SimOutcome& o) {
  ValueDump dump;
  for (size_t r = 0; r < o.program.resources.size(); ++r) unit_signals(o, r, dump);
  queue_signals(o, arch::TransferDir::Load, dump);
  queue_signals(o, arch::TransferDir::Store, dump);
  if (!o.records.bursts.empty()) dram_signals(o, dump);
  const SimReport& rep = o.report;
  const std::string comment = rep.model + " @" + std::to_string(rep.resolution) + ", " + rep.recipe + " on " +
                              rep.accel + " (" + rep.timing + " timing): " + std::to_string(rep.cycles) +
                              " cycles; 1 time unit = 1 cycle";
  return dump.write(comment, rep.cycles);
}

}  // namespace vitsim::sim

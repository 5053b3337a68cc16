#include "arch/ddr4/ddr4_config.hpp"

#include <filesystem>
#include <set>

namespace vitsim::arch::ddr4 {

using quant::ConfigError;
using quant::JsonReader;

namespace {
constexpr const char* kFieldNames[] = {"channel", "rank", "bankgroup", "bank", "row", "column"};
constexpr int kFields = 6;

AddressMapping parse_mapping(JsonReader& r, const std::string& text) {
  AddressMapping m;
  m.order.clear();
  std::set<int> seen;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find('-', begin), text.size());
    const std::string name = text.substr(begin, end - begin);
    int f = 0;
    while (f < kFields && name != kFieldNames[f]) ++f;
    if (f == kFields || !seen.insert(f).second)
      r.fail("mapping",
             "expected each of channel, rank, bankgroup, bank, row, column exactly once, '-'"
             "-separated from the most significant (e.g. \"row-rank-bank-column-bankgroup-channel\"), "
             "found \"" +
                 text + "\"");
    m.order.push_back(static_cast<Field>(f));
    begin = end + 1;
  }
  if (m.order.size() != kFields) r.fail("mapping", "expected all six fields, found \"" + text + "\"");
  return m;
}
}  // namespace

const char* field_name(Field f) {
  return kFieldNames[static_cast<int>(f)];
}

std::string AddressMapping::text() const {
  std::string s;
  for (Field f : order) s += (s.empty() ? "" : "-") + std::string(field_name(f));
  return s;
}

const char* scheduler_name(Scheduler s) {
  return s == Scheduler::Fcfs ? "fcfs" : "fr-fcfs";
}
const char* page_policy_name(PagePolicy p) {
  return p == PagePolicy::Open ? "open" : "closed";
}

double Config::peak_gbps() const {
  return static_cast<double>(data_rate_mts) * org.bus_bytes() * org.channels / 1e3;
}

uint64_t Config::capacity_bytes() const {
  return static_cast<uint64_t>(org.channels) * static_cast<uint64_t>(org.ranks) *
         static_cast<uint64_t>(org.banks()) * static_cast<uint64_t>(org.rows) *
         static_cast<uint64_t>(org.columns) * static_cast<uint64_t>(org.bus_bytes());
}

void read_policy(JsonReader& r, ControllerPolicy& policy) {
  if (r.has("mapping")) policy.mapping = parse_mapping(r, r.string("mapping"));
  const std::string scheduler = r.choice("scheduler", scheduler_name(policy.scheduler), {"fcfs", "fr-fcfs"});
  policy.scheduler = scheduler == "fcfs" ? Scheduler::Fcfs : Scheduler::FrFcfs;
  const std::string page = r.choice("page_policy", page_policy_name(policy.page_policy), {"open", "closed"});
  policy.page_policy = page == "open" ? PagePolicy::Open : PagePolicy::Closed;
  policy.queue_depth = r.integer("queue_depth", policy.queue_depth, 1, 4096);
  policy.starvation_cap = r.integer("starvation_cap", policy.starvation_cap, 1, 1000000);
}

Config parse_preset(const nlohmann::json& j, const std::string& origin) {
  JsonReader r(j, origin);
  Config c;
  c.file = origin;
  c.name = r.string("name");
  if (c.name.empty()) r.fail("name", "expected a non-empty string");
  r.string("description", "");
  c.notes = r.strings("notes");
  r.require("data_rate_mts");
  c.data_rate_mts = r.integer("data_rate_mts", 0, 800, 10000);

  JsonReader o = r.required_object("organization");
  Organization& org = c.org;
  org.channels = o.power_of_two("channels", 1, 1, 64);
  org.ranks = o.power_of_two("ranks", 1, 1, 8);
  o.require("bank_groups");
  org.bank_groups = o.power_of_two("bank_groups", 4, 1, 8);
  o.require("banks_per_group");
  org.banks_per_group = o.power_of_two("banks_per_group", 4, 1, 8);
  o.require("rows");
  org.rows = o.power_of_two("rows", 65536, 1, 1 << 20);
  o.require("columns");
  org.columns = o.power_of_two("columns", 1024, 8, 1 << 16);
  org.bus_bits = o.power_of_two("bus_bits", 64, 8, 1024);
  o.reject_unknown_keys();

  JsonReader t = r.required_object("timing");
  Timing& tm = c.timing;
  const auto cycles = [&t](const char* key, int min, int max) {
    t.require(key);
    return t.integer(key, 0, min, max);
  };
  tm.cl = cycles("cl", 1, 255);
  tm.cwl = cycles("cwl", 1, 255);
  tm.rcd = cycles("rcd", 1, 255);
  tm.rp = cycles("rp", 1, 255);
  tm.ras = cycles("ras", 1, 1023);
  tm.rc = cycles("rc", 1, 1023);
  tm.rrd_s = cycles("rrd_s", 1, 255);
  tm.rrd_l = cycles("rrd_l", 1, 255);
  tm.faw = cycles("faw", 0, 1023);
  tm.ccd_s = cycles("ccd_s", 1, 255);
  tm.ccd_l = cycles("ccd_l", 1, 255);
  tm.wr = cycles("wr", 1, 255);
  tm.wtr_s = cycles("wtr_s", 1, 255);
  tm.wtr_l = cycles("wtr_l", 1, 255);
  tm.rtp = cycles("rtp", 1, 255);
  tm.rfc = cycles("rfc", 1, 100000);
  tm.refi = cycles("refi", 0, 1000000);
  tm.burst_length = t.integer("burst_length", 8, 8, 8);
  tm.rtrs = t.integer("rtrs", 2, 0, 255);
  if (tm.rc < tm.ras + tm.rp)
    t.fail("rc", "expected at least ras + rp = " + std::to_string(tm.ras + tm.rp) + ", found " +
                     std::to_string(tm.rc));
  if (tm.rrd_l < tm.rrd_s) t.fail("rrd_l", "expected at least rrd_s = " + std::to_string(tm.rrd_s));
  if (tm.ccd_l < tm.ccd_s) t.fail("ccd_l", "expected at least ccd_s = " + std::to_string(tm.ccd_s));
  if (tm.wtr_l < tm.wtr_s) t.fail("wtr_l", "expected at least wtr_s = " + std::to_string(tm.wtr_s));
  if (tm.refi != 0 && tm.refi <= tm.rfc + tm.rp)
    t.fail("refi", "expected 0 (no refresh) or more than rfc + rp = " + std::to_string(tm.rfc + tm.rp) +
                       ", found " + std::to_string(tm.refi));
  t.reject_unknown_keys();

  JsonReader p = r.object("controller");
  read_policy(p, c.policy);
  p.reject_unknown_keys();
  r.reject_unknown_keys();
  return c;
}

Config find_preset(const std::string& name_or_path, const std::string& config_dir) {
  const std::string dir = (std::filesystem::path(config_dir) / "dram").string();
  const std::string path = quant::require_named_json(name_or_path, dir, "DRAM preset");
  return parse_preset(quant::read_json_file(path), path);
}

nlohmann::json Config::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["data_rate_mts"] = data_rate_mts;
  j["organization"] = {{"channels", org.channels},
                       {"ranks", org.ranks},
                       {"bank_groups", org.bank_groups},
                       {"banks_per_group", org.banks_per_group},
                       {"rows", org.rows},
                       {"columns", org.columns},
                       {"bus_bits", org.bus_bits}};
  j["timing"] = {{"cl", timing.cl},       {"cwl", timing.cwl},     {"rcd", timing.rcd},
                 {"rp", timing.rp},       {"ras", timing.ras},     {"rc", timing.rc},
                 {"rrd_s", timing.rrd_s}, {"rrd_l", timing.rrd_l}, {"faw", timing.faw},
                 {"ccd_s", timing.ccd_s}, {"ccd_l", timing.ccd_l}, {"wr", timing.wr},
                 {"wtr_s", timing.wtr_s}, {"wtr_l", timing.wtr_l}, {"rtp", timing.rtp},
                 {"rfc", timing.rfc},     {"refi", timing.refi},   {"burst_length", timing.burst_length},
                 {"rtrs", timing.rtrs}};
  j["controller"] = {{"mapping", policy.mapping.text()},
                     {"scheduler", scheduler_name(policy.scheduler)},
                     {"page_policy", page_policy_name(policy.page_policy)},
                     {"queue_depth", policy.queue_depth},
                     {"starvation_cap", policy.starvation_cap}};
  j["peak_gbps"] = peak_gbps();
  return j;
}

}  // namespace vitsim::arch::ddr4

#include "sim/cli/cmd_dram.hpp"

#include <CLI/CLI.hpp>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "arch/ddr4/ddr4_stream.hpp"
#include "quant/json_reader.hpp"
#include "sim/run/graph_report.hpp"

namespace vitsim::sim {

using namespace arch::ddr4;

CLI::App* add_dram_command(CLI::App& app, DramArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "dram", "Drive the DDR4 model with a synthetic stream: bandwidth, latency, row-buffer hit rate");
  cmd->add_option("-p,--preset", args.preset, "DRAM preset name in configs/dram/ or a preset file")
      ->required();
  cmd->add_option("--pattern", args.pattern, "seq | random | stride:BYTES")->capture_default_str();
  cmd->add_option("--reads", args.reads, "Fraction of the requests that are reads (the rest writes)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--bytes", args.bytes, "Bytes to move (whole column accesses)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--seed", args.seed, "Seed of the random addresses and of the read/write choice")
      ->capture_default_str();
  cmd->add_option("--scheduler", args.scheduler, "Override the preset's scheduler: fcfs | fr-fcfs")
      ->check(CLI::IsMember({"fcfs", "fr-fcfs"}));
  cmd->add_option("--page-policy", args.page_policy, "Override the preset's page policy: open | closed")
      ->check(CLI::IsMember({"open", "closed"}));
  cmd->add_flag("--json", args.json, "Print JSON");
  return cmd;
}

int run_dram_command(const DramArgs& args, std::ostream& out) {
  StreamSpec spec = parse_pattern(args.pattern);
  spec.read_fraction = args.reads;
  spec.bytes = args.bytes;
  spec.seed = args.seed;
  Config config = find_preset(args.preset, quant::bundled_config_dir());
  if (!args.scheduler.empty())
    config.policy.scheduler = args.scheduler == "fcfs" ? Scheduler::Fcfs : Scheduler::FrFcfs;
  if (!args.page_policy.empty())
    config.policy.page_policy = args.page_policy == "open" ? PagePolicy::Open : PagePolicy::Closed;
  const StreamResult r = run_stream(config, spec);
  const Stats& s = r.stats;

  nlohmann::json stall_ns;
  for (int k = 0; k < kCauses; ++k)
    stall_ns[cause_name(static_cast<Cause>(k))] = static_cast<double>(s.stall[static_cast<size_t>(k)]) *
                                                  config.tck_ns() / static_cast<double>(s.requests());
  if (args.json) {
    nlohmann::json j = {{"preset", config.name},
                        {"pattern", args.pattern},
                        {"read_fraction", args.reads},
                        {"bytes", r.bytes},
                        {"seed", args.seed},
                        {"scheduler", scheduler_name(config.policy.scheduler)},
                        {"page_policy", page_policy_name(config.policy.page_policy)},
                        {"bandwidth_gbps", r.bandwidth_gbps},
                        {"peak_gbps", r.peak_gbps},
                        {"fraction_of_peak", r.bandwidth_gbps / r.peak_gbps},
                        {"avg_latency_ns", r.avg_latency_ns},
                        {"p99_latency_ns", r.p99_latency_ns},
                        {"row_hit_rate", r.row_hit_rate},
                        {"requests", s.requests()},
                        {"reads", s.reads},
                        {"writes", s.writes},
                        {"row_hits", s.hits},
                        {"row_misses", s.misses},
                        {"row_conflicts", s.conflicts},
                        {"activates", s.activates},
                        {"precharges", s.precharges},
                        {"refreshes", s.refreshes},
                        {"stall_ns_per_request", stall_ns}};
    out << j.dump(2) << '\n';
    return 0;
  }
  out << config.name << ": DDR4-" << config.data_rate_mts << ", " << config.org.channels << " x "
      << config.org.bus_bits << "-bit channel(s), peak " << std::fixed << std::setprecision(2) << r.peak_gbps
      << " GB/s; " << scheduler_name(config.policy.scheduler) << ", "
      << page_policy_name(config.policy.page_policy) << " page, mapping " << config.policy.mapping.text()
      << "\n  stream: " << args.pattern << ", " << std::setprecision(0) << args.reads * 100 << "% reads, "
      << with_commas(r.bytes) << " bytes in " << with_commas(s.requests()) << " accesses of "
      << config.access_bytes() << " bytes, seed " << args.seed << "\n"
      << std::setprecision(2) << "  bandwidth   " << r.bandwidth_gbps << " GB/s (" << std::setprecision(1)
      << 100 * r.bandwidth_gbps / r.peak_gbps << "% of peak)\n"
      << "  latency     avg " << r.avg_latency_ns << " ns, p99 " << r.p99_latency_ns << " ns\n"
      << "  row buffer  " << 100 * r.row_hit_rate << "% hits (" << with_commas(s.hits) << " hits, "
      << with_commas(s.misses) << " misses, " << with_commas(s.conflicts) << " conflicts)\n"
      << "  commands    " << with_commas(s.activates) << " ACT, " << with_commas(s.precharges) << " PRE, "
      << with_commas(s.refreshes) << " REF\n"
      << "  latency beyond a row hit, per request:";
  for (int k = 0; k < kCauses; ++k)
    out << (k ? ", " : " ") << cause_name(static_cast<Cause>(k)) << " "
        << stall_ns[cause_name(static_cast<Cause>(k))].get<double>() << " ns";
  out << '\n';
  return 0;
}

}  // namespace vitsim::sim

// `vitsim dram --preset NAME|FILE --pattern seq|random|stride:BYTES [--reads FRACTION] [--bytes N] [--json]`:
// drives the DDR4 model (arch/ddr4) with a synthetic closed-loop stream and prints the achieved bandwidth,
// latency and row-buffer hit rate (docs/dram.md).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace vitsim::sim {

struct DramArgs {
  std::string preset;           // name in configs/dram/ or a preset file
  std::string pattern = "seq";  // seq | random | stride:BYTES
  double reads = 1.0;           // fraction of reads
  int64_t bytes = 16 << 20;     // bytes to move
  uint64_t seed = 1;            // random addresses and read/write choice
  std::string scheduler;        // empty: the preset's
  std::string page_policy;      // empty: the preset's
  bool json = false;
};

/// Adds the subcommand and its options (bound to `args`) to `app`.
CLI::App* add_dram_command(CLI::App& app, DramArgs& args);

/// Runs the command; returns the exit code (std::invalid_argument propagates to the CLI, which exits 2).
int run_dram_command(const DramArgs& args, std::ostream& out);

}  // namespace vitsim::sim

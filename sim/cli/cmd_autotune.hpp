// `vitsim autotune --model M --device D --fps F [--recipe R] [--base CONFIG] [--out FILE]`: Auto-ViT-Acc's
// automatic framework (sim/dse/autotune.hpp, docs/autotune.md). Prints every candidate it simulates as it
// goes (stderr) and the chosen design; writes it as an accelerator config with --out (atomically). Exit 0
// when a design reaches the target, 1 when none does (nothing written), 2 on bad input.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

namespace vitsim::sim {

struct AutotuneArgs {
  std::string model = "deit-base";
  int resolution = 224;
  std::string device = "zcu102";
  double fps = 0;
  std::string recipe = "autovitacc-mixed";
  std::string base = "auto-vit-acc";
  std::string out;
  uint64_t seed = 0;
};

/// Adds the subcommand and its options (bound to `args`) to `app`.
CLI::App* add_autotune_command(CLI::App& app, AutotuneArgs& args);

/// Runs the command; returns the exit code (bad input propagates as an exception: exit 2).
int run_autotune(const AutotuneArgs& args, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

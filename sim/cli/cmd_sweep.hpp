// `vitsim sweep SPEC --out DIR`: a design-space sweep (sim/dse/sweep.hpp, docs/sweeps.md) run locally,
// or one of its steps (--dry-run, --prepare, --point INDEX, --collect) for other backends.
#pragma once

#include <CLI/CLI.hpp>

#include "sim/dse/sweep.hpp"

namespace vitsim::sim {

/// Adds the subcommand and its options (bound to `args`) to `app`.
CLI::App* add_sweep_command(CLI::App& app, SweepArgs& args);

}  // namespace vitsim::sim

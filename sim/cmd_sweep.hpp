// `vitsim sweep SPEC --out DIR`: a design-space sweep (sim/sweep.hpp, docs/sweeps.md) on the local backend,
// or one of its steps (--dry-run, --prepare, --point INDEX, --collect) for other backends.
#pragma once

#include <CLI/CLI.hpp>

#include "sim/sweep.hpp"

namespace vitsim::sim {

/// Adds the subcommand and its options (bound to `args`) to `app`.
CLI::App* add_sweep_command(CLI::App& app, SweepArgs& args);

}  // namespace vitsim::sim

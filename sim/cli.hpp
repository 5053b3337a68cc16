// The `vitsim` command line: subcommands, their help, and the exit-code contract
// (0 success, 1 functional mismatch, 2 bad input with one clear message on stderr, 3 a simulation that
// stopped making progress, 4 an internal error: a bug, also with one message on stderr).
#pragma once

#include <iosfwd>

namespace vitsim::sim {

/// Runs the command line; returns the process exit code.
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

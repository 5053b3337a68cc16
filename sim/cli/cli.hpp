// The `vitsim` command line: subcommands, their help, and the exit-code contract
// (0 success, 1 functional mismatch, 2 bad input with one clear message on stderr, 3 a simulation that
// stopped making progress, 4 an internal error: a bug, also with one message on stderr).
#pragma once

#include <functional>
#include <iosfwd>

namespace vitsim::sim {

/// Runs the command line; returns the process exit code.
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

/// Runs one command and returns its exit code, or turns what it throws into the contract's exit code with
/// one message on `err`: bad input (std::invalid_argument, std::runtime_error) 2, a stalled simulation 3,
/// anything else 4 with "this is a bug" (std::bad_alloc, an exception inside a SystemC process, ...).
int run_guarded(const std::function<int()>& command, std::ostream& err);

}  // namespace vitsim::sim

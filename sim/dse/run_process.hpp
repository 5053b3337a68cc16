// Running an external program (Slurm's clients) without a shell: fork/exec with the arguments as given,
// both output streams captured, and a timeout after which the child is killed.
#pragma once

#include <string>
#include <vector>

namespace vitsim::sim {

struct ProcessResult {
  bool started = false;    // false: the program could not be executed (see exec_error)
  bool timed_out = false;  // killed after the timeout
  int exit_code = -1;      // exit status; 128 + signal number if killed by a signal
  std::string out;         // captured stdout
  std::string err;         // captured stderr
  std::string exec_error;  // why exec failed, e.g. "No such file or directory"
};

/// Runs argv[0] (searched in PATH) with argv[1..]; stdin is /dev/null. Never throws for a failing program;
/// throws std::runtime_error only if the pipes or the fork cannot be created.
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_seconds);

/// The absolute path of the running executable (/proc/self/exe).
std::string current_executable_path();

}  // namespace vitsim::sim

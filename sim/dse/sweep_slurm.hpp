// The Slurm backend of `vitsim sweep` (docs/slurm.md): prepares the output folder locally (the quantized
// graphs are computed once, before submission), submits one job array per step of the spec's search (one
// for a grid) whose task K runs the K-th batch of the step's pending points (`vitsim sweep SPEC --out DIR
// --points LIST`), polls squeue until the array ends, records the points that a task left without a
// result.json as failed (its Slurm state and log tail), and collects results.csv like the local backend.
// DIR must be on a filesystem the compute nodes share.
//
//   DIR/slurm/task.sh             the batch script (absolute paths of vitsim, the spec and DIR)
//   DIR/slurm/batches-<hash>.txt  one line per array task: its points ("0-3,7")
//   DIR/slurm/jobs.txt            one line per submitted array: "<job id> <batch file> <its points>"
//   DIR/slurm/<job>_<task>.log    each task's stdout and stderr
//
// A rerun after an interruption waits for the recorded arrays that are still queued or running and submits
// only the points that have no result.json and are not in such an array.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace vitsim::sim {

struct SweepSpec;
struct SweepPoint;
struct SweepDir;

/// The --slurm-* options of `vitsim sweep --backend slurm`.
struct SlurmOptions {
  std::string partition;                // --partition ("": the cluster's default)
  std::string time;                     // --time per task, e.g. "0:30:00" ("": the partition's default)
  std::string mem;                      // --mem per task, e.g. "4G"
  int cpus = 0;                         // --cpus-per-task (0: not passed)
  std::vector<std::string> extra_args;  // passed to sbatch as given, e.g. "--account=myproj"
  double poll_seconds = 5;              // between two squeue calls
  double deadline_seconds = 0;          // stop waiting after this long (0: wait until the array ends)
  double client_timeout_seconds = 60;   // each sbatch / squeue / scontrol call
  int batch_size = 0;  // points per array task (0: the fewest that keep an array within kMaxArrayTasks)
};

/// Array tasks per submission when --batch-size is not given (Slurm's default MaxArraySize is 1001).
constexpr int kMaxArrayTasks = 1000;

/// `indices` (ascending) cut into consecutive batches of `batch_size` points (0: the fewest points per batch
/// that give at most kMaxArrayTasks batches).
std::vector<std::vector<int>> slurm_batches(const std::vector<int>& indices, int batch_size);

/// Whether every option still has its default (none of --slurm-* was given).
bool slurm_options_unset(const SlurmOptions& options);

/// "0-3,5,7-9": sorted distinct indices as a Slurm --array list.
std::string slurm_array_list(std::vector<int> indices);

/// Quotes `text` as one word for a POSIX shell script.
std::string shell_quote(const std::string& text);

/// Runs the backend. Returns 0 once every submitted point has a result.json (ok or failed) and results.csv
/// is rebuilt; 1 if the deadline passed first (results.csv then holds the points done so far; rerun the same
/// command to wait for the rest). A missing Slurm, an unreachable controller or options sbatch rejects are a
/// std::invalid_argument (exit 2) carrying Slurm's message.
int run_slurm_sweep(const SweepSpec& spec, const std::string& spec_path, std::vector<SweepPoint>& points,
                    const SweepDir& dir, const SlurmOptions& options, std::ostream& out, std::ostream& err);

}  // namespace vitsim::sim

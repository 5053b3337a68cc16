#include "sim/cli/cmd_sweep.hpp"

namespace vitsim::sim {

namespace {

// The --slurm-* options of `vitsim sweep --backend slurm` (docs/slurm.md).
void add_slurm_options(CLI::App& sweep_command, SlurmOptions& options) {
  sweep_command.add_option("--slurm-partition", options.partition, "Slurm: partition (sbatch --partition)");
  sweep_command.add_option("--slurm-time", options.time,
                           "Slurm: time limit per point (sbatch --time), e.g. 0:30:00");
  sweep_command.add_option("--slurm-mem", options.mem, "Slurm: memory per point (sbatch --mem), e.g. 4G");
  sweep_command.add_option("--slurm-cpus", options.cpus, "Slurm: CPUs per point (sbatch --cpus-per-task)")
      ->check(CLI::PositiveNumber);
  sweep_command
      .add_option("--slurm-arg", options.extra_args,
                  "Slurm: one more sbatch argument, repeatable (write --slurm-arg=--account=myproj)")
      ->allow_extra_args(false);
  sweep_command.add_option("--slurm-poll", options.poll_seconds, "Slurm: seconds between two squeue calls")
      ->check(CLI::PositiveNumber);
  sweep_command
      .add_option("--slurm-deadline", options.deadline_seconds,
                  "Slurm: stop waiting after this many seconds (0: until the array ends); rerun to resume")
      ->check(CLI::NonNegativeNumber);
  sweep_command
      .add_option("--batch-size", options.batch_size,
                  "Slurm: points per array task (default: as few as keep an array within 1000 tasks)")
      ->check(CLI::Range(1, 1000000));
}

}  // namespace

CLI::App* add_sweep_command(CLI::App& app, SweepArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Design-space sweep: expand a spec (configs/sweeps/) into points, run them in parallel, resumably, and "
      "gather results.csv (docs/sweeps.md)");
  cmd->add_option("spec", args.spec, "Sweep spec (JSON)")->required();
  cmd->add_option("-o,--out", args.out, "Output folder (rerun with the same one to resume)");
  cmd->add_option("-j,--jobs", args.jobs, "Points simulated at once (default: one per hardware thread)")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--dry-run", args.dry_run, "List the points (values, id, filtered or not) and stop");
  cmd->add_flag("--prepare", args.prepare,
                "Write DIR/spec.json, compute the quantized graphs, print the pending point indices");
  cmd->add_option("--point", args.point, "Run only this point (the other backends' per-point runner)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--collect", args.collect, "Rebuild DIR/results.csv from the finished points and summarize");
  cmd->add_option("--points", args.batch,
                  "Run these points (\"0-3,7\") that have no result.json yet, one after the other (a Slurm "
                  "array task's batch)");
  cmd->add_flag("--hypervolume", args.hypervolume,
                "Print the hypervolume of DIR/results.csv for the spec's two objectives (docs/sweeps.md)");
  cmd->add_option("--reference", args.reference,
                  "--hypervolume's reference point X,Y (default: 0 for a maximized objective, the spec's "
                  "budget for a minimized one)");
  cmd->add_option("--backend", args.backend,
                  "Where the points run: local (child processes) or slurm (a job array; --slurm-* options)")
      ->capture_default_str();
  add_slurm_options(*cmd, args.slurm);
  return cmd;
}

}  // namespace vitsim::sim

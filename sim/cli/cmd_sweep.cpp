#include "sim/cli/cmd_sweep.hpp"

namespace vitsim::sim {

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

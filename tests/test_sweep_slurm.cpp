// The Slurm backend's plain helpers: the --array list, the task script's quoting, and running Slurm's client
// commands without a shell. The backend itself runs against a real local cluster in
// tests/slurm_sweep_test.sh.
#include <catch2/catch.hpp>

#include "sim/dse/run_process.hpp"
#include "sim/dse/sweep_slurm.hpp"
#include "test_support.hpp"

using namespace vitsim::sim;

TEST_CASE("slurm array list: sorted ranges of point indices", "[sweep][slurm]") {
  CHECK(slurm_array_list({5, 0, 1, 2, 3, 9, 8, 7, 3}) == "0-3,5,7-9");
  CHECK(slurm_array_list({4}) == "4");
  CHECK(slurm_array_list({2, 4, 6}) == "2,4,6");
  CHECK(slurm_array_list({}).empty());
}

TEST_CASE("shell quoting survives a real shell", "[sweep][slurm]") {
  for (const std::string text : {"plain", "with space", "it's", "$HOME `id` \"q\" \\ ;|&*", ""}) {
    const ProcessResult r = run_process({"sh", "-c", "printf %s " + shell_quote(text)}, 10);
    CHECK(r.exit_code == 0);
    CHECK(r.out == text);
  }
}

TEST_CASE("run_process captures both streams and the exit code, and times out", "[sweep][slurm]") {
  const ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10);
  CHECK(r.started);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  const ProcessResult missing = run_process({"no-such-program-vitsim"}, 10);
  CHECK_FALSE(missing.started);
  CHECK(missing.exec_error == "No such file or directory");

  const ProcessResult slow = run_process({"sleep", "10"}, 0.2);
  CHECK(slow.timed_out);
  CHECK(slow.exit_code == 128 + 9);  // SIGKILL
}

TEST_CASE("The local backend refuses the --slurm-* options", "[sweep][slurm]") {
  vitsim::test::TempDir dir("sweep_slurm", "local");
  const vitsim::test::Run r =
      vitsim::test::run_vitsim({"sweep", vitsim::test::config_dir() + "/sweeps/trio-vit-parallelism.json",
                                "--out", dir.file("out"), "--slurm-partition", "debug"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("the --slurm-* options apply to --backend slurm only"));
}

#!/usr/bin/env bash
# ctest `slurm_sweep`: `vitsim sweep --backend slurm` on a real single-node Slurm cluster that this script
# starts on localhost (tools/slurm-local.sh) and always stops. A 4-point sweep (one point fails to map) run as
# batches of 3 and 1 points must give the local backend's results.csv byte for byte; a rerun must submit
# nothing; a batch task cancelled before it ran must make each of its points a failed point naming its Slurm
# state; options sbatch rejects must exit 2.
# Usage: slurm_sweep_test.sh VITSIM SOURCE_DIR. Skips (exit 77) when Slurm is not installed, unless
# VITSIM_REQUIRE_SLURM is set (CI), where a missing Slurm fails.
set -euo pipefail
vitsim="$1"
src="$2"
PATH="$PATH:/usr/sbin"
# A login node's SBATCH_* / SLURM_* defaults (account, partition, another cluster's config) must not leak in.
for name in $(compgen -e); do
  case "$name" in SBATCH_* | SLURM_* | SQUEUE_* | SCONTROL_*) unset "$name" ;; esac
done
slurm_local="$src/tools/slurm-local.sh"

missing=""
for b in sbatch squeue scancel scontrol sinfo slurmctld slurmd munged mungekey; do
  command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
done
if [ -n "$missing" ]; then
  if [ -n "${VITSIM_REQUIRE_SLURM:-}" ]; then
    echo "FAIL: VITSIM_REQUIRE_SLURM is set but Slurm is not installed (missing:$missing); install slurm-wlm and munge"
    exit 1
  fi
  echo "SKIP: Slurm is not installed (missing:$missing); apt-get install slurm-wlm munge to run this test"
  exit 77
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d -t vsweep.XXXXXX)
cluster="$work/c" # short: the munge socket path must stay under 108 bytes
cleanup() {
  "$slurm_local" stop "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
t0=$SECONDS

# All 4 tasks in one wave (config_overrides lets the node claim more CPUs than the machine has).
SLURM_CONF=$(SLURM_LOCAL_CPUS=4 "$slurm_local" start "$cluster")
export SLURM_CONF
echo "cluster up after $((SECONDS - t0)) s: $SLURM_CONF"

# A 64-byte weight buffer cannot hold a weight tile: that point fails to map.
cat >"$work/spec.json" <<'EOF'
{
  "name": "slurm-test",
  "base_accel": "trio-vit",
  "axes": [{"name": "weight_buffer", "pointer": "/buffers/weight/capacity_bytes",
            "values": [524288, 262144, 131072, 64]}],
  "models": [{"model": "efficientvit-b0", "res": 64}],
  "recipes": ["trio-w8a8"]
}
EOF

slurm_sweep=("$vitsim" sweep "$work/spec.json" --out "$work/slurm" --backend slurm --slurm-poll 0.2 --slurm-deadline 60)
slurm_run() {
  "${slurm_sweep[@]}" "$@"
}

# The local run first: it overlaps slurmctld's first scheduling pass, ~3 s after its start.
"$vitsim" sweep "$work/spec.json" --out "$work/local" -j 2 >/dev/null 2>"$work/local.err" || {
  cat "$work/local.err" >&2
  fail "the local sweep failed"
}
echo "local sweep done after $((SECONDS - t0)) s"
slurm_run --batch-size 3 >"$work/slurm.out" 2>"$work/slurm.err" || {
  cat "$work/slurm.err" "$work/slurm.out" >&2
  fail "the slurm sweep failed"
}
echo "slurm sweep done after $((SECONDS - t0)) s"

csv="$work/slurm/results.csv"
[ -f "$csv" ] || fail "no $csv"
# Every point exactly once (index is the first column), one of them failed.
indices=$(tail -n +2 "$csv" | cut -d, -f1 | sort -n | tr '\n' ' ')
[ "$indices" = "0 1 2 3 " ] || fail "results.csv rows by index: '$indices', expected '0 1 2 3 '"
grep -q '"status": *"failed"' "$work/slurm/points/3/result.json" || fail "point 3 (64-byte buffer) did not fail"
for i in 0 1 2; do
  grep -q '"status": *"ok"' "$work/slurm/points/$i/result.json" || fail "point $i is not ok"
done
# Byte for byte (error messages name the point's files relative to DIR).
same_as_local() {
  diff "$csv" "$work/local/results.csv"
}
same_as_local >&2 || fail "the slurm and local backends' results.csv differ"
[ "$(wc -l <"$work/slurm/slurm/jobs.txt")" = 1 ] || fail "expected one job in jobs.txt"
grep -q "0-3$" "$work/slurm/slurm/jobs.txt" || fail "jobs.txt does not record the points 0-3"
# Two array tasks: points 0-2, then point 3, each task with its own log.
read -r job batch_file _ <"$work/slurm/slurm/jobs.txt"
[ "$(cat "$work/slurm/slurm/$batch_file")" = "$(printf '0-2\n3')" ] ||
  fail "the batch file is not '0-2' then '3': $(cat "$work/slurm/slurm/$batch_file")"
for task in 0 1; do
  [ -f "$work/slurm/slurm/${job}_$task.log" ] || fail "no log of array task $task: $(ls "$work/slurm/slurm")"
done
[ ! -e "$work/slurm/slurm/${job}_2.log" ] || fail "a third array task ran"
grep -q "point 1 (" "$work/slurm/slurm/${job}_0.log" || fail "task 0 did not run point 1: $(cat "$work/slurm/slurm/${job}_0.log")"

# An NSGA-II search: one array per generation (each a batch of 2 points), the local backend's results.csv.
sed 's/"recipes": \["trio-w8a8"\]/"recipes": ["trio-w8a8"], "search": {"strategy": "nsga2", "population": 2, "generations": 2}/' \
  "$work/spec.json" >"$work/nsga2.json"
grep -q nsga2 "$work/nsga2.json" || fail "could not write the nsga2 spec"
"$vitsim" sweep "$work/nsga2.json" --out "$work/nsga2-local" -j 2 >/dev/null 2>&1 || fail "the local nsga2 sweep failed"
"$vitsim" sweep "$work/nsga2.json" --out "$work/nsga2-slurm" --backend slurm --slurm-poll 0.2 --slurm-deadline 60 \
  --batch-size 2 >/dev/null 2>"$work/nsga2.err" || fail "the slurm nsga2 sweep failed: $(cat "$work/nsga2.err")"
diff "$work/nsga2-slurm/results.csv" "$work/nsga2-local/results.csv" >&2 || fail "nsga2: slurm and local results.csv differ"
[ "$(wc -l <"$work/nsga2-slurm/slurm/jobs.txt")" = 2 ] || fail "nsga2: expected one array per generation"
grep -q ",nsga2,1$" "$work/nsga2-slurm/results.csv" || fail "nsga2: no generation-1 row"
echo "slurm nsga2 sweep done after $((SECONDS - t0)) s"

# Resume: nothing is pending, so nothing is submitted and results.csv stays the same.
slurm_run >/dev/null 2>"$work/rerun.err" || fail "the rerun failed: $(cat "$work/rerun.err")"
[ "$(wc -l <"$work/slurm/slurm/jobs.txt")" = 1 ] || fail "the rerun submitted a job although nothing was pending"
same_as_local >&2 || fail "the rerun changed results.csv"

# Interrupted while its array waits (held), a rerun waits for that array instead of submitting again; a batch
# task that then ends without result.json (cancelled) makes each of its points a failed point naming its
# Slurm state.
rm "$work/slurm/points/1/result.json" "$work/slurm/points/2/result.json"
# Background runs start vitsim itself, so that $! is its PID: a backgrounded function is a subshell, and
# killing that left vitsim running, to write the cancelled points' results behind the later steps' backs.
"${slurm_sweep[@]}" --slurm-arg=--hold --batch-size 2 >"$work/held.out" 2>"$work/held.err" &
runner=$!
wait_for() { # CONDITION-COMMAND WHAT: polls for up to 30 s while the runner lives
  local deadline=$((SECONDS + 30))
  until eval "$1"; do
    kill -0 "$runner" 2>/dev/null || fail "the sweep ended before $2: $(cat "$work"/held*.err)"
    [ "$SECONDS" -lt "$deadline" ] || fail "no $2 within 30 s"
    sleep 0.1
  done
}
# shellcheck disable=SC2016 # wait_for evaluates the condition itself
wait_for '[ "$(wc -l <"$work/slurm/slurm/jobs.txt")" = 2 ]' "submission of the held array"
held_job=$(tail -n 1 "$work/slurm/slurm/jobs.txt" | cut -d' ' -f1)
grep -q " 1-2$" "$work/slurm/slurm/jobs.txt" || fail "the resubmission was not points 1-2: $(cat "$work/slurm/slurm/jobs.txt")"
held_batches=$(tail -n 1 "$work/slurm/slurm/jobs.txt" | cut -d' ' -f2)
[ "$(cat "$work/slurm/slurm/$held_batches")" = "1-2" ] || fail "points 1 and 2 are not one batch"
kill "$runner"
wait "$runner" 2>/dev/null || true
# This run sees a squeue that lists tasks in every state, as some Slurm versions do with -j until the controller
# purges an ended task (MinJobAge, 300 s here): the wait must end when every task is in a final state.
mkdir "$work/all-states"
printf '#!/bin/sh\nexec "%s" "$@" --states=all\n' "$(command -v squeue)" >"$work/all-states/squeue"
chmod +x "$work/all-states/squeue"
PATH="$work/all-states:$PATH" "${slurm_sweep[@]}" >"$work/held2.out" 2>"$work/held2.err" &
runner=$!
# shellcheck disable=SC2016
wait_for 'grep -q "still queued or running" "$work/held2.err"' "wait for the held array"
timeout 10 scancel "$held_job"
wait "$runner" || fail "the run whose task was cancelled failed: $(cat "$work/held2.err")"
[ "$(wc -l <"$work/slurm/slurm/jobs.txt")" = 2 ] || fail "the rerun submitted points 1-2 again instead of waiting"
for i in 1 2; do
  grep -q '"status": *"failed"' "$work/slurm/points/$i/result.json" || fail "cancelled point $i is not failed"
  grep -q "CANCELLED" "$work/slurm/points/$i/result.json" || fail "cancelled point $i's error does not name CANCELLED"
  grep -q "${held_job}_0 (point $i)" "$work/slurm/points/$i/result.json" || fail "point $i's error does not name its task"
  [ "$(grep -c "^$i," "$csv")" = 1 ] || fail "point $i is not in results.csv exactly once"
done

# Options sbatch rejects: exit 2 with Slurm's message.
rm "$work/slurm/points/1/result.json"
status=0
slurm_run --slurm-partition no-such-partition >/dev/null 2>"$work/rejected.err" || status=$?
[ "$status" = 2 ] || fail "a rejected partition exited $status, expected 2"
grep -q "sbatch rejected" "$work/rejected.err" || fail "unclear message: $(cat "$work/rejected.err")"
grep -q "partition" "$work/rejected.err" || fail "the message does not carry Slurm's reason: $(cat "$work/rejected.err")"
# No configuration at all (only where no system-wide Slurm config would reach a real cluster).
if [ ! -e /etc/slurm/slurm.conf ]; then
  status=0
  env -u SLURM_CONF "$vitsim" sweep "$work/spec.json" --out "$work/slurm" --backend slurm \
    >/dev/null 2>"$work/noconf.err" || status=$?
  [ "$status" = 2 ] || fail "no SLURM_CONF exited $status, expected 2"
  grep -q "SLURM_CONF is not set" "$work/noconf.err" || fail "unclear message: $(cat "$work/noconf.err")"
fi

"$slurm_local" stop "$cluster"
echo "PASS: slurm sweep test in $((SECONDS - t0)) s"

#!/usr/bin/env bash
# A private single-node Slurm cluster on localhost, for tests (docs/sweeps.md, "Slurm").
#   tools/slurm-local.sh start DIR   -> starts munged, slurmctld and slurmd from DIR; prints the SLURM_CONF path
#   tools/slurm-local.sh stop DIR    -> cancels the cluster's jobs, waits for them, stops the three daemons
#   tools/slurm-local.sh selftest    -> start, an 8-task array, checks, stop (in a mktemp dir)
# Everything (config, munge key and socket, state, spool, logs, pid files) lives in DIR; nothing under
# /etc, /var or /run is written. DIR must be new or empty and short (the munge socket path must stay
# under 108 bytes). Clients find the cluster with SLURM_CONF=DIR/slurm.conf.
# Env: SLURM_LOCAL_CPUS (node CPUs, default $(nproc): more runs more tasks at once, see config_overrides).
# Recipe and pitfalls: Debian slurm-wlm 22.05; every wait has a deadline and checks the daemons are alive.
set -euo pipefail

die() {
  echo "slurm-local: $*" >&2
  exit 2
}

need_binaries() {
  local b
  for b in munged mungekey slurmctld slurmd sinfo squeue sbatch scancel; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
      die "'$b' not found: install the Debian packages slurm-wlm and munge"
  done
  PATH="$PATH:/usr/sbin"
}

# Alive = the process exists and is not a zombie (an exited daemon may stay one for a while, pitfall 14).
pid_alive() {
  local pid="$1" state
  [ -n "$pid" ] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Alive and still the named daemon (guards against a reused pid). Only for processes past their exec:
# right after `setsid daemon &` the child's comm is still the shell's.
pid_is() {
  pid_alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

pid_from_file() {
  if [ -s "$1" ]; then tr -dc '0-9' <"$1"; fi
}

# Fails (with the daemon's log tail) if the daemon started with pid $1 has died.
require_alive() {
  local pid="$1" comm="$2" log="$3"
  if ! pid_alive "$pid"; then
    echo "slurm-local: $comm (pid $pid) died; last lines of $log:" >&2
    tail -n 15 "$log" >&2 || true
    return 1
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_free_port() {
  local port tries=0
  while :; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
    if ! port_in_use "$port" && [ "$port" != "${2:-}" ]; then
      echo "$port"
      return 0
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || die "no free TCP port found in 20000-39999"
  done
}

write_conf() {
  local dir="$1" ctld_port="$2" slurmd_port="$3" cpus="$4" user
  user=$(id -un)
  cat >"$dir/slurm.conf.tmp" <<EOF
# Written by tools/slurm-local.sh: a private single-node test cluster.
ClusterName=localtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MailProg=/usr/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$dir/slurm.conf.tmp" "$dir/slurm.conf"
}

cmd_start() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: slurm-local.sh start DIR"
  need_binaries
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  # Old state would make slurmctld recover old jobs (pitfall 16).
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty: start a cluster in a new directory"
  [ "${#dir}" -le 80 ] || die "$dir is too long (${#dir} bytes): the munge socket path must stay under 108 bytes"
  local cpus="${SLURM_LOCAL_CPUS:-$(nproc)}"
  [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS='$cpus' is not a positive integer"
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  # munged needs o+x on every directory above its socket (pitfall 1); the key stays 0600.
  chmod 755 "$dir" "$dir/munge"
  mungekey -c -k "$dir/munge/munge.key" >/dev/null

  setsid munged -F -f --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    </dev/null >"$dir/log/munged.out" 2>&1 &
  local munged_pid=$!
  echo "$munged_pid" >"$dir/munged.started.pid"
  local deadline=$((SECONDS + 10))
  until [ -S "$dir/munge/munge.socket" ]; do
    require_alive "$munged_pid" munged "$dir/log/munged.out" || die "munged did not start"
    [ "$SECONDS" -lt "$deadline" ] || die "munged socket did not appear within 10 s"
    sleep 0.05
  done

  # Random ports so that two clusters can run at once (pitfall 7); retry if another process took one.
  local ctld_pid ctld_port slurmd_port up
  for _ in 1 2 3; do
    ctld_port=$(random_free_port)
    slurmd_port=$(random_free_port "$ctld_port")
    write_conf "$dir" "$ctld_port" "$slurmd_port" "$cpus"
    setsid slurmctld -D -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
    ctld_pid=$!
    echo "$ctld_pid" >"$dir/slurmctld.started.pid"
    # No client call before the controller listens: clients block ~9 s in retries (pitfall 4).
    deadline=$((SECONDS + 15))
    up=0
    while [ "$SECONDS" -lt "$deadline" ]; do
      pid_alive "$ctld_pid" || break
      if port_in_use "$ctld_port"; then
        up=1
        break
      fi
      sleep 0.05
    done
    [ "$up" = 0 ] || break
    if pid_alive "$ctld_pid"; then
      cmd_stop "$dir" >/dev/null 2>&1 || true
      die "slurmctld did not listen on port $ctld_port within 15 s (log: $dir/log/slurmctld.log)"
    fi
    grep -q "Address already in use" "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" 2>/dev/null || {
      tail -n 15 "$dir/log/slurmctld.log" >&2 2>/dev/null || true
      cmd_stop "$dir" >/dev/null 2>&1 || true
      die "slurmctld died at start (log: $dir/log/slurmctld.log)"
    }
    echo "slurm-local: port $ctld_port was taken, retrying" >&2
  done
  if [ "$up" = 0 ]; then
    cmd_stop "$dir" >/dev/null 2>&1 || true
    die "slurmctld could not bind a free port in 3 attempts"
  fi

  setsid slurmd -D -f "$dir/slurm.conf" -N localhost </dev/null >"$dir/log/slurmd.out" 2>&1 &
  local slurmd_pid=$!
  echo "$slurmd_pid" >"$dir/slurmd.started.pid"
  export SLURM_CONF="$dir/slurm.conf"
  deadline=$((SECONDS + 30))
  local state=""
  until [ "$state" = idle ]; do
    if ! require_alive "$ctld_pid" slurmctld "$dir/log/slurmctld.log" ||
      ! require_alive "$slurmd_pid" slurmd "$dir/log/slurmd.log"; then
      cmd_stop "$dir" >/dev/null 2>&1 || true
      die "a daemon died before the node became idle"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      cmd_stop "$dir" >/dev/null 2>&1 || true
      die "node not idle within 30 s (state '$state'; logs in $dir/log)"
    fi
    sleep 0.05
    state=$(timeout 10 sinfo -h -n localhost -o %T 2>/dev/null || true)
  done
  echo "$dir/slurm.conf"
}

# TERM, wait up to 10 s, then KILL: only while /proc/PID/comm still names the daemon (pitfall 5).
stop_daemon() {
  local pid="$1" comm="$2" deadline
  pid_is "$pid" "$comm" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while pid_is "$pid" "$comm" && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.05
  done
  if pid_is "$pid" "$comm"; then
    echo "slurm-local: $comm (pid $pid) ignored TERM for 10 s; sending KILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

daemon_pid() {
  # The daemon's own pid file, else the pid recorded at start (the daemon may have died before writing).
  local pid
  pid=$(pid_from_file "$1")
  [ -n "$pid" ] || pid=$(pid_from_file "$2")
  echo "$pid"
}

cmd_stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: slurm-local.sh stop DIR"
  [ -d "$dir" ] || die "$dir: no such directory"
  dir=$(cd "$dir" && pwd -P)
  [ -f "$dir/slurm.conf" ] || [ -f "$dir/munged.started.pid" ] || die "$dir is not a slurm-local cluster"
  PATH="$PATH:/usr/sbin"
  local ctld_pid slurmd_pid munged_pid
  ctld_pid=$(daemon_pid "$dir/slurmctld.pid" "$dir/slurmctld.started.pid")
  slurmd_pid=$(daemon_pid "$dir/slurmd.pid" "$dir/slurmd.started.pid")
  munged_pid=$(daemon_pid "$dir/munge/munged.pid" "$dir/munged.started.pid")
  # Jobs outlive the daemons (pitfall 6): cancel them and wait for an empty queue first.
  if pid_is "$ctld_pid" slurmctld && pid_is "$slurmd_pid" slurmd; then
    export SLURM_CONF="$dir/slurm.conf"
    timeout 10 scancel -u "$(id -un)" 2>/dev/null || true
    local deadline=$((SECONDS + 20)) queue=x
    while [ -n "$queue" ] && [ "$SECONDS" -lt "$deadline" ] && pid_is "$ctld_pid" slurmctld; do
      queue=$(timeout 10 squeue -h -o %i 2>/dev/null || echo unknown)
      [ -z "$queue" ] || sleep 0.1
    done
    [ -z "$queue" ] || echo "slurm-local: jobs still queued after 20 s: $queue" >&2
  fi
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munged_pid" munged
}

selftest_dir=""
cmd_selftest() {
  need_binaries
  local dir conf job deadline tasks_left i status=0
  dir=$(mktemp -d -t slurmst.XXXXXX)
  selftest_dir="$dir"
  trap 'cmd_stop "$selftest_dir" >/dev/null 2>&1 || true' EXIT
  local t0=$SECONDS
  conf=$(cmd_start "$dir")
  export SLURM_CONF="$conf"
  mkdir "$dir/out"
  cat >"$dir/task.sh" <<'EOF'
#!/bin/sh
echo "task $SLURM_ARRAY_TASK_ID" >"$OUT/$SLURM_ARRAY_TASK_ID.txt"
EOF
  job=$(OUT="$dir/out" timeout 10 sbatch --parsable --array=0-7 -o "$dir/out/%A_%a.log" "$dir/task.sh")
  job=${job%%;*}
  deadline=$((SECONDS + 60))
  tasks_left=x
  while [ -n "$tasks_left" ]; do
    [ "$SECONDS" -lt "$deadline" ] || {
      echo "selftest: the array did not finish within 60 s" >&2
      return 1
    }
    sleep 0.2
    tasks_left=$(timeout 10 squeue -h -j "$job" -o %i 2>/dev/null || echo unknown)
  done
  for i in 0 1 2 3 4 5 6 7; do
    if [ "$(cat "$dir/out/$i.txt" 2>/dev/null)" != "task $i" ]; then
      echo "selftest: task $i wrote no output" >&2
      status=1
    fi
  done
  cmd_stop "$dir"
  trap - EXIT
  if [ "$status" = 0 ]; then
    echo "selftest: ok (8-task array, $((SECONDS - t0)) s)"
    rm -rf "$dir"
  else
    echo "selftest: FAILED (cluster dir kept: $dir)" >&2
  fi
  return "$status"
}

case "${1:-}" in
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  selftest) cmd_selftest ;;
  *) die "usage: slurm-local.sh start DIR | stop DIR | selftest" ;;
esac

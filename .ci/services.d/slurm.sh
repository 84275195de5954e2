#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the launcher tests: munged (as user munge),
# slurmctld and `slurmd -N localhost`, with a minimal slurm.conf in a state directory.
# KillWait=30 (Slurm's default, written out): a cancelled job gets SIGTERM, then SIGKILL 30 s
# later; docs/launchers.md says what llem does in between.
# Usage: slurm.sh start|stop. Clients find the cluster with SLURM_CONF=$STATE/slurm.conf
# (the tests read it from there). Processes are stopped by their recorded PIDs only.
set -euo pipefail
STATE=${LLEM_SLURM_STATE:-/tmp/llem-slurm}
export SLURM_CONF=$STATE/slurm.conf

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))  # 80% of RAM, MiB
  cat > "$SLURM_CONF" <<CONF
ClusterName=llem-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=${LLEM_SLURMCTLD_PORT:-6817}
SlurmdPort=${LLEM_SLURMD_PORT:-6818}
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
KillWait=30
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/munge"
  chown munge:munge "$STATE/munge"
  chmod 700 "$STATE/munge"
  write_conf
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  # munged's socket stays at its default path: slurm's auth/munge plugin looks for it there.
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  if ! pid_alive "$STATE/munged.pid"; then
    runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"
    cp "$STATE/munge/munged.pid" "$STATE/munged.pid"
  fi
  pid_alive "$STATE/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
  pid_alive "$STATE/slurmd.pid" || slurmd -f "$SLURM_CONF" -N localhost
  for _ in $(seq 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
      echo "slurm: node localhost idle (SLURM_CONF=$SLURM_CONF)"; return 0
    fi
    sleep 1
  done
  echo "slurm: the node did not become idle in 60 s; logs in $STATE" >&2
  sinfo -N -l >&2 || true
  tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  return 1
}

stop() {
  local f pid
  for f in slurmd slurmctld munged; do
    if pid_alive "$STATE/$f.pid"; then
      pid=$(cat "$STATE/$f.pid")
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$STATE/$f.pid"
  done
  echo "slurm: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

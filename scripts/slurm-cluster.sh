#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, for the Slurm executor's tests and benchmark.
#   scripts/slurm-cluster.sh start   - installs munge/slurm if missing, starts munged, slurmctld, slurmd
#   scripts/slurm-cluster.sh status  - prints the folder and sinfo
#   scripts/slurm-cluster.sh stop    - cancels every job, then stops the daemons by their PID files
# Everything lives in a temp folder; its path is written to $KNEEWEB_SLURM_STATE (default
# /tmp/kneeweb-slurm.current). Tests read SLURM_CONF from "$folder/env". Needs root (SlurmUser=root).
set -euo pipefail
state_file="${KNEEWEB_SLURM_STATE:-/tmp/kneeweb-slurm.current}"
ctld_port="${KNEEWEB_SLURMCTLD_PORT:-6817}"
slurmd_port="${KNEEWEB_SLURMD_PORT:-6818}"

install_packages() {
  local missing=()
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# cgroup v1 with a memory controller gives real OUT_OF_MEMORY states; without it Slurm tracks by /proc.
cgroup_v1() { [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/freezer ] && [ -z "${KNEEWEB_SLURM_NO_CGROUP:-}" ]; }

start() {
  if [ -f "$state_file" ] && [ -d "$(cat "$state_file")" ]; then
    echo "A cluster is already recorded in $state_file ($(cat "$state_file")); stop it first." >&2
    exit 1
  fi

  install_packages
  local d
  d="$(mktemp -d /tmp/kneeweb-slurm-XXXX)"
  chmod 755 "$d"
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log" "$d/run"
  chmod 755 "$d/munge"
  head -c 1024 /dev/urandom >"$d/munge/munge.key"
  chmod 400 "$d/munge/munge.key"
  munged --socket="$d/munge/munge.sock" --key-file="$d/munge/munge.key" --pid-file="$d/run/munged.pid" \
    --log-file="$d/log/munged.log" --seed-file="$d/munge/munge.seed"

  local cpus mem_mb proctrack task acct_params cred_expire
  # Slurm holds a requeued job back for the credential lifetime, so that the controller can end the
  # lost run on its node before the new run (same job id) starts there; 120 s by default. 60 s keeps
  # the node-failure test short and is still far above a step launch on a loaded machine.
  cred_expire="${KNEEWEB_SLURM_CRED_EXPIRE:-60}"
  cpus="$(nproc)"
  # Leave a quarter of the memory to the machine itself.
  mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 3 / 4 / 1024 ))
  proctrack=proctrack/linuxproc
  task=task/none
  # Without cgroups the accounting poll enforces --mem; with them the cgroup does (never both).
  acct_params=OverMemoryKill
  if cgroup_v1; then
    proctrack=proctrack/cgroup
    task=task/cgroup
    acct_params=NoOverMemoryKill
    cat >"$d/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
EOF
  fi

  cat >"$d/slurm.conf" <<EOF
ClusterName=ci
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock,cred_expire=$cred_expire
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=$proctrack
TaskPlugin=$task
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=$acct_params
JobAcctGatherFrequency=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
MinJobAge=3600
ReturnToService=2
MailProg=/bin/true
SchedulerParameters=sched_interval=1
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$d/slurm.conf" >"$d/env"
  export SLURM_CONF="$d/slurm.conf"
  # Record the folder first, so a failed start below can still be stopped by PID.
  echo "$d" >"$state_file"
  trap 'echo "Slurm did not start; see $d/log" >&2; tail -n 5 "$d"/log/*.log >&2 || true; stop' ERR
  slurmctld
  slurmd -N localhost

  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
      echo "Slurm cluster up in $d ($cpus CPUs, ${mem_mb} MB, $proctrack)"
      return 0
    fi
    sleep 0.5
  done
  echo "The cluster did not become idle; see $d/log" >&2
  sinfo >&2 || true
  tail -n 5 "$d"/log/*.log >&2 || true
  stop
  exit 1
}

stop_pid() {
  local file="$1"
  [ -f "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  [ -f "$state_file" ] || { echo "No cluster recorded in $state_file"; return 0; }
  local d
  d="$(cat "$state_file")"
  if [ -f "$d/slurm.conf" ]; then
    export SLURM_CONF="$d/slurm.conf"
    scancel --full --quiet "--user=$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 20); do
      [ -z "$(squeue -h -t running,completing 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_pid "$d/run/slurmd.pid"
  stop_pid "$d/run/slurmctld.pid"
  stop_pid "$d/run/munged.pid"
  rm -rf "$d"
  rm -f "$state_file"
  echo "Slurm cluster stopped"
}

status() {
  [ -f "$state_file" ] || { echo "No cluster recorded in $state_file"; exit 1; }
  local d
  d="$(cat "$state_file")"
  echo "folder: $d"
  SLURM_CONF="$d/slurm.conf" sinfo
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

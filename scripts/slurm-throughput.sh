#!/usr/bin/env bash
# Benchmark, not a test: N small jobs (the phantom at coarsening 8 with demo-knee, nsm off) through an
# in-process site and through a Slurm site, on this machine. Prints the wall time of each batch and
# the Slurm overhead per job: submit -> running (sbatch to Slurm StartTime) and completion ->
# registered (Slurm EndTime to the job's FinishedUtc). Needs a built KneeWeb (Debug) and a running
# cluster (scripts/slurm-cluster.sh start).   Usage: scripts/slurm-throughput.sh [N=20]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
bin="$(ls -d KneeWeb/bin/Debug/*/ | head -n1)"
kw="$(find "$bin" -maxdepth 2 -name KneeWeb -type f -perm -u+x | head -n1)"
state="${KNEEWEB_SLURM_STATE:-/tmp/kneeweb-slurm.current}"
conf="$(cat "$state")/slurm.conf"
work="$(mktemp -d /tmp/kneeweb-throughput-XXXX)"
pids=()
# Stops the sites and waits for them (a Slurm site takes a moment to stop following its jobs).
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# One small input: the phantom on its coarsest grid (48x48x20).
"$kw" phantom --out "$work/phantom" --coarsening 8 >/dev/null
input="$work/phantom/image.nii.gz"

# Called directly, never in $(...): a subshell would keep the site's PID from the cleanup's list
# (the sites were left running). The site's token is left in $token.
start_site() { # name port extra-env...
  local name="$1" port="$2"; shift 2
  local data="$work/$name"
  mkdir -p "$data/models"
  cp models/demo-knee.* "$data/models/"
  "$kw" users add bench --role Admin --password "bench-password-123" --data-root "$data" >/dev/null 2>&1
  token="$("$kw" users token create bench --data-root "$data" 2>/dev/null)"
  env KneeWeb__DataRoot="$data" KneeWeb__ModelsPath="$data/models" KneeWeb__DefaultModel=demo-knee \
      Logging__LogLevel__Default=Warning "$@" "$kw" --urls "http://127.0.0.1:$port" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/v1/healthz" >/dev/null && break; sleep 0.5; done
}

run_batch() { # port token -> prints seconds, writes ids to $work/ids-$port
  local port="$1" token="$2" t0 t1
  t0=$(date +%s.%N)
  : >"$work/ids-$port"
  for _ in $(seq 1 "$n"); do
    curl -sf -H "Authorization: Bearer $token" -F "file=@$input" -F 'options={"device":"cpu","nsm":"off"};type=application/json' \
      "http://127.0.0.1:$port/v1/jobs" | jq -r .id >>"$work/ids-$port"
  done
  while read -r id; do
    while true; do
      s=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/jobs/$id" | jq -r .status)
      case "$s" in Queued|Running) sleep 0.2 ;; *) [ "$s" = Completed ] || echo "job $id: $s" >&2; break ;; esac
    done
  done <"$work/ids-$port"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

start_site inprocess 5391
tok_in="$token"
start_site slurm 5392 KneeWeb__Jobs__Executor=slurm KneeWeb__Jobs__Slurm__SlurmConf="$conf" \
  KneeWeb__Jobs__Slurm__Cpus=1 KneeWeb__Jobs__Slurm__MemoryMb=2000 KneeWeb__Jobs__Slurm__PollInterval=00:00:01
tok_sl="$token"
in_s=$(run_batch 5391 "$tok_in")
sl_s=$(run_batch 5392 "$tok_sl")
echo "$n jobs in-process (Concurrency 1): ${in_s} s; through Slurm ($(nproc) CPUs, -c 1 per job): ${sl_s} s"

# Overhead per job on an idle cluster: three jobs one after another.
n=1
: >"$work/solo"
for _ in 1 2 3; do run_batch 5392 "$tok_sl" >/dev/null; cat "$work/ids-5392" >>"$work/solo"; done
python3 - "$work/slurm/kneeweb.db" "$conf" "$work/solo" <<'PY'
import sqlite3, subprocess, sys, os, datetime, statistics
db, conf, solo = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().split()
con = sqlite3.connect(db)
def utc(text):  # SQLite TEXT "YYYY-MM-DD HH:MM:SS.fffffff" in UTC -> local naive, like Slurm's times
    return datetime.datetime.fromisoformat(text[:26]).replace(tzinfo=datetime.timezone.utc).astimezone().replace(tzinfo=None)
site_start, slurm_start, register = [], [], []
for job_id in solo:
    slurm_id, created, started, finished = con.execute(
        "SELECT SlurmJobId, CreatedUtc, StartedUtc, FinishedUtc FROM Jobs WHERE Id = ?", (job_id.upper(),)).fetchone()
    out = subprocess.run(["scontrol", "show", "job", str(slurm_id)], capture_output=True, text=True, env={**os.environ, "SLURM_CONF": conf}).stdout
    f = dict(t.split("=", 1) for t in out.split() if "=" in t)
    ts = lambda k: datetime.datetime.fromisoformat(f[k])
    site_start.append((utc(started) - utc(created)).total_seconds())
    slurm_start.append((ts("StartTime") - ts("SubmitTime")).total_seconds())
    register.append((utc(finished) - ts("EndTime")).total_seconds())
fmt = lambda xs: f"median {statistics.median(xs):.1f} s (of {', '.join(f'{x:.1f}' for x in xs)})"
print("submit -> running, site (upload accepted to row Running):", fmt(site_start))
print("submit -> running, Slurm (SubmitTime to StartTime, 1 s resolution):", fmt(slurm_start))
print("completion -> registered (Slurm EndTime to row Completed, 1 s resolution):", fmt(register))
PY

#!/usr/bin/env bash
# Runs the whole KneeWeb test suite (unit, component, host, process, browser, reference cross-checks),
# after installing what it needs. Exits non-zero on any failure; nothing is skipped.
# One part only: scripts/test.sh unit|component|host|process|browser|reference
# (the same as dotnet test --filter Category=<part>; every test has exactly one category).
set -euo pipefail
cd "$(dirname "$0")/.."
filter=()
if [[ $# -gt 0 ]]; then
  case "$1" in
    unit|component|host|process|browser|reference) filter=(--filter "Category=$1") ;;
    *) echo "usage: scripts/test.sh [unit|component|host|process|browser|reference]" >&2; exit 2 ;;
  esac
fi
scripts/install-deps.sh test
dotnet build KneeWeb.sln --nologo -v quiet
# A real single-node Slurm cluster for the Slurm executor's tests, stopped by PID on any exit.
export KNEEWEB_SLURM_STATE="$(mktemp -u /tmp/kneeweb-slurm-suite-XXXX.current)"
export KNEEWEB_SLURM_REQUIRED=1
trap 'scripts/slurm-cluster.sh stop' EXIT
scripts/slurm-cluster.sh start
results="$(mktemp -d)"
set +e
dotnet test KneeWeb.sln --no-build --nologo ${filter[@]+"${filter[@]}"} --logger "console;verbosity=normal" --logger "trx;LogFileName=results.trx" --results-directory "$results" 2>&1 | tee "$results/log.txt"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for CI: "N passed, N failed, N skipped".
python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed")); failed += int(counters.get("failed")) + int(counters.get("error"))
    skipped += int(counters.get("notExecuted"))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
if skipped:
    print("Skipped tests are failures here: the suite must run everything.")
    sys.exit(1)
if passed == 0:
    sys.exit(1)
PY
exit "$status"

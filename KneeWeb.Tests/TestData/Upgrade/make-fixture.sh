#!/usr/bin/env bash
# Writes kneeweb-0.1.0.db: a small database made by a KneeWeb release through its own code paths
# (the web API, the sign-in form and the users/groups command line), for the upgrade test.
# Usage: make-fixture.sh <folder holding the release's KneeWeb executable> <output .db>
# Run once per release whose databases must keep opening; the committed file is never regenerated
# by later code (that would test the new release against itself). See README.md beside it.
set -euo pipefail
bin="$(cd "$1" && pwd)"; out="$2"
work="$(mktemp -d)"; data="$work/data"; mkdir -p "$data"
port="${PORT:-5791}"; url="http://127.0.0.1:$port"
export KneeWeb__DataRoot="$data" KneeWeb__ModelsPath="$work/models" Logging__LogLevel__Default=Warning
server=""
trap '[[ -n "$server" ]] && kill -9 "$server" 2>/dev/null; true' EXIT
start() { # extra environment for this run, e.g. a step delay
  env "$@" "$bin/KneeWeb" --urls "$url" >>"$work/server.log" 2>&1 & server=$!
  for _ in $(seq 300); do curl -fs "$url/v1/healthz" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
cli() { "$bin/KneeWeb" "$@" --data-root "$data"; }
api() { curl -fsS -H "Authorization: Bearer $token" "$@"; }
submit() { # file, options json, [token]
  printf '%s' "$2" >"$work/options.json"
  curl -sS -H "Authorization: Bearer ${3:-$token}" -F "file=@$1;type=application/octet-stream" -F "options=<$work/options.json;type=application/json" "$url/v1/jobs" | tee -a "$work/responses.log" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
wait_end() { for _ in $(seq 600); do s="$(api "$url/v1/jobs/$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"; [[ "$s" != Queued && "$s" != Running ]] && return; sleep 0.2; done; echo "job $1 stuck" >&2; exit 1; }
wait_status() { for _ in $(seq 600); do s="$(api "$url/v1/jobs/$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"; [[ "$s" == "$2" ]] && return; sleep 0.1; done; echo "job $1 never $2" >&2; exit 1; }

# Inputs: the int16 ramp the API tests use (24x20x12, 0.5x0.5x1.5 mm), and a truncated copy.
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np, nibabel as nib
i, j, k = np.meshgrid(np.arange(24), np.arange(20), np.arange(12), indexing="ij")
affine = np.array([[0.5, 0, 0, -10], [0, 0.5, 0, 20], [0, 0, 1.5, -30], [0, 0, 0, 1]])
nib.save(nib.Nifti1Image((i + 2 * j + 3 * k).astype(np.int16), affine), sys.argv[1] + "/ramp.nii.gz")
data = open(sys.argv[1] + "/ramp.nii.gz", "rb").read()
open(sys.argv[1] + "/corrupt.nii.gz", "wb").write(data[: len(data) // 3])  # truncated: the job fails
PY

# 1. First start: creates the roles and the initial Admin 'admin'.
start
kill "$server"; wait "$server" || true
# 2. Accounts, groups and tokens through the command line.
cli groups add knee-oa --description "Knee OA cohort"
cli users add pia --role PI --password "pia-password-123" --group knee-oa
cli users add bob --role Member --password "bob-password-123" --group default knee-oa
cli users add carol --role Member --password "carol-password-12"
cli groups add-member knee-oa carol
cli users lock carol
token="$(cli users token create admin --name fixture 2>/dev/null)"
bobtoken="$(cli users token create bob --name bob-scripts 2>/dev/null)"
cli users token create pia --name old-laptop >/dev/null 2>&1
cli users token revoke pia 3
# 3. Jobs through the API: completed (tags, subject, side), failed, completed in knee-oa by bob.
start
j1="$(submit "$work/ramp.nii.gz" '{"subject_id":"S-001","knee_side":"left","tags":"baseline,knee-oa","notes":"fixture job"}')"
wait_end "$j1"
j2="$(submit "$work/corrupt.nii.gz" '{"subject_id":"S-002","tags":["follow-up"]}')"
wait_end "$j2"
printf '%s' '{"subject_id":"S-003","knee_side":"right"}' >"$work/options3.json"
j3="$(curl -fsS -H "Authorization: Bearer $bobtoken" -F "file=@$work/ramp.nii.gz;type=application/octet-stream" -F "options=<$work/options3.json;type=application/json" "$url/v1/jobs?group=knee-oa" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
wait_end "$j3"
api "$url/v1/jobs/$j1/artifacts/stats.json" >/dev/null
api "$url/v1/jobs/$j1" >/dev/null
# A failed and a good sign-in through the form (audit rows; Identity's failed-count column).
for pw in wrong-password-1 pia-password-123; do
  page="$(curl -fsS -c "$work/jar" "$url/account/signin")"
  af="$(printf '%s' "$page" | /usr/bin/python3 -c 'import re,sys; print(re.search(r"name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"", sys.stdin.read()).group(1))')"
  curl -sS -o /dev/null -b "$work/jar" -c "$work/jar" --data-urlencode "__RequestVerificationToken=$af" --data-urlencode "UserName=pia" --data-urlencode "Password=$pw" "$url/account/signin"
done
kill "$server"; wait "$server" || true
# 4. Slow steps: one job running, one cancelled while queued, one queued, then the server dies (kill -9).
start KneeWeb__Jobs__DiagnosticStepDelay=00:05:00
j4="$(submit "$work/ramp.nii.gz" '{"subject_id":"S-004","tags":"baseline"}')"
wait_status "$j4" Running
j5="$(submit "$work/ramp.nii.gz" '{"subject_id":"S-005"}')"
api -X DELETE "$url/v1/jobs/$j5" >/dev/null
wait_status "$j5" Cancelled
j6="$(submit "$work/ramp.nii.gz" '{"subject_id":"S-006","tags":"knee-oa"}')"
sleep 2
kill -9 "$server"; wait "$server" 2>/dev/null || true
# 5. Identity rows no KneeWeb screen writes yet (claims, an external login, a user token): written with
#    SQL into the tables the release created, so the upgrade test covers every Identity table too.
/usr/bin/python3 - "$data/kneeweb.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
pia = db.execute("SELECT Id FROM AspNetUsers WHERE UserName='pia'").fetchone()[0]
pi_role = db.execute("SELECT Id FROM AspNetRoles WHERE Name='PI'").fetchone()[0]
db.execute("INSERT INTO AspNetUserClaims (UserId, ClaimType, ClaimValue) VALUES (?, 'department', 'radiology')", (pia,))
db.execute("INSERT INTO AspNetRoleClaims (RoleId, ClaimType, ClaimValue) VALUES (?, 'permission', 'jobs.cancel-group')", (pi_role,))
db.execute("INSERT INTO AspNetUserLogins (LoginProvider, ProviderKey, ProviderDisplayName, UserId) VALUES ('oidc', 'pia-oidc-42', 'Hospital SSO', ?)", (pia,))
db.execute("INSERT INTO AspNetUserTokens (UserId, LoginProvider, Name, Value) VALUES (?, '[AspNetUserStore]', 'AuthenticatorKey', 'JBSWY3DPEHPK3PXP')", (pia,))
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("VACUUM")
db.close()
PY
cp "$data/kneeweb.db" "$out"
echo "jobs: completed $j1, failed $j2, completed(knee-oa) $j3, running $j4, cancelled $j5, queued $j6"
rm -rf "$work"

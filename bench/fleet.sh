#!/usr/bin/env bash
# bench/fleet.sh - N simulated runners against one fresh berthd, over the
# real runner protocol (bench/fleet/fleet.c, berth-fleet).
#
#   bench/fleet.sh [N]            (default 10000)
#
# Starts berthd (SQLite, temp data dir, loopback, `ulimit -n` raised to the
# hard limit), runs berth-fleet (creates N servers through the API,
# registers each simulated runner with its one-time token, keeps N
# WebSockets open with heartbeats every 5 s, phases spread). Once all are
# connected it holds HOLD seconds (default 60) and reports:
#   - connected runners: berthd's /metrics berth_runners_connected, and the
#     API's count of ACTIVE servers
#   - spurious UNREACHABLE transitions during the hold (audit log
#     server.status entries since the hold began; must be 0)
#   - berthd's RSS (ps)
# and, from the hold's 10th second, runs wrk on GET /api/v1/me for
# API_SECONDS (default 10; 0 skips): the API while the fleet is connected;
# then has berth-fleet post RUNS (default 1000) runs of a script `true`
# spread over the servers and prints the dispatch latency p50/p99/max (POST
# -> the simulated runner receiving the `job` frame; same process,
# monotonic clock).
# Targets: N=10,000 connected, RSS <= 512 MiB, 0 spurious UNREACHABLE,
# dispatch p99 < 10 ms.
#
# Env: BUILD (default build-bench), HOLD, RUNS, CONCURRENCY, API_SECONDS, KEEP=1 keeps
# the temp dir (logs) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
HOLD=${HOLD:-60}
RUNS=${RUNS:-1000}
CONCURRENCY=${CONCURRENCY:-256}
BUILD=${BUILD:-build-bench}
BERTHD=${BERTHD:-$BUILD/berthd}
FLEET=$BUILD/berth-fleet
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$FLEET" ] || {
  echo "build first: cmake -S . -B $BUILD && make -C $BUILD berthd berth-fleet" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)"
. bench/lib.sh
bench_tmp fleet
bench_berthd "$BERTHD"

echo "== berth fleet: $N runners, heartbeat 5 s, hold ${HOLD} s, $RUNS runs"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), " \
     "open files $(ulimit -n), $(uname -r)"

"$FLEET" --url "$base" --email bench@example.com --password "$pw" -n "$N" \
  --concurrency "$CONCURRENCY" --runs "$RUNS" --max-seconds 1800 >"$tmp/fleet.log" 2>&1 &
fpid=$!

# Wait (bounded) for every runner to be connected.
t0=$(date +%s)
until grep -q '^CONNECTED' "$tmp/fleet.log"; do
  if ! kill -0 "$fpid" 2>/dev/null; then
    echo "berth-fleet exited before all runners connected:"; tail -20 "$tmp/fleet.log"
    tail -20 "$tmp/berthd.log"; exit 1
  fi
  if [ $(( $(date +%s) - t0 )) -gt 1200 ]; then
    echo "not all runners connected within 1200 s:"; tail -5 "$tmp/fleet.log"; exit 1
  fi
  sleep 1
done
grep -E '^setup: .* servers created' "$tmp/fleet.log" | tail -1
grep '^CONNECTED' "$tmp/fleet.log"

token=$(bench_login)
auth=(-H "Authorization: Bearer $token")

gauge() { curl -fsS "$base/metrics" | awk -v k="$1" '$1==k {print $2}'; }
active() {
  curl -fsS "${auth[@]}" "$base/api/v1/orgs/default/servers?status=ACTIVE&limit=1" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}
# server.status audit entries at or after $1 (epoch s): "total to_unreachable
# to_active"
transitions() {
  local since=$1
  $PY - "$base" "$token" "$since" <<'PYEOF'
import json, sys, urllib.request
base, token, since = sys.argv[1], sys.argv[2], sys.argv[3]
total = unreach = active = 0
cursor = None
while True:
    url = f"{base}/api/v1/orgs/default/audit?action=server.status&since={since}&limit=500"
    if cursor:
        url += f"&cursor={cursor}"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    page = json.load(urllib.request.urlopen(req))
    for e in page["items"]:
        total += 1
        d = e.get("detail") or {}
        if d.get("to") == "UNREACHABLE":
            unreach += 1
        if d.get("to") == "ACTIVE":
            active += 1
    cursor = page.get("next_cursor")
    if not cursor:
        break
print(total, unreach, active)
PYEOF
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "hold start: berth_runners_connected $(gauge berth_runners_connected), ACTIVE servers $(active)," \
     "berthd RSS $(rss_mib $bpid) MiB"
# The audit's clock has 1 s steps: the hold counts from the next full
# second, so the last registrations (PROVISIONING -> ACTIVE) stay outside.
hold_start=$(( $(date +%s) + 1 ))
sleep "$(( hold_start - $(date +%s) ))"
# The API while the fleet is held: wrk on GET /api/v1/me (as bench/api.sh)
# from the hold's 10th second, API_SECONDS long (0: skip).
api_s=${API_SECONDS:-10}
if [ "$api_s" -gt 0 ] && command -v wrk >/dev/null && [ "$HOLD" -gt $(( api_s + 10 )) ]; then
  sleep 10
  printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$tmp/auth.lua"
  wrk -t1 -c32 -d"${api_s}s" --latency -s "$tmp/auth.lua" "$base/api/v1/me" > "$tmp/wrk.txt"
  echo "API during the hold, $N runners connected: GET /api/v1/me" \
       "$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.txt") req/s," \
       "p99 $(awk '$1=="99%" {print $2}' "$tmp/wrk.txt")," \
       "non-2xx $(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt" | grep . || echo 0)" \
       "(wrk -t1 -c32 -d${api_s}s; target without a fleet: 20,000 req/s, p99 < 5 ms)"
  sleep $(( HOLD - api_s - 10 ))
else
  sleep "$HOLD"
fi
conn=$(gauge berth_runners_connected)
act=$(active)
read -r ntrans nunreach nactive < <(transitions "$hold_start")
brss=$(rss_mib $bpid)
frss=$(rss_mib $fpid)
echo "after ${HOLD} s hold: berth_runners_connected $conn, ACTIVE servers $act of $N"
echo "server.status transitions during the hold: $ntrans (to UNREACHABLE: $nunreach, target 0;" \
     "to ACTIVE: $nactive)"
echo "berthd RSS $brss MiB (target <= 512), berth-fleet RSS $frss MiB"
grep '^fleet:' "$tmp/fleet.log" | tail -1
echo "berthd CPU so far: $(ps -o times= -p $bpid | tr -d ' ') s"

kill -USR1 "$fpid"
t1=$(date +%s)
while kill -0 "$fpid" 2>/dev/null; do
  if [ $(( $(date +%s) - t1 )) -gt 300 ]; then echo "dispatch did not finish in 300 s"; break; fi
  sleep 1
done
wait "$fpid" || echo "berth-fleet exited with $?"
fpid=
grep -E '^(dispatch|fleet: at the end)' "$tmp/fleet.log"
echo "jobs at berthd: SUCCEEDED $(gauge 'berth_jobs{status="SUCCEEDED"}')," \
     "FAILED $(gauge 'berth_jobs{status="FAILED"}'), PENDING $(gauge 'berth_jobs{status="PENDING"}')"
echo "berthd RSS after dispatch: $(rss_mib $bpid) MiB"
if grep -qE 'ERROR|sanitizer' "$tmp/berthd.log"; then
  echo "berthd errors:"; grep -E 'ERROR|sanitizer' "$tmp/berthd.log" | head -5
fi

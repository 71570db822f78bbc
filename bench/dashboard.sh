#!/usr/bin/env bash
# bench/dashboard.sh - the dashboard's server list with a big fleet: N
# simulated runners (bench/fleet's berth-fleet) connected to a fresh berthd,
# then headless Chromium on the list (bench/dashboard.py).
#
#   bench/dashboard.sh [N]        (default 10000)
#
# Prints:
#   - the API: GET .../servers?limit=50 for each sort (first page, and the
#     page after 9,000 rows by cursor), a name filter, a status filter,
#     and the whole list walked in pages of 500 (curl, 5 tries each, best
#     and median);
#   - the browser: navigation -> first rows on /o/default/servers (target
#     < 1 s) and the bytes transferred by that first load, cold cache
#     (target <= 300 KB compressed), and the same with a warm cache;
#   - berthd's CPU while TABS (default 20) windows are open on the server
#     list, against the same HOLD (default 60) seconds with the fleet alone;
#   - with a real berth-runner beside the fleet, running a script job that
#     prints LOG_RATE (default 100) lines a second: berthd's CPU over
#     LOG_HOLD (default 30) s while nobody follows its log, while TABS real
#     Chromium tabs follow it on the job's page (one browser, so one event
#     stream and one log subscription through the SharedWorker), and the
#     API targets (wrk on GET /api/v1/me, as bench/api.sh) meanwhile; then
#     TABS event streams each subscribed (a browser without SharedWorker)
#     and TABS ?follow=1 readers, for comparison (bench/dashboard-logs.py).
#     A job's log, not a deployment's: to berthd they are the same (a
#     deployment's log is its deploy job's), and berth-fleet's runners run
#     no deployments.
#
# Env: BUILD (default build-bench; berthd, berth-fleet, berth-runner), TABS,
# HOLD, RUNS (page loads per cache state, default 5), LOG_HOLD, LOG_RATE,
# PARTS (default "list logs": which halves run), KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
TABS=${TABS:-20}
HOLD=${HOLD:-60}
RUNS=${RUNS:-5}
LOG_HOLD=${LOG_HOLD:-30}
LOG_RATE=${LOG_RATE:-100}
PARTS=${PARTS:-list logs}
BUILD=${BUILD:-build-bench}
BERTHD=${BERTHD:-$BUILD/berthd}
FLEET=$BUILD/berth-fleet
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$FLEET" ] || {
  echo "build first: cmake -S . -B $BUILD && make -C $BUILD berthd berth-fleet" >&2; exit 1; }
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && $PY -c 'import selenium' 2>/dev/null || {
  echo "needs chromium, chromium-driver and python3-selenium (scripts/deps.sh)" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)"
. bench/lib.sh
bench_tmp dashboard
bench_berthd "$BERTHD"

echo "== berth dashboard: $N runners, $TABS windows, hold ${HOLD} s"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(/usr/bin/chromium --version 2>/dev/null)"

if [ "$N" -gt 0 ]; then
  "$FLEET" --url "$base" --email bench@example.com --password "$pw" -n "$N" \
    --runs 0 --max-seconds 3000 >"$tmp/fleet.log" 2>&1 &
  fpid=$!
  t0=$(date +%s)
  until grep -q '^CONNECTED' "$tmp/fleet.log"; do
    if ! kill -0 "$fpid" 2>/dev/null; then
      echo "berth-fleet exited before all runners connected:"; tail -20 "$tmp/fleet.log"; exit 1
    fi
    if [ $(( $(date +%s) - t0 )) -gt 1200 ]; then
      echo "not all runners connected within 1200 s:"; tail -5 "$tmp/fleet.log"; exit 1
    fi
    sleep 1
  done
  grep -E '^setup: .* servers created' "$tmp/fleet.log" | tail -1
  grep '^CONNECTED' "$tmp/fleet.log"
  sleep 10  # past the registrations' own writes

fi

token=$(bench_login)
api="$base/api/v1/orgs/default/servers"

# API figures: each query 5 times, best and median of curl's total time.
case " $PARTS " in *" list "*) $PY - "$api" "$token" <<'PYEOF'
import json, statistics, sys, time, urllib.request
api, token = sys.argv[1], sys.argv[2]
def get(q):
    req = urllib.request.Request(api + q, headers={"Authorization": "Bearer " + token})
    t = time.perf_counter()
    body = urllib.request.urlopen(req).read()
    return time.perf_counter() - t, body
def timed(label, q):
    ts, body = [], b""
    for _ in range(5):
        t, body = get(q)
        ts.append(t * 1000)
    d = json.loads(body)
    print("API %-44s best %6.1f ms, median %6.1f ms, %3d items of %d, %d bytes"
          % (label, min(ts), statistics.median(ts), len(d["items"]), d["total"], len(body)))
    return d
for sort in ("name", "-name", "status", "last_heartbeat", "-last_heartbeat", "created"):
    d = timed("sort=%s limit=50" % sort, "?limit=50&sort=" + sort)
# a deep page: 18 pages of 500 by cursor, then the page after them
cursor = None
for _ in range(18):
    d = json.loads(get("?limit=500&sort=name" + ("&cursor=" + cursor if cursor else ""))[1])
    cursor = d["next_cursor"]
timed("sort=name limit=50 after 9,000 rows", "?limit=50&sort=name&cursor=" + cursor)
timed("q=fleet-0999 limit=50", "?limit=50&sort=name&q=fleet-0999")
timed("q=99 limit=50 (a filter over every name)", "?limit=50&sort=name&q=99")
timed("status=UNREACHABLE limit=50", "?limit=50&sort=name&status=UNREACHABLE")
t, n, cursor = time.perf_counter(), 0, None
while True:
    d = json.loads(get("?limit=500&sort=last_heartbeat" + ("&cursor=" + cursor if cursor else ""))[1])
    n += len(d["items"])
    cursor = d["next_cursor"]
    if not cursor:
        break
print("API the whole list walked in pages of 500 (sort=last_heartbeat): %d servers in %.0f ms"
      % (n, (time.perf_counter() - t) * 1000))
PYEOF
;; esac

case " $PARTS " in *" list "*)
  $PY bench/dashboard.py "$base" bench@example.com "$pw" "$bpid" "$TABS" "$HOLD" "$RUNS" ;;
esac

case " $PARTS " in *" logs "*)
  RUNNER=$BUILD/berth-runner
  [ -x "$RUNNER" ] || { echo "build first: make -C $BUILD berth-runner" >&2; exit 1; }
  bench_runner "$RUNNER" bench-log-1 "$token"
  for _ in $(seq 1 120); do
    st=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/orgs/default/servers/$sid" |
      $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$st" = ACTIVE ] && break
    sleep 1
  done
  [ "$st" = ACTIVE ] || { echo "the real runner is $st:"; tail -5 "$tmp/runner.log"; exit 1; }
  echo "load before the log part: $(cut -d' ' -f1-3 /proc/loadavg)"
  $PY bench/dashboard-logs.py "$base" bench@example.com "$pw" "$bpid" bench-log-1 "$TABS" \
    "$LOG_HOLD" "$LOG_RATE" ;;
esac
echo "berthd RSS $(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$bpid/status) MiB," \
     "berth_runners_connected $(curl -fsS "$base/metrics" | awk '$1=="berth_runners_connected" {print $2}')"
if grep -qE 'ERROR|sanitizer' "$tmp/berthd.log"; then
  echo "berthd errors:"; grep -E 'ERROR|sanitizer' "$tmp/berthd.log" | head -5
fi

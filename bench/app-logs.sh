#!/usr/bin/env bash
# bench/app-logs.sh - application logs (docs/app-logs.md): ingest rate,
# the runner's CPU and memory while ingesting, bytes on disk per raw
# byte, a search over the stored lines, follow latency.
#
# A fresh berthd and a registered berth-runner (bench/lib.sh), an app
# record, then a container labelled as that app's (berth.app,
# berth.deployment, berth.runner = the runner's state dir, so the runner
# collects it like a deployed one) FROM the busybox fixture image that
# prints LINES lines of 100 bytes (99 + newline: a counter, a random hex
# id, a path, a status, a duration, padding; every 10,000th holds the
# word "zebra") with busybox awk as fast as it can. Docker keeps the
# container's log in a json-file of its own (--log-opt max-size=4g).
#
#  ingest   lines/s: LINES / (time from the container's start until the
#           runner stored its last line: a tail=1 query answers it). The
#           container's own run time is printed beside it: when the two
#           are close, the writer (awk -> dockerd's json-file -> the
#           Engine API stream) is the limit, not the runner.
#  cpu/rss  the runner's user+system CPU over that time (/proc/PID/stat),
#           and its peak RSS (VmHWM) and RSS sampled every 0.2 s.
#  disk     bytes of the app's segments / raw bytes (LINES * 100).
#  search   GET .../logs?q=zebra&tail=1000 through berthd and the runner
#           link (curl, text), RUNS times: median and max.
#  follow   a second container prints a line every 20 ms; a follow
#           reader (Python) takes now - the line's Docker timestamp for
#           FOLLOW_N lines: p50, p99, max.
#
#   bench/app-logs.sh                 # LINES=10000000
#   LINES=1000000 bench/app-logs.sh
# Env: BUILD (default build), LINES (300000: through Docker), STORE_LINES
# (10000000: through berth-logingest, for the search), RUNS (5),
# FOLLOW_N (500), KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LINES=${LINES:-300000}
STORE_LINES=${STORE_LINES:-10000000}
RUNS=${RUNS:-5}
FOLLOW_N=${FOLLOW_N:-500}
BERTHD=${BERTHD:-$BUILD/berthd}
RUNNER=${RUNNER:-$BUILD/berth-runner}
INGEST=${INGEST:-$BUILD/berth-logingest}
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$RUNNER" ] || {
  echo "build first: cmake -S . -B $BUILD && make -C $BUILD berthd berth-runner" >&2; exit 1; }
docker image inspect berth-fixture-base >/dev/null 2>&1 || scripts/test-fixtures.sh >/dev/null

. bench/lib.sh
bench_tmp applogs
names=()
cleanup_containers() { for n in "${names[@]}"; do docker rm -f "$n" >/dev/null 2>&1 || true; done; }
trap 'cleanup_containers; bench_cleanup' EXIT
bench_berthd "$BERTHD"
token=$(bench_login)
auth=(-H "Authorization: Bearer $token")
api="$base/api/v1/orgs/default"
bench_runner "$RUNNER" logs-1 "$token"
for _ in $(seq 1 120); do
  st=$(curl -fsS "${auth[@]}" "$api/servers/$sid" | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$st" = ACTIVE ] && break
  sleep 0.5
done
[ "$st" = ACTIVE ] || { echo "runner not ACTIVE"; tail -5 "$tmp/runner.log"; exit 1; }
app=$(curl -fsS "${auth[@]}" -X POST "$api/apps" -d "{\"name\":\"bench\",\"server\":\"logs-1\",\"repo_url\":\"https://example.com/b.git\",\"container_port\":8080}" |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
appdir="$tmp/runner/applogs/$app"

run_app() { # NAME DEPLOYMENT SCRIPT
  names+=("$1")
  docker run -d --name "$1" --log-opt max-size=4g --log-opt max-file=1 \
    --label "berth.app=$app" --label "berth.deployment=$2" --label "berth.runner=$tmp/runner" \
    berth-fixture-base /bin/sh -c "$3" >/dev/null
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$rpid/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$rpid/status"; }

echo "== app logs: ingest, disk, search, follow"
echo "machine: $(nproc) cores (shared), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), Docker $(docker version -f '{{.Server.Version}}')"
echo "runner: $RUNNER ($(file -b "$RUNNER" | grep -o 'statically linked\|dynamically linked'))"
sleep 3
idle_rss=$(rss_kib)

# -- ingest --
name="berth-bench-logs-$$"
awk_prog='BEGIN { srand(7); pad = "................................................................";
  for (i = 1; i <= N; i++) {
    w = (i % 10000 == 0) ? "zebra" : "hay";
    s = sprintf("%09d INFO id=%06x GET /api/v1/items/%06d status=200 dur=%03dms user=u%05d %s ", i, int(rand()*16777215), int(rand()*999999), int(rand()*999), int(rand()*99999), w);
    print s substr(pad, 1, 99 - length(s)) } }'
t0_ticks=$(cpu_ticks)
t0=$(date +%s.%N)
run_app "$name" 1 "awk -v N=$LINES '$awk_prog'"
peak=0
last=
while :; do
  r=$(rss_kib); [ "$r" -gt "$peak" ] && peak=$r
  last=$(curl -fsS "${auth[@]}" "$api/apps/bench/logs?tail=1&stream=stdout" | head -c 9)
  [ "$last" = "$(printf '%09d' "$LINES")" ] && break
  kill -0 "$rpid" || { echo "runner died"; tail "$tmp/runner.log"; exit 1; }
  sleep 0.2
done
t1=$(date +%s.%N)
t1_ticks=$(cpu_ticks)
hz=$(getconf CLK_TCK)
started=$(docker inspect -f '{{.State.StartedAt}}' "$name")
finished=$(docker inspect -f '{{.State.FinishedAt}}' "$name")
writer_s=$($PY -c "
import datetime,sys
p=lambda s: datetime.datetime.fromisoformat(s[:26].rstrip('Z')+'+00:00')
print('%.1f' % (p('$finished')-p('$started')).total_seconds())" 2>/dev/null || echo "?")
sleep 1.5 # the last block written
disk=$(du -cb "$appdir"/*.seg | tail -1 | cut -f1)
awk -v n="$LINES" -v t0="$t0" -v t1="$t1" -v c="$((t1_ticks - t0_ticks))" -v hz="$hz" \
    -v peak="$peak" -v hwm="$(awk '/^VmHWM/ {print $2}' "/proc/$rpid/status")" -v idle="$idle_rss" \
    -v disk="$disk" -v w="$writer_s" 'BEGIN {
  s = t1 - t0
  printf "ingest: %d lines of 100 bytes stored in %.1f s: %.0f lines/s (target >= 100,000); the writer container ran %s s\n", n, s, n / s, w
  printf "runner CPU while ingesting: %.0f%% of one core (%.1f s user+system)\n", 100 * c / hz / s, c / hz
  printf "runner RSS: idle %.1f MiB, sampled peak %.1f MiB, VmHWM %.1f MiB (target <= 8 MiB)\n", idle/1024, peak / 1024, hwm / 1024
  printf "disk: %d bytes for %d raw bytes: %.3f bytes per raw byte (target <= 0.3)\n", disk, n * 100, disk / (n * 100) }'
docker rm -f "$name" >/dev/null

# -- the runner's ingest path alone, and the store the search reads --
app2=$(curl -fsS "${auth[@]}" -X POST "$api/apps" -d "{\"name\":\"search\",\"server\":\"logs-1\",\"repo_url\":\"https://example.com/s.git\",\"container_port\":8080}" |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "ingest path alone (berth-logingest: Docker's framing made in memory, fed in 16 KiB pieces to logparse + logstore, one thread):"
/usr/bin/time -f "peak RSS %M KiB (its input buffer of 100,000 lines is about 13 MiB of it)" "$INGEST" "$tmp/runner/applogs" "$app2" "$STORE_LINES" 2>&1 | sed "s/^/  /"

# -- search --
times=()
s0_ticks=$(cpu_ticks)
for _ in $(seq 1 "$RUNS"); do
  out=$(curl -fsS -o "$tmp/search.txt" -w '%{time_total}' "${auth[@]}" "$api/apps/search/logs?q=zebra&tail=1000")
  times+=("$out")
done
s1_ticks=$(cpu_ticks)
matches=$(wc -l <"$tmp/search.txt")
echo "runner CPU per search: $(awk -v c=$((s1_ticks - s0_ticks)) -v hz="$(getconf CLK_TCK)" -v r="$RUNS" 'BEGIN {printf "%.0f", 1000 * c / hz / r}') ms (load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$STORE_LINES" -v m="$matches" '{ a[NR] = $1 } END {
  printf "search: q=zebra tail=1000 over %d stored lines: %d lines back, median %.0f ms, max %.0f ms over %d runs (target < 500 ms)\n",
    n, m, a[int((NR + 1) / 2)] * 1000, a[NR] * 1000, NR }'
full=$(curl -fsS -o /dev/null -w '%{time_total}' "${auth[@]}" "$api/apps/search/logs?q=hay-none-such&tail=1000")
echo "search for a word in no line (every block's bitmap says no): $(awk -v t="$full" 'BEGIN{printf "%.0f", t*1000}') ms"
full=$(curl -fsS -o /dev/null -w '%{time_total}' "${auth[@]}" "$api/apps/search/logs?q=u12345&tail=1000")
echo "search for a word in about 1 line in 100,000 that the bitmaps cannot rule out (q=u12345): $(awk -v t="$full" 'BEGIN{printf "%.0f", t*1000}') ms"

echo "the same search in-process (berth-logingest, no berthd, no link):"
"$INGEST" "$tmp/runner/applogs" "$app2" 0 zebra | head -1 | sed "s/^/  /"

# -- follow latency --
run_app "berth-bench-follow-$$" 2 "i=0; while [ \$i -lt $((FOLLOW_N + 50)) ]; do i=\$((i+1)); echo beat \$i; sleep 0.02; done; sleep 3600"
$PY - "$api/apps/bench/logs?follow=1&deployment=2&format=ndjson" "$token" "$FOLLOW_N" <<'EOF'
import http.client, json, sys, time, urllib.parse
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("GET", u.path + "?" + u.query, headers={"Authorization": "Bearer " + token})
r = c.getresponse()
lags = []
while len(lags) < n:
    line = r.readline()
    if not line:
        break
    rec = json.loads(line)
    lags.append((time.time() - rec["ts"] / 1e9) * 1000)
lags = sorted(lags[20:])  # the first are history (printed before the follow began)
p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print("follow: %d lines, latency from Docker's timestamp to the reader: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 < 100 ms)"
      % (len(lags), p(0.5), p(0.99), lags[-1]))
EOF
echo "runner RSS at the end: $(rss_kib) KiB; segments: $(ls "$appdir" | grep -c seg) in $appdir"

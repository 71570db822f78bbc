#!/usr/bin/env bash
# bench/runner-rss.sh - resident memory of an idle, registered berth-runner,
# next to an idle Node.js process for scale.
#
# Starts a fresh berthd (SQLite, temp data dir, loopback), adds a server,
# registers a real berth-runner with its one-time token (state in the temp
# dir), waits until the server is ACTIVE (precheck passed: Docker reachable,
# git, curl, free disk), lets it sit idle IDLE seconds (default 10: two
# heartbeats, its fingerprint and precheck sent), then reads its RSS
# (/proc/PID/status VmRSS). In the same run it starts
# `node -e 'setInterval(()=>{},1e9)'` and reads that RSS after the same
# idle time. Prints both and the ratio. Target: runner <= 4 MiB.
#
#   bench/runner-rss.sh
#   TLS=1 bench/runner-rss.sh     # the same over wss:// (berthd serving TLS)
#   TLS=1 TLS_CA=system bench/runner-rss.sh   # wss:// with the system CAs
# Env: BUILD (default build-bench), IDLE (seconds, default 10), TLS (0/1),
# TLS_CA (pinned: --ca-file, the default; system: no --ca-file).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
IDLE=${IDLE:-10}
BERTHD=${BERTHD:-$BUILD/berthd}
RUNNER=${RUNNER:-$BUILD/berth-runner}
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$RUNNER" ] || {
  echo "build first: cmake -S . -B $BUILD && make -C $BUILD berthd berth-runner" >&2; exit 1; }

. bench/lib.sh
bench_tmp rss
bench_berthd "$BERTHD"
token=$(bench_login)
auth=(-H "Authorization: Bearer $token")
bench_runner "$RUNNER" rss-1 "$token"

status() {
  curl -fsS "${auth[@]}" "$base/api/v1/orgs/default/servers/$sid" |
    $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], "-", d["status_reason"])'
}
st=
for _ in $(seq 1 120); do
  kill -0 "$rpid" 2>/dev/null || { echo "berth-runner exited:"; tail -5 "$tmp/runner.log"; exit 1; }
  st=$(status)
  [ "${st%% *}" = ACTIVE ] && break
  sleep 0.5
done
echo "== idle resident memory: berth-runner vs node"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "runner binary: $RUNNER ($(file -b "$RUNNER" | grep -o 'statically linked\|dynamically linked'), $(( $(stat -c %s "$RUNNER") / 1024 )) KiB)"
echo "server status: $st (link: $wsbase)"
[ "${st%% *}" = ACTIVE ] || echo "(not ACTIVE after 60 s: measuring anyway)"

command -v node >/dev/null || echo "(node is not on PATH: no comparison)"
if command -v node >/dev/null; then
  node -e 'setInterval(()=>{},1e9)' &
  npid=$!
fi
sleep "$IDLE"

kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
r=$(kib "$rpid")
n=0
[ -n "$npid" ] && n=$(kib "$npid") && echo "node: $(node --version)"
awk -v r="$r" -v n="$n" -v idle="$IDLE" 'BEGIN {
  printf "berth-runner RSS after %s s idle: %6d KiB (%.2f MiB)  target <= 4 MiB\n", idle, r, r / 1024
  if (n > 0) {
    printf "node idle RSS:                    %6d KiB (%.2f MiB)\n", n, n / 1024
    printf "ratio node / berth-runner: %.1fx\n", n / r } }'
awk '/^(RssAnon|RssFile|VmHWM)/ {printf "berth-runner %s %s kB\n", $1, $2}' "/proc/$rpid/status"
# SMAPS=1: where the runner's resident memory is, mapping by mapping
if [ -n "${SMAPS:-}" ]; then
  awk '/^[0-9a-f]+-[0-9a-f]+ / {m = $2 " " ($6 == "" ? "[anon]" : $6)} /^Rss:/ && $2 > 0 {printf "  %6d kB  %s\n", $2, m}' "/proc/$rpid/smaps"
fi

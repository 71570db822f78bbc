#!/usr/bin/env bash
# bench/api.sh - API throughput and tail latency of berthd on loopback.
#
# Starts a fresh berthd (SQLite, temp data dir), logs in, and runs wrk
# (Debian's) against an authenticated GET /api/v1/me and a list endpoint
# (GET /api/v1/orgs/default/members). Prints req/s and p99 for each, and
# berthd's CPU time per request (user + system, from /proc/PID/stat over
# the run): unlike req/s, that figure hardly moves when other work shares
# the machine. Target on a 2-core machine: >= 20,000 req/s with p99 < 5 ms.
#
#   bench/api.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
BERTHD=${BERTHD:-build/berthd}
command -v wrk >/dev/null || { echo "wrk missing: run scripts/deps.sh" >&2; exit 1; }
[ -x "$BERTHD" ] || { echo "build first: make build" >&2; exit 1; }

PY=/usr/bin/python3
. bench/lib.sh
bench_tmp api
bench_berthd "$BERTHD"
token=$(bench_login)
# A list with a few rows to render.
for i in $(seq 1 10); do
  curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $token" \
    "$base/api/v1/orgs/default/members" -d "{\"email\":\"u$i@example.com\",\"role\":\"viewer\"}"
done

hdr="$tmp/auth.lua"
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$hdr"

# berthd's CPU time so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$bpid/stat"; }

run() {
  local name=$1 path=$2
  local out c0 c1
  c0=$(cpu_ticks)
  out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$hdr" "$base$path")
  c1=$(cpu_ticks)
  local rps p99 non2xx reqs cpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v d="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v n="$reqs" \
    'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "?" }')
  printf '%-28s %10s req/s   p99 %8s   non-2xx %s   berthd CPU %s us/req\n' \
    "$name" "$rps" "$p99" "${non2xx:-0}" "$cpu"
}

echo "berthd API on loopback: wrk -t1 -c$CONNS -d${DUR}s, $(nproc) cores"
run "GET /api/v1/me" "/api/v1/me"
run "GET /orgs/default/members" "/api/v1/orgs/default/members"
rss=$(ps -o rss= -p "$bpid")
echo "berthd RSS after the runs: $((rss / 1024)) MiB"

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

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BERTH_ADMIN_PASSWORD=bench-password-1 "$BERTHD" init --data "$tmp/data" --admin-email bench@example.com \
  >/dev/null 2>"$tmp/init.log" || { cat "$tmp/init.log" >&2; exit 1; }
"$BERTHD" serve --data "$tmp/data" --listen "127.0.0.1:$port" 2>"$tmp/berthd.log" &
pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

token=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/auth/login" \
  -d '{"email":"bench@example.com","password":"bench-password-1"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# A list with a few rows to render.
for i in $(seq 1 10); do
  curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/api/v1/orgs/default/members" -d "{\"email\":\"u$i@example.com\",\"role\":\"viewer\"}"
done

hdr="$tmp/auth.lua"
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$hdr"

# berthd's CPU time so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

run() {
  local name=$1 path=$2
  local out c0 c1
  c0=$(cpu_ticks)
  out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$hdr" "http://127.0.0.1:$port$path")
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
rss=$(ps -o rss= -p "$pid")
echo "berthd RSS after the runs: $((rss / 1024)) MiB"

#!/usr/bin/env bash
# bench/zero-downtime.sh - do clients see anything while an app is redeployed?
#
# Starts a fresh berthd + berth-runner + git server + the fixture app
# (bench/deploy-lib.sh), deploys it once, then runs wrk (keep-alive: -t1,
# CONNS connections, default 32, --latency, GET /version) on the app's public
# port (HAProxy edge, 127.0.0.1) while it deploys N times (default 20), each
# with a new commit. wrk retries nothing; a failed request is a socket error
# (connect, read, write, timeout) or an answer outside 2xx/3xx, as wrk counts
# them. Prints total requests, failures (target 0), latency p50/p99/max over
# the whole run, and per deploy: total, health, swap (the edge: add, enable,
# drain the old server, delete it) and the old server's drain time from the
# swap step's detail.
#
#   bench/zero-downtime.sh [N]     # default 20: about 4-5 min on 2 cores
#   HTTPS=1 bench/zero-downtime.sh # the same through the edge's HTTPS
#       frontend: the app under the name bench.example.test with its
#       certificate from Debian's pebble by ACME (bench/acme-lib.sh); wrk
#       on https://127.0.0.1:SPORT with that Host (TLS, keep-alive)
# Env: BUILD (default build-dbench), CONNS (32), DRAIN_SECONDS (the app's
# drain_seconds, default 5), BASELINE_S (first, the same wrk for this long
# with no deploy, for scale; default 10), MAX_S (bound on the loaded phase, default
# 30 s per deploy + 60 s; deploys stop when it is reached), KEEP_TMP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${N:-20}}
CONNS=${CONNS:-32}
BASELINE_S=${BASELINE_S:-10}
MAX_S=${MAX_S:-$(( N * 30 + 60 ))}
HTTPS=${HTTPS:-0}
NAME=bench.example.test
if [ "$HTTPS" = 1 ]; then
  # shellcheck source=bench/acme-lib.sh
  . bench/acme-lib.sh  # eport, sport, RUNNER_ARGS, pebble, wait_cert
fi
# shellcheck source=bench/deploy-lib.sh
. bench/deploy-lib.sh
wpid=''
stop_wrk() { if [ -n "$wpid" ]; then kill -INT "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true; wpid=''; fi; }
# pebble first: deploy-lib's cleanup waits for every child
trap 'stop_wrk; if [ "$HTTPS" = 1 ]; then acme_cleanup; fi; cleanup' EXIT

# where the load goes: the public port, or the edge's HTTPS frontend by name
if [ "$HTTPS" = 1 ]; then
  url="https://127.0.0.1:$sport/version"
  r=$(api POST /apps/web/domains "{\"name\":\"$NAME\"}")
  [ "$(jq -r .name <<<"$r")" = "$NAME" ] || { echo "domain add failed: $r" >&2; exit 1; }
  echo "== zero downtime: wrk -t1 -c$CONNS (keep-alive, TLS) on the edge's HTTPS frontend ($NAME) during $N deploys"
else
  url="http://127.0.0.1:$public/version"
  echo "== zero downtime: wrk -t1 -c$CONNS (keep-alive) on the public port during $N deploys"
fi
fetch() { curl -ksS -H "Host: $NAME" "$url"; }
machine
deploy "$(commit v0)"
echo "first deploy: $dep_ms ms"
if [ "$HTTPS" = 1 ]; then wait_cert web "$NAME"; fi
[ "$(fetch)" = v0 ] || { echo "$url does not answer v0" >&2; exit 1; }

# the same load with no deploy, for scale
wrk -t1 -c"$CONNS" -d"${BASELINE_S}s" --timeout 10s --latency -H "Host: $NAME" "$url" > "$tmp/base.out" 2>&1
echo "no deploy, ${BASELINE_S} s: $(awk '/requests in/ {print $1}' "$tmp/base.out") requests, p50 $(awk '$1 == "50%" {print $2}' "$tmp/base.out"), p99 $(awk '$1 == "99%" {print $2}' "$tmp/base.out"), max $(awk '$1 == "Latency" {print $4}' "$tmp/base.out"), errors: $(grep -E 'Socket errors|Non-2xx' "$tmp/base.out" | tr '\n' ' ')"

wrk -t1 -c"$CONNS" -d"$(( MAX_S + 30 ))s" --timeout 10s --latency -H "Host: $NAME" "$url" \
  > "$tmp/wrk.out" 2>&1 &
wpid=$!
sleep 2
start=$(now_ms)
printf '%-7s %5s %7s %7s %7s %8s  %s\n' deploy id total health swap drained detail
done_n=0
for i in $(seq 1 "$N"); do
  if [ $(( ($(now_ms) - start) / 1000 )) -ge "$MAX_S" ]; then
    echo "stopping after $done_n deploys: MAX_S=$MAX_S s reached"; break
  fi
  deploy "$(commit "v$i")"
  detail=$(jq -r '[.steps[] | select(.step == "swap") | .detail][0] // ""' <<<"$dep_json")
  drained=$(sed -n 's/.*drained in \([0-9]*\) ms.*/\1/p' <<<"$detail")
  printf '%-7s %5s %7d %7d %7d %8s  %s\n' "$i" "$dep_id" "$dep_ms" "$(step_ms health)" "$(step_ms swap)" \
    "${drained:-?}" "$detail"
  echo "$dep_ms $(step_ms swap) ${drained:-0}" >> "$tmp/swaps"
  done_n=$i
done
sleep 2
loaded_s=$(( ($(now_ms) - start) / 1000 + 2 ))
stop_wrk
got=$(fetch || true)

echo "--- wrk"
cat "$tmp/wrk.out"
echo "---"
# wrk: "N requests in Xs", "Socket errors: connect A, read B, write C, timeout D",
# "Non-2xx or 3xx responses: E"
reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
sock=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$tmp/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.out")
p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")
max=$(awk '$1 == "Latency" {print $4}' "$tmp/wrk.out")
sock=${sock:-0} non2xx=${non2xx:-0}
echo "deploys: $done_n in ${loaded_s} s under load; $url answers '$got' after (want v$done_n)"
echo "requests: ${reqs:-?}; failed: $(( sock + non2xx )) (socket errors $sock, non-2xx/3xx $non2xx)  target 0: $([ $(( sock + non2xx )) -eq 0 ] && echo met || echo MISSED)"
echo "latency over the whole run: p50 ${p50:-?}, p99 ${p99:-?}, max ${max:-?}"
if [ -s "$tmp/swaps" ]; then
  awk '{ n++; t[n] = $1; s[n] = $2; d[n] = $3 }
    function med(a,   i, j, x, c) { for (i = 1; i <= n; i++) c[i] = a[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { x = c[i]; c[i] = c[j]; c[j] = x }
      M = c[n]; return (n % 2) ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2 }
    END { printf "per deploy, median / max: total %d / ", med(t); printf "%d ms; swap %d / ", M, med(s)
          printf "%d ms; old server drained in %d / ", M, med(d); printf "%d ms\n", M }' "$tmp/swaps"
fi
[ "$got" = "v$done_n" ] || { echo "$url does not serve the last deploy" >&2; exit 1; }

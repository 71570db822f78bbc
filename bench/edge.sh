#!/usr/bin/env bash
# bench/edge.sh - what does berth's edge cost a request?
#
# Starts a fresh berthd + berth-runner + git server + the fixture app
# (bench/deploy-lib.sh) serving with bench/edge-app.c, with the runner's shared HTTP
# frontend on a free port (--edge-http-port) and the app deployed under the
# name bench.example.test. Then runs wrk (GET /version, Host:
# bench.example.test) against three targets, in ROUNDS interleaved rounds:
#   app     the app's container itself (no proxy: the ceiling)
#   hand    HAProxy 2.6 configured by hand for the same route (one frontend,
#           a Host match, one backend with the same server), same timeouts
#   berth   the runner's edge: the shared frontend, its host maps
# each with keep-alive connections (-c CONNS) and with a new connection per
# request (Connection: close). Prints requests/s and p99 per target and mode
# (the median over the rounds) and the ratio berth/hand, the target being
# within 10% (ratio >= 0.90 for requests/s, <= 1.10 for p99).
#
#   bench/edge.sh              # about 2 min on 2 cores
# Env: BUILD (default build-dbench), CONNS (32), SECONDS_EACH (5), ROUNDS (3),
# KEEP_TMP=1.
#
# HTTPS (the edge's 443 frontend and ACME) is not measured yet: the edge
# does not terminate TLS in this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-32}
SECONDS_EACH=${SECONDS_EACH:-5}
ROUNDS=${ROUNDS:-3}
NAME=bench.example.test
eport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUNNER_ARGS="--edge-http-port $eport"
# the app: bench/edge-app.c, static, FROM the fixture base (busybox httpd
# would measure its own fork per connection, not the proxy)
DOCKERFILE='FROM berth-fixture-base
COPY www/ /www/
COPY edge-app /edge-app
EXPOSE 8080
CMD ["/edge-app", "8080"]'
app_setup() { cc -std=c11 -O2 -static -o "$1/edge-app" bench/edge-app.c; }
# shellcheck source=bench/deploy-lib.sh
. bench/deploy-lib.sh
hpid=''
stop_hand() { if [ -n "$hpid" ]; then kill "$hpid" 2>/dev/null || true; wait "$hpid" 2>/dev/null || true; hpid=''; fi; }
trap 'stop_hand; cleanup' EXIT

echo "== edge: wrk -t1 -c$CONNS, ${SECONDS_EACH} s each, $ROUNDS rounds; app vs hand-configured HAProxy vs berth's edge"
machine
r=$(api POST /apps/web/domains "{\"name\":\"$NAME\"}")
[ "$(jq -r .name <<<"$r")" = "$NAME" ] || { echo "domain add failed: $r" >&2; exit 1; }
deploy "$(commit v0)"
echo "deployed in $dep_ms ms"
for _ in $(seq 1 100); do
  [ "$(curl -sS -H "Host: $NAME" "http://127.0.0.1:$eport/version" 2>/dev/null)" = v0 ] && break
  sleep 0.1
done
[ "$(curl -fsS -H "Host: $NAME" "http://127.0.0.1:$eport/version")" = v0 ] || { echo "the edge does not serve $NAME" >&2; exit 1; }

# the app's own address: the one running server of the edge's one app
# backend, asked of its runtime API (`show servers state`: field 5 the
# address, 19 the port)
addr=$($PY - "$state/edge/admin.sock" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"show servers state\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
for line in out.decode().splitlines():
    f = line.split()
    if len(f) > 18 and not line.startswith("#") and f[1].startswith("app_") and f[5] == "2":
        print("%s:%s" % (f[4], f[18]))
        break
PYEOF
)
[ -n "$addr" ] || { echo "no running app server on the edge" >&2; exit 1; }
[ "$(curl -fsS "http://$addr/version")" = v0 ] || { echo "the app at $addr does not answer" >&2; exit 1; }

# HAProxy by hand: the same defaults as the edge, one route
hport=$(free_port)
cat > "$tmp/hand.cfg" <<CFG
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s
    timeout queue 30s
    retries 3
    option redispatch

frontend hand
    bind 127.0.0.1:$hport
    use_backend web if { req.hdr(host),field(1,:),lower -m str $NAME }

backend web
    server s1 $addr
CFG
haproxy -W -db -f "$tmp/hand.cfg" >"$tmp/hand.log" 2>&1 &
hpid=$!
for _ in $(seq 1 100); do curl -fsS -H "Host: $NAME" "http://127.0.0.1:$hport/version" >/dev/null 2>&1 && break; sleep 0.05; done
[ "$(curl -fsS -H "Host: $NAME" "http://127.0.0.1:$hport/version")" = v0 ] || { echo "hand HAProxy does not answer" >&2; cat "$tmp/hand.log" >&2; exit 1; }

# run TARGET MODE ROUND: one wrk run, its requests/s and p99 (ms) appended to $tmp/results
ms() { awk '{v = $1; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; printf "%.3f", v}' <<<"$1"; }
run() {
  local url extra=() out
  case $1 in
    app) url="http://$addr/version" ;;
    hand) url="http://127.0.0.1:$hport/version" ;;
    berth) url="http://127.0.0.1:$eport/version" ;;
  esac
  if [ "$2" = close ]; then extra=(-H "Connection: close"); fi
  out=$tmp/wrk-$1-$2-$3.out
  wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --timeout 10s --latency -H "Host: $NAME" "${extra[@]}" "$url" > "$out" 2>&1
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ' || true)
  echo "$1 $2 $3 $rps $p99" >> "$tmp/results"
  printf '  round %d %-6s %-10s %10.0f req/s  p99 %8.2f ms  %s\n' "$3" "$1" "$2" "$rps" "$p99" "$errs"
}
: > "$tmp/results"
for round in $(seq 1 "$ROUNDS"); do
  for mode in keepalive close; do
    for target in app hand berth; do run "$target" "$mode" "$round"; done
  done
done

median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
printf '%-10s %-6s %12s %10s\n' mode target 'req/s' 'p99 ms'
for mode in keepalive close; do
  for target in app hand berth; do
    rps=$(awk -v t="$target" -v m="$mode" '$1 == t && $2 == m {print $4}' "$tmp/results" | median)
    p99=$(awk -v t="$target" -v m="$mode" '$1 == t && $2 == m {print $5}' "$tmp/results" | median)
    printf '%-10s %-6s %12.0f %10.2f\n' "$mode" "$target" "$rps" "$p99"
    eval "r_${mode}_${target}=$rps p_${mode}_${target}=$p99"
  done
done
echo
for mode in keepalive close; do
  eval "rb=\$r_${mode}_berth rh=\$r_${mode}_hand pb=\$p_${mode}_berth ph=\$p_${mode}_hand"
  # shellcheck disable=SC2154  # set by the eval above
  awk -v m="$mode" -v rb="$rb" -v rh="$rh" -v pb="$pb" -v ph="$ph" 'BEGIN {
    rr = rb / rh; pr = pb / ph
    printf "%s: berth/hand requests/s %.3f (target >= 0.90: %s), p99 %.3f (target <= 1.10: %s)\n",
      m, rr, (rr >= 0.90 ? "met" : "MISSED"), pr, (pr <= 1.10 ? "met" : "MISSED") }'
done

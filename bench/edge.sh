#!/usr/bin/env bash
# bench/edge.sh - what does berth's edge cost a request, over HTTP and HTTPS?
#
# Starts a fresh berthd + berth-runner + git server + the fixture app
# (bench/deploy-lib.sh) serving with bench/edge-app.c, with the runner's
# shared HTTP and HTTPS frontends on free ports (--edge-http-port,
# --edge-https-port) and the app deployed under the name
# bench.example.test, its certificate from Debian's pebble by ACME HTTP-01
# through the edge itself (bench/acme-lib.sh). Then runs wrk (GET
# /version, Host: bench.example.test) against these targets, in ROUNDS
# interleaved rounds:
#   app        the app's container itself (no proxy: the ceiling)
#   hand       HAProxy 2.6 configured by hand for the same route (one
#              frontend, a Host match, one backend with the same server),
#              same timeouts, HTTP
#   berth      the runner's edge: the shared HTTP frontend, its host maps
#   hand-tls   the hand HAProxy's HTTPS frontend, with the certificate the
#              edge serves for the name (copied), alpn h2,http/1.1
#   berth-tls  the edge's HTTPS frontend (crt-list, the same maps)
# each with keep-alive connections (-c CONNS) and with a new connection per
# request (Connection: close; over TLS a full handshake each). wrk sends
# the URL's host, 127.0.0.1, as SNI: both HAProxies answer with a P-256
# certificate (the edge its default one, the hand one its only one).
# Prints requests/s and p99 per target and mode (the median over the
# rounds) and the ratios berth/hand, the target being within 10% (>= 0.90
# for requests/s, <= 1.10 for p99); then the time from `domain add` of a
# second name to its first HTTPS answer verified against pebble's root.
#
#   bench/edge.sh              # about 10 min on 2 cores (close runs wait for TIME_WAIT)
# Env: BUILD (default build-dbench), CONNS (32), SECONDS_EACH (5), ROUNDS (3),
# TW_MAX (4000: TIME_WAIT sockets left before a close run), HTTPS=0 (HTTP
# only: no pebble), KEEP_TMP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-32}
SECONDS_EACH=${SECONDS_EACH:-5}
ROUNDS=${ROUNDS:-3}
NAME=bench.example.test
HTTPS=${HTTPS:-1}
if [ "$HTTPS" = 1 ]; then
  # shellcheck source=bench/acme-lib.sh
  . bench/acme-lib.sh  # eport, sport, RUNNER_ARGS, pebble, wait_cert
else
  eport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RUNNER_ARGS="--edge-http-port $eport --edge-https-port 0"
fi
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
# pebble first: deploy-lib's cleanup waits for every child
trap 'stop_hand; if [ "$HTTPS" = 1 ]; then acme_cleanup; fi; cleanup' EXIT

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
targets="app hand berth"
if [ "$HTTPS" = 1 ]; then
  wait_cert web "$NAME"
  # plain HTTP is measured as served, not as a redirect to HTTPS (the
  # default once a name has its certificate)
  r=$(api PATCH /apps/web '{"https_redirect":false}')
  [ "$(jq -r .https_redirect <<<"$r")" = false ] || { echo "cannot turn https_redirect off: $r" >&2; exit 1; }
  for _ in $(seq 1 100); do
    [ "$(curl -sS -H "Host: $NAME" "http://127.0.0.1:$eport/version" 2>/dev/null)" = v0 ] && break
    sleep 0.1
  done
  targets="app hand berth hand-tls berth-tls"
  # domain add -> the first HTTPS answer for it, verified (a new name: a new order at pebble)
  t0=$(now_ms)
  r=$(api POST /apps/web/domains '{"name":"second.example.test"}')
  [ "$(jq -r .name <<<"$r")" = second.example.test ] || { echo "domain add failed: $r" >&2; exit 1; }
  first=''
  for _ in $(seq 1 1200); do
    if [ "$(curl -sS --max-time 2 --cacert "$acme_root" --resolve "second.example.test:$sport:127.0.0.1" \
            "https://second.example.test:$sport/version" 2>/dev/null)" = v0 ]; then first=$(( $(now_ms) - t0 )); break; fi
    sleep 0.1
  done
  [ -n "$first" ] || { echo "second.example.test never answered over HTTPS" >&2; exit 1; }
fi

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

# HAProxy by hand: the same defaults as the edge, one route (and over
# TLS the certificate the edge serves for the name)
hport=$(free_port)
hsport=$(free_port)
if [ "$HTTPS" = 1 ]; then
  cp "$state/edge/certs/$NAME.pem" "$tmp/hand.pem"
  chmod 600 "$tmp/hand.pem"
fi
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
$(if [ "$HTTPS" = 1 ]; then printf '\nfrontend hand_tls\n    bind 127.0.0.1:%s ssl crt %s alpn h2,http/1.1\n    use_backend web if { req.hdr(host),field(1,:),lower -m str %s }\n' "$hsport" "$tmp/hand.pem" "$NAME"; fi)

backend web
    server s1 $addr
CFG
haproxy -W -db -f "$tmp/hand.cfg" >"$tmp/hand.log" 2>&1 &
hpid=$!
for _ in $(seq 1 100); do curl -fsS -H "Host: $NAME" "http://127.0.0.1:$hport/version" >/dev/null 2>&1 && break; sleep 0.05; done
[ "$(curl -fsS -H "Host: $NAME" "http://127.0.0.1:$hport/version")" = v0 ] || { echo "hand HAProxy does not answer" >&2; cat "$tmp/hand.log" >&2; exit 1; }

url_of() {
  case $1 in
    app) echo "http://$addr/version" ;;
    hand) echo "http://127.0.0.1:$hport/version" ;;
    berth) echo "http://127.0.0.1:$eport/version" ;;
    hand-tls) echo "https://127.0.0.1:$hsport/version" ;;
    berth-tls) echo "https://127.0.0.1:$sport/version" ;;
  esac
}
# every target answers the app's own body (no redirect, no error page)
for t in $targets; do
  u=$(url_of "$t")
  b=$(curl -ksS -H "Host: $NAME" "$u" 2>&1 || true)
  [ "$b" = v0 ] || { echo "$t ($u) answers '$b', not v0" >&2; exit 1; }
done

# run TARGET MODE ROUND: one wrk run, its requests/s and p99 (ms) appended to $tmp/results
ms() { awk '{v = $1; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; printf "%.3f", v}' <<<"$1"; }
run() {
  local url extra=() out
  url=$(url_of "$1")
  if [ "$2" = close ]; then extra=(-H "Connection: close"); fi
  out=$tmp/wrk-$1-$2-$3.out
  wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --timeout 10s --latency -H "Host: $NAME" "${extra[@]}" "$url" > "$out" 2>&1
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ' || true)
  echo "$1 $2 $3 $rps $p99" >> "$tmp/results"
  printf '  round %d %-9s %-10s %10.0f req/s  p99 %8.2f ms  %s\n' "$3" "$1" "$2" "$rps" "$p99" "$errs"
}
: > "$tmp/results"
# A new connection per request leaves a TIME_WAIT socket per connection
# (two or three a request through a proxy and docker-proxy): a run that
# follows another would start with the loopback's ports still taken (a
# first run here left 36,000 and failed requests with 502s). So before
# each such run the TIME_WAIT count is let fall under TW_MAX (at most 70
# s), and each round starts with another target.
TW_MAX=${TW_MAX:-4000}
tw_settle() {
  for _ in $(seq 1 140); do
    [ "$(ss -tan state time-wait | wc -l)" -lt "$TW_MAX" ] && return 0
    sleep 0.5
  done
}
read -r -a tlist <<<"$targets"
for round in $(seq 1 "$ROUNDS"); do
  for mode in keepalive close; do
    for k in $(seq 0 $(( ${#tlist[@]} - 1 ))); do
      target=${tlist[$(( (k + round - 1) % ${#tlist[@]} ))]}
      if [ "$mode" = close ]; then tw_settle; fi
      run "$target" "$mode" "$round"
    done
  done
done

median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
printf '%-10s %-9s %12s %10s\n' mode target 'req/s' 'p99 ms'
: > "$tmp/medians"
for mode in keepalive close; do
  for target in $targets; do
    rps=$(awk -v t="$target" -v m="$mode" '$1 == t && $2 == m {print $4}' "$tmp/results" | median)
    p99=$(awk -v t="$target" -v m="$mode" '$1 == t && $2 == m {print $5}' "$tmp/results" | median)
    printf '%-10s %-9s %12.0f %10.2f\n' "$mode" "$target" "$rps" "$p99"
    echo "$mode $target $rps $p99" >> "$tmp/medians"
  done
done
echo
for pair in "hand berth" "hand-tls berth-tls"; do
  read -r h b <<<"$pair"
  for mode in keepalive close; do
    awk -v m="$mode" -v h="$h" -v b="$b" '$1 == m && $2 == h {rh = $3; ph = $4} $1 == m && $2 == b {rb = $3; pb = $4}
      END { if (rh == "" || rb == "") exit
        rr = rb / rh; pr = pb / ph
        printf "%s %s: %s/%s requests/s %.3f (target >= 0.90: %s), p99 %.3f (target <= 1.10: %s)\n",
          (h ~ /tls/ ? "HTTPS" : "HTTP"), m, b, h, rr, (rr >= 0.90 ? "met" : "MISSED"), pr, (pr <= 1.10 ? "met" : "MISSED") }' "$tmp/medians"
  done
done
if [ "$HTTPS" = 1 ]; then
  echo "domain add -> first HTTPS answer (ACME HTTP-01 by pebble through the edge, verified): $first ms"
fi

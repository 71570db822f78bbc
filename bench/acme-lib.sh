# bench/acme-lib.sh - HTTPS on the edge for a bench (sourced before
# bench/deploy-lib.sh, not run): picks the runner's edge ports (eport HTTP,
# sport HTTPS, lport lego's HTTP-01 listener, below the ephemeral range),
# starts Debian's pebble with pebble-challtestsrv as its DNS (every name ->
# 127.0.0.1, HTTP-01 checked on eport) through tests/integration/pebble.py,
# and exports the BERTH_ACME_* settings berthd sends its runners, so the
# app's domains get certificates as on a real server. acme_cleanup stops
# pebble; wait_cert APP NAME waits for a name's certificate (issued).
# shellcheck shell=bash

for c in pebble pebble-challtestsrv lego openssl; do
  command -v "$c" >/dev/null || { echo "needs $c (scripts/deps.sh installs it)" >&2; exit 1; }
done
_bench_port() {  # below=1: below the ephemeral range (a listener that binds later)
  /usr/bin/python3 - "${1:-0}" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(max(1024, lo - 12000), lo) if sys.argv[1] == "1" else 0))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}
eport=$(_bench_port)
sport=$(_bench_port)
lport=$(_bench_port 1)
acme_tmp=$(mktemp -d /tmp/berth-pebble.XXXXXX)
/usr/bin/python3 - "$acme_tmp" "$eport" <<'PY' > "$acme_tmp/py.log" 2>&1 &
import os, signal, sys, time
sys.path.insert(0, "tests/integration")
import pebble
p = pebble.start(sys.argv[1], int(sys.argv[2]))
with open(os.path.join(sys.argv[1], "root.pem"), "w") as f:
    f.write(p.root_pem())
with open(os.path.join(sys.argv[1], "info.tmp"), "w") as f:
    f.write("%s %s\n" % (p.directory_url, p.ca_file))
os.rename(os.path.join(sys.argv[1], "info.tmp"), os.path.join(sys.argv[1], "info"))
def stop(*_):
    p.stop()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(3600)
PY
acme_pid=$!
acme_cleanup() {
  if [ -n "${acme_pid:-}" ]; then kill "$acme_pid" 2>/dev/null || true; wait "$acme_pid" 2>/dev/null || true; acme_pid=''; fi
  rm -rf "$acme_tmp"
}
for _ in $(seq 1 300); do [ -f "$acme_tmp/info" ] && break; sleep 0.1; done
[ -f "$acme_tmp/info" ] || { echo "pebble did not start:" >&2; cat "$acme_tmp/py.log" >&2; acme_cleanup; exit 1; }
read -r acme_dir acme_ca < "$acme_tmp/info"
acme_root=$acme_tmp/root.pem
export BERTH_ACME_DIRECTORY=$acme_dir BERTH_ACME_CA_FILE=$acme_ca BERTH_ACME_EMAIL=bench@example.com
RUNNER_ARGS="--edge-http-port $eport --edge-https-port $sport --acme-http-port $lport"

# wait_cert APP NAME [SECONDS]: until the name's certificate is issued (api from deploy-lib)
wait_cert() {
  local st=
  for _ in $(seq 1 $(( ${3:-120} * 5 ))); do
    st=$(api GET "/apps/$1/domains" | jq -r --arg n "$2" '.items[] | select(.name == $n) | .certificate.status')
    [ "$st" = issued ] && return 0
    sleep 0.2
  done
  echo "$2: no certificate ($st): $(api GET "/apps/$1/domains")" >&2
  return 1
}

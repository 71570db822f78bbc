# bench/lib.sh - sourced by the benchmarks (not run): a temp dir cleaned up
# on exit, a fresh berthd on a free loopback port, its admin's session
# token, a real berth-runner registered to it. The caller sets PY.
# shellcheck shell=bash

# bench_tmp NAME: makes tmp (/tmp/berth-NAME.XXXXXX); on exit the
# processes in bpid, rpid, fpid and npid are killed and tmp removed
# (KEEP=1 keeps it, for the logs).
bench_tmp() {
  tmp=$(mktemp -d "/tmp/berth-$1.XXXXXX")
  bpid= rpid= fpid= npid=
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local p
  for p in $npid $fpid $rpid $bpid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}

# bench_berthd BERTHD: init + serve with data in $tmp/data (log
# $tmp/berthd.log) and wait until it answers; sets port, base, pw, bpid.
# TLS=1: berthd serves https (a throwaway self-signed certificate for
# 127.0.0.1 in $tmp, trusted by curl through CURL_CA_BUNDLE) and runners
# connect over wss:// trusting only it (--ca-file); with TLS_CA=system they
# get no --ca-file and use the system's CAs (SSL_CERT_DIR: a hashed copy of
# /etc/ssl/certs plus that certificate; SSL_CERT_FILE unset, as under systemd).
bench_berthd() {
  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  wsbase="ws://127.0.0.1:$port"
  local tls=()
  if [ "${TLS:-0}" = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
      -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
    tls=(--tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
    base="https://127.0.0.1:$port"
    wsbase="wss://127.0.0.1:$port"
    export CURL_CA_BUNDLE="$tmp/cert.pem"
  fi
  pw=bench-password-1
  BERTH_ADMIN_PASSWORD=$pw "$1" init --data "$tmp/data" --admin-email bench@example.com \
    >/dev/null 2>"$tmp/init.log" || { cat "$tmp/init.log" >&2; exit 1; }
  "$1" serve --data "$tmp/data" --listen "127.0.0.1:$port" "${tls[@]}" 2>"$tmp/berthd.log" &
  bpid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "berthd did not answer on $base:" >&2
  tail -5 "$tmp/berthd.log" >&2
  exit 1
}

# bench_login: the admin's session token, on stdout.
bench_login() {
  curl -fsS -X POST "$base/api/v1/auth/login" \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$pw\"}" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# bench_runner RUNNER NAME TOKEN: adds server NAME through the API and
# starts RUNNER with its one-time token (state $tmp/runner, log
# $tmp/runner.log); sets sid, rpid.
bench_runner() {
  local reg regtok
  reg=$(curl -fsS -X POST -H "Authorization: Bearer $3" "$base/api/v1/orgs/default/servers" \
    -d "{\"name\":\"$2\"}" |
    $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["id"], d["registration_token"])')
  read -r sid regtok <<<"$reg"
  local ca=() env=()
  if [ "${TLS:-0}" = 1 ] && [ "${TLS_CA:-pinned}" = system ]; then
    # no --ca-file: the runner uses the system's CAs; a hashed directory of
    # them plus the throwaway certificate stands in (SSL_CERT_DIR)
    mkdir -p "$tmp/certs"
    local f
    for f in /etc/ssl/certs/*.[0-9]; do ln -s "$(readlink -f "$f")" "$tmp/certs/${f##*/}"; done
    local h n=0
    h=$(openssl x509 -hash -noout -in "$tmp/cert.pem")
    while [ -e "$tmp/certs/$h.$n" ]; do n=$((n + 1)); done
    cp "$tmp/cert.pem" "$tmp/certs/$h.$n"
    env=(-u SSL_CERT_FILE SSL_CERT_DIR="$tmp/certs")
  elif [ "${TLS:-0}" = 1 ]; then
    ca=(--ca-file "$tmp/cert.pem")
  fi
  env "${env[@]}" BERTH_RUNNER_TOKEN="$regtok" "$1" --url "$wsbase/runner/v1" "${ca[@]}" \
    --state-dir "$tmp/runner" 2>"$tmp/runner.log" &
  rpid=$!
}

#!/usr/bin/env bash
# bench/terminal.sh - a terminal through berthd and berth-runner on loopback:
#   1. keystroke echo round trip: one byte typed into a host shell (cat -u
#      echoes it back through the PTY), N times; p50 / p99 (target p99 < 5 ms);
#   2. bulk throughput of one channel: B MB of output (head | tr in the
#      shell) received whole by the client (target >= 50 MB/s);
#   3. the runner's RSS with 10 terminals open, each running a shell
#      (target <= 6 MiB), next to its idle RSS before them.
# The client is a plain WebSocket client in Python (tests/integration/
# rawrunner.py): what it costs is in the figures, as a browser's or the
# CLI's would be.
#
#   bench/terminal.sh
# Env: BUILD (default build-bench), N (round trips, default 2000), MB (100).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
BERTHD=${BERTHD:-$BUILD/berthd}
RUNNER=${RUNNER:-$BUILD/berth-runner}
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$RUNNER" ] || {
  echo "build first: cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=RelWithDebInfo && make -C $BUILD berthd berth-runner" >&2; exit 1; }

. bench/lib.sh
bench_tmp term
export BERTH_CHANNELS_PER_USER=16 # 10 terminals of one user (default cap 8)
bench_berthd "$BERTHD"
token=$(bench_login)
bench_runner "$RUNNER" term-1 "$token"
for _ in $(seq 1 200); do
  st=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/orgs/default/servers/$sid" |
       $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$st" = ACTIVE ] && break
  sleep 0.1
done
[ "$st" = ACTIVE ] || { echo "runner not ACTIVE: $st"; tail -5 "$tmp/runner.log"; exit 1; }
sleep 2
PYTHONPATH=tests/integration $PY bench/terminal.py "$port" "$token" "$rpid" "${N:-2000}" "${MB:-100}"

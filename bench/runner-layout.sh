#!/usr/bin/env bash
# bench/runner-layout.sh - regenerates src/runner/hot.ld, the code layout
# of the static berth-runner (docs/performance.md, "Runner RSS").
#
# Runs bench/runner-rss.sh three times (ws://, wss:// with --ca-file, wss://
# with the system CAs) with the runner under
# valgrind --tool=callgrind, then bench/runner-layout.py turns the
# functions that ran into the list of archive members to pack together.
# Rebuild afterwards (the link depends on hot.ld) and measure again.
#
#   bench/runner-layout.sh            # BUILD=build-bench by default
# Needs valgrind, and the runner built statically (the default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
[ -x "$BUILD/berth-runner" ] || { echo "build $BUILD/berth-runner first" >&2; exit 1; }
file -b "$BUILD/berth-runner" | grep -q 'statically linked' ||
  { echo "$BUILD/berth-runner is not static: the layout is for the static link" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
out=$(mktemp -d /tmp/berth-layout.XXXXXX)
trap 'rm -rf "$out"' EXIT
wrap="$out/runner"
for mode in ws pinned system; do
  printf '#!/bin/sh\nexec valgrind -q --tool=callgrind --callgrind-out-file=%s/cg.%s.%%p "%s" "$@"\n' \
    "$out" "$mode" "$PWD/$BUILD/berth-runner" >"$wrap"
  chmod +x "$wrap"
  tls=1; [ $mode = ws ] && tls=0
  TLS=$tls TLS_CA=$mode IDLE=${IDLE:-15} BUILD=$BUILD RUNNER="$wrap" bench/runner-rss.sh >/dev/null
done
ls "$out"/cg.* >/dev/null
python3 bench/runner-layout.py "$out"/cg.* >src/runner/hot.ld
echo "src/runner/hot.ld: $(grep -c '\.a:' src/runner/hot.ld) archive members"

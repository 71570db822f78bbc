#!/bin/sh
# install.sh - installs berth-runner on this host and registers it.
# Served by berthd at /install.sh with @BERTH_URL@ replaced by its base URL:
#   curl -sSL http://HOST/install.sh | sh -s -- --token brg_...
# PLACEHOLDER: the runner's maintainers own the real script (service unit,
# haproxy, checks); this one downloads the binary and starts it once.
set -eu
URL="@BERTH_URL@"
TOKEN=""
PREFIX=/usr/local/bin
while [ $# -gt 0 ]; do
    case "$1" in
    --token) TOKEN="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$TOKEN" ] || { echo "install.sh: --token brg_... is required" >&2; exit 2; }
curl -fsSL "$URL/download/berth-runner" -o "$PREFIX/berth-runner.new"
chmod 0755 "$PREFIX/berth-runner.new"
mv "$PREFIX/berth-runner.new" "$PREFIX/berth-runner"
WS_URL=$(printf '%s' "$URL" | sed 's|^http|ws|')/runner/v1
BERTH_RUNNER_TOKEN="$TOKEN" exec "$PREFIX/berth-runner" --url "$WS_URL"

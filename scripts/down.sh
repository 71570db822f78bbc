#!/bin/sh
# Stops the berthd that `make up` started.
set -eu
cd "$(dirname "$0")/.."
PIDFILE="${BERTH_DATA:-./var}/berthd.pid"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  kill "$(cat "$PIDFILE")"
  rm -f "$PIDFILE"
  echo "berthd stopped"
else
  echo "berthd is not running"
fi

#!/bin/sh
# Stops the berthd that `make up` started.
set -eu
cd "$(dirname "$0")/.."
DATA=${BERTH_DATA:-./var}
RUNNER_PID="$DATA/runner.pid"
if [ -f "$RUNNER_PID" ] && kill -0 "$(cat "$RUNNER_PID")" 2>/dev/null; then
  kill "$(cat "$RUNNER_PID")"
  rm -f "$RUNNER_PID"
  echo "local runner stopped"
fi
GITD_PID="$DATA/git-daemon.pid"
if [ -f "$GITD_PID" ] && kill -0 "$(cat "$GITD_PID")" 2>/dev/null; then
  kill "$(cat "$GITD_PID")"
  rm -f "$GITD_PID"
  echo "example git daemon stopped"
fi
PIDFILE="$DATA/berthd.pid"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  kill "$(cat "$PIDFILE")"
  rm -f "$PIDFILE"
  echo "berthd stopped"
else
  echo "berthd is not running"
fi

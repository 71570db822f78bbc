#!/bin/sh
# Starts berthd on the embedded default: SQLite in ./var (or $BERTH_DATA),
# listening on 127.0.0.1:8080 (or $BERTH_LISTEN). On first run it creates
# the data directory, the master key, the "default" organization and its
# admin, whose password goes to var/admin-password (mode 0600) unless you
# chose one with BERTH_ADMIN_PASSWORD, and registers a local berth-runner as
# the server "local". Safe to run again.
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DATA=${BERTH_DATA:-./var}
LISTEN=${BERTH_LISTEN:-127.0.0.1:8080}
EMAIL=${BERTH_ADMIN_EMAIL:-admin@berth.local}
URL="http://$LISTEN"
PIDFILE="$DATA/berthd.pid"
LOG="$DATA/berthd.log"

if [ ! -f "$DATA/master.key" ]; then
  umask 077
  if [ -z "${BERTH_ADMIN_PASSWORD:-}" ]; then
    BERTH_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    generated=1
  fi
  BERTH_ADMIN_PASSWORD="$BERTH_ADMIN_PASSWORD" "$BUILD/berthd" init --data "$DATA" --admin-email "$EMAIL"
  if [ "${generated:-0}" = 1 ]; then
    printf '%s\n' "$BERTH_ADMIN_PASSWORD" > "$DATA/admin-password"
    chmod 600 "$DATA/admin-password"
  fi
  unset BERTH_ADMIN_PASSWORD
fi

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "berthd is already running (pid $(cat "$PIDFILE"))"
else
  nohup "$BUILD/berthd" serve --data "$DATA" --listen "$LISTEN" >>"$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  i=0
  until curl -fsS "$URL/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "berthd did not start; last log lines:" >&2
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    sleep 0.1
  done
fi

# A local runner, so this machine is a deployment target from the start.
RUNNER_DIR="$(cd "$DATA" && pwd)/runner"
RUNNER_PID="$DATA/runner.pid"
WS_URL="ws://$LISTEN/runner/v1"
if [ -f "$RUNNER_PID" ] && kill -0 "$(cat "$RUNNER_PID")" 2>/dev/null; then
  :
elif [ -f "$RUNNER_DIR/credential" ]; then
  nohup "$BUILD/berth-runner" --state-dir "$RUNNER_DIR" >>"$DATA/runner.log" 2>&1 &
  echo $! > "$RUNNER_PID"
else
  pw=${BERTH_ADMIN_PASSWORD:-}
  [ -n "$pw" ] || [ ! -f "$DATA/admin-password" ] || pw=$(cat "$DATA/admin-password")
  if [ -z "$pw" ]; then
    echo "note: no admin password at hand (set BERTH_ADMIN_PASSWORD) - local runner not registered" >&2
  else
    # A short session for the registration, revoked right after.
    json=$(printf '%s' "$pw" | /usr/bin/python3 -c '
import json, sys
print(json.dumps({"email": sys.argv[1], "password": sys.stdin.read()}))' "$EMAIL")
    session=$(printf '%s' "$json" | curl -fsS -X POST "$URL/api/v1/auth/login" --data-binary @- |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    reg=$(printf 'Authorization: Bearer %s\n' "$session" | curl -fsS -H @- -X POST \
      "$URL/api/v1/orgs/default/servers" -d '{"name":"local"}' |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["registration_token"])')
    printf 'Authorization: Bearer %s\n' "$session" | curl -fsS -H @- -X POST -o /dev/null \
      "$URL/api/v1/auth/logout"
    mkdir -p "$RUNNER_DIR"
    BERTH_RUNNER_TOKEN="$reg" nohup "$BUILD/berth-runner" --url "$WS_URL" \
      --state-dir "$RUNNER_DIR" >>"$DATA/runner.log" 2>&1 &
    echo $! > "$RUNNER_PID"
    unset reg session pw json
  fi
fi

cat <<MSG

berth is up.
  dashboard:  $URL/   (sign in with the admin below)
  API:        $URL/api/v1   (health: $URL/healthz, metrics: $URL/metrics)
  data:       $DATA   (log: $LOG)
  runner:     server "local" in organization "default" (log: $DATA/runner.log)
  admin:      $EMAIL
MSG
if [ -f "$DATA/admin-password" ]; then
  echo "  password:   in $DATA/admin-password (mode 0600)"
  echo
  echo "Log in:  $BUILD/berth login --url $URL --email $EMAIL < $DATA/admin-password"
else
  echo
  echo "Log in:  $BUILD/berth login --url $URL --email $EMAIL"
fi
echo "Stop:    make down"

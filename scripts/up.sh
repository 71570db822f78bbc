#!/bin/sh
# Starts berthd on the embedded default: SQLite in ./var (or $BERTH_DATA),
# listening on 127.0.0.1:8080 (or $BERTH_LISTEN). On first run it creates
# the data directory, the master key, the "default" organization and its
# admin, whose password goes to var/admin-password (mode 0600) unless you
# chose one with BERTH_ADMIN_PASSWORD. Safe to run again.
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

cat <<MSG

berth is up.
  API:        $URL/api/v1   (health: $URL/healthz, metrics: $URL/metrics)
  data:       $DATA   (log: $LOG)
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

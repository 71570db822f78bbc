#!/bin/sh
# example-app.sh - a sample application for the README's tour, offline.
#
# A git repository holding a tiny web app (busybox httpd, FROM the
# berth-fixture-base image that scripts/test-fixtures.sh builds from
# Debian's busybox-static: no registry needed), served read-only by
# `git daemon` on 127.0.0.1 (pid in $DATA/git-daemon.pid; `make down`
# stops it). Prints the repository URL to give `berth app create --repo`.
#
#   scripts/example-app.sh            # create (once) and serve; print the URL
#   scripts/example-app.sh v2         # commit www/version = v2 and push it
#
# Env: BERTH_DATA (default ./var), EXAMPLE_GIT_PORT (default 9418).
set -eu
cd "$(dirname "$0")/.."
DATA=${BERTH_DATA:-./var}
PORT=${EXAMPLE_GIT_PORT:-9418}
mkdir -p "$DATA/example"
BASE=$(cd "$DATA/example" && pwd)
WORK="$BASE/hello"
BARE="$BASE/hello.git"
PIDFILE="$(cd "$DATA" && pwd)/git-daemon.pid"

scripts/test-fixtures.sh >/dev/null

g() { git -C "$WORK" -c user.name=berth-example -c user.email=example@berth.local "$@"; }

if [ ! -d "$BARE" ]; then
  rm -rf "$WORK"
  mkdir -p "$WORK/www"
  cat > "$WORK/Dockerfile" <<'EOF'
FROM berth-fixture-base
COPY www/ /www/
EXPOSE 8080
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
EOF
  echo '<h1>Hello from berth</h1>' > "$WORK/www/index.html"
  echo ok > "$WORK/www/health"
  echo v1 > "$WORK/www/version"
  git init -q -b main "$WORK"
  git init -q --bare -b main "$BARE"
  g add -A
  g commit -q -m "hello v1"
  g remote add origin "$BARE"
  g push -q origin main
fi

if [ $# -gt 0 ]; then
  echo "$1" > "$WORK/www/version"
  g add -A
  g commit -q -m "hello $1"
  g push -q origin main
  echo "committed www/version = $1 ($(g rev-parse --short HEAD))" >&2
fi

if ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
  git daemon --reuseaddr --export-all --base-path="$BASE" --listen=127.0.0.1 --port="$PORT" \
    --detach --pid-file="$PIDFILE" "$BASE"
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    git ls-remote "git://127.0.0.1:$PORT/hello.git" >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
echo "git://127.0.0.1:$PORT/hello.git"

# bench/deploy-lib.sh - shared by bench/deploy.sh and bench/zero-downtime.sh
# (sourced, not run): a fresh berthd (SQLite, temp dir, loopback), a real
# berth-runner registered to it (state in the temp dir, edge bound to
# 127.0.0.1), a real git server (git-http-backend behind lighttpd, as
# tests/integration/test_deploy.py) holding the fixture app (busybox httpd
# FROM berth-fixture-base, made by scripts/test-fixtures.sh), and the app
# with a public port on the HAProxy edge. Everything started is stopped and
# removed on exit (RUNNER_ARGS: more options for the runner): processes by pid, containers by the runner's
# berth.runner label, images by the app's repository name, the temp dir.
# shellcheck shell=bash

BUILD=${BUILD:-build-dbench}
BERTHD=${BERTHD:-$BUILD/berthd}
RUNNER=${RUNNER:-$BUILD/berth-runner}
PY=/usr/bin/python3
if [ ! -x "$BERTHD" ] || [ ! -x "$RUNNER" ]; then
  echo "build first: cmake -S . -B $BUILD && make -C $BUILD berthd berth-runner" >&2; exit 1
fi
for c in docker git lighttpd haproxy curl jq wrk; do
  command -v "$c" >/dev/null || { echo "needs $c (scripts/test-fixtures.sh installs the fixtures)" >&2; exit 1; }
done
[ -x /usr/lib/git-core/git-http-backend ] || { echo "needs git-http-backend" >&2; exit 1; }

# busybox httpd as PID 1 ignores SIGTERM; the trap makes the old container's
# stop quick (as in tests/integration/test_deploy.py; without it every
# cleanup waits the runner's 10 s stop timeout)
DOCKERFILE=${DOCKERFILE:-'FROM berth-fixture-base
COPY www/ /www/
RUN ["/bin/chmod", "755", "/www/cgi-bin/slow"]
EXPOSE 8080
CMD ["/bin/sh", "-c", "trap '"'"'exit 0'"'"' TERM; httpd -f -p 8080 -h /www & wait"]'}

tmp=$(mktemp -d /tmp/berth-dbench.XXXXXX)
chmod 700 "$tmp"
state=$tmp/state
bpid='' rpid='' gpid='' lpid=''
cleanup() {
  local p ids imgs
  for p in $lpid $rpid; do kill "$p" 2>/dev/null || true; done
  if [ -n "$rpid" ]; then wait "$rpid" 2>/dev/null || true; fi
  if [ -f "$state/edge/haproxy.pid" ]; then
    p=$(cat "$state/edge/haproxy.pid" 2>/dev/null || true)
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  fi
  ids=$(docker ps -aq --filter "label=berth.runner=$state" 2>/dev/null || true)
  # shellcheck disable=SC2086
  if [ -n "$ids" ]; then docker rm -f $ids >/dev/null 2>&1 || true; fi
  imgs=
  if [ -n "${repo:-}" ]; then imgs=$(docker images -q --filter "reference=$repo" 2>/dev/null | sort -u || true); fi
  # shellcheck disable=SC2086
  if [ -n "$imgs" ]; then docker rmi -f $imgs >/dev/null 2>&1 || true; fi
  for p in $gpid $bpid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

scripts/test-fixtures.sh >/dev/null

# --- git server ---
gport=$(free_port)
mkdir -p "$tmp/git/repos" "$tmp/git/www"
cat > "$tmp/git/lighttpd.conf" <<EOF
server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.document-root = "$tmp/git/www"
server.bind = "127.0.0.1"
server.port = $gport
server.errorlog = "$tmp/git/error.log"
alias.url = ("/git" => "/usr/lib/git-core/git-http-backend")
\$HTTP["url"] =~ "^/git" {
    cgi.assign = ("" => "")
    setenv.add-environment = ("GIT_PROJECT_ROOT" => "$tmp/git/repos", "GIT_HTTP_EXPORT_ALL" => "1")
}
EOF
lighttpd -D -f "$tmp/git/lighttpd.conf" >/dev/null 2>&1 &
gpid=$!
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
work=$tmp/work
cp -r tests/fixtures/app "$work"
printf '%s\n' "$DOCKERFILE" > "$work/Dockerfile"
# a bench may put more files in the app (app_setup DIR, defined before sourcing)
if declare -F app_setup >/dev/null; then app_setup "$work"; fi
# unique to this run: no build step can be cached from an earlier run
printf '%s %s\n' "$(date +%s%N)" "$$" > "$work/www/run"
git init -q -b main "$work"
git init -q --bare -b main "$tmp/git/repos/app.git"
git -C "$work" remote add origin "$tmp/git/repos/app.git"

# commit VERSION: www/version = VERSION, pushed; prints the commit id
commit() {
  printf '%s\n' "$1" > "$work/www/version"
  git -C "$work" add -A
  git -C "$work" commit -q --allow-empty -m "$1"
  git -C "$work" push -q -f origin HEAD:main
  git -C "$work" rev-parse HEAD
}

# --- berthd ---
port=$(free_port)
base="http://127.0.0.1:$port"
pw=bench-password-1
BERTH_ADMIN_PASSWORD=$pw "$BERTHD" init --data "$tmp/data" --admin-email bench@example.com >/dev/null 2>&1
BERTH_HEARTBEAT_S=1 "$BERTHD" serve --data "$tmp/data" --listen "127.0.0.1:$port" 2>"$tmp/berthd.log" &
bpid=$!
for _ in $(seq 1 200); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
token=$(curl -fsS -X POST "$base/api/v1/auth/login" \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$pw\"}" | jq -r .token)
org=$base/api/v1/orgs/default
api() {  # api METHOD PATH [BODY]
  if [ $# -ge 3 ]; then
    curl -sS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$3" "$org$2"
  else
    curl -sS -X "$1" -H "Authorization: Bearer $token" "$org$2"
  fi
}

# --- runner ---
reg=$(api POST /servers '{"name":"bench-1"}')
sid=$(jq -r .id <<<"$reg")
# shellcheck disable=SC2086  # RUNNER_ARGS is split into words on purpose
BERTH_RUNNER_TOKEN=$(jq -r .registration_token <<<"$reg") "$RUNNER" --url "ws://127.0.0.1:$port/runner/v1" \
  --state-dir "$state" --min-free-disk 0 --edge-bind 127.0.0.1 --heartbeat 1 ${RUNNER_ARGS:-} >"$tmp/runner.log" 2>&1 &
rpid=$!
st=
for _ in $(seq 1 200); do
  kill -0 "$rpid" 2>/dev/null || { echo "berth-runner exited:" >&2; tail -5 "$tmp/runner.log" >&2; exit 1; }
  st=$(api GET "/servers/$sid" | jq -r .status)
  [ "$st" = ACTIVE ] && break
  sleep 0.1
done
[ "$st" = ACTIVE ] || { echo "runner not ACTIVE ($st)" >&2; exit 1; }

# --- the app ---
public=$(free_port)
app=$(api POST /apps "{\"name\":\"web\",\"server\":\"bench-1\",\"repo_url\":\"http://127.0.0.1:$gport/git/app.git\",
  \"container_port\":8080,\"health_path\":\"/health\",\"public_port\":$public,\"drain_seconds\":${DRAIN_SECONDS:-5},
  \"keep_images\":3,\"health_timeout\":30}")
[ "$(jq -r .id <<<"$app")" != null ] || { echo "app create failed: $app" >&2; exit 1; }

# deploy [COMMIT]: POST, then poll every POLL_MS (default 20) until the
# deployment ends. Sets dep_id, dep_json (GET .../deployments/{id}), dep_ms
# (POST sent -> the poll that saw it end, as the client sees it), dep_t0 and
# dep_t1 (those two moments, ms since the epoch). A deployment is SUCCEEDED
# once the new container serves, while the runner still removes the old
# one; this then polls on (not counted) until the cleanup step ended too,
# so dep_json has its figures and the next deploy starts on a clean slate.
POLL_MS=${POLL_MS:-20}
poll_s=$(awk -v m="$POLL_MS" 'BEGIN {printf "%.3f", m / 1000}')
# shellcheck disable=SC2034  # dep_* are read by the scripts sourcing this
deploy() {
  local body='{}' st r
  if [ -n "${1:-}" ]; then body="{\"commit\":\"$1\"}"; fi
  dep_t0=$(now_ms)
  r=$(api POST /apps/web/deployments "$body")
  dep_id=$(jq -r .id <<<"$r")
  [ "$dep_id" != null ] || { echo "deploy refused: $r" >&2; exit 1; }
  for _ in $(seq 1 $(( 180000 / POLL_MS ))); do
    dep_json=$(api GET "/deployments/$dep_id")
    st=$(jq -r .status <<<"$dep_json")
    case $st in SUCCEEDED|FAILED|CANCELLED) break ;; esac
    sleep "$poll_s"
  done
  dep_t1=$(now_ms)
  dep_ms=$(( dep_t1 - dep_t0 ))
  [ "$st" = SUCCEEDED ] || { echo "deployment $dep_id: $st: $(jq -r .summary <<<"$dep_json")" >&2; exit 1; }
  repo=$(jq -r '.image | sub(":[^:/]*$"; "")' <<<"$dep_json")  # the app's image repository, for the cleanup
  for _ in $(seq 1 $(( 60000 / POLL_MS ))); do
    [ "$(jq -r '.steps[-1].status' <<<"$dep_json")" != started ] && break
    sleep "$poll_s"
    dep_json=$(api GET "/deployments/$dep_id")
  done
}

# step_ms STEP: duration_ms of a step of dep_json (0 if absent)
step_ms() { jq -r --arg s "$1" '[.steps[] | select(.step == $s) | .duration_ms][0] // 0' <<<"$dep_json"; }

machine() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "docker $(docker version -f '{{.Server.Version}}' 2>/dev/null), $(haproxy -v | head -1 | cut -d' ' -f1-3), tree $(git rev-parse --short HEAD 2>/dev/null)"
}

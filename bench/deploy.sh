#!/usr/bin/env bash
# bench/deploy.sh - how long a deployment takes, and how much of it is berth.
#
# Starts a fresh berthd + berth-runner + git server + the fixture app
# (bench/deploy-lib.sh), then deploys: once cold (the app's first build:
# every layer above berth-fixture-base built), N times with a new commit each
# (www/version changes: the COPY layer and those after it are rebuilt, the
# base is cached), and once more with no change (branch head = the last
# commit: every layer cached). For each it reads GET .../deployments/{id} and
# prints
#   serve     POST sent -> the new container serves: the runner starts
#             its cleanup step (runner clock, same host); berthd records
#             SUCCEEDED 1-3 ms later (its log)
#   client    POST sent -> a client polling every POLL_MS (default 20 ms;
#             each poll a curl + jq) sees SUCCEEDED: the user's view,
#             with the poller's own lag
#   clone, build, health   the runner's step durations (its clock)
#   overhead  serve - clone - build - health: berth's own share (queue and
#             dispatch, precheck, start, swap, step reports)
#   and, to see where the overhead goes: precheck, start, swap, "gaps"
#   (serve minus the steps up to the swap), of which "dispatch" (POST sent
#   -> the runner starts precheck); "poll" (client - serve) is the
#   client's lag. "cleanup" (removing the old container, pruning images)
#   runs after SUCCEEDED: shown, not in either total.
# Then median and max of each column over the warm deploys (new commit and
# no change). Targets: overhead < 500 ms, a cached redeploy < 3 s total.
#
#   bench/deploy.sh [N]        # N redeploys with a new commit, default 5
# Env: BUILD (default build-dbench), POLL_MS (20), KEEP_TMP=1 keeps the temp
# dir. Loopback only; about 20 s + 8 s per deploy on the 2-core VM.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${N:-5}}
# shellcheck source=bench/deploy-lib.sh
. bench/deploy-lib.sh

echo "== deploy timing: 1 cold + $N new-commit + 1 no-change deploys, fixture app (busybox httpd)"
machine
echo "times in ms; serve = POST sent -> the new container serves (the runner starts cleanup; berthd"
echo "records SUCCEEDED 1-3 ms later); client = POST -> SUCCEEDED seen by a client polling every $POLL_MS ms"
printf '%-10s %5s %6s %6s %6s %6s %6s %8s | %8s %6s %6s %7s %5s %8s %6s\n' \
  kind id serve client clone build health overhead precheck start swap cleanup gaps dispatch poll
rows=$tmp/rows
: > "$rows"
row() {  # row KIND
  local c b h p s w u sum first last serve
  c=$(step_ms clone) b=$(step_ms build) h=$(step_ms health)
  p=$(step_ms precheck) s=$(step_ms start) w=$(step_ms swap) u=$(step_ms cleanup)
  sum=$(( c + b + h + p + s + w ))
  # the runner's clock (ms, UTC; same host as this script) of the first
  # step's start and of the moment the new container serves (cleanup starts)
  first=$(jq -r '.steps[0].started_at | (.[0:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber)' <<<"$dep_json")
  last=$(jq -r '[.steps[] | select(.step == "cleanup")][0].started_at | (.[0:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber)' <<<"$dep_json")
  serve=$(( last - dep_t0 ))
  local line="$serve $dep_ms $c $b $h $(( serve - c - b - h )) $p $s $w $u $(( serve - sum )) $(( first - dep_t0 )) $(( dep_t1 - last ))"
  # shellcheck disable=SC2086
  printf '%-10s %5s %6d %6d %6d %6d %6d %8d | %8d %6d %6d %7d %5d %8d %6d\n' "$1" "$dep_id" $line
  [ "$1" = cold ] || echo "$line" >> "$rows"
  [ "$1" = no-change ] && echo "$line" > "$tmp/nochange"
  if [ -n "${VERBOSE:-}" ]; then
    jq -c '.steps[] | [.step, .started_at, .finished_at, .duration_ms, .detail]' <<<"$dep_json"
    jq -c '{created_at, started_at, finished_at}' <<<"$dep_json"
  fi
}

deploy "$(commit v0)"
row cold
for i in $(seq 1 "$N"); do
  deploy "$(commit "v$i")"
  row commit
done
deploy ""
row no-change
got=$(curl -fsS "http://127.0.0.1:$public/version")
[ "$got" = "v$N" ] || { echo "the public port answers '$got', not v$N" >&2; exit 1; }

# median and max per column over the warm deploys
awk -v nc="$(cat "$tmp/nochange")" '
  { n++; for (i = 1; i <= NF; i++) v[i, n] = $i; nf = NF }
  END {
    for (i = 1; i <= nf; i++) {
      for (a = 1; a <= n; a++) s[a] = v[i, a]
      for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
      med[i] = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
      max[i] = s[n]
    }
    fmt = "%-10s %5s %6d %6d %6d %6d %6d %8d | %8d %6d %6d %7d %5d %8d %6d\n"
    printf fmt, "median", "", med[1], med[2], med[3], med[4], med[5], med[6], med[7], med[8], med[9], med[10], med[11], med[12], med[13]
    printf fmt, "max", "", max[1], max[2], max[3], max[4], max[5], max[6], max[7], max[8], max[9], max[10], max[11], max[12], max[13]
    split(nc, c, " ")
    printf "warm deploys: %d; overhead median %d ms (target < 500 ms: %s), max %d ms\n", n, med[6], med[6] < 500 ? "met" : "MISSED", max[6]
    printf "cached redeploy (no change): serves after %d ms, a polling client sees it after %d ms (target < 3000 ms: %s)\n", c[1], c[2], c[2] < 3000 ? "met" : "MISSED"
    printf "new commit: serves after %d ms median (%d max); build %d ms of it\n", med[1], max[1], med[4]
  }' "$rows"

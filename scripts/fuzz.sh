#!/bin/sh
# Runs every libFuzzer driver the BERTH_FUZZ build made (`make fuzz`), one
# after the other, each for FUZZ_SECONDS on its seed corpus.
#
#   scripts/fuzz.sh [BUILD_DIR] [NAME...]
#
# BUILD_DIR: the fuzz build (default build-fuzz); NAMEs: only these drivers.
# The drivers and their -max_len come from BUILD_DIR/tests/fuzz/fuzzers.txt,
# written from the list in tests/fuzz/CMakeLists.txt.
#
# Environment:
#   FUZZ_SECONDS  time per driver (default 20)
#   FUZZ_RUNS     stop a driver after this many executions (default: no limit)
#   FUZZ_ARGS     more libFuzzer flags for every driver
#   FUZZ_LOGS     keep each driver's output here (default BUILD_DIR/fuzz-logs)
#
# New inputs a run finds go to BUILD_DIR/fuzz-corpus/NAME (the seeds in
# tests/fuzz/corpus/NAME stay as they are; copy a good find there by hand).
# A crash, leak, sanitizer report or timeout fails the script; the
# reproducer is BUILD_DIR/fuzz-artifacts/NAME-crash-... and the command to
# replay it is printed.
set -eu

cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
[ $# -gt 0 ] && shift
seconds=${FUZZ_SECONDS:-20}
logs=${FUZZ_LOGS:-$build/fuzz-logs}
manifest=$build/tests/fuzz/fuzzers.txt

if [ ! -f "$manifest" ]; then
  echo "fuzz: $manifest missing; build with: make fuzz" >&2
  exit 2
fi
mkdir -p "$logs" "$build/fuzz-artifacts"

failed=""
ran=0
while read -r name max_len; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ]; then
    case " $* " in *" $name "*) ;; *) continue ;; esac
  fi
  bin=$build/tests/fuzz/fuzz_$name
  seeds=tests/fuzz/corpus/$name
  work=$build/fuzz-corpus/$name
  mkdir -p "$work"
  dict=""
  [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
  runs=""
  [ -n "${FUZZ_RUNS:-}" ] && runs="-runs=$FUZZ_RUNS"
  [ -d "$seeds" ] || seeds=""
  log=$logs/$name.log
  printf 'fuzz: %-14s %ss ... ' "$name" "$seconds"
  # shellcheck disable=SC2086
  if "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" \
       $dict $runs ${FUZZ_ARGS:-} "$work" $seeds </dev/null >"$log" 2>&1; then
    # "#N DONE cov: C ft: F corp: K/..." and "stat::number_of_executed_units: N"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.*\(cov: [0-9]* ft: [0-9]* corp: [0-9]*\).*/\1/p')
    echo "ok: ${execs:-?} runs, ${speed:-?}/s, $cov"
  else
    echo "FAILED"
    grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written|==[0-9]+==' "$log" | head -20 | sed 's/^/  /'
    artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -1)
    [ -n "$artifact" ] && echo "  reproduce: $bin $artifact"
    echo "  log: $log"
    failed="$failed $name"
  fi
  ran=$((ran + 1))
done <"$manifest"

if [ "$ran" -eq 0 ]; then
  echo "fuzz: no driver matched" >&2
  exit 2
fi
if [ -n "$failed" ]; then
  echo "fuzz: FAILED:$failed" >&2
  exit 1
fi
echo "fuzz: $ran driver(s) passed"

#!/bin/sh
# crash_soak.sh - the crash soak (tests/integration/crash_soak_test.cc) with
# more cycles than the suite runs: kill -9 of a SYNC_FLUSH broker under load
# CYCLES times, the ASYNC_FLUSH variant CYCLES/2 times, and the nameserver
# killed and restarted CYCLES/2 times, then every acknowledged message is
# checked, consumed, and the store verified. Prints the "SOAK ..." figures.
#
#   tests/soak/crash_soak.sh [CYCLES (100)] [THREADS (4)] [BUILD_DIR (build)]
set -eu
cycles=${1:-100}
threads=${2:-4}
build=${3:-build}
bin="$build/tests/crash_soak_test"
[ -x "$bin" ] || { echo "crash_soak.sh: $bin not built (cmake --build $build --target crash_soak_test)" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
status=0
MQ_SOAK_CYCLES=$cycles MQ_SOAK_THREADS=$threads "$bin" >"$out" 2>&1 || status=$?
grep -E '^SOAK |FAILED|Failure' "$out" || true
if [ "$status" -ne 0 ]; then
    echo "crash_soak.sh: FAILED (exit $status); full output:" >&2
    tail -200 "$out" >&2
fi
echo "crash_soak.sh: $cycles cycles, $threads threads, $(( $(date +%s) - start )) s, exit $status"
exit "$status"

#!/usr/bin/env bash
# run-long.sh - runs the libFuzzer targets of tests/fuzz and reports, per
# target, the executions, their rate and the crashes found.
#
#   tests/fuzz/run-long.sh [--seconds N] [--bin-dir DIR] [--work DIR] [TARGET...]
#
#   --seconds N   fuzzing time per target (default 3600); targets run one
#                 after the other (nice 10), each on one core
#   --bin-dir D   where the fuzz_* binaries are (default build-fuzz/fuzz; build
#                 them with: bash deploy/test.sh --fuzz)
#   --work D      scratch folder (default build-fuzz/fuzz-work): WORK/TARGET/corpus
#                 keeps what the fuzzer found, so the next run starts from it;
#                 crash reproducers land in WORK/TARGET/crash-*
#   --smoke       what ctest runs: a fresh scratch corpus, the committed seeds
#                 (tests/fuzz/corpus/TARGET, which also hold every reproducer
#                 of a fixed crash) replayed first
#   TARGET...     frame header commitlog config http (default: every fuzz_* found)
#
# Exit status: 0 if no target crashed. A summary table is printed at the end
# and written to WORK/summary.txt.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds=3600
bin_dir="$root/build-fuzz/fuzz"
work=""
smoke=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "run-long.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ -n "$work" ] || work="$(dirname "$bin_dir")/fuzz-work"
if [ ${#targets[@]} -eq 0 ]; then
  for b in "$bin_dir"/fuzz_*; do
    [ -x "$b" ] && targets+=("$(basename "$b" | sed 's/^fuzz_//')")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "run-long.sh: no fuzz_* binaries in $bin_dir (build with MQ_FUZZ=ON, see tests/fuzz/README.md)" >&2
  exit 2
fi
mkdir -p "$work"
# The targets are built with ASan+UBSan: stop at the first report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

summary="$work/summary.txt"
printf "%-10s %14s %10s %8s %s\n" target executions exec/s crashes result > "$summary.tmp"
failed=0
for t in "${targets[@]}"; do
  bin="$bin_dir/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "run-long.sh: $bin is missing" >&2
    failed=1
    continue
  fi
  dir="$work/$t"
  [ "$smoke" = 1 ] && rm -rf "$dir"
  mkdir -p "$dir/corpus"
  seeds="$here/corpus/$t"
  log="$dir/run-$(date +%Y%m%d-%H%M%S).log"
  start=$(date +%s)
  nice -n 10 "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "$seeds" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ $rc -eq 0 ]; then
    result="ok (${secs}s)"
  else
    result="FAILED rc=$rc (${secs}s), log $log"
    failed=1
    echo "=== fuzz_$t failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
      [ -e "$a" ] && echo "reproduce: $bin $a" >&2
    done
  fi
  printf "%-10s %14s %10s %8s %s\n" "$t" "${execs:-?}" "${rate:-?}" "$crashes" "$result" >> "$summary.tmp"
done
mv "$summary.tmp" "$summary"
cat "$summary"
exit $failed

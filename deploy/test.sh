#!/usr/bin/env bash
# deploy/test.sh - sets up the machine, builds and runs the whole test suite.
#   bash deploy/test.sh            normal build in build/
#   bash deploy/test.sh --asan     ASan+UBSan build in build-asan/
# Prints ctest's summary; exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=()
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  flags=(-DMQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi

bash deploy/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$jobs" 2>&1 | grep -E "warning|error|Error" || true
cmake --build "$dir" -j"$jobs" >/dev/null
# ASan needs this to not fight with libev's signal handling in child processes.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600

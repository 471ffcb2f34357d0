#!/usr/bin/env bash
# deploy/test.sh - sets up the machine, builds and runs the whole test suite.
#   bash deploy/test.sh            normal build in build/
#   bash deploy/test.sh --asan     ASan+UBSan build in build-asan/
#   bash deploy/test.sh --fuzz     only the fuzz smoke runs (below)
# The normal run ends with the fuzz smoke runs: a clang build of the
# libFuzzer targets in build-fuzz/ (MQ_FUZZ=ON, tests/fuzz), each target
# run for a few seconds by its own ctest; skipped, saying so, without clang.
# Prints ctest's summary; exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=()
mode="${1:-}"
if [ "$mode" = "--asan" ]; then
  dir=build-asan
  flags=(-DMQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi

bash deploy/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

fuzz_smoke() {
  if ! command -v clang >/dev/null 2>&1 || ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: SKIPPED - clang is not installed (deploy/setup.sh installs it)"
    return 0
  fi
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMQ_FUZZ=ON \
    -DMQ_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz_all 2>&1 | grep -E "warning|error|Error" || true
  cmake --build build-fuzz -j"$jobs" --target fuzz_all >/dev/null
  ctest --test-dir build-fuzz -j"$jobs" --output-on-failure --timeout 600
}
if [ "$mode" = "--fuzz" ]; then
  fuzz_smoke
  exit 0
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$jobs" 2>&1 | grep -E "warning|error|Error" || true
cmake --build "$dir" -j"$jobs" >/dev/null
# ASan needs this to not fight with libev's signal handling in child processes.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600
if [ "$mode" != "--asan" ]; then
  fuzz_smoke
fi

#!/usr/bin/env bash
# store_bench.sh - runs the in-process store benchmark and, on the same disk in
# the same run, dd's sequential write bandwidth (conv=fdatasync) for
# comparison. Medians of 3 runs. Not a test.
#
#   benchmarks/store_bench.sh [BUILD_DIR] [DATA_DIR] [extra store_bench args...]
#
# BUILD_DIR defaults to ./build, DATA_DIR to /tmp/mq-store-bench (it is created
# and removed again; it needs a few GiB free).
set -euo pipefail

build=${1:-build}
data=${2:-/tmp/mq-store-bench}
shift $(( $# > 2 ? 2 : $# )) || true
bench="$build/bin/store_bench"
if [ ! -x "$bench" ]; then
  echo "store_bench.sh: $bench not found; build first (cmake --build $build)" >&2
  exit 1
fi
mkdir -p "$data"

echo "== dd: 1 GiB sequential write, conv=fdatasync, $data =="
dd_rates=()
for i in 1 2 3; do
  out=$(dd if=/dev/zero of="$data/dd.tmp" bs=1M count=1024 conv=fdatasync 2>&1 | tail -n 1)
  rm -f "$data/dd.tmp"
  secs=$(echo "$out" | sed -E 's/.*copied, ([0-9.]+) s.*/\1/')
  rate=$(awk -v s="$secs" 'BEGIN { printf "%.1f", 1073741824 / 1048576 / s }')
  echo "dd run $i: $out  => $rate MB/s"
  dd_rates+=("$rate")
done
dd_median=$(printf '%s\n' "${dd_rates[@]}" | sort -n | sed -n 2p)

echo
"$bench" --dir "$data" --runs 3 "$@"
echo "dd sequential write (conv=fdatasync), same disk:  $dd_median MB/s (median of 3; MB = MiB)"
